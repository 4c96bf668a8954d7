import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  continueRun,
  forceCompleteRun,
  interruptRun,
  phaseStatus,
  planStatus,
  restartRun,
  stopRun,
  type OperationResult,
  type RunState,
  type StepStatus,
  type Target,
} from '../../src/engine/index.js';
import { AppError } from '../../src/shared/index.js';
import { phase, plan, run, service, setStatuses } from '../helpers/specs.js';

/** Two phases of two steps each, plus a cleanup phase that runs last. */
function fresh(statuses: StepStatus[][] = [], interrupted = false): RunState {
  const state = run(plan([phase('a'), phase('b', { strategy: 'parallel' }), phase('clean', { finally: true })]), service(2));
  setStatuses(state, statuses);
  state.interrupted = interrupted;
  return state;
}

const statuses = (state: RunState): StepStatus[][] => state.phases.map((p) => p.steps.map((s) => s.status));

type Op = (state: RunState, target: Target) => OperationResult;
const ops: Record<string, Op> = {
  interrupt: (s, t) => interruptRun(s, t),
  continue: (s, t) => continueRun(s, t),
  restart: (s, t) => restartRun(s, t),
  forceComplete: (s, t) => forceCompleteRun(s, t, 5000),
};

const DONE: StepStatus[] = ['COMPLETE', 'COMPLETE'];
const NEW: StepStatus[] = ['PENDING', 'PENDING'];

