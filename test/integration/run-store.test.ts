import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { claimStep, completeStep, createRun, dispatchDue, restartRun, stopRun, type RunState, type StepState } from '../../src/engine/index.js';
import { PlanRuns, RunStore } from '../../src/runs/index.js';
import { SCRIPTS } from '../../src/runs/scripts.js';
import { createLogger, createSecretBox } from '../../src/shared/index.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { phase, plan, ref, service } from '../helpers/specs.js';

const quiet = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });

/** Calls per command since the last CONFIG RESETSTAT. */
async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  return Object.fromEntries([...info.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

describe('run state in Redis', () => {
  let server: RedisServer;
  let redis: Redis;
  let n = 0;
  const newStore = (): RunStore => new RunStore({ redis, prefix: `rs${++n}`, secretBox: createSecretBox(null), logger: quiet });
  const wide = plan([phase('all', { strategy: 'parallel' }), phase('after', { strategy: 'parallel' })], { name: 'wide' });
  const hundred = service(100);

  before(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  /** A worker claims the step and completes it, through the store. */
  async function runStep(store: RunStore, run: RunState, step: StepState, progress?: { bytesDone: number; bytesTotal: number }): Promise<void> {
    const claimed = await store.transitionStep(run.id, step.id, (current) => claimStep(current, ref(run, step), 'w', Date.now()));
    assert.ok(claimed.ok);
    const done = await store.transitionStep(run.id, step.id, (current) => completeStep(current, ref(run, claimed.step), 'w', { message: 'ok', ...(progress === undefined ? {} : { progress }) }, Date.now()));
    assert.ok(done.ok);
  }

  async function startedAndQueued(store: RunStore, spec = wide, svc = hundred): Promise<RunState> {
    const run = await store.start(spec, svc, { values: {}, secrets: {} });
    const queued = await store.update(run.id, (current) => dispatchDue(current, Date.now())?.run ?? null);
    assert.ok(queued?.changed);
    return queued.run;
  }

  it("writes a step's transition to that step alone: the head and the other steps stay as they were", async () => {
    const store = newStore();
    const run = await startedAndQueued(store);
    const k = store.keys;
    const [headBefore, stepsBefore, versionsBefore] = await Promise.all([redis.hget(k.run(run.id), 'head'), redis.hgetall(k.steps(run.id)), redis.hgetall(k.stepVersions(run.id))]);
    const versionBefore = await store.version(run.id);
    const target = run.phases[0]!.steps[5]!;
    const claimed = await store.transitionStep(run.id, target.id, (current) => claimStep(current, ref(run, target), 'worker-a', Date.now()));
    assert.ok(claimed.ok);
    assert.equal(claimed.step.status, 'STARTED');
    const [headAfter, stepsAfter, versionsAfter] = await Promise.all([redis.hget(k.run(run.id), 'head'), redis.hgetall(k.steps(run.id)), redis.hgetall(k.stepVersions(run.id))]);
    assert.equal(headAfter, headBefore, 'the head is not rewritten');
    const changed = Object.keys(stepsAfter).filter((id) => stepsAfter[id] !== stepsBefore[id]);
    assert.deepEqual(changed, [target.id], 'only the claimed step changed');
    assert.deepEqual(Object.keys(versionsAfter).filter((id) => versionsAfter[id] !== versionsBefore[id]), [target.id]);
    assert.equal(Object.keys(stepsAfter).length, 200);
    assert.notEqual(await store.version(run.id), versionBefore, 'the run has a new version (for the plan tree and its tag)');
    assert.equal(await redis.hget(k.tokens(run.id), target.id), `${target.gen}.1.worker-a`, 'the worker holds the step');
    const stale = await store.transitionStep(run.id, target.id, (current) => claimStep(current, ref(run, target), 'worker-b', Date.now()));
    assert.ok(stale.ok && stale.step.status === 'DELAYED', 'a second claim of a running attempt records it lost, as before');
  });

  it('lets 99 workers claim their steps at once without one retry (each checks its own step)', async () => {
    const store = newStore();
    const run = await startedAndQueued(store);
    const steps = run.phases[0]!.steps;
    const first = await store.transitionStep(run.id, steps[0]!.id, (current) => claimStep(current, ref(run, steps[0]!), 'w0', Date.now()));
    assert.ok(first.ok);
    await redis.config('RESETSTAT');
    const results = await Promise.all(
      steps.slice(1).map((step, i) => {
        const worker = new Redis(server.url, { maxRetriesPerRequest: null });
        const own = new RunStore({ redis: worker, prefix: `rs${n}`, secretBox: createSecretBox(null), logger: quiet });
        return own.transitionStep(run.id, step.id, (current) => claimStep(current, ref(run, step), `w${i + 1}`, Date.now())).finally(() => worker.disconnect());
      }),
    );
    assert.ok(results.every((r) => r.ok && r.step.status === 'STARTED'));
    const calls = await commandCalls(redis);
    assert.equal((calls['evalsha'] ?? 0) + (calls['eval'] ?? 0), 99, `one script call per claim: ${JSON.stringify(calls)}`);
    const loaded = await store.load(run.id);
    assert.deepEqual(new Set(loaded?.phases[0]!.steps.map((s) => s.status)), new Set(['STARTED']));
  });

  it('writes typed events to the outbox with each change, and run-finished in the write that releases the service', async () => {
    const store = newStore();
    const small = plan([phase('one', { strategy: 'parallel' })], { name: 'small' });
    const run = await startedAndQueued(store, small, service(2));
    for (const step of run.phases[0]!.steps) await runStep(store, run, step, { bytesDone: 7, bytesTotal: 7 });
    const k = store.keys;
    assert.equal(await redis.get(k.lock('demo')), run.id, 'a step cannot know it was the last: the run holds the service until it is settled');
    const unsettled = await store.load(run.id);
    assert.ok(unsettled?.finishedAt !== null, 'it shows as ended meanwhile, at the end of its last step');
    assert.equal((await store.events()).filter((e) => e.event.type === 'run-finished').length, 0);

    const settled = await store.update(run.id, () => null);
    assert.equal(settled?.changed, false);
    assert.equal(await redis.get(k.lock('demo')), null, 'released');
    assert.equal(await redis.sismember(k.active, run.id), 0);
    const events = (await store.events()).map((e) => e.event);
    assert.deepEqual(
      events.map((e) => [e.type, 'step' in e ? e.step : null]),
      [
        ['run-started', null],
        ['step-started', 'node-0:[snapshot]'],
        ['step-finished', 'node-0:[snapshot]'],
        ['step-started', 'node-1:[snapshot]'],
        ['step-finished', 'node-1:[snapshot]'],
        ['run-finished', null],
      ],
    );
    const finished = events.at(-1)!;
    assert.ok(finished.type === 'run-finished');
    assert.deepEqual([finished.outcome, finished.runId, finished.service, finished.plan], ['COMPLETE', run.id, 'demo', 'small']);
    assert.equal(finished.at, (await store.load(run.id))?.finishedAt, 'the event says when the run ended, not when it was settled');
    assert.ok(events.every((e) => e.runId === run.id));
    assert.equal((await store.update(run.id, () => null))?.changed, false);
    assert.equal((await store.events()).length, 6, 'settling twice writes nothing');
  });

  it('a start settles a run whose last step ended before any coordinator did, instead of a 409', async () => {
    const store = newStore();
    const one = plan([phase('one', { pod: 'node' })], { name: 'one' });
    const run = await startedAndQueued(store, one, service(1));
    await runStep(store, run, run.phases[0]!.steps[0]!);
    const next = await store.start(plan([phase('one', { pod: 'node' })], { name: 'other' }), service(1), { values: {}, secrets: {} });
    assert.equal(await redis.get(store.keys.lock('demo')), next.id);
    const finished = (await store.events()).find((e) => e.event.type === 'run-finished');
    assert.equal(finished?.event.runId, run.id);
  });

  it('reads a run stored as one document (before per-step state) and moves it to the present layout', async () => {
    const store = newStore();
    const k = store.keys;
    const legacy = createRun(plan([phase('one')], { name: 'old' }), service(2), { values: { A: 'b' }, secrets: {} }, { runId: '00000000-0000-4000-8000-000000000001', now: 1000, newId: (() => { let i = 0; return () => `old-${i++}`; })() });
    legacy.phases[0]!.steps[0]!.status = 'COMPLETE';
    legacy.phases[0]!.steps[1]!.status = 'COMPLETE';
    legacy.finishedAt = 2000;
    legacy.snapshot = 'old-snap';
    await redis.hset(k.run(legacy.id), 'v', '7', 'json', JSON.stringify(legacy));
    await redis.set(k.latest('demo', 'old'), legacy.id);
    await redis.zadd(k.history('demo'), 1000, legacy.id);
    assert.deepEqual((await store.history('demo')).map((r) => [r.id, r.status, r.snapshot]), [[legacy.id, 'COMPLETE', 'old-snap']], 'listed before anything else read it');
    assert.deepEqual(await store.load(legacy.id), legacy);
    assert.equal(await redis.hexists(k.run(legacy.id), 'json'), 0, 'the document is gone');
    assert.equal(await redis.hlen(k.steps(legacy.id)), 2);
    assert.deepEqual((await store.history('demo')).map((r) => [r.id, r.status, r.snapshot]), [[legacy.id, 'COMPLETE', 'old-snap']]);
    const next = await store.start(plan([phase('one')], { name: 'old' }), service(2), { values: {}, secrets: {} });
    assert.deepEqual((await store.history('demo')).map((r) => r.id), [next.id, legacy.id]);
  });

  it('a legacy run is served by its id and its plan before anything else read it', async () => {
    const store = newStore();
    const k = store.keys;
    const legacy = createRun(plan([phase('one')], { name: 'old' }), service(1), { values: {}, secrets: {} }, { runId: '00000000-0000-4000-8000-000000000002', now: 1000, newId: (() => { let i = 0; return () => `older-${i++}`; })() });
    await redis.hset(k.run(legacy.id), 'v', '3', 'json', JSON.stringify(legacy));
    await redis.set(k.latest('demo', 'old'), legacy.id);
    const runs = new PlanRuns(store, { service: () => service(1), plans: () => [plan([phase('one')], { name: 'old' })] });
    assert.equal((await runs.tree('demo', 'old')).tree.runId, legacy.id);
    assert.equal((await runs.run('demo', legacy.id)).tree.runId, legacy.id);
  });

  it("a change this process makes is seen by its next read of the plan, even with a build of the tree under way", async () => {
    const store = newStore();
    const one = plan([phase('one', { pod: 'node' })], { name: 'one' });
    let clock = 0;
    const runs = new PlanRuns(store, { service: () => service(1), plans: () => [one] }, () => clock);
    await startedAndQueued(store, one, service(1));
    await runs.tree('demo', 'one');
    clock += 1000; // past the least time between builds
    // A build that read the run before the change and finishes after it.
    const view = store.view.bind(store);
    let entered = (): void => undefined;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    store.view = async (runId) => {
      const read = await view(runId);
      if (++calls === 1) {
        entered();
        await gate;
      }
      return read;
    };
    await store.update((await store.latestRunId('demo', 'one'))!, (run) => ({ ...structuredClone(run), parameters: { ...run.parameters, TOUCHED: '1' } }));
    const during = runs.tree('demo', 'one');
    await inside;
    await runs.operate('demo', 'one', 'interrupt', {});
    const after = runs.tree('demo', 'one');
    release();
    assert.equal((await after).tree.interrupted, true, 'the interrupt shows at once');
    assert.equal((await during).tree.interrupted, false, 'the build under way showed the run as it read it');
    assert.equal((await runs.tree('demo', 'one')).tree.interrupted, true, 'and is not kept');
  });

  it('settles a run whose last step ended before an operation on it: run-finished as it ended, then the operation', async () => {
    const store = newStore();
    const one = plan([phase('one', { pod: 'node' })], { name: 'one' });
    const run = await startedAndQueued(store, one, service(1));
    await runStep(store, run, run.phases[0]!.steps[0]!);
    const restarted = await store.update(run.id, (current) => restartRun(current, {}).run);
    assert.equal(restarted?.run.finishedAt, null, 'running again');
    assert.equal(await redis.get(store.keys.lock('demo')), run.id, 'it kept its service');
    const finished = (await store.events()).filter((e) => e.event.type === 'run-finished').map((e) => e.event);
    assert.deepEqual(finished.map((e) => (e.type === 'run-finished' ? e.outcome : '')), ['COMPLETE'], 'its first run was reported, once');

    const other = newStore();
    const second = await startedAndQueued(other, one, service(1));
    await runStep(other, second, second.phases[0]!.steps[0]!);
    await other.update(second.id, (current) => stopRun(current, { at: Date.now() }).run);
    const outcomes = (await other.events()).filter((e) => e.event.type === 'run-finished').map((e) => (e.event.type === 'run-finished' ? e.event.outcome : ''));
    assert.deepEqual(outcomes, ['COMPLETE'], 'a stop after the end does not turn a complete run into a stopped one');
  });

  it('passes every key a script touches in KEYS', () => {
    for (const [name, { lua, numberOfKeys }] of Object.entries(SCRIPTS)) {
      const helperKeys = new Set(['outbox', 'tokenKey', 'progressKey']);
      for (const [, command, first] of lua.matchAll(/redis\.call\('(\w+)',\s*([^,)]+)/g)) {
        if (command === 'PUBLISH') continue;
        const key = first!.trim();
        const index = /^KEYS\[(\d+)\]$/.exec(key)?.[1];
        assert.ok(index !== undefined ? Number(index) <= numberOfKeys : helperKeys.has(key), `${name}: ${command} ${key}`);
      }
      for (const [, helper, args] of lua.matchAll(/^\s*(append|tokens)\(([^)]*)\)/gm)) {
        const keys = args!.split(',').slice(0, helper === 'append' ? 1 : 2).map((a) => a.trim());
        assert.ok(keys.every((key) => /^KEYS\[\d+\]$/.test(key) && Number(/\d+/.exec(key)![0]) <= numberOfKeys), `${name}: ${helper}(${args})`);
      }
      assert.doesNotMatch(lua, /\.\.\s*['"]?:/, `${name} builds no key names`);
    }
  });
});
