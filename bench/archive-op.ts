// One archive operation in its own process, for the isolated cases of the bench:
//   node dist/bench/archive-op.js pack <dir> <gzip|zstd> <level>             archive on stdout
//   node dist/bench/archive-op.js unpack <file> <dir> <gzip|zstd> <sha256>  checked against that sha256 and the file's size
import { createReadStream, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { COMPRESSIONS, packDirectory, unpackArchive, type Compression } from '../src/archive/index.js';

const [op, a, b, c, d] = process.argv.slice(2);
const compression = (op === 'pack' ? b : c) as Compression;
if (!COMPRESSIONS.includes(compression)) throw new Error(`compression must be one of ${COMPRESSIONS.join(', ')}`);
if (op === 'pack' && a !== undefined) {
  const packed = packDirectory(a, { compression, level: Number(c), threads: 2 });
  await pipeline(packed.stream, process.stdout);
  await packed.done;
} else if (op === 'unpack' && a !== undefined && b !== undefined && d !== undefined) {
  await unpackArchive(createReadStream(a, { highWaterMark: 1024 * 1024 }), b, { compression, expected: { bytes: statSync(a).size, sha256: d } });
} else {
  throw new Error('usage: archive-op.ts pack <dir> <compression> <level> | unpack <file> <dir> <compression> <sha256>');
}
