import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { Header } from 'tar';
import { paxRecord, unpackArchive } from '../../src/archive/index.js';
import { AppError } from '../../src/shared/index.js';
import { treeFacts } from '../helpers/fidelity.js';
import { tempDir } from '../helpers/tmp.js';

interface Raw {
  path: string;
  /** A tar type name ('File', 'SymbolicLink', …) or a raw type flag ('S'). */
  type?: string;
  body?: string;
  linkpath?: string;
  /** The size the header claims, whatever the body. */
  claim?: number;
  pax?: Record<string, string>;
}

function header(fields: { path: string; type: string; size: number; linkpath?: string }): Buffer {
  const block = Buffer.alloc(512);
  const h = new Header({ path: fields.path, type: 'File', size: fields.size, mode: 0o644, uid: 0, gid: 0, mtime: new Date('2024-01-01T00:00:00Z'), linkpath: fields.linkpath ?? '' });
  h.encode(block);
  if (fields.type.length === 1) {
    // A raw type flag: rewrite it and the checksum.
    block[156] = fields.type.charCodeAt(0);
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of block) sum += byte;
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  } else {
    const typed = new Header({ path: fields.path, type: fields.type as 'File', size: fields.size, mode: fields.type === 'Directory' ? 0o755 : 0o644, uid: 0, gid: 0, mtime: new Date('2024-01-01T00:00:00Z'), linkpath: fields.linkpath ?? '' });
    block.fill(0);
    typed.encode(block);
  }
  return block;
}

const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);

/** A tar.gz built block by block, so tests can craft what no honest writer makes. */
function craft(entries: Raw[], end = true): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    if (entry.pax !== undefined) {
      const body = Buffer.from(Object.entries(entry.pax).map(([k, v]) => paxRecord(k, v)).join(''));
      blocks.push(header({ path: 'PaxHeaders/x', type: 'x', size: entry.claim ?? body.length }), body, pad(body.length));
      if (entry.claim !== undefined) continue;
    }
    const body = Buffer.from(entry.body ?? '');
    const type = entry.type ?? 'File';
    const size = entry.claim ?? (type === 'File' ? body.length : 0);
    blocks.push(header({ path: entry.path, type, size, ...(entry.linkpath === undefined ? {} : { linkpath: entry.linkpath }) }));
    if (body.length > 0) blocks.push(body, pad(body.length));
  }
  if (end) blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

const cases: Array<[string, Raw[], string, RegExp]> = [
  ['a parent-directory path', [{ path: 'ok.txt', body: 'fine' }, { path: '../escape.txt', body: 'x' }], 'UNSAFE_ARCHIVE', /entry '\.\.\/escape\.txt' has a '\.\.' component/],
  ['a nested parent-directory path', [{ path: 'a/../../escape.txt', body: 'x' }], 'UNSAFE_ARCHIVE', /entry 'a\/\.\.\/\.\.\/escape\.txt' has a '\.\.' component/],
  ['an absolute path', [{ path: '/tmp/drplan-hostile-absolute.txt', body: 'x' }], 'UNSAFE_ARCHIVE', /entry '\/tmp\/drplan-hostile-absolute\.txt' has an absolute path/],
  [
    'a chain of symlinks that ends outside',
    [
      { path: 'sub/', type: 'Directory' },
      { path: 'sub/inner', type: 'SymbolicLink', linkpath: '..' },
      { path: 'esc', type: 'SymbolicLink', linkpath: 'sub/inner/..' },
      { path: 'esc/escape.txt', body: 'pwned' },
    ],
    'UNSAFE_ARCHIVE',
    /entry 'esc\/escape\.txt' would be written through the symlink 'esc'/,
  ],
  [
    'a directory symlink to the outside, then a file below it',
    [{ path: 'out', type: 'SymbolicLink', linkpath: '../outside' }, { path: 'out/sentinel', body: 'overwritten' }],
    'UNSAFE_ARCHIVE',
    /entry 'out\/sentinel' would be written through the symlink 'out'/,
  ],
  ['a hard link to an outside file', [{ path: 'h', type: 'Link', linkpath: '../outside/sentinel' }], 'UNSAFE_ARCHIVE', /entry 'h' is a hard link with a '\.\.' component/],
  ['a hard link to an absolute path', [{ path: 'h', type: 'Link', linkpath: '/etc/passwd' }], 'UNSAFE_ARCHIVE', /entry 'h' is a hard link with an absolute path/],
  [
    'a hard link through a symlink',
    [{ path: 'etc', type: 'SymbolicLink', linkpath: '/etc' }, { path: 'h', type: 'Link', linkpath: 'etc/passwd' }],
    'UNSAFE_ARCHIVE',
    /entry 'h' would be written through the symlink 'etc'/,
  ],
  ['a hard link to something the archive never wrote', [{ path: 'h', type: 'Link', linkpath: 'nothing-here' }], 'UNSAFE_ARCHIVE', /entry 'h' is a hard link to 'nothing-here', which the archive did not create/],
  ['a device node', [{ path: 'dev-null', type: 'CharacterDevice' }], 'UNSAFE_ARCHIVE', /entry 'dev-null' is a character device: devices are not restored/],
  ['an oversized extended header', [{ path: 'x', pax: { path: 'x' }, claim: 200 * 1024 * 1024 }], 'UNSAFE_ARCHIVE', /the extended header at byte 0 claims 209715200 bytes, more than the 1048576 drplan reads/],
  ['an oversized GNU long name', [{ path: '././@LongLink', type: 'L', claim: 50 * 1024 * 1024 }], 'UNSAFE_ARCHIVE', /claims 52428800 bytes/],
  ['an entry type drplan does not restore', [{ path: 'old-sparse', type: 'S', body: '' }], 'UNSAFE_ARCHIVE', /entry 'old-sparse' has tar type 'S', which drplan does not restore/],
  ['a file that claims a terabyte', [{ path: 'huge', body: 'tiny', claim: 2 ** 40 }], 'CHECKSUM', /is not a valid archive: it ends at byte \d+, before its end-of-archive marker: it is truncated/],
  [
    'a sparse map that is not decimal',
    [{ path: 'GNUSparseFile.0/s', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 's', 'GNU.sparse.realsize': '100' }, body: `1\n0x1\n5\n${'\0'.repeat(500)}hello` }],
    'CHECKSUM',
    /the sparse file 's' has a map whose regions overlap, go backwards or pass its end/,
  ],
  [
    'a sparse map that runs past the file',
    [{ path: 'GNUSparseFile.0/s', pax: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 's', 'GNU.sparse.realsize': '10' }, body: `1\n8\n5\n${'\0'.repeat(506)}hello` }],
    'CHECKSUM',
    /the sparse file 's' has a map whose regions overlap, go backwards or pass its end/,
  ],
  ['a file below a file', [{ path: 'f', body: 'x' }, { path: 'f/g', body: 'y' }], 'UNSAFE_ARCHIVE', /entry 'f\/g' would be written below 'f', which is not a directory/],
];

