import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cleanupSnapshotTask, snapshotDir, snapshotTask, snapshotTree } from '../../src/tasks/index.js';
import { AppError } from '../../src/shared/index.js';
import { comparable, treeFacts, writeHardTree } from '../helpers/fidelity.js';
import { service } from '../helpers/specs.js';
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
    assert.match(output.message, /^hardlink snapshot of 3 files \(4\.0 KiB\), 4 directories, 2 symlinks at /);

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
    const stats = await snapshotTree(source, target, { mode: 'hardlink', signal: new AbortController().signal, onFile: () => undefined });
    assert.equal(stats.copied, 3);
    assert.equal(readFileSync(join(target, 'a/b/data.bin')).length, 4096);
    assert.equal(statSync(join(target, 'private')).mode & 0o777, 0o600);
    assert.ok(Math.abs(statSync(join(target, 'a/b/data.bin')).mtimeMs - statSync(join(source, 'a/b/data.bin')).mtimeMs) < 0.01);
  });

  const withMode = (mode: 'copy' | 'reflink' | 'none') => {
    const svc = service(1);
    svc.pods['node'] = { ...svc.pods['node']!, snapshot: mode };
    return svc;
  };

  it('copy: a private copy of everything, sparse files sparse, hard links as links, FIFOs, owners, modes and times', async () => {
    const data = join(tempDir(), 'node-0');
    writeHardTree(data, { sparseBytes: 32 * 1024 * 1024 });
    const { context } = taskContext({ dataDir: data, service: withMode('copy') });
    const output = await snapshotTask(context);
    assert.match(output.message, /^copy snapshot of /);
    const snap = snapshotDir(data, 'snap-1');
    assert.notEqual(statSync(join(snap, 'private.key')).ino, statSync(join(data, 'private.key')).ino, 'a copy, not a link');
    assert.deepEqual(comparable(treeFacts(snap)), comparable(treeFacts(data)));
  });

  it('copy: a file that keeps changing while it is copied fails, naming it', async () => {
    const data = join(tempDir(), 'node-0');
    mkdirSync(data);
    const path = join(data, 'busy.log');
    writeFileSync(path, Buffer.alloc(64 * 1024 * 1024, 1));
    const writer = setInterval(() => writeFileSync(path, 'x', { flag: 'a' }), 1);
    try {
      const error = await snapshotTree(data, join(tempDir(), 'snap'), { mode: 'copy', signal: new AbortController().signal, onFile: () => undefined, settleMs: 0, tries: 3 }).catch((e: unknown) => e);
      assert.ok(error instanceof AppError, String(error));
      assert.equal(error.code, 'SOURCE_CHANGED');
      assert.match(error.message, /^busy\.log kept changing while it was copied \(3 tries\): quiesce the service/);
    } finally {
      clearInterval(writer);
    }
  });

  it('reflink: clones where the filesystem can, and says so where it cannot', async (t) => {
    const data = join(tempDir(), 'node-0');
    fill(data);
    const { context } = taskContext({ dataDir: data, service: withMode('reflink') });
    const result = await snapshotTask(context).catch((e: unknown) => e);
    if (result instanceof AppError) {
      assert.equal(result.code, 'CONFIG');
      assert.match(result.message, /^snapshot mode reflink needs a filesystem that clones files \(btrfs, XFS with reflink=1\); .* is on one that cannot \(\w+\): use snapshot: copy, or hardlink$/);
      t.skip(`${tempDir()} cannot clone files: the clone itself is not exercised here`);
      return;
    }
    const snap = snapshotDir(data, 'snap-1');
    assert.deepEqual(treeFacts(snap)['a/b/data.bin']?.sha256, treeFacts(data)['a/b/data.bin']?.sha256);
  });

  it('none: makes no snapshot, and says the upload reads the live data', async () => {
    const data = join(tempDir(), 'node-0');
    fill(data);
    const { context } = taskContext({ dataDir: data, service: withMode('none') });
    const output = await snapshotTask(context);
    assert.equal(output.message, `snapshot mode none: the upload reads the live data directory ${data}`);
    assert.ok(!existsSync(`${data}.drplan`));
  });
});

describe('snapshot trees under a service that keeps changing its files', () => {
  it('copy keeps hard links even when both names sit in one directory and are copied at once', async () => {
    const data = join(tempDir(), 'data');
    for (let i = 0; i < 100; i += 1) {
      mkdirSync(join(data, `d-${i}`), { recursive: true });
      writeFileSync(join(data, `d-${i}`, 'a'), `inode ${i}`);
      linkSync(join(data, `d-${i}`, 'a'), join(data, `d-${i}`, 'b'));
    }
    const snap = join(tempDir(), 'snap');
    await snapshotTree(data, snap, { mode: 'copy', signal: new AbortController().signal, onFile: () => undefined, settleMs: 0 });
    for (let i = 0; i < 100; i += 1) {
      assert.equal(lstatSync(join(snap, `d-${i}`, 'a')).ino, lstatSync(join(snap, `d-${i}`, 'b')).ino, `d-${i}: a and b are one inode`);
      assert.notEqual(lstatSync(join(snap, `d-${i}`, 'a')).ino, lstatSync(join(data, `d-${i}`, 'a')).ino, 'and a copy');
    }
  });

  it('copy never copies through a symlink swapped in under a file’s name', async () => {
    const root = tempDir();
    const data = join(root, 'data');
    mkdirSync(data);
    writeFileSync(join(root, 'secret'), 'root only', { mode: 0o600 });
    for (let i = 0; i < 20; i += 1) writeFileSync(join(data, `f-${i}`), 'plain');
    // A process keeps swapping x between a file and a link to the secret.
    const swapper = spawn(process.execPath, ['-e', `
      const fs = require('node:fs');
      const [dir, secret] = process.argv.slice(1);
      const x = dir + '/x', tmp = dir + '/.x';
      for (;;) {
        try { fs.writeFileSync(tmp, 'plain'); fs.renameSync(tmp, x); fs.symlinkSync(secret, tmp); fs.renameSync(tmp, x); } catch {}
      }`, data, join(root, 'secret')], { stdio: 'ignore' });
    try {
      for (let round = 0; round < 150; round += 1) {
        const snap = join(root, `snap-${round}`);
        await snapshotTree(data, snap, { mode: 'copy', signal: new AbortController().signal, onFile: () => undefined, settleMs: 0 }).catch((e: unknown) => {
          if (!(e instanceof AppError)) throw e;
        });
        const x = join(snap, 'x');
        if (existsSync(x) && lstatSync(x).isFile()) assert.equal(readFileSync(x, 'utf8'), 'plain', `round ${round}: the link's target was copied`);
        rmSync(snap, { recursive: true, force: true });
      }
    } finally {
      swapper.kill();
    }
  });
});
