import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats, type Dirent } from 'node:fs';
import { lstat, open, readdir, readlink, stat, type FileHandle } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import { join } from 'node:path';
import { AppError, fromSystemError } from '../shared/index.js';
import { looksSparse, regionBytes, scanRegions, type Region } from './sparse.js';
import type { FileListEntry, TreeEntry } from './file-list.js';
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
  /**
   * The file list of the snapshot this one builds on, in its order: only what is new or changed
   * since goes into the archive (an incremental), and `onDeleted` hears what is gone. Unchanged
   * entries are still reported to `onEntry`, with the parent's sha256 and where it is held.
   */
  parent?: AsyncIterable<FileListEntry>;
  /** With `parent`: 'checksum' also reads every file whose metadata is unchanged and compares its content. @defaultValue 'metadata' */
  changeDetection?: 'metadata' | 'checksum';
  /**
   * With `parent`: each path of the parent that is gone, or whose type changed (so that removing
   * the listed paths before extracting the incremental's archive gives the new tree). A path
   * under one already reported is not reported again.
   */
  onDeleted?: (path: string) => void;
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
  /** Against a parent: files left out because they had not changed. */
  unchangedFiles: number;
  /** Against a parent: files sent again because they changed, and their bytes. */
  changedFiles: number;
  changedBytes: number;
  /** Against a parent: paths reported gone. */
  deleted: number;
}

export const emptyStats = (): TreeStats => ({
  files: 0,
  dirs: 0,
  symlinks: 0,
  hardlinks: 0,
  fifos: 0,
  sparse: 0,
  dataBytes: 0,
  writtenBytes: 0,
  vanished: 0,
  skipped: [],
  unchangedFiles: 0,
  changedFiles: 0,
  changedBytes: 0,
  deleted: 0,
});

/**
 * Archive order: names sorted, each directory's entries right after it. Compares list paths
 * (`.`, `a`, `a/b`) by their components, a directory before what it holds.
 */
export function compareListPaths(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '.') return -1;
  if (b === '.') return 1;
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    const p = x[i] ?? '';
    const q = y[i] ?? '';
    if (p !== q) return p < q ? -1 : 1;
  }
  return x.length - y.length;
}

/** The parent's file list, walked alongside the tree: both are in archive order. */
class ParentCursor {
  private readonly iterator: AsyncIterator<FileListEntry>;
  private head: FileListEntry | undefined | null = null;
  private lastDeleted: string | null = null;
  private previous: string | null = null;

  constructor(
    list: AsyncIterable<FileListEntry>,
    private readonly onDeleted: (path: string) => void,
  ) {
    this.iterator = list[Symbol.asyncIterator]();
  }

  private async peek(): Promise<FileListEntry | undefined> {
    if (this.head === null) {
      const next = await this.iterator.next();
      this.head = next.done === true ? undefined : next.value;
      if (this.head !== undefined) {
        if (this.previous !== null && compareListPaths(this.previous, this.head.path) >= 0) {
          throw new AppError('CHECKSUM', `the parent's file list is out of order at ${this.head.path} (after ${this.previous}): it is not a list drplan wrote`);
        }
        this.previous = this.head.path;
      }
    }
    return this.head;
  }

  /** The parent's entry for `path`; what the parent has before it is gone. */
  async match(path: string): Promise<FileListEntry | undefined> {
    for (let head = await this.peek(); head !== undefined; head = await this.peek()) {
      const order = compareListPaths(head.path, path);
      if (order > 0) return undefined;
      this.head = null;
      if (order === 0) return head;
      this.deleted(head.path);
    }
    return undefined;
  }

  /** Everything of the parent not matched yet is gone. */
  async finish(): Promise<void> {
    for (let head = await this.peek(); head !== undefined; head = await this.peek()) {
      this.head = null;
      this.deleted(head.path);
    }
  }

  deleted(path: string): void {
    if (this.lastDeleted !== null && path.startsWith(`${this.lastDeleted}/`)) return;
    this.lastDeleted = path;
    this.onDeleted(path);
  }
}

interface Source {
  root: string;
  options: TreeOptions;
  stats: TreeStats;
  /** Inodes with links still to be seen: `dev:ino` → the first path, its content's sha256 once read, and how many more to expect. */
  links: Map<string, { path: string; sha256?: string; remaining: number }>;
  parent: ParentCursor | undefined;
  /** Directory headers held back until something under them goes into the archive (incrementals). */
  pending: Buffer[];
  written: number;
}

