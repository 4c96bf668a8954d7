export { packDirectory, estimateTarSize, type PackOptions, type PackResult, type PackStream } from './pack.js';
export { unpackArchive, entryProblem, type UnpackOptions, type UnpackResult } from './unpack.js';
export { Digest, type DigestOptions } from './digest.js';
export { parallelGzip, type ParallelGzipOptions } from './parallel-gzip.js';
export { parseManifest, manifestKey, nodeKey, MANIFEST_FORMAT, ManifestSchema, type Manifest, type ManifestNode } from './manifest.js';
