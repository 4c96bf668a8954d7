import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { exited, spawnDrplan } from '../helpers/agent-process.js';
import { DEMO_LIKE, shippedPlans } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/** A process's niceness, from /proc (field 19 of its stat line). */
const niceOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[16]);

describe('the CPU priority of drplan agent', () => {
  let redis: RedisServer;
  let stack: Stack;
  before(async () => {
    redis = await startRedis();
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': DEMO_LIKE('svc', 1) }, plans: shippedPlans('backup-s3'), agents: false });
  });
  after(async () => {
    await stack.close();
    await redis.stop();
  });

  for (const [setting, expected] of [[undefined, 10], ['0', getPriority()], ['15', 15]] as const) {
    it(`runs at niceness ${expected} with DRPLAN_AGENT_NICE ${setting ?? 'unset (10)'}`, async () => {
      const agent = spawnDrplan(['agent', '--service', 'svc', '--all-nodes'], stack.processEnv(setting === undefined ? {} : { DRPLAN_AGENT_NICE: setting }));
      try {
        await waitFor('the agent serving', () => agent.output().includes('serving queue'), 30_000);
        assert.equal(niceOf(agent.pid!), Math.max(expected, getPriority()));
      } finally {
        agent.kill('SIGTERM');
        await exited(agent);
      }
    });
  }
});