describe('hostile archives are refused, naming the entry, and nothing outside the staging directory changes', () => {
  for (const [name, entries, code, message] of cases) {
    it(`refuses ${name}`, async () => {
      const root = tempDir();
      const staging = join(root, 'staging');
      mkdirSync(staging);
      mkdirSync(join(root, 'outside'));
      writeFileSync(join(root, 'outside', 'sentinel'), 'original');
      const outside = (): Record<string, unknown> => {
        const facts = treeFacts(root);
        return Object.fromEntries(Object.entries(facts).filter(([path]) => path !== 'staging' && !path.startsWith('staging/') && path !== '.'));
      };
      const before = outside();
      const error = await unpackArchive(Readable.from([craft(entries)]), staging, { label: 'node-0.tar.gz' }).catch((e: unknown) => e);
      assert.ok(error instanceof AppError, String(error));
      assert.equal(error.code, code, error.message);
      assert.match(error.message, /^node-0\.tar\.gz/);
      assert.match(error.message, message);
      assert.deepEqual(outside(), before, 'nothing outside the staging directory changed');
      assert.deepEqual(readdirSync(root).sort(), ['outside', 'staging']);
      assert.ok(!existsSync('/tmp/drplan-hostile-absolute.txt'));
      rmSync(root, { recursive: true, force: true });
    });
  }

  it('restores symlinks verbatim wherever they point, and replaces an earlier entry of the same name as tar does', async () => {
    const root = tempDir();
    const staging = join(root, 'staging');
    mkdirSync(staging);
    writeFileSync(join(root, 'sentinel'), 'original');
    await unpackArchive(
      Readable.from([
        craft([
          { path: 'victim', type: 'SymbolicLink', linkpath: '../sentinel' },
          { path: 'victim', body: 'written to a file of its own, not through the link' },
          { path: 'pipe-later', body: 'a file first' },
          { path: 'pipe-later', type: 'FIFO' },
          { path: 'abs', type: 'SymbolicLink', linkpath: '/etc/hostname' },
          { path: 'up', type: 'SymbolicLink', linkpath: '../../../../../etc' },
          { path: 'again', body: 'first' },
          { path: 'again', body: 'second' },
          { path: 'became-dir', type: 'SymbolicLink', linkpath: '/tmp' },
          { path: 'became-dir/', type: 'Directory' },
          { path: 'became-dir/inside', body: 'safe' },
        ]),
      ]),
      staging,
    );
    const facts = treeFacts(staging);
    assert.equal(facts['abs']?.target, '/etc/hostname');
    assert.equal(facts['up']?.target, '../../../../../etc');
    assert.equal(facts['again']?.size, 6);
    assert.equal(facts['became-dir']?.type, 'dir');
    assert.equal(facts['became-dir/inside']?.type, 'file');
    assert.ok(!existsSync('/tmp/inside'));
    assert.equal(facts['victim']?.type, 'file');
    assert.equal(facts['pipe-later']?.type, 'fifo');
    assert.equal(readFileSync(join(root, 'sentinel'), 'utf8'), 'original');
  });

  it('a broken gzip or tar is a checksum error, not a crash', async () => {
    const staging = join(tempDir(), 'staging');
    mkdirSync(staging);
    const notGzip = await unpackArchive(Readable.from([Buffer.from('hello, not a gzip')]), staging, { label: 'k' }).catch((e: unknown) => e);
    assert.ok(notGzip instanceof AppError && notGzip.code === 'CHECKSUM', String(notGzip));
    assert.match(notGzip.message, /^k is not a valid gzip stream/);
    const garbage = await unpackArchive(Readable.from([gzipSync(Buffer.alloc(2048, 0x41))]), staging, { label: 'k' }).catch((e: unknown) => e);
    assert.ok(garbage instanceof AppError && garbage.code === 'CHECKSUM', String(garbage));
    assert.match(garbage.message, /^k is not a valid archive: the header at byte 0 has a bad checksum$/);
    const unterminated = await unpackArchive(Readable.from([craft([{ path: 'a', body: 'x' }], false)]), staging, { label: 'k' }).catch((e: unknown) => e);
    assert.ok(unterminated instanceof AppError && unterminated.code === 'CHECKSUM', String(unterminated));
  });
});
