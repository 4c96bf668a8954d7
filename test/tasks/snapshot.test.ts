import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cleanupSnapshotTask, linkTree, snapshotDir, snapshotTask } from '../../src/tasks/index.js';
import { taskContext } from '../helpers/task-context.js';
import { tempDir } from '../helpers/tmp.js';

function fill(dir: string): void {
  mkdirSync(join(dir, 'a/b'), { recursive: true });
  mkdirSync(join(dir, 'empty'), { recursive: true });
  writeFileSync(join(dir, 'a/b/data.bin'), Buffer.alloc(4096, 7));
  writeFileSync(join(dir, 'name with spaces ü.txt'), 'x');
  writeFileSync(join(dir, 'private'), 'p', { mode: 0o600 });
  symlinkSync('a/b/data.bin', join(dir, 'link'));
  symlinkSync('/etc/passwd', join(dir, 'outside'));
}

describe('snapshot task', () => {
  it('mirrors the data dir beside it with hard links, keeping links as links', async () => {
    const data = join(tempDir(), 'node-0');
    fill(data);
    const { context } = taskContext({ dataDir: data });
    const output = await snapshotTask(context);
    const snap = snapshotDir(data, 'snap-1');
    assert.equal(snap, `${data}.drplan/snapshots/snap-1`);
    assert.equal(statSync(join(snap, 'a/b/data.bin')).ino, statSync(join(data, 'a/b/data.bin')).ino, 'same inode: nothing copied');
    assert.equal(statSync(join(snap, 'private')).mode & 0o777, 0o600);
    assert.ok(lstatSync(join(snap, 'link')).isSymbolicLink());
    assert.equal(readlinkSync(join(snap, 'outside')), '/etc/passwd', 'an absolute link is kept as a link, not followed');
    assert.ok(statSync(join(snap, 'empty')).isDirectory());
    assert.ok(Math.abs(statSync(join(snap, 'a')).mtimeMs - statSync(join(data, 'a')).mtimeMs) < 0.01, 'directory times kept');
    assert.match(output.message, /^snapshot of 3 files \(4\.0 KiB\), 4 directories, 2 symlinks at /);

    writeFileSync(join(data, 'later'), 'new');
    mkdirSync(`${data}.drplan/snapshots/left-by-a-stopped-run/x`, { recursive: true });
    const again = await snapshotTask(context);
    assert.match(again.message, /\(removed 1 stale snapshot\)$/);
    assert.ok(!existsSync(`${data}.drplan/snapshots/left-by-a-stopped-run`), 'stale snapshots do not pin old data');
    assert.ok(existsSync(join(snap, 'later')), 'running it again replaces the snapshot');
    assert.ok(!existsSync(`${snap}.partial`));

    await cleanupSnapshotTask(context);
    assert.ok(!existsSync(`${data}.drplan`), 'cleanup removes the snapshot and the empty staging directory');
    assert.equal(readFileSync(join(data, 'a/b/data.bin')).length, 4096, 'the data is untouched');
  });

  it('refuses a snapshot name that would leave its directory', async () => {
    const data = join(tempDir(), 'node-0');
    fill(data);
    for (const name of ['../../node-0', '..', '.hidden', 'a/b']) {
      const { context } = taskContext({ dataDir: data, parameters: { SNAPSHOT_NAME: name } });
      await assert.rejects(snapshotTask(context), /is not a safe name/);
      await assert.rejects(cleanupSnapshotTask(context), /is not a safe name/);
    }
    assert.equal(readFileSync(join(data, 'a/b/data.bin')).length, 4096, 'the data is untouched');
  });

  it('says so when the data dir is missing', async () => {
    const { context } = taskContext({ dataDir: join(tempDir(), 'nothing-here') });
    await assert.rejects(snapshotTask(context), /data directory .*nothing-here does not exist/);
  });

  it('stops when cancelled, leaving no partial snapshot', async () => {
    const data = join(tempDir(), 'node-0');
    fill(data);
    const controller = new AbortController();
    controller.abort(new Error('stopped'));
    const { context } = taskContext({ dataDir: data, signal: controller.signal });
    await assert.rejects(snapshotTask(context), /stopped/);
    assert.ok(!existsSync(`${snapshotDir(data, 'snap-1')}.partial`));
  });

  const shm = '/dev/shm';
  const crossDevice = existsSync(shm) && statSync(shm).dev !== statSync(tempDir()).dev;
  it('copies only where a hard link is impossible (another filesystem)', { skip: crossDevice ? false : 'no second filesystem here' }, async () => {
    const source = mkdtempSync(join(shm, 'drplan-'));
    after(() => rmSync(source, { recursive: true, force: true }));
    fill(source);
    const target = join(tempDir(), 'copy');
    const stats = await linkTree(source, target, new AbortController().signal, () => undefined);
    assert.equal(stats.copied, 3);
    assert.equal(readFileSync(join(target, 'a/b/data.bin')).length, 4096);
    assert.equal(statSync(join(target, 'private')).mode & 0o777, 0o600);
    assert.ok(Math.abs(statSync(join(target, 'a/b/data.bin')).mtimeMs - statSync(join(source, 'a/b/data.bin')).mtimeMs) < 0.01);
  });
});
