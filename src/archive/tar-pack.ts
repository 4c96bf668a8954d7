import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats, type Dirent } from 'node:fs';
import { lstat, open, readdir, readlink, stat, type FileHandle } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import { join } from 'node:path';
import { AppError, fromSystemError } from '../shared/index.js';
import { looksSparse, regionBytes, scanRegions, type Region } from './sparse.js';
import type { TreeEntry } from './file-list.js';
import { encodeEntry, encodeSparseMap, endOfArchive, padding, paxTime, timeFromNs, type EntryHeader, type EntryType } from './tar-format.js';

const READ_CHUNK = 1024 * 1024;
/** Files up to this size are read whole, several at once ahead of their turn. */
const SMALL_FILE = 256 * 1024;
const READ_AHEAD = 8;

export interface TreeOptions {
  signal?: AbortSignal;
  /**
   * How many links of each inode the tree itself adds: 2 when every file of the tree is a hard
   * link of a live file (a hardlink snapshot), so that links within the data are still found.
   * @defaultValue 1
   */
  linkFactor?: number;
  /**
   * A file modified less than this long before it was read may still be being written (one long
   * write moves mtime only once, when it starts): it counts as changed. @defaultValue 100
   */
  settleMs?: number;
  /** Says how to make the backup consistent, for messages about changed files. */
  advice?: string;
  /**
   * Called with every entry as it goes into the archive, in archive order, a file's with the
   * sha256 of its content computed from the bytes packed (for the snapshot's file list).
   */
  onEntry?: (entry: TreeEntry) => void;
}

/** What went into an archive. */
export interface TreeStats {
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  fifos: number;
  sparse: number;
  /** Logical bytes of regular files. */
  dataBytes: number;
  /** Bytes of file data a restore writes: the holes of sparse files left out. */
  writtenBytes: number;
  /** Entries removed between the listing of their directory and their reading: not in the archive. */
  vanished: number;
  /** Entries that are not data (sockets, devices): left out, as GNU tar leaves sockets out. */
  skipped: Array<{ path: string; kind: 'socket' | 'device' }>;
}

export const emptyStats = (): TreeStats => ({ files: 0, dirs: 0, symlinks: 0, hardlinks: 0, fifos: 0, sparse: 0, dataBytes: 0, writtenBytes: 0, vanished: 0, skipped: [] });

interface Source {
  root: string;
  options: TreeOptions;
  stats: TreeStats;
  /** Inodes with links still to be seen: `dev:ino` → the first path, its content's sha256 once read, and how many more to expect. */
  links: Map<string, { path: string; sha256?: string; remaining: number }>;
  written: number;
}

function changed(source: Source, rel: string, what: string): AppError {
  const advice = source.options.advice === undefined ? '' : `: ${source.options.advice}`;
  return new AppError('SOURCE_CHANGED', `${rel.slice(2)} changed while it was read (${what})${advice}`);
}

/** `./a/b` → `a/b`, and `.` for the root, as file lists name entries. */
const listPath = (rel: string): string => (rel === '.' ? '.' : rel.slice(2));

function report(source: Source, rel: string, type: TreeEntry['type'], info: BigIntStats, extra: { size?: number; target?: string; sha256?: string } = {}): void {
  source.options.onEntry?.({ path: listPath(rel), type, size: extra.size ?? 0, mode: Number(info.mode & 0o7777n), mtime: paxTime(timeFromNs(info.mtimeNs)), ...(extra.target === undefined ? {} : { target: extra.target }), ...(extra.sha256 === undefined ? {} : { sha256: extra.sha256 }) });
}

const ZEROS = Buffer.alloc(1024 * 1024);

