import type { PlanTree } from '../engine/index.js';
import type { PlanInfo } from './schemas.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** The engine's tree with times as ISO strings, as the API serves it. */
export function toPlanInfo(tree: PlanTree): PlanInfo {
  return {
    ...tree,
    startedAt: iso(tree.startedAt),
    finishedAt: iso(tree.finishedAt),
    phases: tree.phases.map((phase) => ({
      ...phase,
      steps: phase.steps.map((step) => ({
        ...step,
        startedAt: iso(step.startedAt),
        finishedAt: iso(step.finishedAt),
        retryAt: iso(step.retryAt),
      })),
    })),
  };
}

/** DC/OS codes: 200 complete, 417 with errors (even when complete), 202 otherwise. */
export function planHttpStatus(tree: Pick<PlanTree, 'status' | 'errors'>): 200 | 202 | 417 {
  if (tree.status === 'ERROR' || tree.errors.length > 0) return 417;
  return tree.status === 'COMPLETE' ? 200 : 202;
}
