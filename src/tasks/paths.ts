import { basename, dirname, join } from 'node:path';
import { AppError } from '../shared/index.js';
import type { TaskContext } from './types.js';

/** drplan's working directory beside a data directory: same filesystem, so links and renames work. */
export function stagingRoot(dataDir: string): string {
  return join(dirname(dataDir), `${basename(dataDir)}.drplan`);
}

export function snapshotDir(dataDir: string, snapshotName: string): string {
  return join(stagingRoot(dataDir), 'snapshots', snapshotName);
}

/** The snapshot a step works on: SNAPSHOT_NAME, or the run id for plans without one. */
export function snapshotNameOf(context: Pick<TaskContext, 'parameters' | 'run'>): string {
  return context.parameters['SNAPSHOT_NAME'] ?? context.run.id;
}

export function requireDataDir(context: Pick<TaskContext, 'dataDir' | 'stepName'>): string {
  if (context.dataDir === null) {
    throw new AppError('CONFIG', `${context.stepName} needs a pod instance: give its phase a pod`);
  }
  return context.dataDir;
}
