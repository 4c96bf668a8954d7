import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packDirectory } from '../../src/archive/index.js';
import { Repository } from '../../src/repository/index.js';
import { AppError } from '../../src/shared/index.js';
import { createFsStore } from '../../src/storage/index.js';
import { preflightRestoreTask } from '../../src/tasks/index.js';
import { taskContext } from '../helpers/task-context.js';
import { tempDir } from '../helpers/tmp.js';

/** Snapshot `snap` of one node holding `bytes` of data (as a sparse file of that size with `sparse`), in a filesystem location. */
async function snapshotOf(bytes: number, sparse = false): Promise<string> {
  const root = tempDir();
  const data = join(tempDir(), 'data');
  mkdirSync(data);
  if (sparse) {
    writeFileSync(join(data, 'table.db'), 'data at the start');
    execFileSync('truncate', ['-s', String(bytes), join(data, 'table.db')]);
  } else {
    writeFileSync(join(data, 'table.db'), Buffer.alloc(bytes, 3));
  }
  const repo = new Repository(createFsStore(root), '');
  const packed = packDirectory(data, { settleMs: 0 });
  const [put, result] = await Promise.all([repo.putArchive('snap', { pod: 'node', index: 0 }, packed.stream, { runId: 'r1' }), packed.done]);
  await repo.commit({
    name: 'snap',
    service: { name: 'demo', pods: [{ name: 'node', count: 1 }] },
    snapshotModes: { node: 'hardlink' },
    plan: 'backup-fs',
    runId: 'r1',
    uploads: [{ pod: 'node', index: 0, key: put.key, bytes: result.bytes, sha256: result.sha256, etag: put.etag, files: result.stats.files, dataBytes: result.stats.dataBytes, writtenBytes: result.stats.writtenBytes }],
  });
  return root;
}

describe('restore preflight on a node', () => {
  it('passes when the archive is there and the disk has room, and says so', async () => {
    const root = await snapshotOf(1024 * 1024);
    const { context } = taskContext({ dataDir: join(tempDir(), 'node-0'), parameters: { SNAPSHOT_NAME: 'snap', FS_ROOT: root } });
    const output = await preflightRestoreTask('fs')(context);
    assert.match(output.message, /^snapshot snap can be restored here: file:\/\/\S+\/snap\/node-0\.tar\.gz is there with its .*, and .* are free for its 1\.0 MiB$/);
  });

  let mounted: string | null = join(tempDir(), 'disk');
  mkdirSync(mounted);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mounted], { stdio: 'ignore' });
  } catch {
    mounted = null;
  }
  it('fails before anything is fetched when the data dir’s disk cannot hold the data', { skip: mounted === null ? 'cannot mount a small tmpfs here' : false }, async () => {
    const disk = mounted!;
    try {
      const root = await snapshotOf(4 * 1024 * 1024);
      const dataDir = join(disk, 'node-0');
      const { context } = taskContext({ dataDir, parameters: { SNAPSHOT_NAME: 'snap', FS_ROOT: root } });
      const error = await preflightRestoreTask('fs')(context).catch((e: unknown) => e);
      assert.ok(error instanceof AppError, String(error));
      assert.equal(error.code, 'NO_SPACE');
      assert.match(error.message, new RegExp(`^the disk of ${dataDir} has 1\\.0 MiB free, and node-0 of snapshot snap holds 4\\.0 MiB$`));
      // A sparse file takes on disk only its data, whatever its size.
      const sparse = await snapshotOf(64 * 1024 * 1024, true);
      const fits = await preflightRestoreTask('fs')(taskContext({ dataDir, parameters: { SNAPSHOT_NAME: 'snap', FS_ROOT: sparse } }).context);
      assert.match(fits.message, /are free for its 4\.0 KiB$/);
    } finally {
      execFileSync('umount', [disk]);
    }
  });
});
