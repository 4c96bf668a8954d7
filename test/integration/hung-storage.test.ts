import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { writeDataset } from '../../scripts/lib/dataset.js';
import { DEMO_LIKE, quickPlan } from '../helpers/fixtures.js';
import { startBlackHole, type BlackHole } from '../helpers/proxy.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { startStack, stepOf, type Stack } from '../helpers/stack.js';
import { DEFAULT_TRANSFER_SETTINGS } from '../../src/storage/index.js';

describe('an S3 endpoint that accepts connections and never answers', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let hole: BlackHole;
  let quick: Stack;
  let patient: Stack;
  const finished = (stack: Stack, plan: string) => stack.waitPlan(plan, 'finished', (t) => t.finishedAt !== null && !t.active, 60_000);

  before(async () => {
    redis = await startRedis();
    s3 = await startS3(['backups']);
    hole = await startBlackHole();
    const make = (timeoutMs: number) =>
      startStack({
        redisUrl: redis.url,
        services: { 'svc.yml': DEMO_LIKE('svc', 1) },
        plans: quickPlan('backup-s3'),
        settings: { transfer: { ...DEFAULT_TRANSFER_SETTINGS, timeoutMs } },
      });
    quick = await make(1000);
    patient = await make(10 * 60_000);
    for (const stack of [quick, patient]) await writeDataset(stack.dataDir(0), { seed: 1, largeBytes: 1024 * 1024, largeFiles: 1, smallFiles: 5 });
  });
  after(async () => {
    await quick.close();
    await patient.close();
    await hole.stop();
    await s3.stop();
    await redis.stop();
  });

  it('times out every request: the step is retried, then ends in ERROR saying the store did not answer', async () => {
    const started = Date.now();
    assert.equal((await quick.start('backup-s3-quick', { ...s3.parameters, S3_ENDPOINT_URL: hole.url, SNAPSHOT_NAME: 'hung' })).statusCode, 200);
    const tree = await finished(quick, 'backup-s3-quick');
    assert.equal(tree.status, 'ERROR');
    const step = stepOf(tree, 'upload-backups', 'node-0:[upload-s3]');
    assert.equal(step.attempts, 3, 'a timeout is retried');
    assert.match(step.message, /^failed after 3 attempts: S3 at http:\/\/127\.0\.0\.1:\d+ (for backups\/hung\/manifest\.json: no answer for 1s|did not answer for backups\/hung\/manifest\.json)$/);
    assert.ok(Date.now() - started < 40_000, 'nothing waits forever');
  });

  it('stop frees the node within seconds, whatever the store does, and the next backup runs at once', async () => {
    assert.equal((await patient.start('backup-s3-quick', { ...s3.parameters, S3_ENDPOINT_URL: hole.url, SNAPSHOT_NAME: 'stuck' })).statusCode, 200);
    await patient.waitPlan('backup-s3-quick', 'the upload waiting on the store', (t) => stepOf(t, 'upload-backups', 'node-0:[upload-s3]').status === 'STARTED', 20_000);
    const connections = hole.connections;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.ok(hole.connections >= connections && hole.connections > 0, 'the store holds the request');
    const stopped = Date.now();
    assert.equal((await patient.post('backup-s3-quick', 'stop')).statusCode, 200);
    assert.equal((await patient.start('backup-s3-quick', { ...s3.parameters, SNAPSHOT_NAME: 'after-the-stop' })).statusCode, 200);
    const tree = await finished(patient, 'backup-s3-quick');
    assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
    const upload = stepOf(tree, 'upload-backups', 'node-0:[upload-s3]');
    assert.ok(Date.parse(upload.startedAt ?? '') - stopped < 8000, `the node took the next upload ${Date.parse(upload.startedAt ?? '') - stopped} ms after the stop`);
  });
});
