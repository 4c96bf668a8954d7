import { execFile } from 'node:child_process';
import { constants, type BigIntStats, type Dirent } from 'node:fs';
import { chmod, chown, copyFile, lchown, link, lstat, lutimes, mkdir, open, opendir, readlink, rm, stat, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { looksSparse, scanRegions } from '../archive/index.js';
import { AppError, forEachLimit, fromSystemError } from '../shared/index.js';

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

function moved(before: BigIntStats, after: BigIntStats): boolean {
  return before.size !== after.size || before.mtimeNs !== after.mtimeNs || before.ctimeNs !== after.ctimeNs || before.ino !== after.ino;
}

async function applyMeta(path: string, info: BigIntStats): Promise<void> {
  // Owner first: chown clears setuid and setgid, which the mode then puts back.
  if (asRoot) await chown(path, Number(info.uid), Number(info.gid));
  await chmod(path, Number(info.mode & 0o7777n));
  const seconds = (ns: bigint): number => Number(ns / 1000n) / 1e6;
  await utimes(path, seconds(info.atimeNs), seconds(info.mtimeNs));
}

/** A sparse file copied region by region, so that its holes stay holes. */
async function copySparse(src: string, dst: string, size: number, signal: AbortSignal): Promise<void> {
  const input = await open(src, constants.O_RDONLY | constants.O_NOFOLLOW);
  const output = await open(dst, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    const regions = await scanRegions(input, size, signal);
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (const [offset, length] of regions) {
      for (let done = 0; done < length; ) {
        const { bytesRead } = await input.read(buffer, 0, Math.min(buffer.length, length - done), offset + done);
        if (bytesRead === 0) break;
        await output.write(buffer, 0, bytesRead, offset + done);
        done += bytesRead;
      }
    }
    await output.truncate(size);
  } finally {
    await input.close();
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
 * With `reflink` and `copy` a file that changes while it is copied is copied again, and one that
 * keeps changing fails with SOURCE_CHANGED. Symlinks are recreated exactly, FIFOs made anew;
 * sockets and devices are not data and are left out. Modes, owners (as root) and times follow.
 */
export async function snapshotTree(source: string, target: string, options: TreeOptions): Promise<SnapshotStats> {
  const stats: SnapshotStats = { files: 0, dirs: 0, links: 0, copied: 0, skipped: 0, recopied: 0, bytes: 0 };
  const tries = options.tries ?? 5;
  const settleMs = options.settleMs ?? 100;
  /** Inodes the data links more than once: the first copy, and how many names are still to come. */
  const inodes = new Map<string, { path: string; remaining: number }>();

  const linkInstead = async (info: BigIntStats, dst: string): Promise<boolean> => {
    if (options.mode === 'hardlink' || info.nlink < 2n) return false;
    const key = `${info.dev}:${info.ino}`;
    const first = inodes.get(key);
    if (first === undefined) {
      inodes.set(key, { path: dst, remaining: Number(info.nlink) - 1 });
      return false;
    }
    await link(first.path, dst);
    first.remaining -= 1;
    if (first.remaining <= 0) inodes.delete(key);
    return true;
  };

  const copyOnce = async (src: string, dst: string, info: BigIntStats): Promise<void> => {
    if (options.mode === 'reflink') {
      try {
        await copyFile(src, dst, constants.COPYFILE_FICLONE_FORCE);
      } catch (error) {
        if (NO_CLONE.has((error as NodeJS.ErrnoException).code ?? '')) {
          throw new AppError('CONFIG', `snapshot mode reflink needs a filesystem that clones files (btrfs, XFS with reflink=1); ${source} is on one that cannot (${(error as NodeJS.ErrnoException).code ?? ''}): use snapshot: copy, or hardlink`);
        }
        throw error;
      }
    } else if (looksSparse(info.size, info.blocks)) {
      await copySparse(src, dst, Number(info.size), options.signal);
    } else {
      await copyFile(src, dst, constants.COPYFILE_FICLONE);
    }
  };

  const copyConsistent = async (src: string, dst: string, rel: string): Promise<void> => {
    for (let attempt = 1; ; attempt += 1) {
      let before = await lstat(src, { bigint: true });
      const age = Date.now() - Number(before.mtimeNs / 1_000_000n);
      if (age < settleMs) {
        await sleep(settleMs - Math.max(0, age));
        before = await lstat(src, { bigint: true });
      }
      if (await linkInstead(before, dst)) return;
      await copyOnce(src, dst, before);
      const after = await lstat(src, { bigint: true });
      if (!moved(before, after)) {
        await applyMeta(dst, before);
        stats.bytes += Number(before.size);
        return;
      }
      await rm(dst, { force: true });
      inodes.delete(`${before.dev}:${before.ino}`);
      if (attempt === tries) {
        throw new AppError('SOURCE_CHANGED', `${rel} kept changing while it was copied (${tries} tries): quiesce the service while its snapshot is taken (freeze and thaw hooks)`);
      }
      stats.recopied += 1;
      await sleep(50 * attempt);
    }
  };

  const linkFile = async (src: string, dst: string): Promise<void> => {
    try {
      await link(src, dst);
      stats.bytes += (await lstat(src)).size;
    } catch (error) {
      if (!CANNOT_LINK.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
      await copyConsistent(src, dst, src);
      stats.copied += 1;
    }
  };

  const special = async (src: string, dst: string, entry: Dirent): Promise<void> => {
    if (entry.isFIFO()) {
      if (options.mode === 'hardlink') {
        await link(src, dst);
      } else {
        await run('mkfifo', ['-m', '600', '--', dst]);
        await applyMeta(dst, await lstat(src, { bigint: true }));
      }
      stats.files += 1;
      return;
    }
    stats.skipped += 1;
  };

  const walk = async (from: string, to: string, rel: string): Promise<void> => {
    // The root is followed: a data directory may be a symlink to where the data is.
    const info = rel === '' ? await stat(from, { bigint: true }) : await lstat(from, { bigint: true });
    // Writable while it fills; its own mode is set at the end.
    await mkdir(to, { mode: 0o700 });
    stats.dirs += 1;
    const dirs: string[] = [];
    const entries: Dirent[] = [];
    for await (const entry of await opendir(from)) entries.push(entry);
    // Each file is a few round trips to the thread pool: keep several in flight.
    await forEachLimit(entries, 16, async (entry) => {
      options.signal.throwIfAborted();
      const src = join(from, entry.name);
      const dst = join(to, entry.name);
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        dirs.push(entry.name);
      } else if (entry.isFile()) {
        if (options.mode === 'hardlink') await linkFile(src, dst);
        else await copyConsistent(src, dst, path);
        stats.files += 1;
        options.onFile(stats);
      } else if (entry.isSymbolicLink()) {
        const linkInfo = await lstat(src, { bigint: true });
        await symlink(await readlink(src), dst);
        if (asRoot) await lchown(dst, Number(linkInfo.uid), Number(linkInfo.gid));
        await lutimes(dst, Number(linkInfo.atimeNs / 1000n) / 1e6, Number(linkInfo.mtimeNs / 1000n) / 1e6);
        stats.links += 1;
      } else {
        await special(src, dst, entry);
      }
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
