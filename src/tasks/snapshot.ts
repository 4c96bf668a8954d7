import { constants } from 'node:fs';
import { chmod, copyFile, link, lstat, lutimes, mkdir, opendir, readdir, readlink, rename, rm, rmdir, symlink, utimes } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { basename, join } from 'node:path';
import { AppError, forEachLimit, formatBytes } from '../shared/index.js';
import { requireDataDir, snapshotDir, snapshotNameOf } from './paths.js';
import type { Task } from './types.js';

export interface SnapshotStats {
  files: number;
  dirs: number;
  links: number;
  /** Files copied because a hard link was impossible (another filesystem, link limit). */
  copied: number;
  /** Sockets, FIFOs and devices, which are not data. */
  skipped: number;
  bytes: number;
}

const CANNOT_LINK = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * Mirrors `source` into `target` with hard links: no file data is copied, so a snapshot costs
 * only directory entries. Symlinks are recreated as links, never followed.
 */
export async function linkTree(source: string, target: string, signal: AbortSignal, onFile: (stats: SnapshotStats) => void): Promise<SnapshotStats> {
  const stats: SnapshotStats = { files: 0, dirs: 0, links: 0, copied: 0, skipped: 0, bytes: 0 };
  const linkFile = async (src: string, dst: string): Promise<void> => {
    const fileInfo = await lstat(src);
    try {
      await link(src, dst);
    } catch (error) {
      if (!CANNOT_LINK.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
      await copyFile(src, dst, constants.COPYFILE_FICLONE);
      await chmod(dst, fileInfo.mode & 0o7777);
      await utimes(dst, fileInfo.atimeMs / 1000, fileInfo.mtimeMs / 1000);
      stats.copied += 1;
    }
    stats.files += 1;
    stats.bytes += fileInfo.size;
    onFile(stats);
  };
  const walk = async (from: string, to: string): Promise<void> => {
    const info = await lstat(from);
    // Writable while it fills; its own mode is set at the end.
    await mkdir(to, { mode: 0o700 });
    stats.dirs += 1;
    const dirs: string[] = [];
    const entries: Dirent[] = [];
    for await (const entry of await opendir(from)) entries.push(entry);
    // Links are cheap but each is a round trip to the thread pool: keep several in flight.
    await forEachLimit(entries, 16, async (entry) => {
      signal.throwIfAborted();
      const src = join(from, entry.name);
      const dst = join(to, entry.name);
      if (entry.isDirectory()) {
        dirs.push(entry.name);
      } else if (entry.isFile()) {
        await linkFile(src, dst);
      } else if (entry.isSymbolicLink()) {
        const linkInfo = await lstat(src);
        await symlink(await readlink(src), dst);
        await lutimes(dst, linkInfo.atimeMs / 1000, linkInfo.mtimeMs / 1000);
        stats.links += 1;
      } else {
        stats.skipped += 1;
      }
    });
    for (const name of dirs) await walk(join(from, name), join(to, name));
    // Listing and linking touched the directory: restore its own mode and times last.
    await chmod(to, info.mode & 0o7777);
    await utimes(to, info.atimeMs / 1000, info.mtimeMs / 1000);
  };
  await walk(source, target);
  return stats;
}

function describe(stats: SnapshotStats): string {
  const parts = [`${stats.files} files (${formatBytes(stats.bytes)})`, `${stats.dirs} directories`];
  if (stats.links > 0) parts.push(`${stats.links} symlinks`);
  if (stats.copied > 0) parts.push(`${stats.copied} copied where a hard link was impossible`);
  if (stats.skipped > 0) parts.push(`${stats.skipped} sockets, FIFOs or devices skipped`);
  return parts.join(', ');
}

/** Point-in-time view of the node's data dir beside it. Running it again replaces the previous one. */
export const snapshotTask: Task = async (context) => {
  const dataDir = requireDataDir(context);
  const target = snapshotDir(dataDir, snapshotNameOf(context));
  try {
    if (!(await lstat(dataDir)).isDirectory()) throw new AppError('CONFIG', `data directory ${dataDir} is not a directory`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new AppError('CONFIG', `data directory ${dataDir} does not exist`);
    throw error;
  }
  const partial = `${target}.partial`;
  // One backup runs per service at a time, so any other snapshot here was left by a run that was
  // stopped or failed before its cleanup: its hard links would pin old data, so it goes.
  const stale = await removeAll(join(target, '..'), new Set([basename(target)]));
  await mkdir(join(target, '..'), { recursive: true });
  let last = 0;
  const stats = await linkTree(dataDir, partial, context.signal, (s) => {
    if (s.files - last >= 100) {
      last = s.files;
      context.progress.message(`linked ${describe(s)}`);
    }
  }).catch(async (error: unknown) => {
    await rm(partial, { recursive: true, force: true });
    throw error;
  });
  await rm(target, { recursive: true, force: true });
  await rename(partial, target);
  const note = stale > 0 ? ` (removed ${stale} stale snapshot${stale === 1 ? '' : 's'})` : '';
  return { message: `snapshot of ${describe(stats)} at ${target}${note}`, result: { path: target, ...stats } };
};

/** Removes every entry of `dir` but those named in `keep`; returns how many went. */
async function removeAll(dir: string, keep: ReadonlySet<string> = new Set()): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  const gone = names.filter((name) => !keep.has(name));
  for (const name of gone) await rm(join(dir, name), { recursive: true, force: true });
  return gone.filter((name) => !name.endsWith('.partial')).length;
}

/**
 * Removes the node's snapshot, and any a stopped run left behind, then drplan's directory beside
 * the data if nothing else is in it.
 */
export const cleanupSnapshotTask: Task = async (context) => {
  const dataDir = requireDataDir(context);
  const target = snapshotDir(dataDir, snapshotNameOf(context));
  const stale = await removeAll(join(target, '..'), new Set([basename(target)]));
  await rm(target, { recursive: true, force: true });
  await removeEmptyParents(join(target, '..'), 2);
  return { message: `removed ${target}${stale > 0 ? ` and ${stale} stale snapshot${stale === 1 ? '' : 's'}` : ''}` };
};

async function removeEmptyParents(dir: string, levels: number): Promise<void> {
  let current = dir;
  for (let i = 0; i < levels; i += 1) {
    try {
      await rmdir(current);
    } catch {
      return;
    }
    current = join(current, '..');
  }
}
