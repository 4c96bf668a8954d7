import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { create } from 'tar';
import { Digest } from './digest.js';

export interface PackOptions {
  /** gzip level 1 (fast) to 9 (small). @defaultValue 6 */
  level?: number;
  signal?: AbortSignal;
  /** Called as uncompressed tar bytes are produced (for progress against `estimateTarSize`). */
  onTarBytes?: (bytes: number) => void;
}

export interface PackResult {
  /** Size of the tar.gz. */
  bytes: number;
  sha256: string;
  /** Regular files in the archive. */
  files: number;
  /** Size of the tar before compression. */
  tarBytes: number;
}

export interface PackStream {
  /** The tar.gz bytes; an error anywhere in the chain destroys it with that error. */
  stream: Readable;
  /** Byte count, sha256 and file count, once `stream` has been read to its end. */
  result: () => PackResult;
}

/**
 * Streams a directory as tar.gz: regular files, directories (empty ones too), symlinks as links
 * (never followed), modes and mtimes. Paths are relative to `dir` (`./…`). Nothing is buffered
 * beyond the streams' own chunks.
 */
export function packDirectory(dir: string, options: PackOptions = {}): PackStream {
  let files = 0;
  const pack = create({ cwd: dir, follow: false, onWriteEntry: (entry) => void (entry.type === 'File' && (files += 1)) }, ['.']);
  const raw = new Digest(options.onTarBytes);
  const compressed = new Digest();
  const stream = pipeline(pack, raw, createGzip({ level: options.level ?? 6 }), compressed, () => undefined);
  if (options.signal !== undefined) {
    const signal = options.signal;
    const abort = (): void => void stream.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', abort));
  }
  return { stream, result: () => ({ bytes: compressed.bytes, sha256: compressed.sha256, files, tarBytes: raw.bytes }) };
}

/** The size the uncompressed tar of `dir` will have (headers, padded data, end blocks), and its file count. */
export async function estimateTarSize(dir: string): Promise<{ bytes: number; files: number; dataBytes: number }> {
  let bytes = 0;
  let files = 0;
  let dataBytes = 0;
  const walk = async (path: string, name: string): Promise<void> => {
    const info = await lstat(path);
    // A long name takes an extended header (two more blocks) on top of the usual one.
    bytes += 512 + (Buffer.byteLength(name) > 99 ? 1024 : 0);
    if (info.isFile()) {
      files += 1;
      dataBytes += info.size;
      bytes += Math.ceil(info.size / 512) * 512;
    } else if (info.isDirectory()) {
      for await (const entry of await opendir(path)) await walk(join(path, entry.name), `${name}${entry.name}${entry.isDirectory() ? '/' : ''}`);
    }
  };
  await walk(dir, './');
  bytes += 1024;
  return { bytes: Math.ceil(bytes / 10240) * 10240, files, dataBytes };
}
