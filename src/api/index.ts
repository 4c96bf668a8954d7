export { buildApp, type AppDeps } from './app.js';
export { toPlanInfo, planHttpStatus } from './plan-info.js';
export type { PlanInfo, PlanParameters, RunInfo, SnapshotInfo, SnapshotDetailInfo } from './schemas.js';