function changed(source: Source, rel: string, what: string): AppError {
  const advice = source.options.advice === undefined ? '' : `: ${source.options.advice}`;
  return new AppError('SOURCE_CHANGED', `${rel.slice(2)} changed while it was read (${what})${advice}`);
}

/** `./a/b` → `a/b`, and `.` for the root, as file lists name entries. */
const listPath = (rel: string): string => (rel === '.' ? '.' : rel.slice(2));

function report(source: Source, rel: string, type: TreeEntry['type'], info: BigIntStats, extra: { size?: number; target?: string; sha256?: string; in?: string } = {}): void {
  source.options.onEntry?.({
    path: listPath(rel),
    type,
    size: extra.size ?? 0,
    ...metaOf(info),
    ...(extra.target === undefined ? {} : { target: extra.target }),
    ...(extra.sha256 === undefined ? {} : { sha256: extra.sha256 }),
    ...(extra.in === undefined ? {} : { in: extra.in }),
  });
}

/** Mode and mtime as a file list records them. */
const metaOf = (info: BigIntStats): { mode: number; mtime: string } => ({ mode: Number(info.mode & 0o7777n), mtime: paxTime(timeFromNs(info.mtimeNs)) });

/** Whether an entry's own metadata is as the parent recorded it. */
const sameMeta = (prev: FileListEntry, info: BigIntStats): boolean => {
  const meta = metaOf(info);
  return prev.mode === meta.mode && prev.mtime === meta.mtime;
};

/** The directory headers held back for an incremental, out before an entry under them goes in. */
function* heldBack(source: Source): Generator<Buffer> {
  if (source.pending.length === 0) return;
  const block = source.pending.length === 1 ? (source.pending[0] as Buffer) : Buffer.concat(source.pending);
  source.pending = [];
  source.written += block.length;
  yield block;
}

/** Against a parent: an entry of this type whose own metadata (and `target`) the parent recorded as they are. */
const unchanged = (source: Source, prev: FileListEntry | undefined, type: FileListEntry['type'], info: BigIntStats, target?: string): boolean =>
  source.parent !== undefined && prev?.type === type && prev.target === target && sameMeta(prev, info);

const kindOf = (entry: { isDirectory(): boolean; isSymbolicLink(): boolean; isFile(): boolean; isFIFO(): boolean }): string =>
  entry.isDirectory() ? 'dir' : entry.isSymbolicLink() ? 'symlink' : entry.isFile() ? 'file' : entry.isFIFO() ? 'fifo' : 'other';

const listKind = (type: FileListEntry['type']): string => (type === 'hardlink' ? 'file' : type);

async function sha256OfFile(path: string, signal: AbortSignal | undefined): Promise<string | null> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return hash.digest('hex');
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

/**
 * Against a parent, whether the regular file at `path` can be left out: same size, mode and mtime
 * (and with checksum detection, content) as the parent recorded. An unchanged file is reported
 * with the parent's sha256 and where its content is held, and counted. Hard-linked inodes are
 * always sent whole, so that their links resolve within the archive.
 */
