import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PLANS, SERVICE } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';

const SECRET = 'hunter2-very-secret-value';

/** Every string stored under a prefix, whatever its type. */
async function everything(stack: Stack): Promise<string> {
  const keys = await stack.redis.keys(`${stack.prefix}*`);
  const out: string[] = [];
  for (const key of keys) {
    const type = await stack.redis.type(key);
    if (type === 'string') out.push(String(await stack.redis.get(key)));
    else if (type === 'hash') out.push(JSON.stringify(await stack.redis.hgetall(key)));
    else if (type === 'list') out.push(JSON.stringify(await stack.redis.lrange(key, 0, -1)));
    else if (type === 'set') out.push(JSON.stringify(await stack.redis.smembers(key)));
    else if (type === 'zset') out.push(JSON.stringify(await stack.redis.zrange(key, 0, -1)));
    else if (type === 'stream') out.push(JSON.stringify(await stack.redis.xrange(key, '-', '+')));
  }
  return out.join('\n');
}

describe('REST API', () => {
  let redis: RedisServer;
  let stack: Stack;
  before(async () => {
    redis = await startRedis();
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': SERVICE }, plans: PLANS, secretKey: Buffer.alloc(32, 9) });
    for (let i = 0; i < 3; i += 1) mkdirSync(stack.dataDir(i), { recursive: true });
  });
  after(async () => {
    await stack.close();
    await redis.stop();
  });

  it('lists plans under both route sets', async () => {
    const plain = await stack.app.inject({ method: 'GET', url: '/v1/plans' });
    const scoped = await stack.app.inject({ method: 'GET', url: '/v1/service/svc/plans' });
    assert.equal(plain.statusCode, 200);
    assert.deepEqual(plain.json(), ['counting', 'crash', 'failing', 'flow', 'hanging', 'long', 'strict']);
    assert.deepEqual(scoped.json(), plain.json());
    const tree = await stack.app.inject({ method: 'GET', url: '/v1/service/svc/plans/flow' });
    assert.equal(tree.statusCode, 202);
    assert.equal(tree.json<{ name: string }>().name, 'flow');
  });

  it('answers 404 for unknown plans, services and routes, with a JSON error', async () => {
    const plan = await stack.app.inject({ method: 'GET', url: '/v1/plans/nope' });
    assert.equal(plan.statusCode, 404);
    assert.deepEqual(plan.json(), { error: 'NOT_FOUND', message: 'Plan nope not found' });
    const service = await stack.app.inject({ method: 'POST', url: '/v1/service/ghost/plans/flow/start', payload: {} });
    assert.deepEqual(service.json(), { error: 'NOT_FOUND', message: 'Service ghost not found' });
    assert.equal((await stack.app.inject({ method: 'GET', url: '/v2/anything' })).statusCode, 404);
  });

  it('400 lists every invalid, missing or unknown parameter at once', async () => {
    const response = await stack.start('strict', { NAME: 'Not Lower', LEVEL: 'extreme', EXTRA: 'x', 'bad-name': 'y', PASSWORD: { nested: true } });
    assert.equal(response.statusCode, 400);
    const body = response.json<{ error: string; message: string; problems: Array<{ parameter: string; message: string }> }>();
    assert.equal(body.error, 'INVALID_PARAMETERS');
    assert.deepEqual(body.problems, [
      { parameter: 'EXTRA', message: 'is not a parameter of plan strict' },
      { parameter: 'bad-name', message: 'is not a valid parameter name ([A-Za-z_][A-Za-z0-9_]*)' },
      { parameter: 'PASSWORD', message: 'must be a string' },
      { parameter: 'NAME', message: "'Not Lower' does not match the pattern ^[a-z]+$" },
      { parameter: 'LEVEL', message: 'must be one of: low, high' },
      { parameter: 'PASSWORD', message: 'is required' },
    ]);
    for (const p of body.problems) assert.ok(body.message.includes(p.parameter));
    const missing = await stack.start('strict', {});
    assert.deepEqual(
      missing.json<{ problems: unknown[] }>().problems,
      [
        { parameter: 'NAME', message: 'is required' },
        { parameter: 'PASSWORD', message: 'is required' },
      ],
    );
  });

  it('a start without a body is a start without parameters', async () => {
    const response = await stack.app.inject({ method: 'POST', url: '/v1/plans/flow/start' });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal((await stack.post('flow', 'stop')).statusCode, 200);
  });

  it('malformed bodies are 400, never 500', async () => {
    const bad = await stack.app.inject({ method: 'POST', url: '/v1/plans/flow/start', headers: { 'content-type': 'application/json' }, payload: '{"MODE": ' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json<{ error: string }>().error, 'BAD_REQUEST');
    assert.match(bad.json<{ message: string }>().message, /JSON/);
    const array = await stack.app.inject({ method: 'POST', url: '/v1/plans/flow/start', payload: [1, 2] });
    assert.equal(array.statusCode, 400);
    const query = await stack.app.inject({ method: 'POST', url: '/v1/plans/flow/interrupt?bogus=1' });
    assert.equal(query.statusCode, 400);
  });

  it('12 concurrent starts: exactly one 200, eleven 409 naming the active run', async () => {
    // Half for one plan, half for another: one run per service, whatever the plan.
    const responses = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? stack.start('long', { TOKEN: 't' }) : stack.start('flow'))));
    const ok = responses.filter((r) => r.statusCode === 200);
    const conflicts = responses.filter((r) => r.statusCode === 409);
    assert.equal(ok.length, 1, responses.map((r) => r.statusCode).join());
    assert.equal(conflicts.length, 11);
    const runId = ok[0]!.json<{ runId: string }>().runId;
    for (const conflict of conflicts) {
      const body = conflict.json<{ error: string; runId: string; message: string }>();
      assert.equal(body.error, 'CONFLICT');
      assert.equal(body.runId, runId);
      assert.match(body.message, /service svc is busy: run .* of plan (long|flow) is active/);
    }
    const winner = ok[0]!.json<{ message: string }>().message.includes('long') ? 'long' : 'flow';
    await stack.post(winner, 'stop');
  });

  it('keeps secrets out of responses, logs, hooks and Redis', async () => {
    const started = await stack.start('strict', { NAME: 'abc', PASSWORD: SECRET });
    assert.equal(started.statusCode, 200, started.body);
    assert.deepEqual(started.json<{ parameters: unknown }>().parameters, { NAME: 'abc', LEVEL: 'low', PASSWORD: '******' });
    const tree = await stack.waitPlan('strict', 'COMPLETE', (t) => t.status === 'COMPLETE');
    assert.equal(tree.parameters['PASSWORD'], '******');
    const env = readFileSync(join(stack.dataDir(1), '..', 'env-1.txt'), 'utf8');
    assert.match(env, /^POD_INDEX=1$/m);
    assert.match(env, /^NAME=abc$/m);
    assert.match(env, /^LEVEL=low$/m);
    assert.match(env, new RegExp(`^DATA_DIR=${stack.dataDir(1)}$`, 'm'));
    assert.match(env, /^SNAPSHOT_DIR=.*node-1\.drplan\/snapshots\/[0-9a-f-]+$/m);
    assert.doesNotMatch(env, new RegExp(SECRET));
    assert.doesNotMatch(env, /PASSWORD/);
    assert.doesNotMatch(stack.logs(), new RegExp(SECRET));
    const stored = await everything(stack);
    assert.ok(stored.length > 1000, 'run state and jobs are in Redis');
    assert.doesNotMatch(stored, new RegExp(SECRET));
    assert.doesNotMatch(stored, new RegExp(Buffer.from(SECRET).toString('base64').slice(0, 20)));
    const runId = started.json<{ runId: string }>().runId;
    assert.match(String(await stack.redis.get(`${stack.prefix}:_run:${runId}:secrets`)), /^v1:/, 'sealed with AES-256-GCM');
  });

  it('serves health, readiness and the OpenAPI document', async () => {
    assert.deepEqual((await stack.app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok' });
    assert.deepEqual((await stack.app.inject({ method: 'GET', url: '/readyz' })).json(), { status: 'ready' });
    const docs = await stack.app.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(docs.statusCode, 200);
    const paths = Object.keys(docs.json<{ paths: Record<string, unknown> }>().paths);
    for (const path of [
      '/v1/plans/',
      '/v1/plans/{plan}',
      '/v1/plans/{plan}/start',
      '/v1/plans/{plan}/stop',
      '/v1/plans/{plan}/interrupt',
      '/v1/plans/{plan}/continue',
      '/v1/plans/{plan}/restart',
      '/v1/plans/{plan}/forceComplete',
      '/v1/service/{service}/plans/{plan}',
      '/v1/service/{service}/plans/{plan}/start',
      '/healthz',
      '/readyz',
    ]) {
      assert.ok(paths.includes(path), `${path} is documented (${paths.join(' ')})`);
    }
    const ui = await stack.app.inject({ method: 'GET', url: '/docs' });
    const page = ui.statusCode === 302 ? await stack.app.inject({ method: 'GET', url: String(ui.headers.location) }) : ui;
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /swagger/i);
  });
});

