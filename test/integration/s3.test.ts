import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeDataset } from '../../scripts/lib/dataset.js';
import { DEMO_LIKE, shippedPlans } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { startStack, stepOf, type Stack } from '../helpers/stack.js';
import { craftTarGz, describeTree } from '../helpers/tree.js';
import { sleep, waitFor } from '../helpers/wait.js';

describe('backup-s3 and restore-s3 against a real S3-protocol server', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let stack: Stack;
  let original: Array<Record<string, string>>;
  const nodes = [0, 1, 2];
  const params = (extra: Record<string, string> = {}): Record<string, string> => ({ ...s3.parameters, ...extra });
  const trees = (): Array<Record<string, string>> => nodes.map((i) => describeTree(stack.dataDir(i)));

  before(async () => {
    redis = await startRedis();
    s3 = await startS3(['backups']);
    stack = await startStack({
      redisUrl: redis.url,
      services: { 'svc.yml': DEMO_LIKE('svc'), 'other.yml': DEMO_LIKE('other'), 'small.yml': DEMO_LIKE('small', 2) },
      plans: shippedPlans('backup-s3', 'restore-s3'),
      secretKey: Buffer.alloc(32, 4),
    });
    for (const i of nodes) {
      await writeDataset(stack.dataDir(i), { seed: 100 + i, largeBytes: 3 * 1024 * 1024, largeFiles: 2, smallFiles: 40 });
      writeFileSync(join(stack.dataDir(i), 'private.key'), `node ${i}`, { mode: 0o600 });
    }
    original = trees();
  });
  after(async () => {
    await stack.close();
    await s3.stop();
    await redis.stop();
  });

  it('backs up three nodes: one tar.gz each, the manifest last, listed in the catalogue', async () => {
    const started = await stack.start('backup-s3', params({ SNAPSHOT_NAME: 'first', BACKUP_RESTORE_STRATEGY: 'parallel', S3_PREFIX: 'svc' }));
    assert.equal(started.statusCode, 200, started.body);
    const tree = await stack.waitPlan('backup-s3', 'COMPLETE', (t) => t.finishedAt !== null, 60_000);
    assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
    assert.match(stepOf(tree, 'backup-schema', 'node-1:[backup-schema]').message, /^node 1 of first$/);
    const upload = stepOf(tree, 'upload-backups', 'node-0:[upload-s3]');
    assert.match(upload.message, /^uploaded \d+ files, .* to s3:\/\/backups\/svc\/first\/node-0\.tar\.gz$/);
    assert.ok(upload.progress !== null && upload.progress.bytesDone > 3_000_000);
    assert.match(stepOf(tree, 'commit', 'svc:[commit-manifest]').message, /^committed snapshot first: 3 nodes, .* at s3:\/\/backups\/svc\/first\/manifest\.json$/);

    const manifest = JSON.parse(readFileSync(s3.objectPath('svc/first/manifest.json'), 'utf8')) as { nodes: Array<{ key: string; bytes: number }>; nodeCount: number; service: string; runId: string };
    assert.equal(manifest.nodeCount, 3);
    assert.equal(manifest.service, 'svc');
    assert.equal(manifest.runId, tree.runId);
    assert.deepEqual(manifest.nodes.map((n) => n.key), ['svc/first/node-0.tar.gz', 'svc/first/node-1.tar.gz', 'svc/first/node-2.tar.gz']);
    for (const i of nodes) assert.ok(!existsSync(join(`${stack.dataDir(i)}.drplan`, 'snapshots', 'first')), 'snapshots are cleaned up');

    const catalogue = await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots' });
    const [entry] = catalogue.json<Array<Record<string, unknown>>>();
    assert.equal(entry?.['name'], 'first');
    assert.equal(entry?.['plan'], 'backup-s3');
    assert.equal(entry?.['storage'], 's3');
    assert.equal(entry?.['location'], 'backups');
    assert.equal(entry?.['nodes'], 3);
    assert.equal(entry?.['bytes'], manifest.nodes.reduce((sum, n) => sum + n.bytes, 0));
  });

  it('refuses to write a snapshot name twice', async () => {
    assert.equal((await stack.start('backup-s3', params({ SNAPSHOT_NAME: 'first', S3_PREFIX: 'svc' }))).statusCode, 200);
    const tree = await stack.waitPlan('backup-s3', 'ERROR', (t) => t.status === 'ERROR' && t.finishedAt !== null, 30_000);
    const step = stepOf(tree, 'upload-backups', 'node-0:[upload-s3]');
    assert.match(step.message, /^snapshot first already exists at s3:\/\/backups\/svc\/first\/manifest\.json \(run [0-9a-f-]+\); snapshots are immutable: choose another SNAPSHOT_NAME$/);
    assert.equal(step.attempts, 1);
  });

  it('restores every node byte for byte into empty data directories', async () => {
    for (const i of nodes) rmSync(stack.dataDir(i), { recursive: true, force: true });
    const started = await stack.start('restore-s3', params({ SNAPSHOT_NAME: 'first', S3_PREFIX: 'svc' }));
    assert.equal(started.statusCode, 200, started.body);
    const tree = await stack.waitPlan('restore-s3', 'COMPLETE', (t) => t.finishedAt !== null, 60_000);
    assert.equal(tree.status, 'COMPLETE', JSON.stringify(tree.errors));
    assert.match(stepOf(tree, 'fetch-restore', 'node-2:[fetch-restore-s3]').message, /^restored \d+ files \(.*, sha256 verified\) from s3:\/\/backups\/svc\/first\/node-2\.tar\.gz$/);
    assert.equal(stepOf(tree, 'restore-schema', 'node-0:[restore-schema]').message, 'node 0 of first');
    const restored = trees();
    for (const i of nodes) {
      const expected = { ...original[i], SCHEMA: restored[i]!['SCHEMA']! };
      assert.deepEqual(restored[i], expected, `node-${i} is identical, plus the SCHEMA its hook wrote`);
      assert.ok(!existsSync(join(`${stack.dataDir(i)}.drplan`, `restore-${tree.runId}`)), 'no staging left');
    }
  });

  it('safe refuses a node with data and leaves it alone; force replaces it', async () => {
    appendFileSync(join(stack.dataDir(0), 'config.ini'), 'changed\n');
    writeFileSync(join(stack.dataDir(0), 'new-file'), 'new');
    const before = trees();
    assert.equal((await stack.start('restore-s3', params({ SNAPSHOT_NAME: 'first', S3_PREFIX: 'svc' }))).statusCode, 200);
    const refused = await stack.waitPlan('restore-s3', 'ERROR', (t) => t.status === 'ERROR' && t.finishedAt !== null, 30_000);
    const step = stepOf(refused, 'fetch-restore', 'node-0:[fetch-restore-s3]');
    assert.equal(step.message, `data directory ${stack.dataDir(0)} is not empty: RESTORE_POLICY=safe leaves it as it is (use RESTORE_POLICY=force to replace it)`);
    assert.equal(step.attempts, 1);
    assert.deepEqual(trees(), before);

    assert.equal((await stack.start('restore-s3', params({ SNAPSHOT_NAME: 'first', S3_PREFIX: 'svc', RESTORE_POLICY: 'force' }))).statusCode, 200);
    const forced = await stack.waitPlan('restore-s3', 'COMPLETE', (t) => t.finishedAt !== null, 60_000);
    assert.equal(forced.status, 'COMPLETE', JSON.stringify(forced.errors));
    const after = trees();
    assert.equal(after[0]!['new-file'], undefined);
    assert.deepEqual(after[0], { ...original[0], SCHEMA: after[0]!['SCHEMA']! });
  });

  it('a tarball corrupted in the bucket fails its restore with a checksum error and leaves the node as it was', async () => {
    const object = s3.objectPath('svc/first/node-1.tar.gz');
    const bytes = readFileSync(object);
    const corrupt = Buffer.from(bytes);
    corrupt[Math.floor(corrupt.length * 0.6)]! ^= 0x55;
    writeFileSync(object, corrupt);
    writeFileSync(join(stack.dataDir(1), 'marker'), 'untouched');
    const before = trees();
    try {
      assert.equal((await stack.start('restore-s3', params({ SNAPSHOT_NAME: 'first', S3_PREFIX: 'svc', RESTORE_POLICY: 'force' }))).statusCode, 200);
      const tree = await stack.waitPlan('restore-s3', 'ERROR', (t) => t.status === 'ERROR' && t.finishedAt !== null, 60_000);
      const step = stepOf(tree, 'fetch-restore', 'node-1:[fetch-restore-s3]');
      assert.match(step.message, /^s3:\/\/backups\/svc\/first\/node-1\.tar\.gz (is not a valid tar\.gz .*: it is corrupt or truncated|has sha256 [0-9a-f]{64} where its manifest records [0-9a-f]{64}: it is corrupt)$/);
      assert.equal(step.attempts, 1, 'a checksum failure is not retried');
      const afterTrees = trees();
      assert.deepEqual(afterTrees[1], before[1], 'node-1 untouched');
      assert.ok(!existsSync(join(`${stack.dataDir(1)}.drplan`, `restore-${tree.runId}`)));
    } finally {
      writeFileSync(object, bytes);
    }
  });

  it('refuses a crafted tarball with ../, absolute paths or an escaping symlink, naming the entry', async () => {
    const key = 'svc/first/node-2.tar.gz';
    const manifestPath = s3.objectPath('svc/first/manifest.json');
    const manifestText = readFileSync(manifestPath, 'utf8');
    const objectBytes = readFileSync(s3.objectPath(key));
    const cases: Array<[Parameters<typeof craftTarGz>[0], RegExp]> = [
      [[{ path: 'fine.txt', body: 'ok' }, { path: '../../escaped.txt', body: 'x' }], /entry '\.\.\/\.\.\/escaped\.txt' has a '\.\.' component; nothing was restored$/],
      [[{ path: '/tmp/drplan-absolute-s3.txt', body: 'x' }], /entry '\/tmp\/drplan-absolute-s3\.txt' has an absolute path/],
      [[{ path: 'out', type: 'SymbolicLink', linkpath: '../../../../../etc' }], /entry 'out' is a symlink to '\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc', outside the target directory/],
    ];
    try {
      for (const [entries, message] of cases) {
        const crafted = craftTarGz(entries);
        const manifest = JSON.parse(manifestText) as { nodes: Array<{ key: string; bytes: number; sha256: string }> };
        const node = manifest.nodes.find((n) => n.key === key)!;
        node.bytes = crafted.length;
        node.sha256 = (await import('node:crypto')).createHash('sha256').update(crafted).digest('hex');
        writeFileSync(s3.objectPath(key), crafted);
        writeFileSync(manifestPath, JSON.stringify(manifest));
        const before = describeTree(stack.dataDir(2));
        assert.equal((await stack.start('restore-s3', params({ SNAPSHOT_NAME: 'first', S3_PREFIX: 'svc', RESTORE_POLICY: 'force' }))).statusCode, 200);
        const tree = await stack.waitPlan('restore-s3', 'ERROR', (t) => t.status === 'ERROR' && t.finishedAt !== null, 60_000);
        const step = stepOf(tree, 'fetch-restore', 'node-2:[fetch-restore-s3]');
        assert.match(step.message, /^s3:\/\/backups\/svc\/first\/node-2\.tar\.gz: /);
        assert.match(step.message, message);
        assert.deepEqual(describeTree(stack.dataDir(2)), before, 'node-2 untouched');
        assert.ok(!existsSync('/tmp/drplan-absolute-s3.txt'));
        assert.ok(!existsSync(join(stack.dataDir(2), '..', '..', 'escaped.txt')));
      }
    } finally {
      writeFileSync(s3.objectPath(key), objectBytes);
      writeFileSync(manifestPath, manifestText);
    }
  });

  it('says which check failed: a missing snapshot, another service, another node count', async () => {
    assert.equal((await stack.start('restore-s3', params({ SNAPSHOT_NAME: 'never-taken', S3_PREFIX: 'svc' }))).statusCode, 200);
    const missing = await stack.waitPlan('restore-s3', 'ERROR', (t) => t.status === 'ERROR' && t.finishedAt !== null, 30_000);
    assert.equal(
      stepOf(missing, 'fetch-restore', 'node-0:[fetch-restore-s3]').message,
      'snapshot never-taken has no manifest at s3://backups/svc/never-taken/manifest.json: it does not exist, or its backup never committed',
    );
    for (const i of nodes) mkdirSync(join(stack.root, 'other', `node-${i}`), { recursive: true });
    // A manifest that claims service small with three nodes, beside the real one.
    const manifest = JSON.parse(readFileSync(s3.objectPath('svc/first/manifest.json'), 'utf8')) as Record<string, unknown>;
    mkdirSync(join(s3.directory, 'backups', 'svc', 'three'), { recursive: true });
    writeFileSync(s3.objectPath('svc/three/manifest.json'), JSON.stringify({ ...manifest, service: 'small', snapshot: 'three' }));
    assert.equal((await stack.start('restore-s3', params({ SNAPSHOT_NAME: 'first', S3_PREFIX: 'svc' }), 'other')).statusCode, 200);
    const other = await stack.waitPlan('restore-s3', 'ERROR', (t) => t.status === 'ERROR' && t.finishedAt !== null, 30_000, 'other');
    assert.equal(stepOf(other, 'fetch-restore', 'node-0:[fetch-restore-s3]').message, 'snapshot first is of service svc, not other');
    assert.equal((await stack.start('restore-s3', params({ SNAPSHOT_NAME: 'three', S3_PREFIX: 'svc' }), 'small')).statusCode, 200);
    const small = await stack.waitPlan('restore-s3', 'ERROR', (t) => t.status === 'ERROR' && t.finishedAt !== null, 30_000, 'small');
    assert.equal(stepOf(small, 'fetch-restore', 'node-0:[fetch-restore-s3]').message, 'snapshot three has 3 nodes but service small has 2');
  });

  it('wrong credentials and a missing bucket end in ERROR with a clear message and no secret anywhere', async () => {
    const secret = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYzzzSECRET';
    assert.equal((await stack.start('backup-s3', params({ SNAPSHOT_NAME: 'denied', AWS_ACCESS_KEY_ID: 'AKIAWRONGKEY', AWS_SECRET_ACCESS_KEY: secret }))).statusCode, 200);
    const denied = await stack.waitPlan('backup-s3', 'ERROR', (t) => t.status === 'ERROR' && t.finishedAt !== null, 30_000);
    const step = stepOf(denied, 'upload-backups', 'node-0:[upload-s3]');
    assert.match(step.message, /^S3 refused the credentials for backups\/denied\/manifest\.json \(InvalidAccessKeyId\): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket policy$/);
    assert.equal(step.attempts, 1, 'refused credentials are not retried');

    assert.equal((await stack.start('backup-s3', params({ SNAPSHOT_NAME: 'nowhere', S3_BUCKET_NAME: 'no-such-bucket', AWS_SECRET_ACCESS_KEY: secret }))).statusCode, 200);
    const nobucket = await stack.waitPlan('backup-s3', 'ERROR', (t) => t.status === 'ERROR' && t.finishedAt !== null, 30_000);
    assert.equal(stepOf(nobucket, 'upload-backups', 'node-0:[upload-s3]').message, `bucket no-such-bucket does not exist at ${s3.endpoint}`);

    const everything = JSON.stringify([denied, nobucket, (await stack.status('backup-s3')).body]) + stack.logs();
    assert.doesNotMatch(everything, new RegExp(secret));
    assert.doesNotMatch(everything, /AKIAWRONGKEY/, 'the access key id is a secret parameter too');
  });

  it('stop during a large upload leaves no object, no manifest and no pending multipart upload', async () => {
    const big = join(stack.dataDir(0), 'large', 'incompressible.bin');
    const chunk = randomBytes(1024 * 1024);
    for (let i = 0; i < 160; i += 1) appendFileSync(big, chunk);
    try {
      assert.equal((await stack.start('backup-s3', params({ SNAPSHOT_NAME: 'stopped', S3_PREFIX: 'svc' }))).statusCode, 200);
      await waitFor('a multipart upload in progress', () => s3.pendingUploads().length > 0, 60_000, 10);
      const during = (await stack.status('backup-s3')).body;
      assert.equal(stepOf(during, 'upload-backups', 'node-0:[upload-s3]').status, 'STARTED');
      assert.equal((await stack.post('backup-s3', 'stop')).statusCode, 200);
      await waitFor('the upload to be aborted', () => s3.pendingUploads().length === 0, 5000);
      await sleep(1000);
      assert.deepEqual(s3.pendingUploads(), []);
      assert.ok(!existsSync(s3.objectPath('svc/stopped/node-0.tar.gz')));
      assert.ok(!existsSync(s3.objectPath('svc/stopped/manifest.json')));
      const tree = (await stack.status('backup-s3')).body;
      assert.ok(tree.phases.every((p) => p.steps.every((s) => s.status === 'PENDING')));
    } finally {
      rmSync(big, { force: true });
    }
  });
});
