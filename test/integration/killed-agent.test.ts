import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeDataset } from '../../scripts/lib/dataset.js';
import { exited, spawnDrplan } from '../helpers/agent-process.js';
import { startAzurite } from '../helpers/azure.js';
import { DEMO_LIKE, shippedPlans } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startS3 } from '../helpers/s3.js';
import { startStack, stepOf, type Stack } from '../helpers/stack.js';
import { describeTree } from '../helpers/tree.js';

interface Storage {
  name: string;
  start(): Promise<{ parameters: Record<string, string>; pending?: () => string[]; stop(): Promise<void> }>;
}

const storages: Storage[] = [
  {
    name: 's3',
    start: async () => {
      const s3 = await startS3(['backups']);
      return { parameters: s3.parameters, pending: () => s3.pendingUploads(), stop: () => s3.stop() };
    },
  },
  {
    name: 'azure',
    start: async () => {
      const azure = await startAzurite(['backups']);
      return { parameters: azure.parameters, stop: () => azure.stop() };
    },
  },
];

for (const storage of storages) {
  describe(`an agent killed in the middle of an upload to ${storage.name}`, () => {
    let redis: RedisServer;
    let running: Awaited<ReturnType<Storage['start']>>;
    let stack: Stack;
    let env: Record<string, string>;
    before(async () => {
      redis = await startRedis();
      running = await storage.start();
      stack = await startStack({
        redisUrl: redis.url,
        services: { 'svc.yml': DEMO_LIKE('svc') },
        plans: shippedPlans(`backup-${storage.name}`, `restore-${storage.name}`),
        agents: false,
        secretKey: Buffer.alloc(32, 1),
      });
      env = stack.processEnv({ DRPLAN_WORKER_LOCK_SECONDS: '2' });
      for (let i = 0; i < 3; i += 1) await writeDataset(stack.dataDir(i), { seed: i, largeBytes: 1024 * 1024, largeFiles: 1, smallFiles: 20 });
      const chunk = randomBytes(1024 * 1024);
      for (let i = 0; i < 120; i += 1) appendFileSync(join(stack.dataDir(0), 'large', 'random.bin'), chunk);
    });
    after(async () => {
      await stack.close();
      await running.stop();
      await redis.stop();
    });

    it('is replaced: the lost attempt counts and is said, the upload runs again on a new agent, the backup completes, and it restores', async () => {
      const original = [0, 1, 2].map((i) => describeTree(stack.dataDir(i)));
      const backup = `backup-${storage.name}`;
      const upload = `node-0:[upload-${storage.name}]`;
      const first = spawnDrplan(['agent', '--service', 'svc', '--all-nodes'], env);
      assert.equal((await stack.start(backup, { ...running.parameters, SNAPSHOT_NAME: 'crash' })).statusCode, 200);
      await stack.waitPlan(backup, 'the upload under way', (t) => (stepOf(t, 'upload-backups', upload).progress?.bytesDone ?? 0) > 20 * 1024 * 1024, 60_000);
      first.kill('SIGKILL');
      await exited(first);
      const second = spawnDrplan(['agent', '--service', 'svc', '--all-nodes'], env);
      try {
        const tree = await stack.waitPlan(backup, 'finished', (t) => t.finishedAt !== null, 90_000);
        assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
        const step = stepOf(tree, 'upload-backups', upload);
        assert.equal(step.attempts, 2, 'the attempt lost with its agent counts');
        assert.match(step.message, /^uploaded .* \(attempt 2: resumed after its worker was lost\)$/);
        if (running.pending !== undefined) assert.deepEqual(running.pending(), [], 'the dead agent’s multipart upload was aborted');

        for (let i = 0; i < 3; i += 1) rmSync(stack.dataDir(i), { recursive: true });
        assert.equal((await stack.start(`restore-${storage.name}`, { ...running.parameters, SNAPSHOT_NAME: 'crash' })).statusCode, 200);
        const restored = await stack.waitPlan(`restore-${storage.name}`, 'finished', (t) => t.finishedAt !== null, 90_000);
        assert.equal(restored.status, 'COMPLETE', JSON.stringify(restored.errors));
        for (let i = 0; i < 3; i += 1) {
          const after = describeTree(stack.dataDir(i));
          assert.deepEqual(after, { ...original[i], SCHEMA: after['SCHEMA']! }, `node-${i} restored`);
        }
      } finally {
        second.kill('SIGTERM');
        await exited(second);
      }
    });
  });
}
