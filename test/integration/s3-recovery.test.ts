import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeDataset } from '../../scripts/lib/dataset.js';
import { exited, spawnDrplan } from '../helpers/agent-process.js';
import { DEMO_LIKE, shippedPlans } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { startStack, stepOf, type Stack } from '../helpers/stack.js';
import { describeTree } from '../helpers/tree.js';
import { waitFor } from '../helpers/wait.js';

describe('an agent killed mid-upload', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let stack: Stack;
  let env: Record<string, string>;
  before(async () => {
    redis = await startRedis();
    s3 = await startS3(['backups']);
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': DEMO_LIKE('svc') }, plans: shippedPlans('backup-s3', 'restore-s3'), agents: false, secretKey: Buffer.alloc(32, 1) });
    env = {
      REDIS_URL: redis.url,
      DRPLAN_SERVICES_DIR: join(stack.root, 'services'),
      DRPLAN_PLANS_DIR: join(stack.root, 'plans'),
      DRPLAN_QUEUE_PREFIX: stack.prefix,
      DRPLAN_WORKER_LOCK_SECONDS: '2',
      DRPLAN_SECRET_KEY: Buffer.alloc(32, 1).toString('base64'),
      DRPLAN_S3_PART_SIZE_MB: '5',
    };
    for (let i = 0; i < 3; i += 1) await writeDataset(stack.dataDir(i), { seed: i, largeBytes: 1024 * 1024, largeFiles: 1, smallFiles: 20 });
    const chunk = randomBytes(1024 * 1024);
    for (let i = 0; i < 120; i += 1) appendFileSync(join(stack.dataDir(0), 'large', 'random.bin'), chunk);
  });
  after(async () => {
    await stack.close();
    await s3.stop();
    await redis.stop();
  });

  it('is replaced: the upload runs again on the new agent, the backup completes, and it restores', async () => {
    const original = [0, 1, 2].map((i) => describeTree(stack.dataDir(i)));
    const first = spawnDrplan(['agent', '--service', 'svc', '--all-nodes'], env);
    assert.equal((await stack.start('backup-s3', { ...s3.parameters, SNAPSHOT_NAME: 'crash' })).statusCode, 200);
    await waitFor('a multipart upload in progress', () => s3.pendingUploads().length > 0, 20_000, 10).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${JSON.stringify((await stack.status('backup-s3')).body.phases.map((p) => p.steps.map((s) => [s.name, s.status, s.message])))}\n${first.output()}`);
    });
    first.kill('SIGKILL');
    await exited(first);
    const second = spawnDrplan(['agent', '--service', 'svc', '--all-nodes'], env);
    try {
      const tree = await stack.waitPlan('backup-s3', 'finished', (t) => t.finishedAt !== null, 90_000);
      assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
      assert.equal(stepOf(tree, 'upload-backups', 'node-0:[upload-s3]').attempts, 1);
      assert.deepEqual(s3.pendingUploads(), [], 'the dead agent’s multipart upload was aborted');

      for (let i = 0; i < 3; i += 1) rmSync(stack.dataDir(i), { recursive: true });
      assert.equal((await stack.start('restore-s3', { ...s3.parameters, SNAPSHOT_NAME: 'crash' })).statusCode, 200);
      const restored = await stack.waitPlan('restore-s3', 'finished', (t) => t.finishedAt !== null, 90_000);
      assert.equal(restored.status, 'COMPLETE', JSON.stringify(restored.errors));
      for (let i = 0; i < 3; i += 1) {
        const tree = describeTree(stack.dataDir(i));
        assert.deepEqual(tree, { ...original[i], SCHEMA: tree['SCHEMA']! }, `node-${i} restored`);
      }
    } finally {
      second.kill('SIGTERM');
      await exited(second);
    }
  });
});
