import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregateStatus, isActive, phaseStatus, planStatus, type Status } from '../../src/engine/index.js';
import { phase, plan, run, service, setStatuses } from '../helpers/specs.js';

describe('aggregateStatus follows the DC/OS rule order', () => {
  const cases: Array<[string, Status[], Status[], boolean, boolean, Status]> = [
    ['errors win over everything', ['COMPLETE', 'COMPLETE'], [], true, false, 'ERROR'],
    ['a child in ERROR', ['ERROR', 'STARTED'], ['STARTED'], false, false, 'ERROR'],
    ['all complete', ['COMPLETE', 'COMPLETE'], [], false, false, 'COMPLETE'],
    ['complete even when interrupted', ['COMPLETE'], [], false, true, 'COMPLETE'],
    ['no children is complete', [], [], false, false, 'COMPLETE'],
    ['interrupted', ['COMPLETE', 'PENDING'], ['PENDING'], false, true, 'WAITING'],
    ['all delayed', ['DELAYED', 'DELAYED'], ['DELAYED', 'DELAYED'], false, false, 'DELAYED'],
    ['candidate waiting', ['WAITING', 'PENDING'], ['WAITING'], false, false, 'WAITING'],
    ['candidate in progress', ['IN_PROGRESS', 'PENDING'], ['IN_PROGRESS'], false, false, 'IN_PROGRESS'],
    ['complete child and pending candidate', ['COMPLETE', 'PENDING'], ['PENDING'], false, false, 'IN_PROGRESS'],
    ['complete child and starting candidate', ['COMPLETE', 'STARTING'], ['STARTING'], false, false, 'IN_PROGRESS'],
    ['complete child and started candidate', ['COMPLETE', 'STARTED'], ['STARTED'], false, false, 'IN_PROGRESS'],
    ['pending candidate', ['PENDING', 'PENDING'], ['PENDING'], false, false, 'PENDING'],
    ['pending wins over starting', ['STARTING', 'PENDING'], ['STARTING', 'PENDING'], false, false, 'PENDING'],
    ['waiting child, no candidate', ['WAITING', 'PENDING'], [], false, false, 'WAITING'],
    ['starting candidate', ['STARTING', 'PENDING'], ['STARTING'], false, false, 'STARTING'],
    ['started candidate', ['STARTED', 'PENDING'], ['STARTED'], false, false, 'STARTED'],
    ['delayed candidate after completed work', ['COMPLETE', 'DELAYED', 'PENDING'], ['DELAYED'], false, false, 'DELAYED'],
    ['nothing matches', ['PENDING'], [], false, false, 'ERROR'],
  ];
  for (const [name, children, candidates, errors, interrupted, expected] of cases) {
    it(name, () => assert.equal(aggregateStatus(children, candidates, errors, interrupted), expected));
  }
});

describe('phase and plan status', () => {
  const cases: Array<[string, 'serial' | 'parallel', Parameters<typeof setStatuses>[1], Status, Status]> = [
    ['never run', 'serial', [['PENDING', 'PENDING'], ['PENDING']], 'PENDING', 'PENDING'],
    ['first step launching shows STARTING', 'serial', [['STARTING', 'PENDING'], ['PENDING']], 'STARTING', 'STARTING'],
    ['first step running', 'serial', [['STARTED', 'PENDING'], ['PENDING']], 'STARTED', 'STARTED'],
    ['half way through a phase', 'serial', [['COMPLETE', 'STARTED'], ['PENDING']], 'IN_PROGRESS', 'IN_PROGRESS'],
    ['first phase done', 'serial', [['COMPLETE', 'COMPLETE'], ['PENDING']], 'COMPLETE', 'IN_PROGRESS'],
    ['all done', 'serial', [['COMPLETE', 'COMPLETE'], ['COMPLETE']], 'COMPLETE', 'COMPLETE'],
    ['a step failed for good', 'parallel', [['ERROR', 'COMPLETE'], ['PENDING']], 'ERROR', 'ERROR'],
    ['a step waits for its retry', 'parallel', [['DELAYED', 'COMPLETE'], ['PENDING']], 'DELAYED', 'DELAYED'],
  ];
  for (const [name, strategy, statuses, first, whole] of cases) {
    it(name, () => {
      const state = run(plan([phase('a', { strategy }), phase('b', { pod: undefined })]), service(2));
      setStatuses(state, statuses);
      assert.equal(phaseStatus(state.phases[0]!), first);
      assert.equal(planStatus(state), whole);
    });
  }

  it('an interrupted plan is WAITING until it completes', () => {
    const state = run(plan([phase('a')]));
    state.interrupted = true;
    assert.equal(planStatus(state), 'WAITING');
    setStatuses(state, [['COMPLETE', 'COMPLETE', 'COMPLETE']]);
    assert.equal(planStatus(state), 'COMPLETE');
  });

  it('an interrupted phase makes its serial plan WAITING', () => {
    const state = run(plan([phase('a'), phase('b')]));
    state.phases[0]!.interrupted = true;
    assert.equal(phaseStatus(state.phases[0]!), 'WAITING');
    assert.equal(planStatus(state), 'WAITING');
  });
});

describe('isActive decides who holds the service lock', () => {
  it('is active while work remains, inactive when complete', () => {
    const state = run(plan([phase('a')]));
    assert.equal(isActive(state), true);
    setStatuses(state, [['COMPLETE', 'COMPLETE', 'COMPLETE']]);
    assert.equal(isActive(state), false);
  });
  it('a paused run stays active, a stopped one does not', () => {
    const state = run(plan([phase('a')]));
    state.interrupted = true;
    assert.equal(isActive(state), true);
    state.stopped = true;
    assert.equal(isActive(state), false);
  });
  it('a failed run is active until its running steps and cleanup phases finish', () => {
    const state = run(plan([phase('a', { strategy: 'parallel' }), phase('clean', { finally: true })]));
    setStatuses(state, [['ERROR', 'STARTED', 'COMPLETE'], ['PENDING', 'PENDING', 'PENDING']]);
    assert.equal(isActive(state), true, 'a step still runs');
    setStatuses(state, [['ERROR', 'COMPLETE', 'COMPLETE']]);
    assert.equal(isActive(state), true, 'cleanup still to run');
    setStatuses(state, [[], ['COMPLETE', 'COMPLETE', 'COMPLETE']]);
    assert.equal(planStatus(state), 'ERROR');
    assert.equal(isActive(state), false);
  });
});
