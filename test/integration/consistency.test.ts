import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { quickPlan, shippedPlans } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { startStack, stepOf, type Stack } from '../helpers/stack.js';

const SIZE = 64 * 1024 * 1024;
const CHUNK = 1024 * 1024;

const service = (name: string, snapshot: string): string => `name: ${name}
pods:
  node:
    count: 1
    dataDir: $ROOT/${name}/node-{{POD_INDEX}}
    snapshot: ${snapshot}
`;

/**
 * A service writing its table in place: version after version, each the whole 64 MiB of one
 * byte value written front to back in 1 MiB writes, with a pause between versions. A reader that
 * catches it mid-rewrite sees two versions, or a file cut short.
 */
function startWriter(path: string, pauseMs: number): ChildProcess {
  const script = `
    const fs = require('node:fs');
    const [path, size, chunk, pause] = process.argv.slice(1);
    const fd = fs.openSync(path, 'r+');
    let version = 1;
    const rewrite = () => {
      version = version % 250 + 1;
      const block = Buffer.alloc(Number(chunk), version);
      for (let at = 0; at < Number(size); at += Number(chunk)) fs.writeSync(fd, block, 0, block.length, at);
      setTimeout(rewrite, Number(pause));
    };
    rewrite();`;
  return spawn(process.execPath, ['-e', script, path, String(SIZE), String(CHUNK), String(pauseMs)], { stdio: 'ignore' });
}

/** The file holds one version whole: every byte the same, and all of it. */
function assertOneVersion(path: string): void {
  const bytes = readFileSync(path);
  assert.equal(bytes.length, SIZE, 'the restored table is not cut short');
  const first = bytes[0]!;
  assert.ok(first >= 1 && first <= 250);
  const mixed = bytes.findIndex((b) => b !== first);
  assert.equal(mixed, -1, `the restored table mixes versions ${first} and ${bytes[mixed] ?? ''} at byte ${mixed}`);
}

describe('a service that rewrites a file in place during its backup', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let stack: Stack;
  let writer: ChildProcess | undefined;

  before(async () => {
    redis = await startRedis();
    s3 = await startS3(['backups']);
    stack = await startStack({
      redisUrl: redis.url,
      services: { 'linked.yml': service('linked', 'hardlink'), 'copied.yml': service('copied', 'copy') },
      plans: { ...shippedPlans('restore-s3'), ...quickPlan('backup-s3') },
    });
    for (const name of ['linked', 'copied']) {
      const dir = stack.dataDir(0, name);
      mkdirSync(dir, { recursive: true });
      const fd = openSync(join(dir, 'table.db'), 'w');
      for (let at = 0; at < SIZE; at += CHUNK) writeSync(fd, Buffer.alloc(CHUNK, 1));
      closeSync(fd);
    }
  });
  after(async () => {
    writer?.kill();
    await stack.close();
    await s3.stop();
    await redis.stop();
  });

  const backupAndRestore = async (name: string): Promise<{ backup: Awaited<ReturnType<Stack['waitPlan']>> }> => {
    const params = { ...s3.parameters, S3_PREFIX: name, SNAPSHOT_NAME: `${name}-1` };
    writer = startWriter(join(stack.dataDir(0, name), 'table.db'), 300);
    let backup;
    try {
      assert.equal((await stack.start('backup-s3-quick', params, name)).statusCode, 200);
      backup = await stack.waitPlan('backup-s3-quick', 'finished', (t) => t.finishedAt !== null && !t.active, 120_000, name);
    } finally {
      writer.kill();
    }
    if (backup.status === 'COMPLETE') {
      rmSync(stack.dataDir(0, name), { recursive: true, force: true });
      assert.equal((await stack.start('restore-s3', params, name)).statusCode, 200);
      const restored = await stack.waitPlan('restore-s3', 'finished', (t) => t.finishedAt !== null && !t.active, 60_000, name);
      assert.equal(restored.status, 'COMPLETE', JSON.stringify(restored.errors));
      assertOneVersion(join(stack.dataDir(0, name), 'table.db'));
    }
    return { backup };
  };

  it('hardlink: the upload notices the file moving under it and retries; it never stores it torn, and says which mode would help', async () => {
    const { backup } = await backupAndRestore('linked');
    const step = stepOf(backup, 'upload-backups', 'node-0:[upload-s3]');
    if (backup.status === 'ERROR') {
      assert.equal(step.attempts, 3);
      assert.match(step.message, /^failed after 3 attempts: table\.db changed while it was read \(.*\): the hardlink snapshot shares its files with the live data, so it changes with them: set snapshot: copy \(or reflink on btrfs and XFS\) for pod node of \S+linked\.yml, or quiesce the service with freeze and thaw hooks$/);
    } else {
      assert.equal(backup.status, 'COMPLETE', JSON.stringify(backup.errors));
    }
  });

  it('copy: the snapshot is a private copy taken while the file was at rest, and the backup is consistent', async () => {
    const { backup } = await backupAndRestore('copied');
    assert.equal(backup.status, 'COMPLETE', JSON.stringify(backup.errors));
    assert.equal(stepOf(backup, 'upload-backups', 'node-0:[upload-s3]').attempts, 1, 'nothing changes under the upload');
    assert.match(stepOf(backup, 'create-snapshots', 'node-0:[snapshot]').message, /^copy snapshot of 1 files \(64\.0 MiB\)/);
  });
});