/** Hashes `length` zero bytes: the holes of a sparse file are part of its content. */
function hashZeros(hash: Hash, length: number): void {
  for (let left = length; left > 0; left -= ZEROS.length) hash.update(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
}

function headerOf(rel: string, type: EntryType, info: BigIntStats, extra: Partial<EntryHeader> = {}): EntryHeader {
  return {
    path: rel,
    type,
    mode: Number(info.mode & 0o7777n),
    uid: Number(info.uid),
    gid: Number(info.gid),
    uname: '',
    gname: '',
    mtime: timeFromNs(info.mtimeNs),
    size: 0,
    linkpath: '',
    ...extra,
  };
}

/**
 * What moved in a file's content between two stats of it, or null. Only size and mtime: the
 * bytes are read through one descriptor, so a rename or a link count changing (ctime) is not a
 * change of what is read.
 */
function moved(before: BigIntStats, after: BigIntStats): string | null {
  if (after.size !== before.size) return `size ${before.size} → ${after.size}`;
  if (after.mtimeNs !== before.mtimeNs) return 'mtime moved';
  return null;
}

async function* readRange(source: Source, handle: FileHandle, rel: string, offset: number, length: number): AsyncGenerator<Buffer> {
  let done = 0;
  while (done < length) {
    source.options.signal?.throwIfAborted();
    const want = Math.min(READ_CHUNK, length - done);
    const buffer = Buffer.allocUnsafe(want);
    const { bytesRead } = await handle.read(buffer, 0, want, offset + done);
    if (bytesRead === 0) throw changed(source, rel, `it ended after ${offset + done} bytes`);
    done += bytesRead;
    yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The file's stat once it has been left alone for `settleMs`: one long write() moves mtime only
 * when it starts, so a file modified a moment ago may still be being written. A file that keeps
 * changing is SOURCE_CHANGED.
 */
async function settled(source: Source, handle: FileHandle, rel: string): Promise<BigIntStats> {
  const settle = source.options.settleMs ?? 100;
  let info = await handle.stat({ bigint: true });
  for (let tries = 0; settle > 0; tries += 1) {
    const age = ageMs(info);
    if (age >= settle) return info;
    if (tries === 5) throw changed(source, rel, `it was modified again and again, last ${Math.max(0, age)} ms before it was read`);
    await sleep(settle - Math.max(0, age));
    const again = await handle.stat({ bigint: true });
    if (moved(info, again) === null) return again;
    info = again;
  }
  return info;
}

/**
 * A later name of an inode already in the archive: its hard link entry. The first name of an
 * inode with more links is remembered (until its other names have come) and gets null.
 */
function linkTo(source: Source, info: BigIntStats, rel: string): Buffer | null {
  // (The first name's sha256 is added by `hashed` once its content has been read.)
  if (info.nlink < 2n) return null;
  const key = `${info.dev}:${info.ino}`;
  const first = source.links.get(key);
  if (first === undefined) {
    const remaining = Number(info.nlink) / (source.options.linkFactor ?? 1) - 1;
    if (remaining >= 1) source.links.set(key, { path: rel, remaining });
    return null;
  }
  first.remaining -= 1;
  if (first.remaining <= 0) source.links.delete(key);
  source.stats.hardlinks += 1;
  const block = encodeEntry(headerOf(rel, 'hardlink', info, { linkpath: first.path }));
  report(source, rel, 'hardlink', info, { size: Number(info.size), target: listPath(first.path), ...(first.sha256 === undefined ? {} : { sha256: first.sha256 }) });
  source.written += block.length;
  return block;
}

/** A small file read whole ahead of its turn; or why it takes the ordinary path. */
type Ahead = { kind: 'file'; info: BigIntStats; data: Buffer } | { kind: 'vanished' } | { kind: 'other' };

/** A listed file that cannot be opened: gone since (vanished), a symlink now (the ordinary path says so), or an error. */
function openFailed(error: unknown, rel: string): Ahead {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return { kind: 'vanished' };
  if (code === 'ELOOP') return { kind: 'other' };
  throw fromSystemError(error, `cannot read ${rel.slice(2)}`);
}

const isSmallFile = (info: BigIntStats): boolean => info.isFile() && info.size <= BigInt(SMALL_FILE) && !looksSparse(info.size, info.blocks);

/** Milliseconds since the file's content last changed. */
const ageMs = (info: BigIntStats): number => Date.now() - Number(info.mtimeNs / 1_000_000n);

/**
 * Reads a small regular file whole, checked not to have moved while it was read. Several run at
 * once so the thread pool's round trips overlap; they are written out in order.
 */
async function readAhead(source: Source, path: string, rel: string): Promise<Ahead> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return openFailed(error, rel);
  }
  try {
    const info = await settled(source, handle, rel);
    if (!isSmallFile(info)) return { kind: 'other' };
    const size = Number(info.size);
    const data = Buffer.allocUnsafe(size);
    for (let done = 0; done < size; ) {
      const { bytesRead } = await handle.read(data, done, size - done, done);
      if (bytesRead === 0) throw changed(source, rel, `it ended after ${done} bytes`);
      done += bytesRead;
    }
    const what = moved(info, await handle.stat({ bigint: true }));
    if (what !== null) throw changed(source, rel, what);
    return { kind: 'file', info, data };
  } finally {
    await handle.close();
  }
}

/**
 * Reads a small regular file whole with synchronous calls: for a file of a few kilobytes, five
 * round trips through the thread pool cost far more than the calls themselves. A file modified
 * within `settleMs` is left to `readAhead`, which waits for it to settle; undefined says so.
 */
function readSmallSync(source: Source, path: string, rel: string): Ahead | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    return openFailed(error, rel);
  }
  try {
    const info = fstatSync(fd, { bigint: true });
    if (!isSmallFile(info)) return { kind: 'other' };
    if (ageMs(info) < (source.options.settleMs ?? 100)) return undefined;
    const size = Number(info.size);
    const data = Buffer.allocUnsafe(size);
    for (let done = 0; done < size; ) {
      const bytesRead = readSync(fd, data, done, size - done, done);
      if (bytesRead === 0) throw changed(source, rel, `it ended after ${done} bytes`);
      done += bytesRead;
    }
    const what = moved(info, fstatSync(fd, { bigint: true }));
    if (what !== null) throw changed(source, rel, what);
    return { kind: 'file', info, data };
  } finally {
    closeSync(fd);
  }
}

