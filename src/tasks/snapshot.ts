import { lstat, mkdir, readdir, rename, rmdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AppError, formatBytes } from '../shared/index.js';
import { snapshotTree, type SnapshotStats } from './copy-tree.js';
import { podSpecOf, requireDataDir, snapshotDir, snapshotNameOf } from './paths.js';
import type { Task } from './types.js';
import { removeTree } from './remove.js';

function describe(stats: SnapshotStats): string {
  const parts = [`${stats.files} files (${formatBytes(stats.bytes)})`, `${stats.dirs} directories`];
  if (stats.links > 0) parts.push(`${stats.links} symlinks`);
  if (stats.copied > 0) parts.push(`${stats.copied} copied where a hard link was impossible`);
  if (stats.recopied > 0) parts.push(`${stats.recopied} copied again after they changed`);
  if (stats.skipped > 0) parts.push(`${stats.skipped} sockets or devices left out`);
  if (stats.vanished > 0) parts.push(`${stats.vanished} removed by the service while the snapshot was taken`);
  return parts.join(', ');
}

const VERB = { hardlink: 'linked', reflink: 'cloned', copy: 'copied' } as const;

/**
 * Point-in-time view of the node's data dir beside it, made the way the pod's `snapshot` mode
 * says (hardlink, reflink, copy; `none` makes none: the upload reads the live data). Running it
 * again replaces the previous one.
 */
export const snapshotTask: Task = async (context) => {
  const dataDir = requireDataDir(context);
  const mode = podSpecOf(context).snapshot;
  try {
    if (!(await stat(dataDir)).isDirectory()) throw new AppError('CONFIG', `data directory ${dataDir} is not a directory`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new AppError('CONFIG', `data directory ${dataDir} does not exist`);
    throw error;
  }
  if (mode === 'none') {
    return { message: `snapshot mode none: the upload reads the live data directory ${dataDir}`, result: { mode, path: dataDir } };
  }
  const target = snapshotDir(dataDir, snapshotNameOf(context));
  const partial = `${target}.partial`;
  // One backup runs per service at a time, so any other snapshot here was left by a run that was
  // stopped or failed before its cleanup: its hard links would pin old data, so it goes.
  const stale = await removeAll(join(target, '..'), new Set([basename(target)]));
  await mkdir(join(target, '..'), { recursive: true });
  let last = 0;
  const stats = await snapshotTree(dataDir, partial, {
    mode,
    signal: context.signal,
    settleMs: context.settings.settleMs,
    onFile: (s) => {
      if (s.files - last >= 100) {
        last = s.files;
        context.progress.message(`${VERB[mode]} ${describe(s)}`);
      }
    },
  }).catch(async (error: unknown) => {
    await removeTree(partial);
    throw error;
  });
  await removeTree(target);
  await rename(partial, target);
  const note = stale > 0 ? ` (removed ${stale} stale snapshot${stale === 1 ? '' : 's'})` : '';
  return { message: `${mode} snapshot of ${describe(stats)} at ${target}${note}`, result: { mode, path: target, ...stats } };
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
  for (const name of gone) await removeTree(join(dir, name));
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
  const existed = await lstat(target).then(
    () => true,
    () => false,
  );
  await removeTree(target);
  await removeEmptyParents(join(target, '..'), 2);
  const what = existed ? `removed ${target}` : `no snapshot at ${target}`;
  return { message: `${what}${stale > 0 ? `; removed ${stale} stale snapshot${stale === 1 ? '' : 's'}` : ''}` };
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
