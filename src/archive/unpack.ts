import { chmod, utimes } from 'node:fs/promises';
import { isAbsolute, join, posix, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, type ReadEntry } from 'tar';
import { AppError } from '../shared/index.js';
import { Digest } from './digest.js';
import { CHUNK } from './pack.js';

export interface UnpackOptions {
  signal?: AbortSignal;
  /** The tar.gz must have exactly this size and sha256 (from the manifest). */
  expected?: { bytes: number; sha256: string };
  /** Called as compressed bytes are read. */
  onBytes?: (bytes: number) => void;
  /** Names the archive in messages, e.g. the object key. @defaultValue 'archive' */
  label?: string;
}

export interface UnpackResult {
  bytes: number;
  sha256: string;
  files: number;
}

const REFUSED_TYPES: Record<string, string> = {
  CharacterDevice: 'a character device',
  BlockDevice: 'a block device',
  FIFO: 'a FIFO',
  ContiguousFile: 'a contiguous file',
};

/** Why an entry may not be written under `root`, or null when it is safe. */
export function entryProblem(root: string, path: string, type: string, linkpath: string | undefined): string | null {
  if (path.startsWith('/') || isAbsolute(path) || /^[A-Za-z]:/.test(path)) return 'has an absolute path';
  if (path.split(/[/\\]/).includes('..')) return "has a '..' component";
  const refused = REFUSED_TYPES[type];
  if (refused !== undefined) return `is ${refused}`;
  if ((type === 'SymbolicLink' || type === 'Link') && linkpath !== undefined) {
    const target =
      type === 'Link' ? resolve(root, linkpath) : isAbsolute(linkpath) ? linkpath : resolve(root, posix.dirname(path), linkpath);
    const inside = relative(root, target);
    if (inside.startsWith('..') || isAbsolute(inside)) {
      return `is a ${type === 'Link' ? 'hard link' : 'symlink'} to '${linkpath}', outside the target directory`;
    }
  }
  return null;
}

/**
 * Extracts a tar.gz stream into `dir`, refusing absolute paths, `..`, links that resolve outside
 * `dir` and device files, with an error naming the entry. With `expected`, the bytes must match
 * in size and sha256, checked as they stream. Directory modes and times are applied last.
 * On failure `dir` holds a partial extraction: callers extract into a staging directory.
 */
export async function unpackArchive(source: Readable, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  const label = options.label ?? 'archive';
  const root = resolve(dir);
  const expected = options.expected;
  const digest = new Digest({
    ...(options.onBytes === undefined ? {} : { onBytes: options.onBytes }),
    ...(expected === undefined
      ? {}
      : {
          limit: {
            bytes: expected.bytes,
            error: () => new AppError('CHECKSUM', `${label} is larger than the ${expected.bytes} bytes its manifest records: it is not the object that was backed up`),
          },
        }),
  });
  let files = 0;
  // Set from inside the tar filter callback; an object so the type survives narrowing.
  const verdict: { refused: AppError | null } = { refused: null };
  const dirs: Array<{ path: string; mode: number | undefined; mtime: Date | undefined }> = [];

  // The synchronous unpacker writes each chunk's files as it parses them: for many small files that
  // is far faster than a round trip to the thread pool per call, and as a writable it still only
  // takes what the gunzip hands it, so memory does not grow.
  const unpack = extract({
    cwd: root,
    strict: true,
    sync: true,
    filter: (path: string, entry: unknown) => {
      const e = entry as ReadEntry;
      const problem = entryProblem(root, path, e.type, e.linkpath);
      if (problem !== null) {
        verdict.refused ??= new AppError('UNSAFE_ARCHIVE', `${label}: entry '${path}' ${problem}; nothing was restored`);
        source.destroy(verdict.refused);
        return false;
      }
      if (e.type === 'File' || e.type === 'OldFile') files += 1;
      if (e.type === 'Directory') dirs.push({ path: join(root, path), mode: e.mode, mtime: e.mtime });
      return true;
    },
  });
  try {
    const gunzip = createGunzip({ chunkSize: CHUNK });
    if (options.signal === undefined) await pipeline(source, digest, gunzip, unpack);
    else await pipeline(source, digest, gunzip, unpack, { signal: options.signal });
  } catch (error) {
    if (verdict.refused !== null) throw verdict.refused;
    if (options.signal?.aborted === true) throw options.signal.reason instanceof Error ? options.signal.reason : new AppError('CANCELLED', 'cancelled');
    if (error instanceof AppError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new AppError('CHECKSUM', `${label} is not a valid tar.gz (${message}): it is corrupt or truncated`, { cause: error });
  }
  if (verdict.refused !== null) throw verdict.refused;
  const result = { bytes: digest.bytes, sha256: digest.sha256, files };
  if (options.expected !== undefined) {
    if (result.bytes !== options.expected.bytes) {
      throw new AppError('CHECKSUM', `${label} has ${result.bytes} bytes where its manifest records ${options.expected.bytes}: it is truncated or was replaced`);
    }
    if (result.sha256 !== options.expected.sha256) {
      throw new AppError('CHECKSUM', `${label} has sha256 ${result.sha256} where its manifest records ${options.expected.sha256}: it is corrupt`);
    }
  }
  // Children changed their directories' times while being written: set modes and times deepest first.
  for (const entry of dirs.sort((a, b) => b.path.length - a.path.length)) {
    if (entry.mode !== undefined) await chmod(entry.path, entry.mode & 0o7777);
    if (entry.mtime !== undefined) await utimes(entry.path, entry.mtime, entry.mtime);
  }
  return result;
}
