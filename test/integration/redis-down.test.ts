import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exited, spawnDrplan } from '../helpers/agent-process.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.js';
import { waitFor } from '../helpers/wait.js';

describe('the API while Redis is down', () => {
  let redis: RedisServer;
  let api: ReturnType<typeof spawnDrplan>;
  let base: string;
  before(async () => {
    redis = await startRedis();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    api = spawnDrplan(['api'], { REDIS_URL: redis.url, PORT: String(port), DRPLAN_QUEUE_PREFIX: 'down' });
    await waitFor('the API', async () => (await fetch(`${base}/readyz`)).status === 200, 30_000, 100);
  });
  after(async () => {
    api.kill('SIGTERM');
    await exited(api);
    await redis.stop();
  });

  it('answers 503 at once, and recovers when Redis is back', async () => {
    await redis.stop();
    const started = Date.now();
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { status: 'redis unreachable' });
    const plan = await fetch(`${base}/v1/plans/backup-s3`);
    assert.equal(plan.status, 503);
    assert.equal(((await plan.json()) as { error: string }).error, 'UNAVAILABLE');
    assert.ok(Date.now() - started < 3000, `answered in ${Date.now() - started} ms`);

    redis = await startRedis(redis.port);
    await waitFor('readiness again', async () => (await fetch(`${base}/readyz`)).status === 200, 30_000, 200);
    assert.equal((await fetch(`${base}/v1/plans/backup-s3`)).status, 202);
  });
});
