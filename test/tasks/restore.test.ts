import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, linkSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import ts from 'typescript';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packDirectory } from '../../src/archive/index.js';
import { Repository } from '../../src/repository/index.js';
import { AppError } from '../../src/shared/index.js';
import { createFsStore } from '../../src/storage/index.js';
import { fetchRestoreTask, preflightRestoreTask } from '../../src/tasks/index.js';
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

  it('fails before anything is fetched when the data dir’s disk cannot hold the data', async (t) => {
    // Mounted here, not when the file loads: a skipped test must leave nothing mounted.
    const disk = join(tempDir(), 'disk');
    mkdirSync(disk);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk], { stdio: 'ignore' });
    } catch {
      t.skip('cannot mount a small tmpfs here');
      return;
    }
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

  it('restores into the target of a data dir that is a symlink, and the link stays', async () => {
    const root = await snapshotOf(64 * 1024);
    const base = tempDir();
    const volume = join(base, 'volume', 'kafka');
    mkdirSync(volume, { recursive: true });
    writeFileSync(join(volume, 'old'), 'old data');
    const dataDir = join(base, 'kafka');
    symlinkSync(volume, dataDir);
    const { context } = taskContext({ dataDir, parameters: { SNAPSHOT_NAME: 'snap', FS_ROOT: root, RESTORE_POLICY: 'force' } });
    await fetchRestoreTask('fs')(context);
    assert.ok(lstatSync(dataDir).isSymbolicLink(), 'the data dir is still a link');
    assert.equal(readlinkSync(dataDir), volume);
    assert.equal(readFileSync(join(volume, 'table.db')).length, 64 * 1024, 'the data landed on the volume');
    assert.ok(!lstatSync(join(base, 'volume')).isSymbolicLink());
  });
});

describe('removing a restored tree as an agent that is not root', () => {
  it('removes read-only directories too', { skip: process.getuid?.() === 0 ? false : 'needs root to run a child as another user' }, () => {
    const dir = join(tempDir(), 'previous');
    mkdirSync(join(dir, 'ro', 'deeper'), { recursive: true });
    writeFileSync(join(dir, 'ro', 'deeper', 'f'), 'x');
    for (const path of [dir, join(dir, 'ro'), join(dir, 'ro', 'deeper'), join(dir, 'ro', 'deeper', 'f')]) chownSync(path, 65534, 65534);
    chmodSync(join(dir, 'ro', 'deeper'), 0o555);
    chmodSync(join(dir, 'ro'), 0o555);
    chmodSync(join(dir, '..'), 0o777);
    // The child runs plain JavaScript from the test's own (world-readable) directory: the
    // checkout itself may sit where that user cannot read.
    const source = readFileSync(join(import.meta.dirname, '../../src/tasks/remove.ts'), 'utf8');
    const module = join(dir, '..', 'remove.mjs');
    writeFileSync(module, `${ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText}\nawait removeTree(process.argv[2]);\n`, { mode: 0o644 });
    // So does the runtime: npm ci may have put it in the checkout (node_modules/.bin/node).
    const runtime = join(dir, '..', 'node');
    try {
      linkSync(process.execPath, runtime);
    } catch {
      copyFileSync(process.execPath, runtime);
    }
    chmodSync(runtime, 0o755);
    const result = spawnSync(runtime, [module, dir], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: join(dir, '..') });
    assert.equal(result.status, 0, result.stderr);
    assert.throws(() => lstatSync(dir), /ENOENT/);
  });
});
