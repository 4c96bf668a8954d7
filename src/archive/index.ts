export { packDirectory, estimateTarSize, type PackOptions, type PackResult, type PackStream } from './pack.js';
export { unpackArchive, type UnpackOptions, type UnpackResult } from './unpack.js';
export { tarTree, emptyStats, type TreeOptions, type TreeStats } from './tar-pack.js';
export { TarReader, MAX_META_BYTES, type TarSink } from './tar-read.js';
export { FsSink, type FsSinkOptions } from './fs-sink.js';
export { encodeEntry, endOfArchive, paxRecord, timeFromNs, type EntryHeader, type EntryType } from './tar-format.js';
export { looksSparse, scanRegions, HOLE_BLOCK } from './sparse.js';
export { Digest, type DigestOptions } from './digest.js';
export { compressor, decompressor, COMPRESSIONS, type Compression, type CompressOptions, type DecompressOptions } from './compress.js';
