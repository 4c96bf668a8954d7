import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { Header } from 'tar';
import { writeDataset } from '../../scripts/lib/dataset.js';
import type { BlobStore } from '../../src/storage/index.js';
import { comparable, treeFacts, writeHardTree } from './fidelity.js';
import { DEMO_LIKE, quickPlan, shippedPlans } from './fixtures.js';
import { startProxy, type Proxy } from './proxy.js';
import { startRedis, type RedisServer } from './redis.js';
import { text, type RunningStorage, type StorageUnderTest } from './roundtrip-suite.js';
import { startStack, stepOf, type Stack } from './stack.js';
import { describeTree } from './tree.js';

/** A service of two pods, each with its data: a database and its coordinator. */
const DUO = `name: duo
pods:
  node:
    count: 2
    dataDir: $ROOT/duo/node-{{POD_INDEX}}
  zk:
    count: 1
    dataDir: $ROOT/duo/zk-{{POD_INDEX}}
`;

const ONE = (name: string, snapshot = 'hardlink'): string => `name: ${name}
pods:
  node:
    count: 1
    dataDir: $ROOT/${name}/node-{{POD_INDEX}}
    snapshot: ${snapshot}
`;

/** A tar.gz of raw entries (tar types by name), for archives no honest writer makes. */
function craft(entries: Array<{ path: string; type?: string; body?: string; linkpath?: string }>): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    const type = entry.type ?? 'File';
    const block = Buffer.alloc(512);
    new Header({ path: entry.path, type: type as 'File', size: type === 'File' ? body.length : 0, mode: type === 'Directory' ? 0o755 : 0o644, mtime: new Date(0), linkpath: entry.linkpath ?? '', uid: 0, gid: 0 }).encode(block);
    blocks.push(block);
    if (body.length > 0) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/**
 * What a restore must refuse or survive, whatever the storage: every node checked before any is
 * touched (a missing or short object, a manifest of another service or shape), corruption and
 * hostile archives caught with the node as it was, a connection reset retried, and data dirs
 * of every kind of entry, or of several pods, restored exactly.
 */
