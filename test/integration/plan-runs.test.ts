import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PLANS, SERVICE } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startStack, stepOf, type Stack } from '../helpers/stack.js';
import { sleep, waitFor } from '../helpers/wait.js';

const ms = (iso: string | null): number => {
  assert.ok(iso !== null);
  return Date.parse(iso);
};

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('running plans over three nodes', () => {
  let redis: RedisServer;
  let stack: Stack;
  before(async () => {
    redis = await startRedis();
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': SERVICE }, plans: PLANS });
    for (let i = 0; i < 3; i += 1) mkdirSync(stack.dataDir(i), { recursive: true });
  });
  after(async () => {
    await stack.close();
    await redis.stop();
  });

  it('a serial then a parallel phase run to COMPLETE: serial steps never overlap, parallel ones do', async () => {
    const started = await stack.start('flow', {});
    assert.equal(started.statusCode, 200, started.body);
    const seen = new Set<string>();
    const tree = await stack.waitPlan('flow', 'COMPLETE', (t) => {
      seen.add(t.status);
      return t.status === 'COMPLETE';
    });
    assert.ok(seen.has('IN_PROGRESS') || seen.has('STARTED') || seen.has('STARTING'), [...seen].join());
    assert.equal((await stack.status('flow')).code, 200);

    const serial = tree.phases[0]!.steps;
    for (let i = 1; i < serial.length; i += 1) {
      assert.ok(ms(serial[i]!.startedAt) >= ms(serial[i - 1]!.finishedAt), `${serial[i]!.name} started after ${serial[i - 1]!.name} finished`);
    }
    const parallel = tree.phases[1]!.steps;
    const latestStart = Math.max(...parallel.map((s) => ms(s.startedAt)));
    const earliestEnd = Math.min(...parallel.map((s) => ms(s.finishedAt)));
    assert.ok(latestStart < earliestEnd, 'all three parallel steps ran at the same time');
    assert.ok(ms(parallel[0]!.startedAt) >= ms(serial[2]!.finishedAt), 'phases follow each other');
    for (const step of [...serial, ...parallel]) {
      assert.equal(step.attempts, 1);
      assert.match(step.message, /^worked on node \d$/);
    }
    assert.equal(tree.finishedAt !== null, true);
  });

  it('a failing hook is DELAYED, then ERROR with its output after the last attempt; the plan answers 417', async () => {
    assert.equal((await stack.start('failing')).statusCode, 200);
    const delayed = await stack.waitPlan('failing', 'a DELAYED step', (t) => stepOf(t, 'doomed', 'node-0:[fail]').status === 'DELAYED');
    const step = stepOf(delayed, 'doomed', 'node-0:[fail]');
    assert.equal(step.message, 'attempt 1 of 2 failed, retrying in 1s: hook fail exited with code 3: disk on fire at node 0');
    assert.ok(step.retryAt !== null);
    assert.equal(delayed.status, 'DELAYED');

    const failed = await stack.waitPlan('failing', 'ERROR', (t) => t.status === 'ERROR');
    const final = stepOf(failed, 'doomed', 'node-0:[fail]');
    assert.equal(final.status, 'ERROR');
    assert.equal(final.attempts, 2);
    assert.equal(final.message, 'failed after 2 attempts: hook fail exited with code 3: disk on fire at node 0');
    assert.deepEqual(failed.errors, ['doomed node-0:[fail]: failed after 2 attempts: hook fail exited with code 3: disk on fire at node 0']);
    assert.equal(stepOf(failed, 'doomed', 'node-1:[fail]').status, 'PENDING', 'a serial phase stops at the error');
    assert.equal((await stack.status('failing')).code, 417);
    await sleep(500);
    assert.equal(stepOf((await stack.status('failing')).body, 'doomed', 'node-0:[fail]').attempts, 2, 'no attempt after ERROR');
  });

  it('a hook that outlives its timeout is killed and its step fails with the reason', async () => {
    assert.equal((await stack.start('hanging')).statusCode, 200);
    const tree = await stack.waitPlan('hanging', 'ERROR', (t) => t.status === 'ERROR');
    const step = stepOf(tree, 'stuck', 'node-0:[hang]');
    assert.equal(step.message, 'hook hang timed out after 1s: stuck');
    assert.equal(step.attempts, 1, 'retryable: false in the service file');
    const took = ms(step.finishedAt) - ms(step.startedAt);
    assert.ok(took >= 1000 && took < 4000, `killed after ${took} ms`);
  });

  it('a running step publishes its progress at least once a second', async () => {
    assert.equal((await stack.start('long', { LABEL: 'y' })).statusCode, 200);
    const tree = await stack.waitPlan('long', 'running', (t) => t.phases[0]!.steps.every((s) => s.status === 'STARTED'));
    const runId = tree.runId!;
    const stepId = tree.phases[0]!.steps[0]!.id;
    const read = async (): Promise<{ at: number; message: string }> =>
      JSON.parse((await stack.redis.hget(`${stack.prefix}:_run:${runId}:progress`, stepId)) ?? '{}') as { at: number; message: string };
    const samples: Array<{ at: number; message: string }> = [];
    for (let i = 0; i < 8; i += 1) {
      samples.push(await read());
      await sleep(300);
    }
    const times = [...new Set(samples.map((s) => s.at).filter((at) => at !== undefined))];
    assert.ok(times.length >= 3, `heartbeats seen: ${times.length}`);
    for (let i = 1; i < times.length; i += 1) assert.ok(times[i]! - times[i - 1]! <= 1000, `no gap over a second: ${JSON.stringify(samples)}`);
    assert.match(samples.at(-1)!.message, /^running slow for [1-9]s$/);
    const shown = (await stack.status('long')).body;
    assert.match(stepOf(shown, 'wait', 'node-0:[slow]').message, /^running slow for \ds$/, 'the API shows the live message');
    assert.equal((await stack.post('long', 'stop')).statusCode, 200);
  });

  it('pause stops new steps while the running one finishes; resume carries on (208 when repeated)', async () => {
    assert.equal((await stack.start('flow', { MODE: 'serial' })).statusCode, 200);
    await stack.waitPlan('flow', 'first step running', (t) => stepOf(t, 'one-by-one', 'node-0:[work]').status === 'STARTED');
    assert.equal((await stack.post('flow', 'interrupt')).statusCode, 200);
    assert.equal((await stack.post('flow', 'interrupt')).statusCode, 208);
    const paused = await stack.waitPlan('flow', 'first step done', (t) => stepOf(t, 'one-by-one', 'node-0:[work]').status === 'COMPLETE');
    assert.equal(paused.status, 'WAITING');
    await sleep(700);
    const still = (await stack.status('flow')).body;
    assert.equal(stepOf(still, 'one-by-one', 'node-1:[work]').status, 'PENDING', 'nothing new starts while paused');
    assert.equal(still.status, 'WAITING');

    assert.equal((await stack.post('flow', 'continue')).statusCode, 200);
    assert.equal((await stack.post('flow', 'continue')).statusCode, 208);
    const done = await stack.waitPlan('flow', 'COMPLETE', (t) => t.status === 'COMPLETE');
    assert.equal(done.phases[1]!.strategy, 'serial', 'MODE=serial resolved at start');
  });

  it('pausing one phase holds only that phase', async () => {
    assert.equal((await stack.start('flow')).statusCode, 200);
    assert.equal((await stack.post('flow', 'interrupt', '?phase=all-at-once')).statusCode, 200);
    const tree = await stack.waitPlan('flow', 'first phase done', (t) => t.phases[0]!.status === 'COMPLETE');
    await sleep(400);
    const held = (await stack.status('flow')).body;
    assert.equal(held.phases[1]!.status, 'WAITING');
    assert.ok(held.phases[1]!.steps.every((s) => s.status === 'PENDING'));
    assert.equal(tree.status, 'WAITING');
    assert.equal((await stack.post('flow', 'continue', `?phase=${held.phases[1]!.id}`)).statusCode, 200, 'phase by id');
    await stack.waitPlan('flow', 'COMPLETE', (t) => t.status === 'COMPLETE');
  });

  it('restarting one step runs it again and only it', async () => {
    const before = (await stack.status('flow')).body;
    assert.equal(before.status, 'COMPLETE');
    const target = stepOf(before, 'all-at-once', 'node-1:[work]');
    const response = await stack.post('flow', 'restart', `?phase=all-at-once&step=${encodeURIComponent('node-1:[work]')}`);
    assert.equal(response.statusCode, 200, response.body);
    const after = await stack.waitPlan('flow', 'COMPLETE again', (t) => t.status === 'COMPLETE' && ms(stepOf(t, 'all-at-once', 'node-1:[work]').startedAt) > ms(target.finishedAt));
    for (const name of ['node-0:[work]', 'node-2:[work]']) {
      assert.equal(stepOf(after, 'all-at-once', name).startedAt, stepOf(before, 'all-at-once', name).startedAt, `${name} did not run again`);
    }
    assert.equal(after.runId, before.runId);
    assert.equal((await stack.post('flow', 'restart', `?step=${encodeURIComponent('node-1:[work]')}`)).statusCode, 400, 'a step needs its phase');
    assert.equal((await stack.post('flow', 'restart', '?phase=nope')).statusCode, 404);
  });

  it('force-complete marks a step COMPLETE; 208 when it already is', async () => {
    assert.equal((await stack.start('failing')).statusCode, 200);
    await stack.waitPlan('failing', 'ERROR', (t) => t.status === 'ERROR');
    const path = `?phase=doomed&step=${encodeURIComponent('node-0:[fail]')}`;
    assert.equal((await stack.post('failing', 'forceComplete', path)).statusCode, 200);
    assert.equal((await stack.post('failing', 'forceComplete', path)).statusCode, 208);
    const tree = await stack.waitPlan('failing', 'next step failing', (t) => stepOf(t, 'doomed', 'node-1:[fail]').attempts > 0);
    assert.equal(stepOf(tree, 'doomed', 'node-0:[fail]').status, 'COMPLETE');
    assert.equal((await stack.post('failing', 'forceComplete')).statusCode, 200, 'the whole plan');
    assert.equal((await stack.status('failing')).code, 200);
  });

  it('stop cancels running steps within 2 seconds and resets the plan', async () => {
    for (let i = 0; i < 3; i += 1) rmSync(join(stack.dataDir(i), '..', `slow-${i}.pid`), { force: true });
    assert.equal((await stack.start('long', { TOKEN: 'hush' })).statusCode, 200);
    await stack.waitPlan('long', 'all three running', (t) => t.phases[0]!.steps.every((s) => s.status === 'STARTED'));
    const pids = await waitFor('pid files', () => {
      const files = [0, 1, 2].map((i) => join(stack.dataDir(i), '..', `slow-${i}.pid`));
      return files.every((f) => existsSync(f) && readFileSync(f, 'utf8').trim() !== '') ? files.map((f) => Number(readFileSync(f, 'utf8'))) : undefined;
    });
    assert.ok(pids.every(alive));
    const stoppedAt = Date.now();
    assert.equal((await stack.post('long', 'stop')).statusCode, 200);
    await waitFor('hooks killed', () => pids.every((pid) => !alive(pid)), 2000, 20);
    const elapsed = Date.now() - stoppedAt;
    assert.ok(elapsed < 2000, `cancelled in ${elapsed} ms`);
    const tree = (await stack.status('long')).body;
    assert.equal(tree.status, 'WAITING');
    assert.ok(tree.phases[0]!.steps.every((s) => s.status === 'PENDING'));
    await sleep(500);
    assert.ok((await stack.status('long')).body.phases[0]!.steps.every((s) => s.status === 'PENDING'), 'nothing restarts a stopped plan');
    assert.equal((await stack.start('flow')).statusCode, 200, 'a stopped run holds no lock');
    await stack.waitPlan('flow', 'COMPLETE', (t) => t.status === 'COMPLETE');
  });

  it('the catalogue keeps snapshots of one name under two prefixes of a bucket apart', async () => {
    const record = { name: 'nightly', service: 'svc', plan: 'backup-s3', runId: 'r1', storage: 's3', location: 'backups', created: '2026-01-01T00:00:00.000Z', bytes: 1, nodes: 3 };
    await stack.store.recordSnapshot({ ...record, prefix: 'eu' });
    await stack.store.recordSnapshot({ ...record, prefix: 'us', runId: 'r2' });
    const listed = await stack.store.snapshots('svc');
    assert.deepEqual(listed.map((s) => `${s.prefix ?? ''}/${s.name}`).sort(), ['eu/nightly', 'us/nightly']);
  });

  it('a never-run plan is PENDING with runId null', async () => {
    const { code, body } = await stack.status('counting');
    assert.equal(code, 202);
    assert.equal(body.runId, null);
    assert.equal(body.status, 'PENDING');
    assert.deepEqual(body.phases.map((p) => p.steps.length), [3, 3, 1]);
    assert.equal(body.phases[2]!.steps[0]!.name, 'svc:[count]');
    assert.equal((await stack.post('counting', 'interrupt')).statusCode, 208);
    assert.equal((await stack.post('counting', 'continue')).statusCode, 208);
    assert.equal((await stack.post('counting', 'restart', '?phase=serial')).statusCode, 208);
    assert.equal((await stack.post('counting', 'interrupt', '?phase=bogus')).statusCode, 404);
    assert.equal((await stack.post('counting', 'restart', `?phase=serial&step=${encodeURIComponent('node-9:[count]')}`)).statusCode, 404);
    assert.equal((await stack.post('counting', 'forceComplete')).statusCode, 409);
    assert.equal((await stack.post('counting', 'stop')).statusCode, 200);
    assert.equal((await stack.status('counting')).body.runId, null, 'still never run');
  });
});
