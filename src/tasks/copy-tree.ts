import { execFile } from 'node:child_process';
import { constants, type BigIntStats, type Dirent } from 'node:fs';
import { chmod, chown, copyFile, lchown, link, lstat, lutimes, mkdir, open, opendir, readlink, stat, symlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { looksSparse, scanRegions } from '../archive/index.js';
import { AppError, forEachLimit, fromSystemError } from '../shared/index.js';
import { removeTree } from './remove.js';

const run = promisify(execFile);

/** How a snapshot tree is made from the data: links to the same inodes, clones, or copies. */
export type TreeMode = 'hardlink' | 'reflink' | 'copy';

export interface SnapshotStats {
  files: number;
  dirs: number;
  links: number;
  /** Files copied because a hard link was impossible (another filesystem, link limit). */
  copied: number;
  /** Sockets and devices, which are not data. */
  skipped: number;
  /** Files read again because they changed while they were copied. */
  recopied: number;
  /** Entries the service removed between listing and snapshot: they are not in it. */
  vanished: number;
  bytes: number;
}

export interface TreeOptions {
  mode: TreeMode;
  signal: AbortSignal;
  onFile: (stats: SnapshotStats) => void;
  /** A file modified less than this long ago is left to settle before it is copied. @defaultValue 100 */
  settleMs?: number;
  /** Copies of one file before it counts as changing all the time. @defaultValue 5 */
  tries?: number;
}

const CANNOT_LINK = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);
const NO_CLONE = new Set(['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY']);
const asRoot = process.getuid?.() === 0;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const code = (error: unknown): string => (error as NodeJS.ErrnoException).code ?? '';
const CHUNK = 1024 * 1024;

/** Content moved: the size or the mtime. (A ctime change alone is a link or rename of the same data.) */
const moved = (before: BigIntStats, after: BigIntStats): boolean => before.size !== after.size || before.mtimeNs !== after.mtimeNs;

/** A name that is not valid UTF-8 cannot be named again through Node's string paths. */
function checkName(name: string, dir: string): void {
  if (name.includes('\uFFFD')) {
    throw new AppError('CONFIG', `a file name in ${dir} is not valid UTF-8 ('${name}'): drplan cannot back it up; rename it`);
  }
}

async function applyMeta(path: string, info: BigIntStats): Promise<void> {
  // Owner first: chown clears setuid and setgid, which the mode then puts back.
  if (asRoot) await chown(path, Number(info.uid), Number(info.gid));
  await chmod(path, Number(info.mode & 0o7777n));
  const seconds = (ns: bigint): number => Number(ns / 1000n) / 1e6;
  await utimes(path, seconds(info.atimeNs), seconds(info.mtimeNs));
}

/** Copies from an open file, region by region for a sparse one so that its holes stay holes. */
async function copyFrom(input: FileHandle, dst: string, info: BigIntStats, signal: AbortSignal): Promise<void> {
  const size = Number(info.size);
  const output = await open(dst, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    const regions = looksSparse(info.size, info.blocks) ? await scanRegions(input, size, signal) : [[0, size] as const];
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (const [offset, length] of regions) {
      for (let done = 0; done < length; ) {
        signal.throwIfAborted();
        const { bytesRead } = await input.read(buffer, 0, Math.min(buffer.length, length - done), offset + done);
        if (bytesRead === 0) break;
        await output.write(buffer, 0, bytesRead, offset + done);
        done += bytesRead;
      }
    }
    await output.truncate(size);
  } finally {
    await output.close();
  }
}

