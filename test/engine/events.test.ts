import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  claimStep,
  completeStep,
  dispatchDue,
  dueSteps,
  failStep,
  runEvents,
  stopRun,
} from '../../src/engine/index.js';
import { ok, phase, plan, ref, run, service } from '../helpers/specs.js';


describe('dispatching every due step at once', () => {
  it('queues what dueSteps names, in one change, and nothing when nothing is due', () => {
    const state = run(plan([phase('all', { strategy: 'parallel' }), phase('after')]));
    const due = dueSteps(state, 0).map((s) => s.id);
    const dispatched = dispatchDue(state, 0);
    assert.ok(dispatched !== null);
    assert.deepEqual(dispatched.steps.map((s) => s.id), due);
    assert.equal(due.length, 3);
    assert.deepEqual(dispatched.run.phases[0]!.steps.map((s) => [s.status, s.attempts, s.message]), Array(3).fill(['STARTING', 1, 'queued']));
    assert.deepEqual(dispatched.run.phases[1]!.steps.map((s) => s.status), ['PENDING', 'PENDING', 'PENDING'], 'the next phase waits');
    assert.equal(state.phases[0]!.steps[0]!.status, 'PENDING', 'the input is not changed');
    assert.equal(dispatchDue(dispatched.run, 0), null, 'nothing is due while they run');
  });
});

describe('run events', () => {
  it('reports a step started, failed and retried, finished; the run finished once it releases its service', () => {
    const state = run(plan([phase('one', { pod: 'node' })], { retry: { attempts: 2, backoffSeconds: 1, maxBackoffSeconds: 1 } }), service(1));
    const queued = dispatchDue(state, 0)!;
    assert.deepEqual(runEvents(state, queued.run, 1, false), [], 'queueing is not reported');
    const claimed = ok(claimStep(queued.run, ref(queued.run, queued.steps[0]!), 'w', 2));
    const [started] = runEvents(queued.run, claimed.run, 2, false);
    assert.deepEqual(
      { type: started?.type, runId: started?.runId, service: started?.service, plan: started?.plan, step: (started as { step?: string }).step, phase: (started as { phase?: string }).phase, attempt: (started as { attempt?: number }).attempt },
      { type: 'step-started', runId: 'run-1', service: 'demo', plan: 'backup', step: 'node-0:[snapshot]', phase: 'one', attempt: 1 },
    );
    const failed = ok(failStep(claimed.run, ref(claimed.run, claimed.step), 'w', { message: 'disk gone', retryable: true }, 3));
    assert.deepEqual(runEvents(claimed.run, failed.run, 3, false).map((e) => [e.type, (e as { final?: boolean }).final]), [['step-failed', false]]);
    const again = dispatchDue(failed.run, 5000)!;
    const claimed2 = ok(claimStep(again.run, ref(again.run, again.steps[0]!), 'w', 5001));
    const done = ok(completeStep(claimed2.run, ref(claimed2.run, claimed2.step), 'w', { message: 'ok', progress: { bytesDone: 42, bytesTotal: 42 } }, 5002));
    const events = runEvents(claimed2.run, done.run, 5002, false);
    assert.deepEqual(events.map((e) => [e.type, (e as { bytes?: number }).bytes, (e as { attempt?: number }).attempt]), [['step-finished', 42, 2]]);

    const ending = runEvents(claimed2.run, done.run, 5003, true);
    const finished = ending.at(-1);
    assert.ok(finished?.type === 'run-finished');
    assert.deepEqual([finished.outcome, finished.errors, finished.startedAt], ['COMPLETE', [], 1000]);
  });

  it('a failure for good is final and the run ends in ERROR naming it; a stop ends it STOPPED', () => {
    const state = run(plan([phase('one', { pod: 'node' })], { retry: { attempts: 1, backoffSeconds: 1, maxBackoffSeconds: 1 } }), service(1));
    const queued = dispatchDue(state, 0)!;
    const claimed = ok(claimStep(queued.run, ref(queued.run, queued.steps[0]!), 'w', 1));
    const failed = ok(failStep(claimed.run, ref(claimed.run, claimed.step), 'w', { message: 'bucket missing', retryable: false }, 2));
    const events = runEvents(claimed.run, failed.run, 2, true);
    assert.deepEqual(events.map((e) => e.type), ['step-failed', 'run-finished']);
    const last = events[1]!;
    assert.ok(last.type === 'run-finished');
    assert.equal(last.outcome, 'ERROR');
    assert.deepEqual(last.errors, ['one node-0:[snapshot]: bucket missing']);

    const running = ok(claimStep(queued.run, ref(queued.run, queued.steps[0]!), 'w', 1)).run;
    const stopped = stopRun(running, { at: 3 }).run;
    const stopEvents = runEvents(running, stopped, 3, true);
    assert.deepEqual(stopEvents.map((e) => [e.type, (e as { outcome?: string }).outcome]), [['run-finished', 'STOPPED']], 'a reset to PENDING is not a step event');
  });
});
