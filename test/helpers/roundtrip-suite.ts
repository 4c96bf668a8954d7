import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { writeDataset } from '../../scripts/lib/dataset.js';
import type { BlobStore } from '../../src/storage/index.js';
import { DEMO_LIKE, shippedPlans } from './fixtures.js';
import { startRedis, type RedisServer } from './redis.js';
import { startStack, stepOf, type Stack } from './stack.js';
import { craftTarGz, describeTree } from './tree.js';
import { sleep, waitFor } from './wait.js';

/** A storage the seed plans back up to, as the round-trip suite needs it. */
export interface StorageUnderTest {
  /** `s3` or `azure`: the plans are backup-<name> and restore-<name>. */
  name: string;
  prefixParameter: string;
  start(): Promise<RunningStorage>;
}

export interface RunningStorage {
  /** The plan parameters that reach it (credentials included). */
  parameters: Record<string, string>;
  /** A client to read and tamper with what the plans wrote. */
  store(): BlobStore;
  /** `s3://backups`: how step messages name a location. */
  url: string;
  wrongCredentials: { parameters: Record<string, string>; secrets: string[]; message: RegExp };
  missingLocation: { parameters: Record<string, string>; message: string };
  /** Uploads started and never finished, where the store can list them. */
  pending?: () => string[];
  stop(): Promise<void>;
}

const text = async (store: BlobStore, key: string): Promise<string> => (await buffer((await store.get(key)).body)).toString('utf8');

/**
 * Everything a backup/restore pair must prove through the REST API, whatever the storage:
 * byte-identical round trip, immutability, safe and force, corruption and crafted archives caught
 * with the node untouched, which manifest check failed, credentials and missing buckets, stop.
 */
