import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  claimStep,
  completeStep,
  dispatchStep,
  dueSteps,
  failStep,
  isActive,
  planStatus,
  type RunState,
  type StepState,
} from '../../src/engine/index.js';
import { ok, phase, plan, ref, run, service } from '../helpers/specs.js';

const names = (steps: StepState[]): string[] => steps.map((s) => s.name);

describe('step scheduling', () => {
  it('serial phases hand out one step at a time, parallel ones all at once', () => {
    let state = run(plan([phase('one'), phase('all', { strategy: 'parallel' })]));
    assert.deepEqual(names(dueSteps(state, 0)), ['node-0:[snapshot]']);
    for (let i = 0; i < 3; i += 1) {
      const [next] = dueSteps(state, 0);
      const dispatched = ok(dispatchStep(state, next!.id, 0));
      assert.deepEqual(dueSteps(dispatched.run, 0), [], 'nothing else while a serial step runs');
      const claimed = ok(claimStep(dispatched.run, ref(dispatched.run, dispatched.step), 'w', 0));
      state = ok(completeStep(claimed.run, ref(claimed.run, claimed.step), 'w', { message: 'done' }, 1)).run;
    }
    assert.deepEqual(names(dueSteps(state, 0)), ['node-0:[snapshot]', 'node-1:[snapshot]', 'node-2:[snapshot]']);
  });

  it('a step waiting for its retry finishes its attempts after a sibling failed for good; cleanup waits for it', () => {
    const state = run(plan([phase('work', { strategy: 'parallel' }), phase('clean', { finally: true, strategy: 'parallel' })]), service(3));
    const [failed, retrying, waiting] = state.phases[0]!.steps;
    failed!.status = 'ERROR';
    retrying!.status = 'DELAYED';
    retrying!.retryAt = 500;
    assert.deepEqual(dueSteps(state, 100), [], 'not before its time, and nothing new in a failed phase');
    assert.deepEqual(dueSteps(state, 500).map((s) => s.id), [retrying!.id]);
    assert.equal(isActive(state), true, 'a retry is coming');
    retrying!.status = 'COMPLETE';
    assert.equal(waiting!.status, 'PENDING');
    assert.deepEqual(names(dueSteps(state, 500)), ['node-0:[snapshot]', 'node-1:[snapshot]', 'node-2:[snapshot]'], 'now cleanup runs');
    assert.equal(dueSteps(state, 500)[0]!.id, state.phases[1]!.steps[0]!.id);
  });

  it('a parallel plan works on every phase at once', () => {
    const state = run(plan([phase('a', { pod: undefined }), phase('b', { pod: undefined })], { strategy: 'parallel' }));
    assert.deepEqual(names(dueSteps(state, 0)), ['demo:[snapshot]', 'demo:[snapshot]']);
  });

  it('nothing is due while paused or stopped, or in a phase that is paused', () => {
    const state = run(plan([phase('a', { strategy: 'parallel' })]));
    assert.equal(dueSteps({ ...state, interrupted: true }, 0).length, 0);
    assert.equal(dueSteps({ ...state, stopped: true }, 0).length, 0);
    state.phases[0]!.interrupted = true;
    assert.equal(dueSteps(state, 0).length, 0);
  });

  it('cleanup phases run after a failure once nothing else runs', () => {
    const state = run(plan([phase('work', { strategy: 'parallel' }), phase('next'), phase('clean', { finally: true, strategy: 'parallel' })]), service(2));
    const [a, b] = state.phases[0]!.steps;
    a!.status = 'ERROR';
    b!.status = 'STARTED';
    assert.deepEqual(dueSteps(state, 0), [], 'waits for the running step');
    b!.status = 'COMPLETE';
    assert.deepEqual(names(dueSteps(state, 0)), ['node-0:[snapshot]', 'node-1:[snapshot]']);
    assert.equal(dueSteps(state, 0)[0]!.id, state.phases[2]!.steps[0]!.id);
    assert.equal(planStatus(state), 'ERROR');
  });
});