/**
 * Mirrors `source` into `target` (which must not exist) as a snapshot of the data:
 * - `hardlink` links every file to the same inode: no data is copied, and the snapshot is a
 *   point-in-time view only for files the service never rewrites in place;
 * - `reflink` clones every file copy-on-write (btrfs, XFS): a private, point-in-time copy of each
 *   file at no cost in disk until the service changes it; elsewhere it fails saying so;
 * - `copy` copies every file (sparse files stay sparse, hard links stay links).
 * A file is read through a descriptor opened without following links, so a symlink swapped in
 * under its name is never copied through. With `reflink` and `copy` a file that changes while it
 * is copied is copied again, and one that keeps changing fails with SOURCE_CHANGED. Symlinks are
 * recreated exactly, FIFOs made anew; sockets and devices are not data and are left out; what the
 * service removes meanwhile is left out too. Modes, owners (as root) and times follow.
 */
export async function snapshotTree(source: string, target: string, options: TreeOptions): Promise<SnapshotStats> {
  const stats: SnapshotStats = { files: 0, dirs: 0, links: 0, copied: 0, skipped: 0, recopied: 0, vanished: 0, bytes: 0 };
  const tries = options.tries ?? 5;
  const settleMs = options.settleMs ?? 100;
  /** Inodes the data links more than once: where their copy is, once it is made, and how many names are to come. */
  const inodes = new Map<string, { copied: Promise<string>; remaining: number }>();

  /** The first name of a multiply-linked inode copies it; the others wait for that copy, then link to it. */
  const copyLinked = async (info: BigIntStats, dst: string, copy: () => Promise<void>): Promise<void> => {
    if (info.nlink < 2n) return copy();
    const key = `${info.dev}:${info.ino}`;
    const first = inodes.get(key);
    if (first !== undefined) {
      const path = await first.copied;
      first.remaining -= 1;
      if (first.remaining <= 0) inodes.delete(key);
      await link(path, dst);
      return;
    }
    let done: { resolve: (path: string) => void; reject: (error: unknown) => void } | undefined;
    const copied = new Promise<string>((resolve, reject) => (done = { resolve, reject }));
    copied.catch(() => undefined);
    inodes.set(key, { copied, remaining: Number(info.nlink) - 1 });
    try {
      await copy();
      done?.resolve(dst);
    } catch (error) {
      done?.reject(error);
      throw error;
    }
  };

  const cloneOnce = async (src: string, dst: string): Promise<void> => {
    try {
      await copyFile(src, dst, constants.COPYFILE_FICLONE_FORCE);
    } catch (error) {
      if (NO_CLONE.has(code(error))) {
        throw new AppError('CONFIG', `snapshot mode reflink needs a filesystem that clones files (btrfs, XFS with reflink=1); ${source} is on one that cannot (${code(error)}): use snapshot: copy, or hardlink`);
      }
      throw error;
    }
  };

  /** One consistent copy of the file at `src`, or false when it vanished (or is no longer a file). */
  const copyConsistent = async (src: string, dst: string, rel: string): Promise<boolean> => {
    let input: FileHandle;
    try {
      input = await open(src, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      // Removed, or a symlink (ELOOP) put in its place since it was listed: not a file to copy.
      if (code(error) === 'ENOENT' || code(error) === 'ELOOP') return false;
      throw error;
    }
    try {
      let before = await input.stat({ bigint: true });
      if (!before.isFile()) return false;
      const age = Date.now() - Number(before.mtimeNs / 1_000_000n);
      if (age < settleMs) {
        await sleep(settleMs - Math.max(0, age));
        before = await input.stat({ bigint: true });
      }
      await copyLinked(before, dst, async () => {
        for (let attempt = 1; ; attempt += 1) {
          let consistent: boolean;
          if (options.mode === 'reflink') {
            await cloneOnce(src, dst);
            // The clone went by name: the name must still be this very file, and it unchanged.
            const named = await lstat(src, { bigint: true }).catch(() => null);
            const after = await input.stat({ bigint: true });
            consistent = named !== null && named.isFile() && named.ino === before.ino && !moved(before, after) && after.ctimeNs === before.ctimeNs;
          } else {
            await copyFrom(input, dst, before, options.signal);
            consistent = !moved(before, await input.stat({ bigint: true }));
          }
          if (consistent) break;
          await removeTree(dst);
          if (attempt >= tries) {
            throw new AppError('SOURCE_CHANGED', `${rel} kept changing while it was copied (${tries} tries): quiesce the service while its snapshot is taken (freeze and thaw hooks)`);
          }
          stats.recopied += 1;
          await sleep(50 * attempt);
          before = await input.stat({ bigint: true });
        }
        await applyMeta(dst, before);
        stats.bytes += Number(before.size);
      });
      return true;
    } finally {
      await input.close();
    }
  };

  const linkFile = async (src: string, dst: string, rel: string): Promise<boolean> => {
    try {
      await link(src, dst);
      stats.bytes += (await lstat(dst)).size;
      return true;
    } catch (error) {
      if (code(error) === 'ENOENT') return false;
      if (!CANNOT_LINK.has(code(error))) throw error;
      const copied = await copyConsistent(src, dst, rel);
      if (copied) stats.copied += 1;
      return copied;
    }
  };

  const special = async (src: string, dst: string, entry: Dirent): Promise<boolean> => {
    if (!entry.isFIFO()) {
      stats.skipped += 1;
      return true;
    }
    try {
      if (options.mode === 'hardlink') {
        await link(src, dst);
      } else {
        const info = await lstat(src, { bigint: true });
        await run('mkfifo', ['-m', '600', '--', dst]);
        await applyMeta(dst, info);
      }
    } catch (error) {
      if (code(error) === 'ENOENT') return false;
      throw error;
    }
    stats.files += 1;
    return true;
  };

  const walk = async (from: string, to: string, rel: string): Promise<void> => {
    // The root is followed: a data directory may be a symlink to where the data is.
    let info: BigIntStats;
    const entries: Dirent[] = [];
    try {
      info = rel === '' ? await stat(from, { bigint: true }) : await lstat(from, { bigint: true });
      for await (const entry of await opendir(from)) entries.push(entry);
    } catch (error) {
      if (rel !== '' && code(error) === 'ENOENT') {
        stats.vanished += 1;
        return;
      }
      throw error;
    }
    // Writable while it fills; its own mode is set at the end.
    await mkdir(to, { mode: 0o700 });
    stats.dirs += 1;
    const dirs: string[] = [];
    // Each file is a few round trips to the thread pool: keep several in flight.
    await forEachLimit(entries, 16, async (entry) => {
      options.signal.throwIfAborted();
      checkName(entry.name, from);
      const src = join(from, entry.name);
      const dst = join(to, entry.name);
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      let kept = true;
      if (entry.isDirectory()) {
        dirs.push(entry.name);
      } else if (entry.isFile()) {
        kept = options.mode === 'hardlink' ? await linkFile(src, dst, path) : await copyConsistent(src, dst, path);
        if (kept) {
          stats.files += 1;
          options.onFile(stats);
        }
      } else if (entry.isSymbolicLink()) {
        try {
          const linkInfo = await lstat(src, { bigint: true });
          await symlink(await readlink(src), dst);
          if (asRoot) await lchown(dst, Number(linkInfo.uid), Number(linkInfo.gid));
          await lutimes(dst, Number(linkInfo.atimeNs / 1000n) / 1e6, Number(linkInfo.mtimeNs / 1000n) / 1e6);
          stats.links += 1;
        } catch (error) {
          if (code(error) !== 'ENOENT' && code(error) !== 'EINVAL') throw error;
          kept = false;
        }
      } else {
        kept = await special(src, dst, entry);
      }
      if (!kept) stats.vanished += 1;
    });
    for (const name of dirs.sort()) await walk(join(from, name), join(to, name), rel === '' ? name : `${rel}/${name}`);
    // Listing and linking touched the directory: its own mode and times go last.
    await applyMeta(to, info);
  };
  try {
    await walk(source, target, '');
  } catch (error) {
    throw fromSystemError(error, `taking the snapshot of ${source}`);
  }
  return stats;
}
