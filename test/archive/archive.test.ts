import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, linkSync, lstatSync, mkdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { estimateTarSize, FileListWriter, packDirectory, readFileList, unpackArchive, type PackOptions, type TreeEntry } from '../../src/archive/index.js';
import { AppError } from '../../src/shared/index.js';
import { comparable, treeFacts, writeHardTree } from '../helpers/fidelity.js';
import { tempDir } from '../helpers/tmp.js';
import { expectedFileList } from '../helpers/tree.js';

async function pack(dir: string, options: PackOptions = {}) {
  const packed = packDirectory(dir, { level: 6, settleMs: 0, ...options });
  const bytes = await buffer(packed.stream);
  return { bytes, result: await packed.done };
}

async function unpack(bytes: Buffer, expected?: { bytes: number; sha256: string }) {
  const target = join(tempDir(), 'restored');
  mkdirSync(target);
  const result = await unpackArchive(Readable.from([bytes]), target, { label: 'node-0.tar.gz', ...(expected === undefined ? {} : { expected }) });
  return { target, result };
}

/** The facts of a restore compared with the original: atime aside, everything. */
function assertSameTree(restored: string, original: string): void {
  assert.deepEqual(comparable(treeFacts(restored)), comparable(treeFacts(original)));
}

describe('archive: what goes in comes back', () => {
  it('round-trips every kind of entry exactly: symlinks anywhere, modes, sparse files, hard links, a FIFO, long and unicode names, mtimes', async () => {
    const dir = join(tempDir(), 'data');
    writeHardTree(dir);
    const { bytes, result } = await pack(dir);
    assert.equal(result.bytes, bytes.length);
    assert.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(result.stats.hardlinks, 2);
    assert.equal(result.stats.fifos, 1);
    assert.equal(result.stats.sparse, 1);
    assert.equal(result.stats.symlinks, process.getuid?.() === 0 ? 6 : 5);
    assert.ok(bytes.length < 2 * 1024 * 1024, `a 64 MiB sparse file stores only its data (${bytes.length} bytes)`);
    const { target, result: out } = await unpack(bytes, { bytes: result.bytes, sha256: result.sha256 });
    assert.equal(out.stats.files, result.stats.files);
    assertSameTree(target, dir);
    assert.equal(lstatSync(join(target, 'hard-a')).ino, lstatSync(join(target, 'sub', 'hard-c')).ino, 'hard links come back as one inode');
    assert.ok(lstatSync(join(target, 'sparse.img')).blocks * 512 < 1024 * 1024, 'the sparse file stays sparse');
    assert.equal(statSync(join(target, 'private.key')).mtimeMs, statSync(join(dir, 'private.key')).mtimeMs);
  });

  it('reports every entry as it packs it, in archive order, each file with the sha256 of its content: large, small, sparse, hard-linked', async () => {
    const dir = join(tempDir(), 'data');
    writeHardTree(dir, { sparseBytes: 8 * 1024 * 1024 });
    writeFileSync(join(dir, 'sub', 'large.bin'), Buffer.concat([Buffer.alloc(700_000, 7), createHash('sha256').update('x').digest()]));
    linkSync(join(dir, 'sub', 'large.bin'), join(dir, 'z-large-link'));
    const entries: TreeEntry[] = [];
    const { bytes } = await pack(dir, { onEntry: (entry) => entries.push(entry) });
    assert.deepEqual(entries, expectedFileList(dir));
    assert.deepEqual(entries.filter((e) => e.type === 'hardlink').map((e) => `${e.path} -> ${e.target}`), ['hard-b -> hard-a', 'sub/hard-c -> hard-a', 'z-large-link -> sub/large.bin']);
    // What a restore of the archive holds is what the list says.
    const { target } = await unpack(bytes);
    assert.deepEqual(expectedFileList(target).map((e) => [e['path'], e['type'], e['sha256']]), entries.map((e) => [e.path, e.type, e.sha256]));
  });

  it('a file list is gzipped JSON lines that read back exactly, each file naming the snapshot that holds it; a damaged one says which line', async () => {
    const writer = new FileListWriter('snap-1');
    const entries: TreeEntry[] = [
      { path: '.', type: 'dir', size: 0, mode: 0o750, mtime: '1700000000.000000001' },
      { path: 'a/ünï 名前.txt', type: 'file', size: 3, mode: 0o600, mtime: '1700000000.5', sha256: 'a'.repeat(64) },
      { path: 'link', type: 'symlink', size: 0, mode: 0o777, mtime: '1', target: '../out' },
    ];
    // Many entries cross the writer's flushes and the reader's chunks.
    for (let i = 0; i < 5000; i += 1) entries.push({ path: `many/${i}-${'é'.repeat(i % 7)}`, type: 'file', size: i, mode: 0o644, mtime: `${1700000000 + i}.000000000`, sha256: createHash('sha256').update(String(i)).digest('hex') });
    for (const entry of entries) writer.add(entry);
    writer.end();
    const stored = await buffer(writer.stream);
    const result = await writer.done;
    assert.deepEqual([result.bytes, result.sha256, result.entries], [stored.length, createHash('sha256').update(stored).digest('hex'), entries.length]);
    const read = [];
    for await (const entry of readFileList(Readable.from([stored.subarray(0, 100), stored.subarray(100)]), 'node-0.files.gz')) read.push(entry);
    assert.deepEqual(read, entries.map((e) => (e.sha256 === undefined ? e : { ...e, in: 'snap-1' })));

    const bad = gzipSync('{"path":".","type":"dir","size":0,"mode":493,"mtime":"1"}\n{"path":"x","type":"socket","size":0,"mode":0,"mtime":"1"}\n');
    await assert.rejects(
      async () => {
        for await (const entry of readFileList(Readable.from([bad]), 'node-0.files.gz')) void entry;
      },
      (error: AppError) => error.code === 'CHECKSUM' && /line 2 of node-0\.files\.gz is not a file list entry: \/type/.test(error.message),
    );
    await assert.rejects(
      async () => {
        for await (const entry of readFileList(Readable.from([stored.subarray(0, stored.length - 20)]), 'node-0.files.gz')) void entry;
      },
      (error: AppError) => error.code === 'CHECKSUM' && /node-0\.files\.gz cannot be read/.test(error.message),
    );
  });

  it('GNU tar extracts what drplan writes, and drplan extracts what GNU tar writes, identically', async () => {
    const dir = join(tempDir(), 'data');
    writeHardTree(dir, { sparseBytes: 16 * 1024 * 1024 });
    const { bytes } = await pack(dir);
    const byGnu = join(tempDir(), 'gnu');
    mkdirSync(byGnu);
    execFileSync('tar', ['-xzpf', '-', '-C', byGnu], { input: bytes });
    assertSameTree(byGnu, dir);

    const gnuArchive = execFileSync('tar', ['--format=pax', '--sparse', '-czf', '-', '-C', dir, '.'], { maxBuffer: 64 * 1024 * 1024 });
    const { target } = await unpack(gnuArchive);
    assertSameTree(target, dir);
  });

  it('keeps the links the data has when the tree is a hard-link snapshot of it (every file twice linked)', async () => {
    const live = join(tempDir(), 'live');
    mkdirSync(live);
    writeFileSync(join(live, 'a'), 'same inode');
    linkSync(join(live, 'a'), join(live, 'b'));
    writeFileSync(join(live, 'c'), 'alone');
    const snapshot = join(tempDir(), 'snapshot');
    mkdirSync(snapshot);
    for (const name of ['a', 'b', 'c']) linkSync(join(live, name), join(snapshot, name));
    const { bytes, result } = await pack(snapshot, { linkFactor: 2 });
    assert.equal(result.stats.hardlinks, 1);
    assert.equal(result.stats.files, 2);
    const { target } = await unpack(bytes);
    assert.equal(lstatSync(join(target, 'a')).ino, lstatSync(join(target, 'b')).ino);
    assert.equal(lstatSync(join(target, 'c')).nlink, 1);
  });

  it('leaves sockets out and says so; an empty directory makes a valid archive', async () => {
    const dir = join(tempDir(), 'data');
    mkdirSync(dir);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'agent.sock'), resolve));
    try {
      const { bytes, result } = await pack(dir);
      assert.deepEqual(result.stats.skipped, [{ path: 'agent.sock', kind: 'socket' }]);
      const { target } = await unpack(bytes);
      assert.deepEqual(Object.keys(treeFacts(target)), ['.']);
    } finally {
      server.close();
    }
  });

  it('estimates the tar size closely enough for progress', async () => {
    const dir = join(tempDir(), 'data');
    writeHardTree(dir, { sparseBytes: 8 * 1024 * 1024 });
    const { result } = await pack(dir);
    const estimate = await estimateTarSize(dir);
    assert.ok(Math.abs(estimate.bytes - result.tarBytes) < 64 * 1024, `estimate ${estimate.bytes} vs ${result.tarBytes}`);
  });
});

