import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { writeDataset } from '../../scripts/lib/dataset.js';
import { readFileList } from '../../src/archive/index.js';
import type { BlobStore } from '../../src/storage/index.js';
import { DEMO_LIKE, shippedPlans } from './fixtures.js';
import { startRedis, type RedisServer } from './redis.js';
import { startStack, stepOf, type Stack } from './stack.js';
import { describeTree, expectedFileList } from './tree.js';
import { sleep, waitFor } from './wait.js';

/** A storage the seed plans back up to, as the round-trip suites need it. */
export interface StorageUnderTest {
  /** `s3` or `azure`: the plans are backup-<name> and restore-<name>. */
  name: string;
  prefixParameter: string;
  /** The parameter that holds the endpoint (so a proxy can be put in front of it). */
  endpointParameter: string;
  start(): Promise<RunningStorage>;
}

export interface RunningStorage {
  /** The plan parameters that reach it (credentials included). */
  parameters: Record<string, string>;
  /** A client to read and tamper with what the plans wrote. */
  store(): BlobStore;
  /** `s3://backups`: how step messages name a location. */
  url: string;
  /** The non-secret parameters that name the location, as the catalogue gives them back. */
  locationParameters: Record<string, string>;
  wrongCredentials: { parameters: Record<string, string>; secrets: string[]; message: RegExp };
  missingLocation: { parameters: Record<string, string>; message: string };
  /** Uploads started and never finished, where the store can list them. */
  pending?: () => string[];
  stop(): Promise<void>;
}

export const text = async (store: BlobStore, key: string): Promise<string> => (await buffer((await store.get(key)).body)).toString('utf8');

interface ManifestJson {
  format: number;
  service: string;
  runId: string;
  pods: Array<{ name: string; count: number; snapshotMode: string }>;
  backupType: string;
  parent: unknown;
  chain: { full: string; depth: number };
  nodes: Array<{ pod: string; index: number; key: string; bytes: number; sha256: string; fileList: { key: string; bytes: number; sha256: string } | null; files: number; dataBytes: number }>;
}

/**
 * What a backup/restore pair must prove through the REST API, whatever the storage:
 * a byte-identical round trip in format 2, immutability (a second run, a restart), safe and
 * force, credentials and missing buckets, stop.
 */