/** Records a file's content hash, for the file list and for later names of its inode. */
function hashed(source: Source, rel: string, info: BigIntStats, sha256: string): void {
  if (info.nlink >= 2n) {
    const first = source.links.get(`${info.dev}:${info.ino}`);
    if (first !== undefined && first.path === rel) first.sha256 = sha256;
  }
  report(source, rel, 'file', info, { size: Number(info.size), sha256 });
}

/** A small file read ahead: its entry (or a hard link to an earlier name) as one block. */
function smallEntry(source: Source, rel: string, ahead: { info: BigIntStats; data: Buffer }): Buffer {
  const link = linkTo(source, ahead.info, rel);
  if (link !== null) return link;
  const size = ahead.data.length;
  const head = encodeEntry(headerOf(rel, 'file', ahead.info, { size }));
  const block = Buffer.concat([head, ahead.data, Buffer.alloc(padding(size))]);
  if (source.options.onEntry !== undefined) hashed(source, rel, ahead.info, createHash('sha256').update(ahead.data).digest('hex'));
  source.written += block.length;
  source.stats.files += 1;
  source.stats.dataBytes += size;
  source.stats.writtenBytes += size;
  return block;
}

async function* fileEntry(source: Source, path: string, rel: string, listed: BigIntStats): AsyncGenerator<Buffer> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO swapped in under the name must not block the open.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // Removed since it was listed: it is not part of the data any more.
      source.stats.vanished += 1;
      return;
    }
    if (code === 'ELOOP') throw changed(source, rel, 'it was replaced by a symlink');
    throw fromSystemError(error, `cannot read ${rel.slice(2)}`);
  }
  try {
    const before = await settled(source, handle, rel);
    if (!before.isFile() || before.ino !== listed.ino) throw changed(source, rel, 'it was replaced');
    const link = linkTo(source, before, rel);
    if (link !== null) {
      yield link;
      return;
    }
    const size = Number(before.size);
    let regions: Region[] | null = null;
    if (looksSparse(before.size, before.blocks)) regions = await scanRegions(handle, size, source.options.signal);
    const stored = regions === null ? size : encodeSparseMap(regions).length + regionBytes(regions);
    const head = encodeEntry(headerOf(rel, 'file', before, { size: stored, ...(regions === null ? {} : { sparse: { realSize: size } }) }));
    source.written += head.length;
    yield head;
    const hash = source.options.onEntry === undefined ? null : createHash('sha256');
    if (regions === null) {
      for await (const chunk of readRange(source, handle, rel, 0, size)) {
        hash?.update(chunk);
        yield chunk;
      }
    } else {
      yield encodeSparseMap(regions);
      let at = 0;
      for (const [offset, length] of regions) {
        if (hash !== null) hashZeros(hash, offset - at);
        for await (const chunk of readRange(source, handle, rel, offset, length)) {
          hash?.update(chunk);
          yield chunk;
        }
        at = offset + length;
      }
      if (hash !== null) hashZeros(hash, size - at);
      source.stats.sparse += 1;
    }
    const after = await handle.stat({ bigint: true });
    const what = moved(before, after);
    if (what !== null) throw changed(source, rel, what);
    source.written += stored;
    const pad = padding(stored);
    if (pad > 0) {
      source.written += pad;
      yield Buffer.alloc(pad);
    }
    if (hash !== null) hashed(source, rel, before, hash.digest('hex'));
    source.stats.files += 1;
    source.stats.dataBytes += size;
    source.stats.writtenBytes += regions === null ? size : regionBytes(regions);
  } finally {
    await handle.close();
  }
}

