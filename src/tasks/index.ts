export { resolveTask, BUILTINS } from './registry.js';
export { hookTask, hookEnvironment, inheritedEnvironment, outputTail } from './hook.js';
export { snapshotTask, cleanupSnapshotTask, linkTree, type SnapshotStats } from './snapshot.js';
export { stagingRoot, snapshotDir, snapshotNameOf } from './paths.js';
export { DEFAULT_TASK_SETTINGS, type Task, type TaskContext, type TaskOutput, type TaskSettings, type ProgressReporter } from './types.js';
export { uploadTask, fetchRestoreTask, commitManifestTask, isUploadResult, type UploadResult } from './transfer.js';
export { swapIn } from './swap.js';
