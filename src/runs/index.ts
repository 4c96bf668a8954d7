export { RunStore, stepToken, summarize, type RunStoreOptions, type RunSummary, type RunView, type StepUpdate, type UpdateResult } from './run-store.js';
export { createCoordinator, stepJob, type Coordinator, type CoordinatorOptions } from './coordinator.js';
export { PlanRuns, type Catalog, type LocationContents, type Operation, type RefreshResult, type SnapshotDetail, type SnapshotView, type TaggedTree } from './plan-runs.js';
export { createKeys, type Keys } from './keys.js';
