export { resolveTask, BUILTINS } from './registry.js';
export { hookTask, hookEnvironment, outputTail } from './hook.js';
export { snapshotTask, cleanupSnapshotTask, linkTree, type SnapshotStats } from './snapshot.js';
export { stagingRoot, snapshotDir, snapshotNameOf } from './paths.js';
export type { Task, TaskContext, TaskOutput, ProgressReporter } from './types.js';
