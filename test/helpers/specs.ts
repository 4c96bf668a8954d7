import assert from 'node:assert/strict';
import type { AttemptRef, PhaseSpec, PlanSpec, RunState, ServiceSpec, StepState, StepStatus, Transition } from '../../src/engine/index.js';
import { createRun } from '../../src/engine/index.js';

export function service(count = 3, hooks: ServiceSpec['hooks'] = {}): ServiceSpec {
  return { name: 'demo', pods: { node: { count, dataDir: '/data/node-{{POD_INDEX}}', snapshot: 'hardlink' } }, hooks, locations: {}, file: 'demo.yml', dir: '/' };
}

export function phase(name: string, overrides: Partial<PhaseSpec> = {}): PhaseSpec {
  return { name, strategy: 'serial', pod: 'node', task: 'snapshot', optional: false, finally: false, ...overrides };
}

export function plan(phases: PhaseSpec[], overrides: Partial<PlanSpec> = {}): PlanSpec {
  return {
    name: 'backup',
    description: '',
    parameters: {},
    requireOneOf: [],
    strategy: 'serial',
    retry: { attempts: 3, backoffSeconds: 1, maxBackoffSeconds: 4 },
    phases,
    file: 'backup.yml',
    ...overrides,
  };
}

let counter = 0;
export function run(planSpec: PlanSpec, svc: ServiceSpec = service(), values: Record<string, string> = {}): RunState {
  return createRun(planSpec, svc, { values, secrets: {} }, { runId: 'run-1', now: 1000, newId: () => `id-${++counter}` });
}

/** Sets step statuses phase by phase: `setStatuses(run, [['COMPLETE','PENDING'], ['PENDING']])`. */
export function setStatuses(state: RunState, statuses: StepStatus[][]): RunState {
  state.phases.forEach((p, i) => p.steps.forEach((s, j) => (s.status = statuses[i]?.[j] ?? s.status)));
  return state;
}

/** The transition's outcome, failing the test with its reason when it was refused. */
export function ok(t: Transition): { run: RunState; step: StepState } {
  assert.ok(t.ok, t.ok ? '' : t.reason);
  return t;
}

/** The attempt a worker holds for `step` as it is in `state`. */
export const ref = (state: RunState, step: StepState): AttemptRef => ({ runId: state.id, stepId: step.id, gen: step.gen, attempt: step.attempts });