async function leftOut(source: Source, path: string, rel: string, prev: FileListEntry): Promise<boolean> {
  if (prev.type !== 'file' || prev.sha256 === undefined || prev.in === undefined) return false;
  let info: BigIntStats;
  try {
    info = await lstat(path, { bigint: true });
  } catch {
    return false; // the ordinary path says what happened to it
  }
  if (!info.isFile()) return false;
  const changed = (): false => {
    source.stats.changedFiles += 1;
    source.stats.changedBytes += Number(info.size);
    return false;
  };
  if (Number(info.nlink) / (source.options.linkFactor ?? 1) >= 2) return changed();
  if (prev.size !== Number(info.size) || !sameMeta(prev, info)) return changed();
  if (source.options.changeDetection === 'checksum' && (await sha256OfFile(path, source.options.signal)) !== prev.sha256) return changed();
  report(source, rel, 'file', info, { size: prev.size, sha256: prev.sha256, in: prev.in });
  source.stats.files += 1;
  source.stats.unchangedFiles += 1;
  source.stats.dataBytes += prev.size;
  source.stats.writtenBytes += looksSparse(info.size, info.blocks) ? Math.min(prev.size, Number(info.blocks) * 512) : prev.size;
  return true;
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

/** An entry removed by the service since its directory was listed: not in the archive, and gone since the parent. */
function vanished(source: Source, rel: string, prev: FileListEntry | undefined): void {
  source.stats.vanished += 1;
  if (prev !== undefined) source.parent?.deleted(prev.path);
}

async function* fileEntry(source: Source, path: string, rel: string, listed: BigIntStats, prev: FileListEntry | undefined): AsyncGenerator<Buffer> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO swapped in under the name must not block the open.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // Removed since it was listed: it is not part of the data any more.
      vanished(source, rel, prev);
      return;
    }
    if (code === 'ELOOP') throw changed(source, rel, 'it was replaced by a symlink');
    throw fromSystemError(error, `cannot read ${rel.slice(2)}`);
  }
  try {
    const before = await settled(source, handle, rel);
    if (!before.isFile() || before.ino !== listed.ino) throw changed(source, rel, 'it was replaced');
    yield* heldBack(source);
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

async function* entry(source: Source, path: string, rel: string, prev?: FileListEntry): AsyncGenerator<Buffer> {
  source.options.signal?.throwIfAborted();
  let info: BigIntStats;
  try {
    // The root is followed: a data directory may be a symlink to where the data is.
    info = rel === '.' ? await stat(path, { bigint: true }) : await lstat(path, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && rel !== '.') {
      vanished(source, rel, prev);
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
    // In an incremental, an unchanged directory goes in only if something under it does.
    const header = headerOf(rel === '.' ? './' : `${rel}/`, 'dir', info);
    const mine = source.pending.length;
    const holding = unchanged(source, prev, 'dir', info);
    if (holding) source.pending.push(encodeEntry(header));
    else {
      yield* heldBack(source);
      yield emit(header);
    }
    const release = (): void => {
      if (holding && source.pending.length > mine) source.pending.length = mine;
    };
    report(source, rel, 'dir', info);
    source.stats.dirs += 1;
    let entries: Dirent[];
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch (error) {
      // The directory's header is written: it stays, empty.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return release();
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
      let before: FileListEntry | undefined;
      if (source.parent !== undefined) {
        const dirent = entries[i] as Dirent;
        before = await source.parent.match(listPath(`${rel}/${name}`));
        if (before !== undefined && listKind(before.type) !== kindOf(dirent)) {
          // Replaced by another kind of entry: removed before the new one is extracted.
          source.parent.deleted(before.path);
          before = undefined;
        }
        if (before !== undefined && dirent.isFile() && (await leftOut(source, join(path, name), `${rel}/${name}`, before))) {
          ahead.delete(i);
          continue;
        }
      }
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
      if (got?.kind === 'file') {
        yield* heldBack(source);
        yield smallEntry(source, `${rel}/${name}`, got);
      } else if (got?.kind === 'vanished') vanished(source, `${rel}/${name}`, before);
      else yield* entry(source, join(path, name), `${rel}/${name}`, before);
    }
    release();
  } else if (info.isFile()) {
    yield* fileEntry(source, path, rel, info, prev);
  } else if (info.isSymbolicLink()) {
    let target: string;
    try {
      target = await readlink(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        vanished(source, rel, prev);
        return;
      }
      if ((error as NodeJS.ErrnoException).code === 'EINVAL') throw changed(source, rel, 'it was replaced');
      throw fromSystemError(error, `cannot read the link ${rel.slice(2)}`);
    }
    if (!unchanged(source, prev, 'symlink', info, target)) {
      yield* heldBack(source);
      yield emit(headerOf(rel, 'symlink', info, { linkpath: target }));
    }
    report(source, rel, 'symlink', info, { target });
    source.stats.symlinks += 1;
  } else if (info.isFIFO()) {
    if (!unchanged(source, prev, 'fifo', info)) {
      yield* heldBack(source);
      yield emit(headerOf(rel, 'fifo', info));
    }
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
  const stats = emptyStats();
  const parent =
    options.parent === undefined
      ? undefined
      : new ParentCursor(options.parent, (path) => {
          stats.deleted += 1;
          options.onDeleted?.(path);
        });
  const source: Source = { root, options, stats, links: new Map(), written: 0, parent, pending: [] };
  async function* blocks(): AsyncGenerator<Buffer> {
    yield* entry(source, root, '.', await parent?.match('.'));
    await parent?.finish();
    yield endOfArchive(source.written);
  }
  return { blocks: blocks(), stats: source.stats };
}
