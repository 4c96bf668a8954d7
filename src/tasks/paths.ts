import { lstatSync, readlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { PodSpec } from '../engine/index.js';
import { AppError, own } from '../shared/index.js';
import type { TaskContext } from './types.js';

/** drplan's working directory beside a data directory: same filesystem, so links and renames work. */
export function stagingRoot(dataDir: string): string {
  return join(dirname(dataDir), `${basename(dataDir)}.drplan`);
}

export function snapshotDir(dataDir: string, snapshotName: string): string {
  return join(stagingRoot(dataDir), 'snapshots', snapshotName);
}

const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The snapshot a step works on: SNAPSHOT_NAME, or the run id for plans without one. It becomes a
 * directory and object key, so it is checked here whatever the plan's own pattern says.
 */
export function snapshotNameOf(context: Pick<TaskContext, 'parameters' | 'run'>): string {
  const name = context.parameters['SNAPSHOT_NAME'] ?? context.run.id;
  if (!SNAPSHOT_NAME.test(name) || name.includes('..')) {
    throw new AppError('CONFIG', `SNAPSHOT_NAME '${name}' is not a safe name: use letters, digits, '.', '_' and '-', starting with a letter or digit`);
  }
  return name;
}

/**
 * The data dir as it is on disk: a configured path that is a symlink (`/var/lib/kafka` →
 * `/volumes/kafka`) is followed to its target, existing or not, so that snapshots, staging and
 * the swap of a restore happen beside the data, on its filesystem, and the link stays a link.
 */
export function effectiveDataDir(dataDir: string): string {
  let path = dataDir;
  for (let hops = 0; hops < 40; hops += 1) {
    try {
      if (!lstatSync(path).isSymbolicLink()) return path;
    } catch {
      return path;
    }
    path = resolve(dirname(path), readlinkSync(path));
  }
  throw new AppError('CONFIG', `data directory ${dataDir} is a loop of symlinks`);
}

/** The step's data dir, symlinks followed (see effectiveDataDir). */
export function requireDataDir(context: Pick<TaskContext, 'dataDir' | 'stepName'>): string {
  if (context.dataDir === null) {
    throw new AppError('CONFIG', `${context.stepName} needs a pod instance: give its phase a pod`);
  }
  return effectiveDataDir(context.dataDir);
}

/** The spec of the step's pod. */
export function podSpecOf(context: Pick<TaskContext, 'service' | 'pod' | 'stepName'>): PodSpec {
  const spec = context.pod === null ? undefined : own(context.service.pods, context.pod);
  if (spec === undefined) throw new AppError('CONFIG', `${context.stepName} needs a pod of service ${context.service.name}`);
  return spec;
}

/** What a backup of the node packs: its snapshot, or with `snapshot: none` the live data dir. */
export function sourceDir(context: Pick<TaskContext, 'service' | 'pod' | 'stepName' | 'dataDir' | 'parameters' | 'run'>): string {
  const dataDir = requireDataDir(context);
  return podSpecOf(context).snapshot === 'none' ? dataDir : snapshotDir(dataDir, snapshotNameOf(context));
}
