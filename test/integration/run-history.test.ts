import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { PLANS, SERVICE } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';

interface Summary {
  id: string;
  plan: string;
  status: string;
  parameters: Record<string, string>;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number;
  active: boolean;
  errors: string[];
  snapshot: string | null;
  stoppedAt: string | null;
  stoppedBy: string | null;
}

describe('run history', () => {
  let redis: RedisServer;
  let stack: Stack;
  const history = async (query = ''): Promise<Summary[]> => {
    const response = await stack.app.inject({ method: 'GET', url: `/v1/service/svc/runs${query}` });
    assert.equal(response.statusCode, 200, response.body);
    return response.json<Summary[]>();
  };
  before(async () => {
    redis = await startRedis();
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': SERVICE }, plans: PLANS, secretKey: Buffer.alloc(32, 9), runHistory: 100 });
    for (let i = 0; i < 3; i += 1) mkdirSync(stack.dataDir(i), { recursive: true });
  });
  after(async () => {
    await stack.close();
    await redis.stop();
  });

  it('keeps every run after the next start, newest first, each readable whole by its id', async () => {
    assert.equal((await stack.start('flow', { MODE: 'serial' })).statusCode, 200);
    const first = await stack.finished('flow');
    assert.equal(first.status, 'COMPLETE');
    assert.equal((await stack.start('failing')).statusCode, 200);
    await stack.waitPlan('failing', 'ERROR', (t) => t.status === 'ERROR', 30_000);
    assert.equal((await stack.start('flow', { MODE: 'parallel' })).statusCode, 200);
    const second = await stack.finished('flow');

    const runs = await history();
    assert.deepEqual(runs.map((r) => [r.id, r.plan]), [[second.runId, 'flow'], [runs[1]!.id, 'failing'], [first.runId, 'flow']]);
    const [latest, failed, oldest] = runs as [Summary, Summary, Summary];
    assert.deepEqual([latest.status, failed.status, oldest.status], ['COMPLETE', 'ERROR', 'COMPLETE']);
    assert.match(failed.errors[0] ?? '', /disk on fire at node 0/);
    assert.deepEqual(oldest.parameters, { MODE: 'serial' });
    assert.ok(oldest.durationMs >= 400 && oldest.finishedAt !== null, JSON.stringify(oldest));
    assert.deepEqual((await history('?plan=flow&limit=1')).map((r) => r.id), [second.runId]);

    // The plan's route shows the latest run; the run's own route still shows the first one.
    const old = await stack.app.inject({ method: 'GET', url: `/v1/service/svc/runs/${first.runId}` });
    assert.equal(old.statusCode, 200);
    assert.equal(old.json<{ runId: string; parameters: Record<string, string> }>().parameters['MODE'], 'serial');
    assert.equal((await stack.app.inject({ method: 'GET', url: '/v1/service/svc/runs/no-such-run' })).statusCode, 404);
    assert.equal((await stack.app.inject({ method: 'GET', url: `/v1/service/svc/runs/${first.runId ?? ''}:secrets` })).statusCode, 404, 'a run id names a run, never another key');
    assert.equal((await stack.app.inject({ method: 'GET', url: '/v1/service/svc/runs?plan=nope' })).statusCode, 404);
  });

  it('says who stopped a run and when', async () => {
    assert.equal((await stack.start('long', { TOKEN: 't' })).statusCode, 200);
    await stack.waitPlan('long', 'running', (t) => t.phases[0]!.steps.every((s) => s.status === 'STARTED'));
    const stop = await stack.app.inject({ method: 'POST', url: '/v1/service/svc/plans/long/stop', headers: { 'x-drplan-client': 'cli' } });
    assert.equal(stop.statusCode, 200);
    const [stopped] = await history('?plan=long');
    assert.equal(stopped?.active, false);
    assert.equal(stopped?.stoppedBy, 'cli from 127.0.0.1');
    assert.ok(stopped?.stoppedAt !== null && Date.parse(stopped?.stoppedAt ?? '') > Date.parse(stopped?.startedAt ?? ''));
  });

  it('reads 100 runs in order, and keeps the last 100 (and every plan’s latest) as more start', async () => {
    const started: string[] = [];
    for (let i = 0; i < 105; i += 1) {
      const response = await stack.start('long', { TOKEN: 't', LABEL: `n${i}` });
      assert.equal(response.statusCode, 200, response.body);
      started.push(response.json<{ runId: string }>().runId);
      assert.equal((await stack.post('long', 'stop')).statusCode, 200);
    }
    const runs = await history('?limit=1000');
    const kept = runs.filter((r) => r.plan === 'long').map((r) => r.parameters['LABEL']);
    assert.deepEqual(kept.slice(0, 100), Array.from({ length: 100 }, (_, i) => `n${104 - i}`), 'newest first, in order');
    assert.ok(runs.length <= 100 + 2, `at most the limit and the latest run of each other plan (${runs.length})`);
    assert.ok(runs.some((r) => r.plan === 'flow') && runs.some((r) => r.plan === 'failing'), 'the latest run of every plan stays');
    assert.equal((await stack.app.inject({ method: 'GET', url: `/v1/service/svc/runs/${started[0]}` })).statusCode, 404, 'the oldest are gone');
    assert.equal(await stack.redis.exists(`${stack.prefix}:_run:${started[0]}`), 0, 'with their keys');

    const url = await stack.app.listen({ host: '127.0.0.1', port: 0 });
    const listed = await runCli(url, 'runs', 'list', '--service', 'svc', '--limit', '3');
    assert.equal(listed.code, 0, listed.err);
    const lines = listed.out.split('\n');
    assert.match(lines[0] ?? '', /^RUN +PLAN +OUTCOME +STARTED +DURATION +BYTES +SNAPSHOT +NOTE$/);
    // Those stops came through the test's injected requests: the user agent's first word names them.
    assert.match(lines[1] ?? '', new RegExp(`^${started[104]} +long +stopped +\\S+ +\\S+ +0 B +- +stopped by lightMyRequest from 127\\.0\\.0\\.1$`));
    assert.equal(lines.length, 4);
    const shown = await runCli(url, 'runs', 'show', started[103]!, '--service', 'svc');
    assert.match(shown.out, new RegExp(`^run ${started[103]} of long, started \\S+, finished \\S+\\nstopped \\S+ by lightMyRequest from 127\\.0\\.0\\.1\\nlong \\(serial strategy\\)`));
  });
});