export function roundTripSuite(storage: StorageUnderTest): void {
  const backup = `backup-${storage.name}`;
  const restore = `restore-${storage.name}`;
  const upload = `upload-${storage.name}`;
  const fetch = `fetch-restore-${storage.name}`;
  const preflight = `preflight-restore-${storage.name}`;

  describe(`${backup} and ${restore} through the REST API`, () => {
    let redis: RedisServer;
    let running: RunningStorage;
    let store: BlobStore;
    let stack: Stack;
    let original: Array<Record<string, string>>;
    const nodes = [0, 1, 2];
    const params = (extra: Record<string, string> = {}): Record<string, string> => ({ ...running.parameters, [storage.prefixParameter]: 'svc', ...extra });
    const trees = (): Array<Record<string, string>> => nodes.map((i) => describeTree(stack.dataDir(i)));
    const finished = (plan: string, service?: string) => stack.finished(plan, service);
    const manifestOf = async (name: string): Promise<ManifestJson> => JSON.parse(await text(store, `svc/${name}/manifest.json`)) as ManifestJson;

    before(async () => {
      redis = await startRedis();
      running = await storage.start();
      store = running.store();
      stack = await startStack({
        redisUrl: redis.url,
        services: { 'svc.yml': DEMO_LIKE('svc') },
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

    it('backs up three nodes: one tar.gz each, a format 2 manifest last, listed in the catalogue with how to restore it', async () => {
      const started = await stack.start(backup, params({ SNAPSHOT_NAME: 'first', BACKUP_RESTORE_STRATEGY: 'parallel' }));
      assert.equal(started.statusCode, 200, started.body);
      const tree = await finished(backup);
      assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
      assert.match(stepOf(tree, 'backup-schema', 'node-1:[backup-schema]').message, /^node 1 of first$/);
      const step = stepOf(tree, 'upload-backups', `node-0:[${upload}]`);
      assert.match(step.message, new RegExp(`^uploaded \\d+ files, .* as .* to ${running.url}/svc/first/node-0\\.tar\\.gz$`));
      assert.ok(step.progress !== null && step.progress.bytesDone > 3_000_000);
      assert.equal(stepOf(tree, 'commit', 'svc:[commit-manifest]').message.endsWith(` at ${running.url}/svc/first/manifest.json`), true);

      const manifest = await manifestOf('first');
      assert.equal(manifest.format, 2);
      assert.equal(manifest.service, 'svc');
      assert.equal(manifest.runId, tree.runId);
      assert.deepEqual(manifest.pods, [{ name: 'node', count: 3, snapshotMode: 'hardlink' }]);
      assert.deepEqual([manifest.backupType, manifest.parent, manifest.chain], ['full', null, { full: 'first', depth: 0 }]);
      assert.deepEqual(manifest.nodes.map((n) => `${n.pod}-${n.index}:${n.key}`), ['node-0:node-0.tar.gz', 'node-1:node-1.tar.gz', 'node-2:node-2.tar.gz']);
      for (const node of manifest.nodes) {
        const bytes = await buffer((await store.get(`svc/first/${node.key}`)).body);
        assert.equal(bytes.length, node.bytes);
        assert.equal(createHash('sha256').update(bytes).digest('hex'), node.sha256);
        assert.ok(node.files >= 40 && node.dataBytes > 3_000_000, JSON.stringify(node));
        // The file list beside it: every entry of the node, each file's sha256 of its content.
        assert.equal(node.fileList?.key, `node-${node.index}.files.gz`);
        const list = await buffer((await store.get(`svc/first/${node.fileList.key}`)).body);
        assert.deepEqual([list.length, createHash('sha256').update(list).digest('hex')], [node.fileList.bytes, node.fileList.sha256]);
        const entries = [];
        for await (const entry of readFileList(Readable.from([list]), node.fileList.key)) entries.push(entry);
        // What the node held, and the SCHEMA the backup-schema hook added to the snapshot (so the
        // snapshot's root changed when it did).
        const expected = expectedFileList(stack.dataDir(node.index)).map((e) => (e['sha256'] === undefined ? e : { ...e, in: 'first' }));
        const schema = entries.find((e) => e.path === 'SCHEMA');
        assert.deepEqual([schema?.type, schema?.size, schema?.sha256], ['file', `node ${node.index} of first\n`.length, createHash('sha256').update(`node ${node.index} of first\n`).digest('hex')]);
        // Directories and symlinks of a hardlink snapshot are made anew, their times set through
        // utimes, which takes seconds as a double (a few hundred nanoseconds off); files are the
        // data's own inodes, exact to the nanosecond.
        const ns = (e: Record<string, unknown> | undefined): bigint => BigInt(String(e?.['mtime']).replace('.', ''));
        const live = new Map(expected.map((e) => [e['path'], e]));
        const near = new Set(entries.filter((e) => e.type !== 'file' && e.type !== 'hardlink' && ns(e) - ns(live.get(e.path)) < 1000n && ns(live.get(e.path)) - ns(e) < 1000n).map((e) => e.path));
        const root = (list: Array<Record<string, unknown>>): unknown[] =>
          list.filter((e) => e['path'] !== 'SCHEMA').map((e) => (e['path'] === '.' ? { ...e, mtime: 'changed by the hook' } : near.has(String(e['path'])) ? { ...e, mtime: 'within a microsecond' } : e));
        assert.deepEqual(root(entries), root(expected));
        assert.equal(entries.filter((e) => e.type === 'file').length, node.files);
      }
      for (const i of nodes) assert.ok(!existsSync(join(`${stack.dataDir(i)}.drplan`, 'snapshots', 'first')), 'snapshots are cleaned up');

      const [entry] = (await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots' })).json<Array<Record<string, unknown>>>();
      assert.deepEqual(
        { name: entry?.['name'], plan: entry?.['plan'], storage: entry?.['storage'], nodes: entry?.['nodes'], bytes: entry?.['bytes'], prefix: entry?.['prefix'] },
        { name: 'first', plan: backup, storage: storage.name, nodes: 3, bytes: manifest.nodes.reduce((sum, n) => sum + n.bytes, 0), prefix: 'svc' },
      );
      assert.deepEqual(entry?.['restore'], { plan: restore, parameters: { SNAPSHOT_NAME: 'first', ...running.locationParameters, [storage.prefixParameter]: 'svc' } });
    });

    it('refuses to write a snapshot name twice', async () => {
      assert.equal((await stack.start(backup, params({ SNAPSHOT_NAME: 'first' }))).statusCode, 200);
      const tree = await finished(backup);
      assert.equal(tree.status, 'ERROR');
      const step = stepOf(tree, 'upload-backups', `node-0:[${upload}]`);
      assert.match(step.message, /^snapshot first already exists at \S+\/svc\/first\/manifest\.json \(run [0-9a-f-]+\); snapshots are immutable: choose another SNAPSHOT_NAME$/);
      assert.equal(step.attempts, 1);
    });

    it('restarting a finished backup never writes its snapshot again, and the snapshot still restores exactly', async () => {
      assert.equal((await stack.start(backup, params({ SNAPSHOT_NAME: 'sealed' }))).statusCode, 200);
      const done = await finished(backup);
      assert.equal(done.status, 'COMPLETE', JSON.stringify(done.errors));
      const manifestText = await text(store, 'svc/sealed/manifest.json');
      const sealed = JSON.parse(manifestText) as ManifestJson;
      const config = join(stack.dataDir(0), 'config.ini');
      const saved = readFileSync(config);
      appendFileSync(config, 'changed after the backup\n');
      try {
        assert.equal((await stack.post(backup, 'restart')).statusCode, 200);
        const again = await finished(backup);
        assert.equal(again.runId, done.runId, 'the same run, restarted with its stored parameters');
        assert.equal(again.status, 'ERROR');
        assert.match(stepOf(again, 'upload-backups', `node-0:[${upload}]`).message, new RegExp(`^snapshot sealed already exists at \\S+ \\(run ${done.runId}\\); snapshots are immutable`));
        assert.equal(await text(store, 'svc/sealed/manifest.json'), manifestText, 'the manifest is untouched');
        for (const node of sealed.nodes) {
          const bytes = await buffer((await store.get(`svc/sealed/${node.key}`)).body);
          assert.equal(createHash('sha256').update(bytes).digest('hex'), node.sha256, `${node.key} is the object the manifest records`);
        }
      } finally {
        writeFileSync(config, saved);
      }
    });

    it('restores every node byte for byte into empty data directories, after checking every node first', async () => {
      for (const i of nodes) rmSync(stack.dataDir(i), { recursive: true, force: true });
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first' }))).statusCode, 200);
      const tree = await finished(restore);
      assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
      assert.deepEqual(tree.phases.map((p) => p.name), ['preflight', 'fetch-restore', 'restore-schema']);
      assert.match(stepOf(tree, 'preflight', `node-1:[${preflight}]`).message, /^snapshot first can be restored here: \S+\/svc\/first\/node-1\.tar\.gz is there with its .*, and .* are free for its /);
      assert.match(stepOf(tree, 'fetch-restore', `node-2:[${fetch}]`).message, /^restored \d+ files(, \d+ \w+)* \(.*, sha256 verified\) from \S+\/svc\/first\/node-2\.tar\.gz$/);
      assert.equal(stepOf(tree, 'restore-schema', 'node-0:[restore-schema]').message, 'node 0 of first');
      const restored = trees();
      for (const i of nodes) {
        assert.deepEqual(restored[i], { ...original[i], SCHEMA: restored[i]!['SCHEMA']! }, `node-${i} is identical, plus the SCHEMA its hook wrote`);
        assert.ok(!existsSync(join(`${stack.dataDir(i)}.drplan`, `restore-${tree.runId}`)), 'no staging left');
      }
    });

    it('COMPRESSION=zstd writes .tar.zst archives that GNU tar reads and that restore exactly; an unknown COMPRESSION is a 400', async (t) => {
      const refused = await stack.start(backup, params({ SNAPSHOT_NAME: 'lz', COMPRESSION: 'lz4' }));
      assert.equal(refused.statusCode, 400, refused.body);
      assert.deepEqual(refused.json<{ problems: unknown[] }>().problems, [{ parameter: 'COMPRESSION', message: 'must be one of: gzip, zstd' }]);

      const before = trees();
      assert.equal((await stack.start(backup, params({ SNAPSHOT_NAME: 'zst', COMPRESSION: 'zstd' }))).statusCode, 200);
      const made = await finished(backup);
      assert.equal(made.status, 'COMPLETE', JSON.stringify(made.errors));
      assert.match(stepOf(made, 'upload-backups', `node-1:[${upload}]`).message, new RegExp(`^uploaded \\d+ files, .* to ${running.url}/svc/zst/node-1\\.tar\\.zst$`));
      const manifest = (await manifestOf('zst')) as ManifestJson & { compression: string };
      assert.equal(manifest.compression, 'zstd');
      assert.deepEqual(manifest.nodes.map((n) => n.key), ['node-0.tar.zst', 'node-1.tar.zst', 'node-2.tar.zst']);
      // The system's tar, knowing nothing of drplan, gives back the node's tree.
      const archive = await buffer((await store.get('svc/zst/node-0.tar.zst')).body);
      const byGnu = join(stack.dataDir(0), '..', 'gnu-zst');
      mkdirSync(byGnu);
      // tar --zstd runs the zstd program (CI installs it).
      const zstd = spawnSync('zstd', ['--version']).status === 0;
      if (!zstd) t.diagnostic('zstd is not installed: the check that GNU tar reads the archive is skipped');
      try {
        if (zstd) {
          execFileSync('tar', ['--zstd', '-xpf', '-', '-C', byGnu], { input: archive });
          const gnu = describeTree(byGnu);
          // Plus the SCHEMA the backup-schema hook wrote into the snapshot.
          assert.deepEqual(gnu, { ...before[0], SCHEMA: gnu['SCHEMA']! });
          assert.equal(readFileSync(join(byGnu, 'SCHEMA'), 'utf8').trim(), 'node 0 of zst');
        }
      } finally {
        rmSync(byGnu, { recursive: true, force: true });
      }

      for (const i of nodes) rmSync(stack.dataDir(i), { recursive: true, force: true });
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'zst' }))).statusCode, 200);
      const tree = await finished(restore);
      assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
      assert.match(stepOf(tree, 'fetch-restore', `node-2:[${fetch}]`).message, /sha256 verified\) from \S+\/svc\/zst\/node-2\.tar\.zst$/);
      const restored = trees();
      for (const i of nodes) assert.deepEqual(restored[i], { ...before[i], SCHEMA: restored[i]!['SCHEMA']! }, `node-${i} is identical`);
    });

    it('safe refuses a node with data in the preflight, before any node is touched; force replaces it', async () => {
      writeFileSync(join(stack.dataDir(1), 'new-file'), 'new');
      for (const i of [0, 2]) {
        rmSync(stack.dataDir(i), { recursive: true, force: true });
        mkdirSync(stack.dataDir(i));
      }
      const before = trees();
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first' }))).statusCode, 200);
      const refused = await finished(restore);
      const step = stepOf(refused, 'preflight', `node-1:[${preflight}]`);
      assert.equal(step.message, `data directory ${stack.dataDir(1)} is not empty: RESTORE_POLICY=safe leaves it as it is (use RESTORE_POLICY=force to replace it)`);
      assert.equal(step.attempts, 1);
      assert.deepEqual(refused.phases.find((p) => p.name === 'fetch-restore')?.steps.map((s) => s.status), ['PENDING', 'PENDING', 'PENDING'], 'no node was restored');
      assert.deepEqual(trees(), before);

      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first', RESTORE_POLICY: 'force' }))).statusCode, 200);
      const forced = await finished(restore);
      assert.equal(forced.status, 'COMPLETE', JSON.stringify(forced.errors));
      const after = trees();
      assert.equal(after[1]!['new-file'], undefined);
      for (const i of nodes) assert.deepEqual(after[i], { ...original[i], SCHEMA: after[i]!['SCHEMA']! });
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
        assert.equal(await store.head('svc/stopped/node-0.files.gz'), null);
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
