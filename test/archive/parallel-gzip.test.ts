import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { parallelGzip } from '../../src/archive/index.js';

const BLOCK = 1000;

function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) out.push(data.subarray(at, at + size));
  return out;
}

describe('parallel gzip', () => {
  for (const length of [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3.5 * BLOCK, 20 * BLOCK + 7]) {
    it(`${length} bytes come back whole and in order through any gunzip`, async () => {
      const data = Buffer.concat([randomBytes(length / 2), Buffer.alloc(length - Math.floor(length / 2), 'abc')]);
      for (const piece of [1, 333, 4096]) {
        const out = await buffer(Readable.from(chunks(data, piece)).pipe(parallelGzip({ level: 6, blockBytes: BLOCK, parallel: 3 })));
        assert.deepEqual(gunzipSync(out), data);
      }
    });
  }

  it('holds only a few blocks when the reader is slow', async () => {
    const gzip = parallelGzip({ level: 1, blockBytes: BLOCK, parallel: 2 });
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
      write(chunk: Buffer, _encoding, done) {
        consumed += 1;
        maxAhead = Math.max(maxAhead, produced / BLOCK - consumed);
        setTimeout(done, 1);
      },
    });
    await pipeline(source, gzip, slow);
    assert.ok(maxAhead < 60, `the source ran at most ${maxAhead} blocks ahead of the reader`);
  });
});