describe('plan operations', () => {
  const cases: Array<{
    name: string;
    op: keyof typeof ops;
    target?: Target;
    before: StepStatus[][];
    interrupted?: boolean;
    changed: boolean;
    after?: StepStatus[][];
    plan?: string;
  }> = [
    { name: 'interrupt a running plan', op: 'interrupt', before: [['COMPLETE', 'STARTED']], changed: true, plan: 'WAITING' },
    { name: 'interrupt twice is 208', op: 'interrupt', before: [['STARTED']], interrupted: true, changed: false },
    { name: 'interrupt a complete plan is 208', op: 'interrupt', before: [DONE, DONE, DONE], changed: false },
    { name: 'interrupt a phase', op: 'interrupt', target: { phase: 'b' }, before: [DONE], changed: true, plan: 'WAITING' },
    { name: 'interrupt a complete phase is 208', op: 'interrupt', target: { phase: 'a' }, before: [DONE], changed: false },
    { name: 'continue a paused plan', op: 'continue', before: [['COMPLETE', 'PENDING']], interrupted: true, changed: true, plan: 'IN_PROGRESS' },
    { name: 'continue a running plan is 208', op: 'continue', before: [['STARTED']], changed: false },
    { name: 'continue a complete plan is 208', op: 'continue', before: [DONE, DONE, DONE], interrupted: true, changed: false },
    { name: 'continue a phase that is not paused is 208', op: 'continue', target: { phase: 'a' }, before: [], changed: false },
    {
      name: 'restart the plan resets every step',
      op: 'restart',
      before: [DONE, ['ERROR', 'COMPLETE'], NEW],
      changed: true,
      after: [NEW, NEW, NEW],
      plan: 'PENDING',
    },
    { name: 'restart a pending plan is 208', op: 'restart', before: [], changed: false },
    {
      name: 'restart a phase resets its steps and the cleanup phase',
      op: 'restart',
      target: { phase: 'b' },
      before: [DONE, ['ERROR', 'COMPLETE'], DONE],
      changed: true,
      after: [DONE, NEW, NEW],
      plan: 'IN_PROGRESS',
    },
    {
      name: 'restart one step',
      op: 'restart',
      target: { phase: 'b', step: 'node-0:[snapshot]' },
      before: [DONE, ['ERROR', 'COMPLETE'], NEW],
      changed: true,
      after: [DONE, ['PENDING', 'COMPLETE'], NEW],
    },
    { name: 'restart a pending step is 208', op: 'restart', target: { phase: 'a', step: 'node-1:[snapshot]' }, before: [], changed: false },
    {
      name: 'force-complete one step',
      op: 'forceComplete',
      target: { phase: 'a', step: 'node-0:[snapshot]' },
      before: [['STARTED', 'PENDING']],
      changed: true,
      after: [['COMPLETE', 'PENDING'], NEW, NEW],
    },
    { name: 'force-complete a phase', op: 'forceComplete', target: { phase: 'a' }, before: [], changed: true, after: [DONE, NEW, NEW] },
    { name: 'force-complete the plan', op: 'forceComplete', before: [], changed: true, after: [DONE, DONE, DONE], plan: 'COMPLETE' },
    { name: 'force-complete a complete step is 208', op: 'forceComplete', target: { phase: 'a', step: 'node-0:[snapshot]' }, before: [DONE], changed: false },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const before = fresh(c.before, c.interrupted);
      const snapshot = structuredClone(before);
      const result = ops[c.op]!(before, c.target ?? {});
      assert.equal(result.changed, c.changed);
      assert.deepEqual(before, snapshot, 'the input run is not modified');
      if (!c.changed) assert.equal(result.run, before);
      if (c.after !== undefined) assert.deepEqual(statuses(result.run), c.after);
      if (c.plan !== undefined) assert.equal(planStatus(result.run), c.plan);
    });
  }

  it('targets phases and steps by id as well as by name', () => {
    const state = fresh([['ERROR', 'COMPLETE']]);
    const a = state.phases[0]!;
    const result = restartRun(state, { phase: a.id, step: a.steps[0]!.id });
    assert.equal(result.run.phases[0]!.steps[0]!.status, 'PENDING');
  });

  it('rejects a step without a phase, and unknown names', () => {
    const state = fresh();
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (error) {
        return error instanceof AppError ? `${error.code}: ${error.message}` : 'other';
      }
      return undefined;
    };
    assert.equal(code(() => restartRun(state, { step: 'node-0:[snapshot]' })), 'BAD_REQUEST: Missing phase');
    assert.equal(code(() => forceCompleteRun(state, { step: 'x' }, 0)), 'BAD_REQUEST: Missing phase');
    assert.match(code(() => interruptRun(state, { phase: 'nope' })) ?? '', /^NOT_FOUND: Phase nope not found/);
    assert.match(code(() => restartRun(state, { phase: 'a', step: 'node-9:[x]' })) ?? '', /^NOT_FOUND: Step node-9:\[x\] not found in phase a/);
  });

  it('a reset step moves to a new generation so its running worker is cancelled', () => {
    const state = fresh([['STARTED']]);
    state.phases[0]!.steps[0]!.attempts = 1;
    const result = restartRun(state, { phase: 'a', step: 'node-0:[snapshot]' });
    const step = result.run.phases[0]!.steps[0]!;
    assert.equal(step.gen, 1);
    assert.equal(step.attempts, 0);
    const forced = forceCompleteRun(fresh([['STARTED']]), { phase: 'a', step: 'node-0:[snapshot]' }, 9);
    assert.equal(forced.run.phases[0]!.steps[0]!.gen, 1);
    assert.equal(forced.run.phases[0]!.steps[0]!.finishedAt, 9);
  });

  it('stop interrupts and resets everything, and is never a no-op', () => {
    const result = stopRun(fresh([DONE, ['STARTED', 'PENDING']]));
    assert.equal(result.changed, true);
    assert.deepEqual(statuses(result.run), [NEW, NEW, NEW]);
    assert.equal(result.run.stopped, true);
    assert.equal(planStatus(result.run), 'WAITING');
    assert.equal(stopRun(result.run).changed, true);
    const resumed = continueRun(result.run, {});
    assert.equal(resumed.run.stopped, false);
    assert.equal(planStatus(resumed.run), 'PENDING');
  });

  it('a paused phase shows WAITING and resumes', () => {
    const paused = interruptRun(fresh([DONE]), { phase: 'b' }).run;
    assert.equal(phaseStatus(paused.phases[1]!), 'WAITING');
    assert.equal(continueRun(paused, { phase: 'b' }).run.phases[1]!.interrupted, false);
  });
});
