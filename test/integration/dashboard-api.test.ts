import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { PLANS, SERVICE } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';

describe('what the dashboard needs from the API', () => {
  let redis: RedisServer;
  let stack: Stack;
  before(async () => {
    redis = await startRedis();
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': SERVICE }, plans: PLANS, secretKey: Buffer.alloc(32, 3) });
    for (let i = 0; i < 3; i += 1) mkdirSync(stack.dataDir(i), { recursive: true });
  });
  after(async () => {
    await stack.close();
    await redis.stop();
  });

  it('serves the dashboard at / with a strict Content-Security-Policy, and its assets', async () => {
    const page = await stack.app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /<script type="module" src="assets\/app\.js"><\/script>/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/, 'no inline scripts, no eval, no other origin');
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    for (const asset of ['app.js', 'api.js', 'dom.js', 'plan-view.js', 'snapshots.js', 'start-form.js', 'style.css']) {
      const response = await stack.app.inject({ method: 'GET', url: `/assets/${asset}` });
      assert.equal(response.statusCode, 200, asset);
      assert.match(String(response.headers['content-type']), asset.endsWith('.js') ? /javascript/ : /text\/css/);
    }
    // No catch-all: an unknown path is still the API's JSON 404.
    const missing = await stack.app.inject({ method: 'GET', url: '/assets/nope.js' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json<{ error: string }>().error, 'NOT_FOUND');
  });

  it('declares each plan\u2019s parameters, in order, without secret defaults, and documents the route', async () => {
    const response = await stack.app.inject({ method: 'GET', url: '/v1/service/svc/plans/strict/parameters' });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), {
      plan: 'strict',
      service: 'svc',
      description: '',
      parameters: [
        { name: 'NAME', required: true, secret: false, pattern: '^[a-z]+$' },
        { name: 'LEVEL', required: false, secret: false, default: 'low', enum: ['low', 'high'] },
        { name: 'PASSWORD', required: true, secret: true },
      ],
      requireOneOf: [],
    });
    assert.equal((await stack.app.inject({ method: 'GET', url: '/v1/plans/flow/parameters' })).json<{ plan: string }>().plan, 'flow');
    assert.equal((await stack.app.inject({ method: 'GET', url: '/v1/plans/nope/parameters' })).statusCode, 404);
    const docs = (await stack.app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } }>();
    assert.ok(docs.paths['/v1/service/{service}/plans/{plan}/parameters'], 'documented');
    assert.ok(docs.components.schemas['PlanParameters'], 'with its schema');
  });

  it('answers an unchanged plan with 304 (for 202 trees too), and says whether a run is active', async () => {
    const url = '/v1/service/svc/plans/long';
    const never = await stack.app.inject({ method: 'GET', url });
    assert.equal(never.json<{ active: boolean }>().active, false);
    const etag = String(never.headers.etag);
    assert.match(etag, /^"/);
    const again = await stack.app.inject({ method: 'GET', url, headers: { 'if-none-match': etag } });
    assert.equal(again.statusCode, 304);
    assert.equal(again.body, '');

    assert.equal((await stack.start('long', { TOKEN: 't' })).statusCode, 200);
    const running = await stack.waitPlan('long', 'every step running', (t) => t.phases[0]!.steps.every((s) => s.status === 'STARTED'));
    assert.deepEqual([running.active, running.interrupted], [true, false]);
    assert.equal((await stack.post('long', 'interrupt')).statusCode, 200);
    assert.equal((await stack.status('long')).body.interrupted, true);
    assert.equal((await stack.post('long', 'interrupt', '?phase=wait')).statusCode, 200);
    assert.equal((await stack.post('long', 'continue')).statusCode, 200);
    const phasePaused = (await stack.status('long')).body;
    assert.deepEqual([phasePaused.interrupted, phasePaused.phases[0]?.status], [false, 'WAITING'], 'a paused phase is not a paused plan');
    assert.equal((await stack.post('long', 'continue', '?phase=wait')).statusCode, 200);
    // The running steps may still change the tree between two reads (a heartbeat, the resumed
    // phase): a tag that no longer matches must come with the new tree, and the same tree is a 304.
    let answered = 0;
    for (let round = 0; round < 20 && answered !== 304; round += 1) {
      const first = await stack.app.inject({ method: 'GET', url });
      assert.equal(first.statusCode, 202);
      assert.notEqual(first.headers.etag, etag, 'a new tree, a new tag');
      const second = await stack.app.inject({ method: 'GET', url, headers: { 'if-none-match': String(first.headers.etag) } });
      answered = second.statusCode;
      if (answered !== 304) {
        assert.equal(answered, 202);
        assert.notEqual(second.headers.etag, first.headers.etag, 'a full answer only for a changed tree');
      }
    }
    assert.equal(answered, 304);

    assert.equal((await stack.post('long', 'stop')).statusCode, 200);
    const stopped = await stack.waitPlan('long', 'stopped', (t) => t.phases[0]!.steps.every((s) => s.status === 'PENDING'));
    assert.equal(stopped.active, false);
    assert.notEqual(stopped.runId, null);
    assert.equal(stopped.rerunBlocked, null, 'with DRPLAN_SECRET_KEY the sealed secrets outlive the stop');
  });
});
