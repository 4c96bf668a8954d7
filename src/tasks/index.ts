export { resolveTask, BUILTINS, builtinTaskNames, restoreTaskOf } from './registry.js';
export { hookTask, hookEnvironment, inheritedEnvironment, outputTail } from './hook.js';
export { snapshotTask, cleanupSnapshotTask } from './snapshot.js';
export { snapshotTree, type SnapshotStats, type TreeMode } from './copy-tree.js';
export { stagingRoot, snapshotDir, snapshotNameOf, sourceDir } from './paths.js';
export { DEFAULT_TASK_SETTINGS, type Task, type TaskContext, type TaskOutput, type TaskSettings, type ProgressReporter } from './types.js';
export { uploadTask, commitManifestTask, isUploadResult, type UploadResult } from './backup.js';
export { preflightRestoreTask, fetchRestoreTask } from './restore.js';
export { swapIn } from './swap.js';