describe('REST API with a token', () => {
  let redis: RedisServer;
  let stack: Stack;
  before(async () => {
    redis = await startRedis();
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': SERVICE }, plans: PLANS, apiToken: 's3cr3t-token', agents: false });
  });
  after(async () => {
    await stack.close();
    await redis.stop();
  });

  it('needs the bearer token on /v1, not on health checks', async () => {
    const none = await stack.app.inject({ method: 'GET', url: '/v1/plans' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    assert.equal(none.json<{ error: string }>().error, 'UNAUTHORIZED');
    const wrong = await stack.app.inject({ method: 'GET', url: '/v1/plans', headers: { authorization: 'Bearer nope' } });
    assert.deepEqual(wrong.json(), { error: 'UNAUTHORIZED', message: 'the bearer token is wrong' });
    const right = await stack.app.inject({ method: 'GET', url: '/v1/plans', headers: { authorization: 'Bearer s3cr3t-token' } });
    assert.equal(right.statusCode, 200);
    assert.equal((await stack.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    assert.doesNotMatch(stack.logs(), /s3cr3t-token/);
  });

  it('cannot be walked around with percent-encoded paths', async () => {
    for (const url of ['/%761/plans', '/v%31/plans/flow', '/%76%31/service/svc/plans/flow', '/v1/plans/%66low', '/v1/%73napshots']) {
      const response = await stack.app.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 401, url);
    }
    const start = await stack.app.inject({ method: 'POST', url: '/%761/plans/flow/start', payload: {} });
    assert.equal(start.statusCode, 401);
  });
});

describe('REST API without DRPLAN_SECRET_KEY', () => {
  let redis: RedisServer;
  let stack: Stack;
  before(async () => {
    redis = await startRedis();
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': SERVICE }, plans: PLANS, secretKey: null });
    for (let i = 0; i < 3; i += 1) mkdirSync(stack.dataDir(i), { recursive: true });
  });
  after(async () => {
    await stack.close();
    await redis.stop();
  });

  it('keeps secrets only while the run is active, then a continue or restart is refused with 409', async () => {
    const started = await stack.start('long', { TOKEN: 'ephemeral-secret' });
    const runId = started.json<{ runId: string }>().runId;
    const key = `${stack.prefix}:_run:${runId}:secrets`;
    assert.equal(await stack.redis.exists(key), 1, 'kept while the run needs it');
    assert.equal((await stack.status('long')).body.rerunBlocked, null, 'an active run can be restarted');
    assert.equal((await stack.post('long', 'stop')).statusCode, 200);
    assert.equal(await stack.redis.exists(key), 0, 'dropped when it ends');
    // The tree says so, for the dashboard to switch off what cannot work.
    assert.equal((await stack.status('long')).body.rerunBlocked, `the secret parameters of run ${runId} were discarded when it ended (set DRPLAN_SECRET_KEY to keep them, sealed); start the plan again`);
    for (const operation of ['continue', 'restart']) {
      const response = await stack.post('long', operation);
      assert.equal(response.statusCode, 409, operation);
      assert.match(response.json<{ message: string }>().message, /were discarded when it ended \(set DRPLAN_SECRET_KEY to keep them, sealed\); start the plan again: it cannot run again$/);
    }
    assert.equal((await stack.start('flow')).statusCode, 200, 'the refused run holds no lock');
    await stack.post('flow', 'stop');
  });
});
