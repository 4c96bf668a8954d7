import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exited, spawnDrplan } from '../helpers/agent-process.js';
import { PLANS, SERVICE } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startStack, stepOf, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

describe('processes die, runs go on', () => {
  let redis: RedisServer;
  let stack: Stack;
  let env: Record<string, string>;
  before(async () => {
    redis = await startRedis();
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': SERVICE }, plans: PLANS, agents: false, coordinators: 1 });
    for (let i = 0; i < 3; i += 1) mkdirSync(stack.dataDir(i), { recursive: true });
    env = stack.processEnv({ DRPLAN_WORKER_LOCK_SECONDS: '2' });
  });
  after(async () => {
    await stack.close();
    await redis.stop();
  });

  const ticks = (): string[] => readFileSync(join(stack.dataDir(0), '..', 'ticks.log'), 'utf8').trim().split('\n');

  it('an agent killed with SIGKILL mid-step: its steps run again on a new agent and the run completes', async () => {
    const first = spawnDrplan(['agent', '--service', 'svc', '--all-nodes'], env);
    assert.equal((await stack.start('crash')).statusCode, 200);
    await stack.waitPlan('crash', 'all steps running', (t) => t.phases[0]!.steps.every((s) => s.status === 'STARTED'), 30_000);
    await waitFor('hooks started', () => ticks().filter((l) => l.endsWith('start')).length === 3);
    first.kill('SIGKILL');
    await exited(first);
    const killedAt = Date.now();

    const second = spawnDrplan(['agent', '--service', 'svc', '--node', '0', '--node', '1', '--node', 'node-2'], env);
    try {
      const tree = await stack.waitPlan('crash', 'COMPLETE', (t) => t.status === 'COMPLETE', 40_000);
      for (const step of tree.phases[0]!.steps) {
        assert.ok(Date.parse(step.startedAt!) > killedAt, `${step.name} ran again after the kill`);
        assert.equal(step.attempts, 2, 'the attempt lost with its worker counts');
        assert.match(step.message, /\(attempt 2: resumed after its worker was lost\)$/);
      }
      const starts = ticks().filter((l) => l.endsWith('start'));
      for (const name of ['node-0:[tick]', 'node-1:[tick]', 'node-2:[tick]']) {
        assert.equal(starts.filter((l) => l.startsWith(name)).length, 2, `${name} started once per agent`);
      }
    } finally {
      second.kill('SIGTERM');
      assert.equal(await exited(second), 0, second.output());
    }
  });

  it('an agent stopped with SIGTERM hands its step back; the next agent runs it', async () => {
    const first = spawnDrplan(['agent', '--service', 'svc', '--all-nodes'], env);
    assert.equal((await stack.start('crash')).statusCode, 200);
    await stack.waitPlan('crash', 'running', (t) => t.phases[0]!.steps.every((s) => s.status === 'STARTED'), 30_000);
    first.kill('SIGTERM');
    assert.equal(await exited(first), 0, first.output());
    const handedBack = (await stack.status('crash')).body;
    for (const step of handedBack.phases[0]!.steps) {
      assert.equal(step.status, 'STARTING');
      assert.equal(step.message, 'waiting for an agent: the previous one shut down');
    }
    const second = spawnDrplan(['agent', '--service', 'svc', '--all-nodes'], env);
    try {
      const tree = await stack.waitPlan('crash', 'COMPLETE', (t) => t.status === 'COMPLETE', 30_000);
      assert.ok(tree.phases[0]!.steps.every((s) => s.attempts === 1));
    } finally {
      second.kill('SIGTERM');
      await exited(second);
    }
  });
});

describe('several coordinators', () => {
  let redis: RedisServer;
  let stack: Stack;
  before(async () => {
    redis = await startRedis();
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': SERVICE }, plans: PLANS, coordinators: 3 });
    // Two agents on every queue: a job added twice would run twice unless its id dedupes it.
    stack.addAgent();
    for (let i = 0; i < 3; i += 1) mkdirSync(stack.dataDir(i), { recursive: true });
  });
  after(async () => {
    await stack.close();
    await redis.stop();
  });

  it('never run a step twice', async () => {
    const runs = 4;
    for (let i = 0; i < runs; i += 1) {
      assert.equal((await stack.start('counting')).statusCode, 200);
      const tree = await stack.waitPlan('counting', 'COMPLETE', (t) => t.status === 'COMPLETE');
      assert.equal(stepOf(tree, 'once', 'svc:[count]').attempts, 1);
      assert.ok(tree.phases.every((p) => p.steps.every((step) => step.attempts === 1)), 'one attempt each');
    }
    const executions = readFileSync(join(stack.root, 'executions.log'), 'utf8').trim().split('\n');
    const counts = new Map<string, number>();
    for (const line of executions) counts.set(line, (counts.get(line) ?? 0) + 1);
    // Each node's count step appears in two phases, the service-wide one once: 7 steps per run.
    assert.equal(executions.length, 7 * runs);
    for (const name of ['node-0:[count]', 'node-1:[count]', 'node-2:[count]']) assert.equal(counts.get(name), 2 * runs, name);
    assert.equal(counts.get('svc:[count]'), runs);
  });
});
