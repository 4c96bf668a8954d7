import type { ServiceSpec } from '../engine/index.js';
import { AppError, own } from '../shared/index.js';
import { STORAGE_DRIVERS, type StorageKind } from '../storage/index.js';
import { commitManifestTask, uploadTask } from './backup.js';
import { hookTask } from './hook.js';
import { fetchRestoreTask, preflightRestoreTask } from './restore.js';
import { cleanupSnapshotTask, snapshotTask } from './snapshot.js';
import type { Task } from './types.js';

/** The tasks each kind of storage brings: `upload-<kind>`, `preflight-restore-<kind>`, `fetch-restore-<kind>`. */
function storageTasks(kind: StorageKind): Record<string, Task> {
  return {
    [`upload-${kind}`]: uploadTask(kind),
    [`preflight-restore-${kind}`]: preflightRestoreTask(kind),
    [`fetch-restore-${kind}`]: fetchRestoreTask(kind),
  };
}

/** Every built-in task by name: the task set the composition roots hand to the engine and config. */
export const BUILTINS: Readonly<Record<string, Task>> = Object.freeze(
  Object.assign(
    { snapshot: snapshotTask, 'cleanup-snapshot': cleanupSnapshotTask, 'commit-manifest': commitManifestTask },
    ...Object.keys(STORAGE_DRIVERS).map((kind) => storageTasks(kind as StorageKind)),
  ) as Record<string, Task>,
);

/** The names of the built-in tasks. */
export const builtinTaskNames = (): ReadonlySet<string> => new Set(Object.keys(BUILTINS));

/** The kind of storage a built-in task reads or writes, or undefined for the others. */
export function storageOfTask(task: string): StorageKind | undefined {
  return (Object.keys(STORAGE_DRIVERS) as StorageKind[]).find((kind) => task in storageTasks(kind));
}

/** Whether a built-in task restores (checks or fetches a snapshot onto a node). */
export const isRestoreTask = (task: string): boolean => /^(preflight|fetch)-restore-/.test(task) && storageOfTask(task) !== undefined;

/** The plan task that restores snapshots of a kind of storage (what a restore plan runs). */
export const restoreTaskOf = (storage: string): string => `fetch-restore-${storage}`;

/** The task a step runs: built in, or a hook the service declares. Commands come only from YAML. */
export function resolveTask(service: ServiceSpec, name: string): Task {
  const builtin = own(BUILTINS, name);
  if (builtin !== undefined) return builtin;
  const hook = own(service.hooks, name);
  if (hook === undefined) {
    throw new AppError('CONFIG', `task ${name} is neither built in (${Object.keys(BUILTINS).join(', ')}) nor a hook of service ${service.name}`);
  }
  return hookTask(name, hook);
}