describe('archive: a file that changes while it is read is never stored torn', () => {
  const big = (dir: string): string => {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'table.db');
    writeFileSync(path, Buffer.alloc(24 * 1024 * 1024, 7));
    return path;
  };

  /** Packs `dir`, calling `meddle` once the archive has started to flow. */
  async function packWhile(dir: string, meddle: () => void, options: PackOptions = {}): Promise<unknown> {
    const packed = packDirectory(dir, { settleMs: 0, ...options });
    let meddled = false;
    packed.stream.on('data', () => {
      if (!meddled) {
        meddled = true;
        meddle();
      }
    });
    packed.stream.resume();
    return packed.done.then(
      () => 'stored',
      (error: unknown) => error,
    );
  }

  it('a file cut short under the reader', async () => {
    const dir = join(tempDir(), 'data');
    const path = big(dir);
    const error = await packWhile(dir, () => truncateSync(path, 1000), { advice: 'use snapshot: copy' });
    assert.ok(error instanceof AppError, String(error));
    assert.equal(error.code, 'SOURCE_CHANGED');
    assert.equal(error.retryable, true);
    assert.match(error.message, /^table\.db changed while it was read \(.*\): use snapshot: copy$/);
  });

  it('a file that grows, or is rewritten in place, while it is read', async () => {
    for (const meddle of [(p: string) => appendFileSync(p, 'more'), (p: string) => writeFileSync(p, Buffer.alloc(24 * 1024 * 1024, 8), { flag: 'r+' })]) {
      const dir = join(tempDir(), 'data');
      const path = big(dir);
      const error = await packWhile(dir, () => meddle(path));
      assert.ok(error instanceof AppError && error.code === 'SOURCE_CHANGED', String(error));
      assert.match(error.message, /^table\.db changed while it was read \((size \d+ → \d+|mtime moved|ctime moved)\)$/);
    }
  });

  it('a name of the file removed or renamed elsewhere (its link count, its ctime) is not a change of its content', async () => {
    const dir = join(tempDir(), 'snapshot');
    const path = big(dir);
    const live = join(tempDir(), 'live-name');
    linkSync(path, live);
    const outcome = await packWhile(dir, () => rmSync(live), { linkFactor: 2 });
    assert.equal(outcome, 'stored');
  });

  it('a file removed after its directory was listed is left out, and counted', async () => {
    const dir = join(tempDir(), 'data');
    big(dir);
    // Listed after a directory: it is not read before table.db has gone out.
    mkdirSync(join(dir, 'y-dir'));
    writeFileSync(join(dir, 'zz-temporary'), 'gone soon');
    const packed = packDirectory(dir, { settleMs: 0 });
    let removed = false;
    packed.stream.on('data', () => {
      if (!removed) {
        removed = true;
        rmSync(join(dir, 'zz-temporary'));
      }
    });
    const bytes = await buffer(packed.stream);
    const result = await packed.done;
    assert.equal(result.stats.vanished, 1);
    const { target } = await unpack(bytes);
    assert.deepEqual(Object.keys(treeFacts(target)).sort(), ['.', 'table.db', 'y-dir']);
  });

  it('waits for a file modified a moment ago to settle, then stores it whole', async () => {
    const dir = join(tempDir(), 'data');
    // Settling counts from the file's mtime, which one long write() sets when it starts: a write
    // slowed down by a busy machine must not shorten the wait that is measured.
    // The first compressed block holds the file's first MiB: it cannot come before the file is read.
    const modified = statSync(big(dir)).mtimeMs;
    const packed = packDirectory(dir, { level: 1, settleMs: 300 });
    let firstOut = 0;
    packed.stream.once('data', () => (firstOut = Date.now()));
    const bytes = await buffer(packed.stream);
    await packed.done;
    assert.ok(firstOut - modified >= 290, `it waited for the file to be left alone (read ${firstOut - modified} ms after its mtime)`);
    const { target } = await unpack(bytes);
    assert.equal(statSync(join(target, 'table.db')).size, 24 * 1024 * 1024);
  });

  it('a stream whose reader gave up, cancelled once everything was packed, fails quietly through done', async () => {
    const dir = join(tempDir(), 'data');
    mkdirSync(dir);
    writeFileSync(join(dir, 'tiny'), 'node 0');
    const controller = new AbortController();
    const packed = packDirectory(dir, { settleMs: 0, signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 300));
    controller.abort(new AppError('AUTH', 'the store refused the credentials'));
    const outcome = await packed.done.then(
      () => 'resolved',
      (e: unknown) => (e as Error).message,
    );
    assert.ok(outcome === 'resolved' || outcome === 'the store refused the credentials', outcome);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(packed.stream.destroyed);
  });

  it('an early failure reaches whoever waits, even before anything was read', async () => {
    const packed = packDirectory(join(tempDir(), 'does-not-exist'));
    const error = await packed.done.catch((e: unknown) => e);
    assert.ok(error instanceof AppError, String(error));
    assert.ok(packed.stream.destroyed);
  });
});