async function* entry(source: Source, path: string, rel: string): AsyncGenerator<Buffer> {
  source.options.signal?.throwIfAborted();
  let info: BigIntStats;
  try {
    // The root is followed: a data directory may be a symlink to where the data is.
    info = rel === '.' ? await stat(path, { bigint: true }) : await lstat(path, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && rel !== '.') {
      source.stats.vanished += 1;
      return;
    }
    throw fromSystemError(error, `cannot read ${rel === '.' ? source.root : rel.slice(2)}`);
  }
  const emit = (header: EntryHeader): Buffer => {
    const block = encodeEntry(header);
    source.written += block.length;
    return block;
  };
  if (info.isDirectory()) {
    yield emit(headerOf(rel === '.' ? './' : `${rel}/`, 'dir', info));
    report(source, rel, 'dir', info);
    source.stats.dirs += 1;
    let entries: Dirent[];
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch (error) {
      // The directory's header is written: it stays, empty.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw fromSystemError(error, `cannot list ${rel}`);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const garbled = entries.find((e) => e.name.includes('\uFFFD'));
    if (garbled !== undefined) {
      throw new AppError('CONFIG', `a file name in ${rel === '.' ? source.root : rel.slice(2)} is not valid UTF-8 ('${garbled.name}'): drplan cannot back it up; rename it`);
    }
    // Small files are read synchronously in their turn. Those modified a moment ago, up to the
    // next other entry, are read a few at a time ahead of their turn, each waiting to settle;
    // nothing is read ahead past a subdirectory, so what waits stays within one directory's window.
    const ahead = new Map<number, Promise<Ahead>>();
    for (let i = 0; i < entries.length; i += 1) {
      const name = entries[i]?.name ?? '';
      let got = entries[i]?.isFile() === true && !ahead.has(i) ? readSmallSync(source, join(path, name), `${rel}/${name}`) : undefined;
      if (got === undefined && entries[i]?.isFile() === true) {
        for (let j = i; j < Math.min(entries.length, i + READ_AHEAD) && entries[j]?.isFile() === true; j += 1) {
          if (ahead.has(j)) continue;
          const next = entries[j]?.name ?? '';
          const read = readAhead(source, join(path, next), `${rel}/${next}`);
          read.catch(() => undefined); // awaited in its turn
          ahead.set(j, read);
        }
      }
      const read = ahead.get(i);
      ahead.delete(i);
      if (read !== undefined) got = await read;
      if (got?.kind === 'file') yield smallEntry(source, `${rel}/${name}`, got);
      else if (got?.kind === 'vanished') source.stats.vanished += 1;
      else yield* entry(source, join(path, name), `${rel}/${name}`);
    }
  } else if (info.isFile()) {
    yield* fileEntry(source, path, rel, info);
  } else if (info.isSymbolicLink()) {
    let target: string;
    try {
      target = await readlink(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        source.stats.vanished += 1;
        return;
      }
      if ((error as NodeJS.ErrnoException).code === 'EINVAL') throw changed(source, rel, 'it was replaced');
      throw fromSystemError(error, `cannot read the link ${rel.slice(2)}`);
    }
    yield emit(headerOf(rel, 'symlink', info, { linkpath: target }));
    report(source, rel, 'symlink', info, { target });
    source.stats.symlinks += 1;
  } else if (info.isFIFO()) {
    yield emit(headerOf(rel, 'fifo', info));
    report(source, rel, 'fifo', info);
    source.stats.fifos += 1;
  } else {
    source.stats.skipped.push({ path: rel.slice(2), kind: info.isSocket() ? 'socket' : 'device' });
  }
}

/**
 * The tar of a directory tree, as a stream of blocks: directories (empty ones too), files with
 * exact modes, owners and nanosecond mtimes, symlinks exactly as they are (never followed), hard
 * links within the tree as links, sparse files as PAX sparse 1.0 and FIFOs. Sockets and devices
 * are not data: they are left out and listed in `stats.skipped`. A file whose size, mtime or
 * ctime moves while it is read, or that shrinks under the reader, fails with SOURCE_CHANGED:
 * it is never stored torn. Entry paths are `./…`, relative to `root`.
 */
export function tarTree(root: string, options: TreeOptions = {}): { blocks: AsyncGenerator<Buffer>; stats: TreeStats } {
  const source: Source = { root, options, stats: emptyStats(), links: new Map(), written: 0 };
  async function* blocks(): AsyncGenerator<Buffer> {
    yield* entry(source, root, '.');
    yield endOfArchive(source.written);
  }
  return { blocks: blocks(), stats: source.stats };
}
