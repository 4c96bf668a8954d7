import type { Dirent } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { forEachLimit } from '../shared/index.js';
import { Digest } from './digest.js';
import { compressor, type Compression } from './compress.js';
import { tarTree, type TreeOptions, type TreeStats } from './tar-pack.js';

export interface PackOptions extends TreeOptions {
  /** @defaultValue 'gzip' */
  compression?: Compression;
  /** gzip 1 (fast) to 9 (small), zstd 1 to 19. @defaultValue 6 for gzip, 3 for zstd */
  level?: number;
  /** Blocks compressed at once (see `compressor`). @defaultValue 2 */
  threads?: number;
  /** Called as uncompressed tar bytes are produced (for progress against `estimateTarSize`). */
  onTarBytes?: (bytes: number) => void;
}

export interface PackResult {
  /** Size of the compressed archive. */
  bytes: number;
  sha256: string;
  /** Size of the tar before compression. */
  tarBytes: number;
  stats: TreeStats;
}

export interface PackStream {
  /** The archive's bytes; an error anywhere in the chain destroys it with that error. */
  stream: Readable;
  /**
   * Settles when packing ends: the result once `stream` has been read to its end, or the first
   * error anywhere in the chain, however early (a consumer that has not started reading yet
   * still learns of it here).
   */
  done: Promise<PackResult>;
}

/**
 * Streams a directory as a compressed tar (see `tarTree` for what goes in and how a file that
 * changes is caught). The compressed stream is made of blocks compressed in parallel (see
 * `compressor`); memory is a few blocks whatever the size of the data.
 */
export function packDirectory(dir: string, options: PackOptions = {}): PackStream {
  const tree = tarTree(dir, options);
  const tar = Readable.from(tree.blocks, { objectMode: false, highWaterMark: 1024 * 1024 });
  const raw = new Digest({ hash: false, ...(options.onTarBytes === undefined ? {} : { onBytes: options.onTarBytes }) });
  const compressed = new Digest();
  const compression = options.compression ?? 'gzip';
  const compress = compressor({ compression, level: options.level ?? (compression === 'zstd' ? 3 : 6), parallel: options.threads ?? 2 });
  let settle: { resolve: (result: PackResult) => void; reject: (error: Error) => void } | undefined;
  const done = new Promise<PackResult>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => undefined); // also reported through `stream`
  const stream = pipeline(tar, raw, compress, compressed, (error) => {
    if (error) settle?.reject(error);
    else settle?.resolve({ bytes: compressed.bytes, sha256: compressed.sha256, tarBytes: raw.bytes, stats: tree.stats });
  });
  // Errors are reported through `done` (and to whoever reads the stream): a stream its reader gave
  // up on (an upload that failed) and that is then cancelled must not throw an unhandled error.
  stream.on('error', () => undefined);
  if (options.signal !== undefined) {
    const signal = options.signal;
    const abort = (): void => void stream.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', abort));
  }
  return { stream, done };
}

/** About the size the uncompressed tar of `dir` will have, for progress; and its file count and data bytes. */
export async function estimateTarSize(dir: string): Promise<{ bytes: number; files: number; dataBytes: number }> {
  let bytes = 1024;
  let files = 0;
  let dataBytes = 0;
  // A header and, for nanosecond times and long names, an extended header of two more blocks.
  const HEADER = 3 * 512;
  const walk = async (path: string): Promise<void> => {
    const entries: Dirent[] = [];
    for await (const entry of await opendir(path)) entries.push(entry);
    bytes += HEADER;
    await forEachLimit(entries, 16, async (entry) => {
      const child = join(path, entry.name);
      if (entry.isDirectory()) return walk(child);
      bytes += HEADER;
      if (entry.isFile()) {
        const info = await lstat(child);
        files += 1;
        dataBytes += info.size;
        // A sparse file stores only its data.
        bytes += Math.ceil(Math.min(info.size, info.blocks * 512) / 512) * 512;
      }
    });
  };
  await walk(dir);
  return { bytes: Math.ceil(bytes / 10240) * 10240, files, dataBytes };
}
