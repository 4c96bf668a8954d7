import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { estimateTarSize, packDirectory, parseManifest, unpackArchive } from '../../src/archive/index.js';
import { AppError } from '../../src/shared/index.js';
import { craftTarGz, describeTree } from '../helpers/tree.js';
import { tempDir } from '../helpers/tmp.js';

function sample(): string {
  const dir = join(tempDir(), 'data');
  mkdirSync(join(dir, 'deep/er/still'), { recursive: true });
  mkdirSync(join(dir, 'empty/nested'), { recursive: true });
  writeFileSync(join(dir, 'deep/er/still/big.bin'), Buffer.alloc(300_000, 3));
  writeFileSync(join(dir, 'empty-file'), '');
  writeFileSync(join(dir, 'name with spaces.txt'), 'spaces');
  writeFileSync(join(dir, 'ünïcødé-名前.txt'), 'unicode');
  writeFileSync(join(dir, `${'long-name-'.repeat(15)}.txt`), 'long');
  writeFileSync(join(dir, 'script.sh'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(dir, 'secret'), 's', { mode: 0o600 });
  symlinkSync('deep/er/still/big.bin', join(dir, 'link-inside'));
  chmodSync(join(dir, 'deep/er'), 0o750);
  utimesSync(join(dir, 'deep'), new Date('2021-05-05T00:00:00Z'), new Date('2021-05-05T00:00:00Z'));
  return dir;
}

async function pack(dir: string): Promise<{ bytes: Buffer; result: ReturnType<ReturnType<typeof packDirectory>['result']> }> {
  const packed = packDirectory(dir, { level: 6 });
  const bytes = await buffer(packed.stream);
  return { bytes, result: packed.result() };
}

describe('archive', () => {
  it('round-trips a tree: contents, modes, empty dirs and files, odd names, links, directory times', async () => {
    const dir = sample();
    const { bytes, result } = await pack(dir);
    assert.equal(result.bytes, bytes.length);
    assert.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.equal(result.files, 7);
    const estimate = await estimateTarSize(dir);
    assert.equal(estimate.files, 7);
    assert.ok(Math.abs(estimate.bytes - result.tarBytes) <= 10240, `estimate ${estimate.bytes} vs ${result.tarBytes}`);

    const target = join(tempDir(), 'restored');
    mkdirSync(target);
    const out = await unpackArchive(Readable.from([bytes]), target, { expected: { bytes: result.bytes, sha256: result.sha256 } });
    assert.deepEqual(out, { bytes: result.bytes, sha256: result.sha256, files: 7 });
    assert.deepEqual(describeTree(target), describeTree(dir));
    assert.equal(statSync(join(target, 'deep')).mtime.toISOString(), '2021-05-05T00:00:00.000Z', 'directory times are applied last');
  });

  it('stores files the data hard-links as separate files (every file in a snapshot is a hard link)', async () => {
    const dir = join(tempDir(), 'data');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'same inode');
    linkSync(join(dir, 'a'), join(dir, 'b'));
    const { bytes, result } = await pack(dir);
    assert.equal(result.files, 2);
    const target = join(tempDir(), 'out');
    mkdirSync(target);
    await unpackArchive(Readable.from([bytes]), target);
    assert.equal(readFileSync(join(target, 'b'), 'utf8'), 'same inode');
    assert.notEqual(statSync(join(target, 'a')).ino, statSync(join(target, 'b')).ino);
  });

  it('an empty directory makes a valid archive', async () => {
    const dir = join(tempDir(), 'empty');
    mkdirSync(dir);
    const { bytes, result } = await pack(dir);
    assert.equal(result.files, 0);
    const target = join(tempDir(), 'out');
    mkdirSync(target);
    await unpackArchive(Readable.from([bytes]), target);
    assert.deepEqual(describeTree(target), { '.': 'dir' });
  });

  const refusals: Array<[string, Parameters<typeof craftTarGz>[0], RegExp]> = [
    ['a parent-directory path', [{ path: 'ok.txt', body: 'fine' }, { path: '../escape.txt', body: 'x' }], /entry '\.\.\/escape\.txt' has a '\.\.' component/],
    ['a nested parent-directory path', [{ path: 'a/../../escape.txt', body: 'x' }], /entry 'a\/\.\.\/\.\.\/escape\.txt' has a '\.\.' component/],
    ['an absolute path', [{ path: '/tmp/drplan-absolute.txt', body: 'x' }], /entry '\/tmp\/drplan-absolute\.txt' has an absolute path/],
    ['a symlink out of the tree', [{ path: 'etc', type: 'SymbolicLink', linkpath: '../../../../etc' }], /entry 'etc' is a symlink to '\.\.\/\.\.\/\.\.\/\.\.\/etc', outside the target directory/],
    ['an absolute symlink', [{ path: 'passwd', type: 'SymbolicLink', linkpath: '/etc/passwd' }], /entry 'passwd' is a symlink to '\/etc\/passwd', outside/],
    ['a hard link out of the tree', [{ path: 'h', type: 'Link', linkpath: '../outside' }], /entry 'h' is a hard link to '\.\.\/outside', outside/],
    ['a device', [{ path: 'dev-null', type: 'CharacterDevice' }], /entry 'dev-null' is a character device/],
    ['a FIFO', [{ path: 'pipe', type: 'FIFO' }], /entry 'pipe' is a FIFO/],
  ];
  for (const [name, entries, message] of refusals) {
    it(`refuses ${name}, naming the entry`, async () => {
      const target = join(tempDir(), 'out');
      mkdirSync(target);
      const error = await unpackArchive(Readable.from([craftTarGz(entries)]), target, { label: 'node-0.tar.gz' }).catch((e: unknown) => e);
      assert.ok(error instanceof AppError, String(error));
      assert.equal(error.code, 'UNSAFE_ARCHIVE');
      assert.match(error.message, message);
      assert.match(error.message, /^node-0\.tar\.gz: /);
      assert.ok(!existsSync(join(target, '..', 'escape.txt')));
      assert.ok(!existsSync('/tmp/drplan-absolute.txt'));
    });
  }

  it('allows links that stay inside', async () => {
    const target = join(tempDir(), 'out');
    mkdirSync(target);
    const archive = craftTarGz([
      { path: 'a/', type: 'Directory' },
      { path: 'a/f', body: 'x' },
      { path: 'a/rel', type: 'SymbolicLink', linkpath: '../a/f' },
      { path: 'h', type: 'Link', linkpath: 'a/f' },
    ]);
    await unpackArchive(Readable.from([archive]), target);
    assert.equal(statSync(join(target, 'h')).ino, statSync(join(target, 'a/f')).ino);
  });

  it('catches corruption and truncation against the manifest, before anything is trusted', async () => {
    const { bytes, result } = await pack(sample());
    const expected = { bytes: result.bytes, sha256: result.sha256 };
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    const corrupt = await unpackArchive(Readable.from([flipped]), tempDir(), { expected, label: 'k' }).catch((e: unknown) => e);
    assert.ok(corrupt instanceof AppError && corrupt.code === 'CHECKSUM', String(corrupt));
    assert.match(corrupt.message, /^k (is not a valid tar\.gz|has sha256 [0-9a-f]{64} where its manifest records)/);

    const truncated = await unpackArchive(Readable.from([bytes.subarray(0, bytes.length - 100)]), tempDir(), { expected, label: 'k' }).catch((e: unknown) => e);
    assert.ok(truncated instanceof AppError && truncated.code === 'CHECKSUM');
    assert.match(truncated.message, /corrupt or truncated|truncated or was replaced/);

    const longer = await unpackArchive(Readable.from([bytes, Buffer.alloc(20_000)]), tempDir(), { expected, label: 'k' }).catch((e: unknown) => e);
    assert.ok(longer instanceof AppError && longer.code === 'CHECKSUM');
  });

  it('reads manifests strictly', () => {
    assert.throws(() => parseManifest('{', 'm.json'), /m\.json is not valid JSON/);
    assert.throws(() => parseManifest('{"format":1}', 'm.json'), /m\.json is not a drplan manifest: \/\w+ /);
  });
});
