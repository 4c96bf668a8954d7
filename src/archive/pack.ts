import type { Dirent } from 'node:fs';
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { create } from 'tar';
import { forEachLimit } from '../shared/index.js';
import { Digest } from './digest.js';
import { parallelGzip } from './parallel-gzip.js';

/** zlib's 16 KiB default means many small chunks through the JavaScript streams after it. */
export const CHUNK = 128 * 1024;

export interface PackOptions {
  /** gzip level 1 (fast) to 9 (small). @defaultValue 6 */
  level?: number;
  /** Blocks compressed at once (see parallelGzip). @defaultValue 2 */
  threads?: number;
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

/** A stat cache that forgets an entry once it is read: node-tar's own keeps every file's stat. */
class TakeOnce<V> extends Map<string, V> {
  override get(key: string): V | undefined {
    const value = super.get(key);
    this.delete(key);
    return value;
  }
}

/**
 * Turns off node-tar's hard-link tracking. In a snapshot every file is a hard link (it shares its
 * inode with the live file), and tracking would serialise reading and remember every inode. Files
 * the service itself hard-linked are stored twice, as ordinary files.
 */
class NoLinks extends Map<string, string> {
  override get(): string {
    return '\0';
  }
  override set(): this {
    return this;
  }
}

/**
 * Streams a directory as tar.gz: regular files, directories (empty ones too), symlinks as links
 * (never followed), modes and mtimes. Paths are relative to `dir` (`./…`). The gzip is made of
 * 1 MiB members compressed in parallel; memory is a few blocks whatever the size of the data.
 */
export function packDirectory(dir: string, options: PackOptions = {}): PackStream {
  let files = 0;
  const pack = create(
    {
      cwd: dir,
      follow: false,
      maxReadSize: 1024 * 1024,
      statCache: new TakeOnce(),
      linkCache: new NoLinks() as Map<`${number}:${number}`, string>,
      onWriteEntry: (entry) => void (entry.type === 'File' && (files += 1)),
    },
    ['.'],
  );
  const raw = new Digest({ hash: false, ...(options.onTarBytes === undefined ? {} : { onBytes: options.onTarBytes }) });
  const compressed = new Digest();
  const gzip = parallelGzip({ level: options.level ?? 6, parallel: options.threads ?? 2 });
  const stream = pipeline(pack, raw, gzip, compressed, () => undefined);
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
  let bytes = 1024;
  let files = 0;
  let dataBytes = 0;
  // A header per entry, and an extended (pax) header of two more blocks for a long name.
  const header = (name: string): number => 512 + (Buffer.byteLength(name) > 99 ? 1024 : 0);
  const walk = async (path: string, name: string): Promise<void> => {
    const entries: Dirent[] = [];
    for await (const entry of await opendir(path)) entries.push(entry);
    bytes += header(name);
    await forEachLimit(entries, 16, async (entry) => {
      const child = join(path, entry.name);
      if (entry.isDirectory()) return walk(child, `${name}${entry.name}/`);
      bytes += header(`${name}${entry.name}`);
      if (entry.isFile()) {
        const { size } = await lstat(child);
        files += 1;
        dataBytes += size;
        bytes += Math.ceil(size / 512) * 512;
      }
    });
  };
  await walk(dir, './');
  return { bytes: Math.ceil(bytes / 10240) * 10240, files, dataBytes };
}