export function roundTripSuite(storage: StorageUnderTest): void {
  const backup = `backup-${storage.name}`;
  const restore = `restore-${storage.name}`;
  const upload = `upload-${storage.name}`;
  const fetch = `fetch-restore-${storage.name}`;

  describe(`${backup} and ${restore} through the REST API`, () => {
    let redis: RedisServer;
    let running: RunningStorage;
    let store: BlobStore;
    let stack: Stack;
    let original: Array<Record<string, string>>;
    const nodes = [0, 1, 2];
    const params = (extra: Record<string, string> = {}): Record<string, string> => ({ ...running.parameters, [storage.prefixParameter]: 'svc', ...extra });
    const trees = (): Array<Record<string, string>> => nodes.map((i) => describeTree(stack.dataDir(i)));
    const finished = (plan: string, service?: string) => stack.waitPlan(plan, 'finished', (t) => t.finishedAt !== null, 60_000, service);

    before(async () => {
      redis = await startRedis();
      running = await storage.start();
      store = running.store();
      stack = await startStack({
        redisUrl: redis.url,
        services: { 'svc.yml': DEMO_LIKE('svc'), 'other.yml': DEMO_LIKE('other'), 'small.yml': DEMO_LIKE('small', 2) },
        plans: shippedPlans(backup, restore),
        secretKey: Buffer.alloc(32, 4),
      });
      for (const i of nodes) {
        await writeDataset(stack.dataDir(i), { seed: 100 + i, largeBytes: 3 * 1024 * 1024, largeFiles: 2, smallFiles: 40 });
        writeFileSync(join(stack.dataDir(i), 'private.key'), `node ${i}`, { mode: 0o600 });
      }
      original = trees();
    });
    after(async () => {
      store.close();
      await stack.close();
      await running.stop();
      await redis.stop();
    });

    it('backs up three nodes: one tar.gz each, the manifest last, listed in the catalogue', async () => {
      const started = await stack.start(backup, params({ SNAPSHOT_NAME: 'first', BACKUP_RESTORE_STRATEGY: 'parallel' }));
      assert.equal(started.statusCode, 200, started.body);
      const tree = await finished(backup);
      assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
      assert.match(stepOf(tree, 'backup-schema', 'node-1:[backup-schema]').message, /^node 1 of first$/);
      const step = stepOf(tree, 'upload-backups', `node-0:[${upload}]`);
      assert.equal(step.message.startsWith('uploaded '), true, step.message);
      assert.ok(step.message.endsWith(` to ${running.url}/svc/first/node-0.tar.gz`), step.message);
      assert.ok(step.progress !== null && step.progress.bytesDone > 3_000_000);
      assert.equal(stepOf(tree, 'commit', 'svc:[commit-manifest]').message.endsWith(` at ${running.url}/svc/first/manifest.json`), true);

      const manifest = JSON.parse(await text(store, 'svc/first/manifest.json')) as { nodes: Array<{ key: string; bytes: number; sha256: string }>; nodeCount: number; service: string; runId: string; storage: string };
      assert.equal(manifest.nodeCount, 3);
      assert.equal(manifest.service, 'svc');
      assert.equal(manifest.storage, storage.name);
      assert.equal(manifest.runId, tree.runId);
      assert.deepEqual(manifest.nodes.map((n) => n.key), ['svc/first/node-0.tar.gz', 'svc/first/node-1.tar.gz', 'svc/first/node-2.tar.gz']);
      for (const node of manifest.nodes) {
        const bytes = await buffer((await store.get(node.key)).body);
        assert.equal(bytes.length, node.bytes);
        assert.equal(createHash('sha256').update(bytes).digest('hex'), node.sha256);
      }
      for (const i of nodes) assert.ok(!existsSync(join(`${stack.dataDir(i)}.drplan`, 'snapshots', 'first')), 'snapshots are cleaned up');

      const [entry] = (await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots' })).json<Array<Record<string, unknown>>>();
      assert.deepEqual(
        { name: entry?.['name'], plan: entry?.['plan'], storage: entry?.['storage'], nodes: entry?.['nodes'], bytes: entry?.['bytes'] },
        { name: 'first', plan: backup, storage: storage.name, nodes: 3, bytes: manifest.nodes.reduce((sum, n) => sum + n.bytes, 0) },
      );
    });

    it('refuses to write a snapshot name twice', async () => {
      assert.equal((await stack.start(backup, params({ SNAPSHOT_NAME: 'first' }))).statusCode, 200);
      const tree = await finished(backup);
      assert.equal(tree.status, 'ERROR');
      const step = stepOf(tree, 'upload-backups', `node-0:[${upload}]`);
      assert.match(step.message, /^snapshot first already exists at \S+\/svc\/first\/manifest\.json \(run [0-9a-f-]+\); snapshots are immutable: choose another SNAPSHOT_NAME$/);
      assert.equal(step.attempts, 1);
    });

    it('restores every node byte for byte into empty data directories', async () => {
      for (const i of nodes) rmSync(stack.dataDir(i), { recursive: true, force: true });
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first' }))).statusCode, 200);
      const tree = await finished(restore);
      assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
      assert.match(stepOf(tree, 'fetch-restore', `node-2:[${fetch}]`).message, /^restored \d+ files \(.*, sha256 verified\) from \S+\/svc\/first\/node-2\.tar\.gz$/);
      assert.equal(stepOf(tree, 'restore-schema', 'node-0:[restore-schema]').message, 'node 0 of first');
      const restored = trees();
      for (const i of nodes) {
        assert.deepEqual(restored[i], { ...original[i], SCHEMA: restored[i]!['SCHEMA']! }, `node-${i} is identical, plus the SCHEMA its hook wrote`);
        assert.ok(!existsSync(join(`${stack.dataDir(i)}.drplan`, `restore-${tree.runId}`)), 'no staging left');
      }
    });

    it('safe refuses a node with data and leaves it alone; force replaces it', async () => {
      appendFileSync(join(stack.dataDir(0), 'config.ini'), 'changed\n');
      writeFileSync(join(stack.dataDir(0), 'new-file'), 'new');
      const before = trees();
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first' }))).statusCode, 200);
      const refused = await finished(restore);
      const step = stepOf(refused, 'fetch-restore', `node-0:[${fetch}]`);
      assert.equal(step.message, `data directory ${stack.dataDir(0)} is not empty: RESTORE_POLICY=safe leaves it as it is (use RESTORE_POLICY=force to replace it)`);
      assert.equal(step.attempts, 1);
      assert.deepEqual(trees(), before);

      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first', RESTORE_POLICY: 'force' }))).statusCode, 200);
      const forced = await finished(restore);
      assert.equal(forced.status, 'COMPLETE', JSON.stringify(forced.errors));
      const after = trees();
      assert.equal(after[0]!['new-file'], undefined);
      assert.deepEqual(after[0], { ...original[0], SCHEMA: after[0]!['SCHEMA']! });
    });

    it('a tarball corrupted in storage fails its restore with a checksum error and leaves the node as it was', async () => {
      const key = 'svc/first/node-1.tar.gz';
      const bytes = await buffer((await store.get(key)).body);
      const corrupt = Buffer.from(bytes);
      corrupt[Math.floor(corrupt.length * 0.6)]! ^= 0x55;
      await store.put(key, corrupt);
      writeFileSync(join(stack.dataDir(1), 'marker'), 'untouched');
      const before = trees();
      try {
        assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first', RESTORE_POLICY: 'force' }))).statusCode, 200);
        const tree = await finished(restore);
        const step = stepOf(tree, 'fetch-restore', `node-1:[${fetch}]`);
        assert.match(step.message, /^\S+\/svc\/first\/node-1\.tar\.gz (is not a valid tar\.gz .*: it is corrupt or truncated|has sha256 [0-9a-f]{64} where its manifest records [0-9a-f]{64}: it is corrupt)$/);
        assert.equal(step.attempts, 1, 'a checksum failure is not retried');
        assert.deepEqual(trees()[1], before[1], 'node-1 untouched');
        assert.ok(!existsSync(join(`${stack.dataDir(1)}.drplan`, `restore-${tree.runId}`)));
      } finally {
        await store.put(key, bytes);
      }
    });

    it('refuses a crafted tarball with ../, absolute paths or an escaping symlink, naming the entry', async () => {
      const key = 'svc/first/node-2.tar.gz';
      const manifestText = await text(store, 'svc/first/manifest.json');
      const objectBytes = await buffer((await store.get(key)).body);
      const cases: Array<[Parameters<typeof craftTarGz>[0], RegExp]> = [
        [[{ path: 'fine.txt', body: 'ok' }, { path: '../../escaped.txt', body: 'x' }], /entry '\.\.\/\.\.\/escaped\.txt' has a '\.\.' component; nothing was restored$/],
        [[{ path: '/tmp/drplan-absolute-rt.txt', body: 'x' }], /entry '\/tmp\/drplan-absolute-rt\.txt' has an absolute path/],
        [[{ path: 'out', type: 'SymbolicLink', linkpath: '../../../../../etc' }], /entry 'out' is a symlink to '\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc', outside the target directory/],
      ];
      try {
        for (const [entries, message] of cases) {
          const crafted = craftTarGz(entries);
          const manifest = JSON.parse(manifestText) as { nodes: Array<{ key: string; bytes: number; sha256: string }> };
          const node = manifest.nodes.find((n) => n.key === key)!;
          node.bytes = crafted.length;
          node.sha256 = createHash('sha256').update(crafted).digest('hex');
          await store.put(key, crafted);
          await store.put('svc/first/manifest.json', Buffer.from(JSON.stringify(manifest)));
          const before = describeTree(stack.dataDir(2));
          assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first', RESTORE_POLICY: 'force' }))).statusCode, 200);
          const tree = await finished(restore);
          const step = stepOf(tree, 'fetch-restore', `node-2:[${fetch}]`);
          assert.match(step.message, /^\S+\/svc\/first\/node-2\.tar\.gz: /);
          assert.match(step.message, message);
          assert.deepEqual(describeTree(stack.dataDir(2)), before, 'node-2 untouched');
          assert.ok(!existsSync('/tmp/drplan-absolute-rt.txt'));
          assert.ok(!existsSync(join(stack.dataDir(2), '..', '..', 'escaped.txt')));
        }
      } finally {
        await store.put(key, objectBytes);
        await store.put('svc/first/manifest.json', Buffer.from(manifestText));
      }
    });

    it('says which check failed: a missing snapshot, another service, another node count', async () => {
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'never-taken' }))).statusCode, 200);
      const missing = await finished(restore);
      assert.equal(
        stepOf(missing, 'fetch-restore', `node-0:[${fetch}]`).message,
        `snapshot never-taken has no manifest at ${running.url}/svc/never-taken/manifest.json: it does not exist, or its backup never committed`,
      );
      for (const i of nodes) mkdirSync(join(stack.root, 'other', `node-${i}`), { recursive: true });
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first' }), 'other')).statusCode, 200);
      const other = await finished(restore, 'other');
      assert.equal(stepOf(other, 'fetch-restore', `node-0:[${fetch}]`).message, 'snapshot first is of service svc, not other');
      // A manifest that claims service small with three nodes, beside the real one.
      const manifest = JSON.parse(await text(store, 'svc/first/manifest.json')) as Record<string, unknown>;
      await store.put('svc/three/manifest.json', Buffer.from(JSON.stringify({ ...manifest, service: 'small', snapshot: 'three' })));
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'three' }), 'small')).statusCode, 200);
      const small = await finished(restore, 'small');
      assert.equal(stepOf(small, 'fetch-restore', `node-0:[${fetch}]`).message, 'snapshot three has 3 nodes but service small has 2');
    });

    it('wrong credentials and a missing bucket end in ERROR with a clear message and no secret anywhere', async () => {
      const wrong = running.wrongCredentials;
      assert.equal((await stack.start(backup, params({ SNAPSHOT_NAME: 'denied', ...wrong.parameters }))).statusCode, 200);
      const denied = await finished(backup);
      const step = stepOf(denied, 'upload-backups', `node-0:[${upload}]`);
      assert.match(step.message, wrong.message);
      assert.equal(step.attempts, 1, 'refused credentials are not retried');

      const missing = running.missingLocation;
      assert.equal((await stack.start(backup, params({ SNAPSHOT_NAME: 'nowhere', ...missing.parameters }))).statusCode, 200);
      const nowhere = await finished(backup);
      assert.equal(stepOf(nowhere, 'upload-backups', `node-0:[${upload}]`).message, missing.message);

      const everything = JSON.stringify([denied, nowhere, (await stack.status(backup)).body]) + stack.logs();
      for (const secret of wrong.secrets) assert.ok(!everything.includes(secret), 'a secret leaked into a status or a log');
    });

    it('stop during a large upload leaves no object and no manifest, and nothing half-written', async () => {
      const big = join(stack.dataDir(0), 'large', 'incompressible.bin');
      const chunk = randomBytes(1024 * 1024);
      for (let i = 0; i < 160; i += 1) appendFileSync(big, chunk);
      try {
        assert.equal((await stack.start(backup, params({ SNAPSHOT_NAME: 'stopped' }))).statusCode, 200);
        await stack.waitPlan(backup, 'upload under way', (t) => (stepOf(t, 'upload-backups', `node-0:[${upload}]`).progress?.bytesDone ?? 0) > 30 * 1024 * 1024, 60_000);
        if (running.pending !== undefined) assert.ok(running.pending().length > 0, 'a multipart upload is open');
        assert.equal((await stack.post(backup, 'stop')).statusCode, 200);
        if (running.pending !== undefined) await waitFor('the multipart upload to be aborted', () => running.pending?.().length === 0, 5000);
        await sleep(1000);
        assert.equal(await store.head('svc/stopped/node-0.tar.gz'), null);
        assert.equal(await store.head('svc/stopped/manifest.json'), null);
        if (running.pending !== undefined) assert.deepEqual(running.pending(), []);
        const tree = (await stack.status(backup)).body;
        assert.ok(tree.phases.every((p) => p.steps.every((s) => s.status === 'PENDING')));
      } finally {
        rmSync(big, { force: true });
      }
    });
  });
}
