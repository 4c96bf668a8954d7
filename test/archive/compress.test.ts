import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { compressor, decompressor, type Compression } from '../../src/archive/index.js';

const BLOCK = 1000;

function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size));
  return out;
}

const sample = (length: number): Buffer => Buffer.concat([randomBytes(Math.floor(length / 2)), Buffer.alloc(length - Math.floor(length / 2), 'abc')]);

const compress = (compression: Compression, data: Buffer, piece = 4096): Promise<Buffer> =>
  buffer(Readable.from(chunks(data, piece)).pipe(compressor({ compression, level: 3, blockBytes: BLOCK, parallel: 3 })));

const decompress = (compression: Compression, data: Buffer, piece = 4096): Promise<Buffer> =>
  buffer(Readable.from(chunks(data, piece)).pipe(decompressor(compression, { parallel: 2 })));

/** The system's own tool, which knows nothing of drplan's block framing. */
function systemDecompress(compression: Compression, data: Buffer): Buffer {
  const tool = spawnSync(compression === 'gzip' ? 'gzip' : 'zstd', ['-dc'], { input: data, maxBuffer: 1 << 28 });
  assert.equal(tool.status, 0, tool.stderr.toString());
  return tool.stdout;
}

const hasZstd = spawnSync('zstd', ['--version']).status === 0;

for (const compression of ['gzip', 'zstd'] as const) {
  const nodeDecompress = compression === 'gzip' ? gunzipSync : zstdDecompressSync;
  describe(`${compression} in blocks`, () => {
    for (const length of [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3.5 * BLOCK, 20 * BLOCK + 7]) {
      it(`${length} bytes come back whole and in order, through Node's decompressor, the system's and our parallel one`, async () => {
        const data = sample(length);
        for (const piece of [1, 333, 4096]) {
          const out = await compress(compression, data, piece);
          assert.deepEqual(nodeDecompress(out), data);
          if (compression === 'gzip' || hasZstd) assert.deepEqual(systemDecompress(compression, out), data);
          for (const readPiece of [1, 77, 4096]) assert.deepEqual(await decompress(compression, out, readPiece), data);
        }
      });
    }

    it('takes large chunks by reference and small ones copied, in any mix, across block boundaries', async () => {
      const block = 256 * 1024;
      const sizes = [100 * 1024, 10, 300 * 1024, 64 * 1024, 64 * 1024 - 1, 1, 700 * 1024, 512, 3];
      const pieces = sizes.map((size) => sample(size));
      const data = Buffer.concat(pieces);
      const out = await buffer(Readable.from(pieces).pipe(compressor({ compression, level: 1, blockBytes: block, parallel: 2 })));
      assert.deepEqual(nodeDecompress(out), data);
      assert.deepEqual(await decompress(compression, out, 50_000), data);
    });

    it('reads a stream of the format that has no block framing (older snapshots, other tools)', async () => {
      const data = sample(50 * BLOCK);
      const plain = compression === 'gzip' ? gzipSync(data) : zstdCompressSync(data);
      assert.deepEqual(await decompress(compression, plain, 999), data);
      // Framed blocks followed by an ordinary stream: the rest streams through.
      const mixed = Buffer.concat([await compress(compression, data), plain]);
      assert.deepEqual(await decompress(compression, mixed, 999), Buffer.concat([data, data]));
    });

    it('fails on a truncated or corrupted stream with a zlib error code', async () => {
      const out = await compress(compression, sample(10 * BLOCK));
      for (const cut of [1, 15, 25, Math.floor(out.length / 2), out.length - 1]) {
        const error = await decompress(compression, out.subarray(0, cut)).catch((e: unknown) => e);
        assert.ok(error instanceof Error, `cut at ${cut} was read as whole`);
        assert.match(String((error as { code?: unknown }).code), /^(Z_|ZSTD_error_)/, `cut at ${cut}: ${String(error)}`);
      }
      const flipped = Buffer.from(out);
      const middle = Math.floor(out.length / 2);
      flipped.writeUInt8(flipped.readUInt8(middle) ^ 0x55, middle);
      const error = await decompress(compression, flipped).catch((e: unknown) => e);
      assert.ok(error instanceof Error, 'a flipped byte went unnoticed');
      assert.match(String((error as { code?: unknown }).code), /^(Z_|ZSTD_error_)/, String(error));
      // A block whose header claims an impossible length is refused before anything is allocated.
      const huge = Buffer.from(out);
      if (compression === 'gzip') huge.writeUInt32LE(0xffffff00, 16);
      else huge.writeUInt32LE(0xffffff00, 8);
      const refused = await decompress(compression, huge).catch((e: unknown) => e);
      assert.ok(refused instanceof Error && /claims \d+ bytes/.test(refused.message), String(refused));
    });

    it('holds only a few blocks when the reader is slow', async () => {
      let produced = 0;
      let maxAhead = 0;
      let consumed = 0;
      const source = new Readable({
        highWaterMark: BLOCK, // the source's own buffer is not what is measured
        read() {
          produced += BLOCK;
          this.push(produced > 200 * BLOCK ? null : randomBytes(BLOCK));
        },
      });
      const slow = new Writable({
        highWaterMark: BLOCK,
        write(_chunk: Buffer, _encoding, done) {
          consumed += 1;
          maxAhead = Math.max(maxAhead, produced / BLOCK - consumed);
          setTimeout(done, 1);
        },
      });
      await pipeline(source, compressor({ compression, level: 1, blockBytes: BLOCK, parallel: 2 }), slow);
      assert.ok(consumed > 0);
      assert.ok(maxAhead < 60, `the source ran at most ${maxAhead} blocks ahead of the reader`);
    });
  });
}