describe('attempts', () => {
  function started(retry = { attempts: 3, backoffSeconds: 2, maxBackoffSeconds: 3 }): { run: RunState; step: StepState } {
    const state = run(plan([phase('a', { pod: undefined })], { retry }));
    const d = ok(dispatchStep(state, state.phases[0]!.steps[0]!.id, 0));
    return ok(claimStep(d.run, ref(d.run, d.step), 'worker-1', 10));
  }

  it('a retryable failure is DELAYED with a doubling backoff, then ERROR after the last attempt', () => {
    let { run: state, step } = started();
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      const failed = ok(failStep(state, ref(state, step), 'worker-1', { message: 'boom', retryable: true }, 1000));
      state = failed.run;
      if (attempt < 3) {
        assert.equal(failed.step.status, 'DELAYED');
        assert.match(failed.step.message, new RegExp(`attempt ${attempt} of 3 failed, retrying in \\d+s: boom`));
        delays.push(failed.step.retryAt! - 1000);
        assert.deepEqual(dueSteps(state, failed.step.retryAt! - 1), [], 'not before its time');
        const again = ok(dispatchStep(state, step.id, failed.step.retryAt!));
        ({ run: state, step } = ok(claimStep(again.run, ref(again.run, again.step), 'worker-1', 0)));
      } else {
        assert.equal(failed.step.status, 'ERROR');
        assert.equal(failed.step.message, 'failed after 3 attempts: boom');
      }
    }
    assert.deepEqual(delays, [2000, 3000], 'doubles, capped at the maximum');
    assert.equal(planStatus(state), 'ERROR');
  });

  it('a non-retryable failure goes straight to ERROR', () => {
    const { run: state, step } = started();
    const failed = ok(failStep(state, ref(state, step), 'worker-1', { message: 'access denied', retryable: false }, 0));
    assert.equal(failed.step.status, 'ERROR');
    assert.equal(failed.step.message, 'access denied');
  });

  it('only the owner of the current attempt may report it', () => {
    const { run: state, step } = started();
    assert.equal(completeStep(state, ref(state, step), 'worker-2', { message: '' }, 0).ok, false);
    assert.equal(completeStep(state, { ...ref(state, step), attempt: 2 }, 'worker-1', { message: '' }, 0).ok, false);
    assert.equal(completeStep(state, { ...ref(state, step), gen: 1 }, 'worker-1', { message: '' }, 0).ok, false);
  });

  it('a redelivered STARTED attempt counts as lost: retried at once as the next attempt, and the result says so', () => {
    const state = run(plan([phase('a', { pod: undefined })]));
    const d = ok(dispatchStep(state, state.phases[0]!.steps[0]!.id, 0));
    const first = ok(claimStep(d.run, ref(d.run, d.step), 'a', 0));
    const lost = ok(claimStep(first.run, ref(d.run, d.step), 'b', 5));
    assert.equal(lost.step.status, 'DELAYED', 'the redelivered job does not run the lost attempt');
    assert.equal(lost.step.retryAt, 5, 'the next attempt is due at once');
    assert.equal(lost.step.lost, 1);
    assert.equal(lost.step.message, 'attempt 1 of 3 was lost with its worker; running it again');
    assert.equal(completeStep(lost.run, ref(d.run, d.step), 'a', { message: '' }, 0).ok, false, 'the lost worker cannot report');
    const second = ok(dispatchStep(lost.run, d.step.id, 5));
    assert.equal(second.step.attempts, 2);
    const running = ok(claimStep(second.run, ref(second.run, second.step), 'b', 6));
    assert.equal(running.step.status, 'STARTED');
    assert.equal(running.step.message, 'running attempt 2 of 3, after a worker was lost');
    const done = ok(completeStep(running.run, ref(second.run, second.step), 'b', { message: 'ok' }, 7));
    assert.equal(done.step.message, 'ok (attempt 2: resumed after its worker was lost)');
    assert.equal(claimStep(done.run, ref(second.run, second.step), 'c', 8).ok, false, 'a finished attempt is never run again');
  });

  it('losing the last attempt ends in ERROR saying the worker was lost', () => {
    const state = run(plan([phase('a', { pod: undefined })], { retry: { attempts: 1, backoffSeconds: 1, maxBackoffSeconds: 1 } }));
    const d = ok(dispatchStep(state, state.phases[0]!.steps[0]!.id, 0));
    const first = ok(claimStep(d.run, ref(d.run, d.step), 'a', 0));
    const lost = ok(claimStep(first.run, ref(d.run, d.step), 'b', 5));
    assert.equal(lost.step.status, 'ERROR');
    assert.equal(lost.step.message, 'failed: the worker running attempt 1 was lost');
  });
});
