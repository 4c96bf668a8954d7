import { BUILTIN_TASKS, isBuiltinTask, type BuiltinTask, type ServiceSpec } from '../engine/index.js';
import { AppError, own } from '../shared/index.js';
import { hookTask } from './hook.js';
import { cleanupSnapshotTask, snapshotTask } from './snapshot.js';
import { commitManifestTask, fetchRestoreTask, uploadTask } from './transfer.js';
import type { Task } from './types.js';

/** Every built-in task by name (tests check this covers BUILTIN_TASKS). */
export const BUILTINS: Record<BuiltinTask, Task> = {
  snapshot: snapshotTask,
  'cleanup-snapshot': cleanupSnapshotTask,
  'upload-s3': uploadTask('s3'),
  'fetch-restore-s3': fetchRestoreTask('s3'),
  'upload-azure': uploadTask('azure'),
  'fetch-restore-azure': fetchRestoreTask('azure'),
  'commit-manifest': commitManifestTask,
};

/** The task a step runs: built in, or a hook the service declares. Commands come only from YAML. */
export function resolveTask(service: ServiceSpec, name: string): Task {
  if (isBuiltinTask(name)) return BUILTINS[name];
  const hook = own(service.hooks, name);
  if (hook === undefined) {
    throw new AppError('CONFIG', `task ${name} is neither built in (${BUILTIN_TASKS.join(', ')}) nor a hook of service ${service.name}`);
  }
  return hookTask(name, hook);
}