export function restoreSuite(storage: StorageUnderTest): void {
  const backup = `backup-${storage.name}`;
  const restore = `restore-${storage.name}`;
  const fetch = `fetch-restore-${storage.name}`;
  const preflight = `preflight-restore-${storage.name}`;

  describe(`${restore}: checks before it touches a node, and restores exactly`, () => {
    let redis: RedisServer;
    let running: RunningStorage;
    let store: BlobStore;
    let stack: Stack;
    let original: Array<Record<string, string>>;
    const nodes = [0, 1, 2];
    const params = (extra: Record<string, string> = {}): Record<string, string> => ({ ...running.parameters, [storage.prefixParameter]: 'svc', ...extra });
    const trees = (): Array<Record<string, string>> => nodes.map((i) => describeTree(stack.dataDir(i)));
    const finished = (plan: string, service?: string) => stack.finished(plan, service);
    const fetchStatuses = (tree: Awaited<ReturnType<typeof finished>>): string[] => tree.phases.find((p) => p.name === 'fetch-restore')?.steps.map((s) => s.status) ?? [];

    /** Runs `change` on the stored snapshot `first`, and puts it back afterwards. */
    async function tampered(keys: string[], change: () => Promise<void>, check: () => Promise<void>): Promise<void> {
      const saved = new Map<string, Buffer>();
      for (const key of keys) saved.set(key, await buffer((await store.get(key)).body));
      try {
        await change();
        await check();
      } finally {
        for (const [key, bytes] of saved) await store.put(key, bytes);
      }
    }

    before(async () => {
      redis = await startRedis();
      running = await storage.start();
      store = running.store();
      const plans = shippedPlans(backup, restore);
      stack = await startStack({
        redisUrl: redis.url,
        services: { 'svc.yml': DEMO_LIKE('svc'), 'other.yml': DEMO_LIKE('other'), 'small.yml': DEMO_LIKE('small', 2), 'duo.yml': DUO, 'fid.yml': ONE('fid'), 'fidcopy.yml': ONE('fidcopy', 'copy') },
        plans: { ...plans, ...quickPlan(restore) },
        secretKey: Buffer.alloc(32, 5),
      });
      for (const i of nodes) await writeDataset(stack.dataDir(i), { seed: 200 + i, largeBytes: 2 * 1024 * 1024, largeFiles: 2, smallFiles: 20 });
      original = trees();
      assert.equal((await stack.start(backup, params({ SNAPSHOT_NAME: 'first', BACKUP_RESTORE_STRATEGY: 'parallel' }))).statusCode, 200);
      assert.equal((await finished(backup)).status, 'COMPLETE');
    });
    after(async () => {
      store.close();
      await stack.close();
      await running.stop();
      await redis.stop();
    });

    it('a missing or truncated object fails the preflight, and no node is touched', async () => {
      const cases: Array<[string, () => Promise<void>, RegExp]> = [
        ['missing', () => store.delete('svc/first/node-2.tar.gz'), /\/svc\/first\/node-2\.tar\.gz is missing: snapshot first cannot be restored$/],
        ['truncated', async () => void (await store.put('svc/first/node-2.tar.gz', (await buffer((await store.get('svc/first/node-2.tar.gz')).body)).subarray(0, 1000))), /\/svc\/first\/node-2\.tar\.gz has 1000 bytes where its manifest records \d+: it is truncated or was replaced$/],
      ];
      for (const [what, change, message] of cases) {
        writeFileSync(join(stack.dataDir(0), 'marker'), 'untouched');
        const before = trees();
        await tampered(['svc/first/node-2.tar.gz'], change, async () => {
          assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first', RESTORE_POLICY: 'force' }))).statusCode, 200);
          const tree = await finished(restore);
          assert.equal(tree.status, 'ERROR', what);
          const step = stepOf(tree, 'preflight', `node-2:[${preflight}]`);
          assert.match(step.message, message);
          assert.equal(step.attempts, 1, 'a missing object is not retried');
          assert.equal(stepOf(tree, 'preflight', `node-0:[${preflight}]`).status, 'COMPLETE');
          assert.deepEqual(fetchStatuses(tree), ['PENDING', 'PENDING', 'PENDING'], 'no node was restored');
          assert.deepEqual(trees(), before, `${what}: every node as it was`);
        });
      }
      rmSync(join(stack.dataDir(0), 'marker'));
    });

    it('a tarball corrupted in storage fails its restore with a checksum error and leaves the node as it was', async () => {
      const key = 'svc/first/node-1.tar.gz';
      writeFileSync(join(stack.dataDir(1), 'marker'), 'untouched');
      const before = trees();
      await tampered(
        [key],
        async () => {
          const corrupt = Buffer.from(await buffer((await store.get(key)).body));
          corrupt[Math.floor(corrupt.length * 0.6)]! ^= 0x55;
          await store.put(key, corrupt);
        },
        async () => {
          assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first', RESTORE_POLICY: 'force', BACKUP_RESTORE_STRATEGY: 'serial' }))).statusCode, 200);
          const tree = await finished(restore);
          const step = stepOf(tree, 'fetch-restore', `node-1:[${fetch}]`);
          assert.match(step.message, /^\S+\/svc\/first\/node-1\.tar\.gz (is not a valid gzip stream .*: it is corrupt or truncated|is not a valid archive: .*|has sha256 [0-9a-f]{64} where its manifest records [0-9a-f]{64}: it is corrupt)$/);
          assert.equal(step.attempts, 1, 'a checksum failure is not retried');
          assert.deepEqual(trees()[1], before[1], 'node-1 untouched');
        },
      );
      rmSync(join(stack.dataDir(1), 'marker'));
    });

    it('refuses a crafted tarball that writes through symlinks or leaves the data dir, and nothing outside changes', async () => {
      const key = 'svc/first/node-2.tar.gz';
      const manifestText = await text(store, 'svc/first/manifest.json');
      const cases: Array<[Parameters<typeof craft>[0], RegExp]> = [
        [[{ path: 'fine.txt', body: 'ok' }, { path: '../../escaped.txt', body: 'x' }], /entry '\.\.\/\.\.\/escaped\.txt' has a '\.\.' component; nothing was restored$/],
        [[{ path: '/tmp/drplan-absolute-rt.txt', body: 'x' }], /entry '\/tmp\/drplan-absolute-rt\.txt' has an absolute path/],
        [
          [
            { path: 'sub/', type: 'Directory' },
            { path: 'sub/inner', type: 'SymbolicLink', linkpath: '..' },
            { path: 'esc', type: 'SymbolicLink', linkpath: 'sub/inner/..' },
            { path: 'esc/escaped.txt', body: 'pwned' },
          ],
          /entry 'esc\/escaped\.txt' would be written through the symlink 'esc'/,
        ],
        [[{ path: 'out', type: 'SymbolicLink', linkpath: '../../..' }, { path: 'out/escaped.txt', body: 'x' }], /entry 'out\/escaped\.txt' would be written through the symlink 'out'/],
        [[{ path: 'h', type: 'Link', linkpath: '../../outside' }], /entry 'h' is a hard link with a '\.\.' component/],
        [[{ path: 'null', type: 'CharacterDevice' }], /entry 'null' is a character device: devices are not restored/],
      ];
      // Everything in the stack's directory but the nodes' own data and staging.
      const outside = (): string[] => Object.keys(treeFacts(stack.root)).filter((p) => !/^svc\/node-\d/.test(p));
      const seen = outside();
      await tampered([key, 'svc/first/manifest.json'], () => Promise.resolve(), async () => {
        for (const [entries, message] of cases) {
          const crafted = craft(entries);
          const manifest = JSON.parse(manifestText) as { nodes: Array<{ key: string; bytes: number; sha256: string }> };
          const node = manifest.nodes.find((n) => n.key === 'node-2.tar.gz')!;
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
          assert.equal(step.attempts, 1);
          assert.deepEqual(describeTree(stack.dataDir(2)), before, 'node-2 untouched');
          assert.deepEqual(outside(), seen, 'nothing appeared outside the data dirs');
        }
      });
      // The restores above that got past node-2 wrote nodes 0 and 1 again: put every node back.
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first', RESTORE_POLICY: 'force' }))).statusCode, 200);
      assert.equal((await finished(restore)).status, 'COMPLETE');
    });

    it('says which check failed: a missing snapshot, another service, another node count', async () => {
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'never-taken' }))).statusCode, 200);
      const missing = await finished(restore);
      assert.equal(
        stepOf(missing, 'preflight', `node-0:[${preflight}]`).message,
        `snapshot never-taken has no manifest at ${running.url}/svc/never-taken/manifest.json: it does not exist, or its backup never committed`,
      );
      for (const i of nodes) mkdirSync(join(stack.root, 'other', `node-${i}`), { recursive: true });
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'first' }), 'other')).statusCode, 200);
      const other = await finished(restore, 'other');
      assert.equal(stepOf(other, 'preflight', `node-0:[${preflight}]`).message, 'snapshot first is of service svc, not other');
      const manifest = JSON.parse(await text(store, 'svc/first/manifest.json')) as Record<string, unknown>;
      await store.put('svc/three/manifest.json', Buffer.from(JSON.stringify({ ...manifest, service: 'small', snapshot: 'three' })));
      assert.equal((await stack.start(restore, params({ SNAPSHOT_NAME: 'three' }), 'small')).statusCode, 200);
      const small = await finished(restore, 'small');
      assert.equal(stepOf(small, 'preflight', `node-0:[${preflight}]`).message, 'snapshot three has 3 nodes but service small has 2');
      await store.delete('svc/three/manifest.json');
    });

    it('a connection reset in the middle of a download is retried, not taken for corruption', async () => {
      const endpoint = running.parameters[storage.endpointParameter] ?? '';
      const proxy: Proxy = await startProxy(endpoint);
      try {
        rmSync(stack.dataDir(0), { recursive: true, force: true });
        proxy.cutNext(/^GET \S*\/svc\/first\/node-0\.tar\.gz/, 300_000);
        const started = await stack.start(`${restore}-quick`, params({ SNAPSHOT_NAME: 'first', RESTORE_POLICY: 'force', [storage.endpointParameter]: proxy.url }));
        assert.equal(started.statusCode, 200, started.body);
        const delayed = await stack.waitPlan(`${restore}-quick`, 'the cut download to be retried', (t) => {
          const step = stepOf(t, 'fetch-restore', `node-0:[${fetch}]`);
          return step.status === 'DELAYED' || step.attempts > 1;
        }, 60_000);
        const step = stepOf(delayed, 'fetch-restore', `node-0:[${fetch}]`);
        if (step.status === 'DELAYED') assert.match(step.message, /^attempt 1 of 3 failed, retrying in 1s: reading \S+\/svc\/first\/node-0\.tar\.gz( from .* at \S+)? (failed after \d+ bytes|stopped after \d+ of \d+ bytes)/);
        const tree = await finished(`${restore}-quick`);
        assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
        assert.equal(stepOf(tree, 'fetch-restore', `node-0:[${fetch}]`).attempts, 2);
        assert.equal(proxy.cuts, 1);
        const restored = describeTree(stack.dataDir(0));
        assert.deepEqual(restored, { ...original[0], SCHEMA: restored['SCHEMA']! });
      } finally {
        await proxy.stop();
      }
    });

    for (const service of ['fid', 'fidcopy']) {
      it(`restores ${service === 'fid' ? 'a hardlink' : 'a copy'} backup of every kind of entry exactly: symlinks anywhere, modes, sparse, hard links, a FIFO, long and unicode names`, async () => {
        const dir = stack.dataDir(0, service);
        writeHardTree(dir);
        const before = comparable(treeFacts(dir));
        const p = params({ SNAPSHOT_NAME: `${service}-1`, [storage.prefixParameter]: service });
        assert.equal((await stack.start(backup, p, service)).statusCode, 200);
        const backed = await finished(backup, service);
        assert.equal(backed.status, 'COMPLETE', JSON.stringify(backed.errors));
        assert.match(stepOf(backed, 'upload-backups', `node-0:[upload-${storage.name}]`).message, /^uploaded \d+ files, \d+ symlinks, 2 hard links, 1 FIFOs, 1 sparse, /);
        rmSync(dir, { recursive: true, force: true });
        assert.equal((await stack.start(restore, p, service)).statusCode, 200);
        const restored = await finished(restore, service);
        assert.equal(restored.status, 'COMPLETE', JSON.stringify(restored.errors));
        assert.deepEqual(comparable(treeFacts(dir)), before);
      });
    }

    it('backs up and restores a service of two pods whole: node-<i>.tar.gz and zk-<i>.tar.gz side by side', async () => {
      const dirs = [stack.dataDir(0, 'duo', 'node'), stack.dataDir(1, 'duo', 'node'), stack.dataDir(0, 'duo', 'zk')];
      for (const [i, dir] of dirs.entries()) await writeDataset(dir, { seed: 300 + i, largeBytes: 512 * 1024, largeFiles: 1, smallFiles: 5 });
      const before = dirs.map((d) => describeTree(d));
      const p = params({ SNAPSHOT_NAME: 'duo-1', [storage.prefixParameter]: 'duo' });
      assert.equal((await stack.start(backup, p, 'duo')).statusCode, 200);
      const backed = await finished(backup, 'duo');
      assert.equal(backed.status, 'COMPLETE', JSON.stringify(backed.errors));
      assert.deepEqual(backed.phases.find((ph) => ph.name === 'upload-backups')?.steps.map((s) => s.name), [`node-0:[upload-${storage.name}]`, `node-1:[upload-${storage.name}]`, `zk-0:[upload-${storage.name}]`]);
      const keys = (await store.list('duo/duo-1/')).map((o) => o.key).sort();
      assert.deepEqual(keys, ['duo/duo-1/manifest.json', ...['node-0', 'node-1', 'zk-0'].flatMap((node) => [`duo/duo-1/${node}.files.gz`, `duo/duo-1/${node}.tar.gz`])]);
      const manifest = JSON.parse(await text(store, 'duo/duo-1/manifest.json')) as { pods: Array<{ name: string; count: number }>; nodes: Array<{ pod: string; index: number }> };
      assert.deepEqual(manifest.pods.map((pod) => [pod.name, pod.count]), [['node', 2], ['zk', 1]]);
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      assert.equal((await stack.start(restore, p, 'duo')).statusCode, 200);
      const restored = await finished(restore, 'duo');
      assert.equal(restored.status, 'COMPLETE', JSON.stringify(restored.errors));
      assert.deepEqual(dirs.map((d) => describeTree(d)), before);
    });
  });
}