/** A tmpfs of `size` at a fresh directory, or null where mounting is not allowed. */
function smallDisk(size: string): { dir: string; unmount: () => void } | null {
  const dir = join(tempDir(), 'disk');
  mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return null;
  }
  return { dir, unmount: () => execFileSync('umount', [dir]) };
}

describe('archive: a failed restore says what failed', () => {
  const archive = async (): Promise<{ bytes: Buffer; sha256: string }> => {
    const dir = join(tempDir(), 'data');
    mkdirSync(dir);
    writeFileSync(join(dir, 'table.db'), Buffer.alloc(4 * 1024 * 1024, 9));
    const { bytes, result } = await pack(dir);
    return { bytes, sha256: result.sha256 };
  };

  it('a connection reset mid-download is UNAVAILABLE (retried), never a corrupt snapshot', async () => {
    const { bytes, sha256 } = await archive();
    const source = new Readable({ read() {} });
    source.push(bytes.subarray(0, 2000));
    setTimeout(() => source.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })), 20);
    const target = join(tempDir(), 'staging');
    mkdirSync(target);
    const error = await unpackArchive(source, target, { label: 's3://b/k', expected: { bytes: bytes.length, sha256 }, announcedBytes: bytes.length }).catch((e: unknown) => e);
    assert.ok(error instanceof AppError, String(error));
    assert.equal(error.code, 'UNAVAILABLE');
    assert.equal(error.retryable, true);
    assert.equal(error.message, 'reading s3://b/k failed after 2000 bytes: read ECONNRESET');
  });

  it('a download that ends early, against the size the store announced, is UNAVAILABLE too', async () => {
    const { bytes, sha256 } = await archive();
    const target = join(tempDir(), 'staging');
    mkdirSync(target);
    const error = await unpackArchive(Readable.from([bytes.subarray(0, bytes.length - 10)]), target, { label: 'k', expected: { bytes: bytes.length, sha256 }, announcedBytes: bytes.length }).catch((e: unknown) => e);
    assert.ok(error instanceof AppError, String(error));
    assert.equal(error.code, 'UNAVAILABLE', error.message);
    assert.match(error.message, new RegExp(`^reading k stopped after ${bytes.length - 10} of ${bytes.length} bytes$`));
  });

  it('corrupt data found while the rest is still arriving is a CHECKSUM error, not a short read', async () => {
    // The archive's bytes come slowly (a loaded machine, a slow link): gunzip meets the damage
    // long before the download has ended, so fewer bytes than announced have passed.
    const { bytes, sha256 } = await archive();
    const corrupt = Buffer.from(bytes);
    for (let i = 100; i < 4000; i++) corrupt[i]! ^= 0x55;
    const source = new Readable({ read() {} });
    source.push(corrupt.subarray(0, 8192));
    const rest = setTimeout(() => source.push(null), 2000);
    const target = join(tempDir(), 'staging');
    mkdirSync(target);
    try {
      const error = await unpackArchive(source, target, { label: 'k', expected: { bytes: corrupt.length, sha256 }, announcedBytes: corrupt.length }).catch((e: unknown) => e);
      assert.ok(error instanceof AppError, String(error));
      assert.equal(error.code, 'CHECKSUM', error.message);
      assert.equal(error.retryable, false);
      // Damaged deflate data may still inflate (to garbage the tar reader then refuses): either
      // layer may be the one to notice.
      assert.match(error.message, /^k is not a valid (gzip stream \(.+\): it is corrupt or truncated|archive: .+)$/);
    } finally {
      clearTimeout(rest);
    }
  });

  it('an object shorter than its manifest says, as the store announces it, is a CHECKSUM error', async () => {
    const { bytes, sha256 } = await archive();
    const target = join(tempDir(), 'staging');
    mkdirSync(target);
    const short = bytes.subarray(0, bytes.length - 10);
    const error = await unpackArchive(Readable.from([short]), target, { label: 'k', expected: { bytes: bytes.length, sha256 }, announcedBytes: short.length }).catch((e: unknown) => e);
    assert.ok(error instanceof AppError && error.code === 'CHECKSUM', String(error));
  });

  it('a full disk says the disk is full, not that the snapshot is corrupt', async (t) => {
    // Mounted here, not when the file loads: a skipped test must leave nothing mounted.
    const disk = smallDisk('1m');
    if (disk === null) {
      t.skip('cannot mount a small tmpfs here');
      return;
    }
    try {
      const { bytes, sha256 } = await archive();
      const target = join(disk.dir, 'staging');
      mkdirSync(target);
      const error = await unpackArchive(Readable.from([bytes]), target, { label: 'k', expected: { bytes: bytes.length, sha256 } }).catch((e: unknown) => e);
      assert.ok(error instanceof AppError, String(error));
      assert.equal(error.code, 'NO_SPACE');
      assert.match(error.message, /^restoring table\.db: the disk is full/);
    } finally {
      disk.unmount();
    }
  });
});
