export { RunStore, stepToken, type RunStoreOptions, type RunView, type UpdateResult } from './run-store.js';
export { createCoordinator, stepJob, type Coordinator, type CoordinatorOptions } from './coordinator.js';
export { PlanRuns, type Catalog, type Operation, type SnapshotView } from './plan-runs.js';
export { createKeys, type Keys } from './keys.js';
