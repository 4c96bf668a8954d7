import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { writeDataset } from '../../scripts/lib/dataset.js';
import { exited, spawnDrplan } from '../helpers/agent-process.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzureServer } from '../helpers/azure.js';
import { shippedPlans } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { startStack, stepOf, type Stack } from '../helpers/stack.js';
import { describeTree } from '../helpers/tree.js';

const service = (s3: S3Server, azure: AzureServer): string => `name: svc
pods:
  node:
    count: 3
    dataDir: $ROOT/svc/node-{{POD_INDEX}}
locations:
  primary:
    storage: s3
    bucket: backups
    region: us-east-1
    endpoint: ${s3.endpoint}
    prefix: prod/svc
    credentials: { accessKeyIdEnv: PRIMARY_KEY_ID, secretAccessKeyEnv: PRIMARY_SECRET }
  chain:
    storage: s3
    bucket: backups
    region: us-east-1
    endpoint: ${s3.endpoint}
    prefix: chain
  offsite:
    storage: azure
    account: ${AZURITE_ACCOUNT}
    container: backups
    endpoint: ${azure.parameters['AZURE_BLOB_ENDPOINT'] ?? ''}
    credentials: { accountKeyEnv: OFFSITE_KEY }
  unset:
    storage: s3
    bucket: backups
    region: us-east-1
    endpoint: ${s3.endpoint}
    credentials: { accessKeyIdEnv: NOT_SET_KEY_ID, secretAccessKeyEnv: NOT_SET_SECRET }
`;

describe('locations: a backup and a restore named by LOCATION, with the credentials in the agent’s environment', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let azure: AzureServer;
  let stack: Stack;
  let agent: ChildProcess & { output: () => string };
  const nodes = [0, 1, 2];
  const trees = (): Array<Record<string, string>> => nodes.map((i) => describeTree(stack.dataDir(i)));

  before(async () => {
    redis = await startRedis();
    s3 = await startS3(['backups']);
    azure = await startAzurite(['backups']);
    stack = await startStack({
      redisUrl: redis.url,
      services: { 'svc.yml': service(s3, azure) },
      plans: shippedPlans('backup-s3', 'restore-s3', 'backup-azure', 'restore-azure'),
      agents: false,
      // The API process has none of the credentials: only the agent does.
      environment: {},
    });
    // The variables the locations name, and the AWS default chain's own (for `chain`); never
    // the instance metadata service, which is not on loopback.
    agent = spawnDrplan(
      ['agent', '--service', 'svc', '--all-nodes'],
      stack.processEnv({ PRIMARY_KEY_ID: 'S3RVER', PRIMARY_SECRET: 'S3RVER', OFFSITE_KEY: AZURITE_KEY, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_EC2_METADATA_DISABLED: 'true' }),
    );
    for (const i of nodes) await writeDataset(stack.dataDir(i), { seed: 40 + i, largeBytes: 256 * 1024, largeFiles: 1, smallFiles: 10 });
  });
  after(async () => {
    agent.kill('SIGTERM');
    await exited(agent);
    await stack.close();
    await azure.stop();
    await s3.stop();
    await redis.stop();
  });

  for (const [storage, location, key] of [
    ['s3', 'primary', 'prod/svc/one-s3/node-1.tar.gz'],
    ['azure', 'offsite', 'one-azure/node-1.tar.gz'],
  ] as const) {
    it(`${storage}: backs up and restores with -p LOCATION=${location} alone, and the catalogue says where`, async () => {
      const name = `one-${storage}`;
      const original = trees();
      const backup = await stack.start(`backup-${storage}`, { SNAPSHOT_NAME: name, LOCATION: location });
      assert.equal(backup.statusCode, 200, backup.body);
      const done = await stack.finished(`backup-${storage}`, undefined, 60_000);
      assert.equal(done.status, 'COMPLETE', `${JSON.stringify(done.errors)}\n${agent.output()}`);
      assert.deepEqual(done.parameters, { SNAPSHOT_NAME: name, LOCATION: location, BACKUP_RESTORE_STRATEGY: 'serial' }, 'nothing but the location in the run');
      assert.match(stepOf(done, 'upload-backups', `node-1:[upload-${storage}]`).message, new RegExp(`to (s3|azure)://backups/${key.replaceAll('.', '\\.')}$`));

      const catalogue = await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots' });
      const entry = catalogue.json<Array<Record<string, unknown>>>().find((s) => s['name'] === name);
      assert.ok(entry !== undefined, catalogue.body);
      assert.equal(entry['locationName'], location);
      assert.equal(entry['location'], 'backups');
      assert.equal(entry['endpoint'], storage === 's3' ? s3.endpoint : azure.parameters['AZURE_BLOB_ENDPOINT']);
      if (storage === 's3') assert.deepEqual([entry['region'], entry['prefix']], ['us-east-1', 'prod/svc']);
      else assert.deepEqual([entry['account'], entry['prefix']], [AZURITE_ACCOUNT, '']);
      assert.deepEqual(entry['restore'], { plan: `restore-${storage}`, parameters: { SNAPSHOT_NAME: name, LOCATION: location } });

      rmSync(stack.dataDir(1), { recursive: true, force: true });
      const restore = await stack.start(`restore-${storage}`, { SNAPSHOT_NAME: name, LOCATION: location, RESTORE_POLICY: 'force' });
      assert.equal(restore.statusCode, 200, restore.body);
      const restored = await stack.finished(`restore-${storage}`, undefined, 60_000);
      assert.equal(restored.status, 'COMPLETE', JSON.stringify(restored.errors));
      assert.deepEqual(trees(), original, 'every node as it was backed up');
    });
  }

  it('NODES=1 restores node-1 alone: node-0 and node-2, holding newer data, stay byte for byte as they are, and need no policy', async () => {
    const original = trees();
    assert.equal((await stack.start('backup-s3', { SNAPSHOT_NAME: 'one-node', LOCATION: 'primary' })).statusCode, 200);
    assert.equal((await stack.finished('backup-s3', undefined, 60_000)).status, 'COMPLETE');
    for (const i of [0, 2]) writeFileSync(join(stack.dataDir(i), 'newer.txt'), `written after the backup on node ${i}`);
    const newer = trees();
    rmSync(stack.dataDir(1), { recursive: true, force: true });
    const restore = await stack.start('restore-s3', { SNAPSHOT_NAME: 'one-node', LOCATION: 'primary', NODES: '1' });
    assert.equal(restore.statusCode, 200, restore.body);
    const done = await stack.finished('restore-s3', undefined, 60_000);
    assert.equal(done.status, 'COMPLETE', JSON.stringify(done.errors));
    assert.deepEqual(done.phases.map((p) => [p.name, p.steps.map((step) => step.name)]), [
      ['preflight', ['node-1:[preflight-restore-s3]']],
      ['fetch-restore', ['node-1:[fetch-restore-s3]']],
    ]);
    assert.equal(done.parameters['NODES'], '1');
    const after = trees();
    assert.deepEqual(after[1], original[1], 'node-1 is back as it was backed up');
    assert.deepEqual([after[0], after[2]], [newer[0], newer[2]], 'the other nodes were not touched');

    const bad = await stack.start('restore-s3', { SNAPSHOT_NAME: 'one-node', LOCATION: 'primary', NODES: '1,7,zk-0' });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(bad.json<{ problems: Array<{ parameter: string; message: string }> }>().problems.map((p) => `${p.parameter} ${p.message}`), [
      "NODES '7' is not a node of service svc (node-0, node-1, node-2)",
      "NODES 'zk-0' is not a node of service svc (node-0, node-1, node-2)",
    ]);
  });

  it('a location without credentials uses the SDK default chain of the agent', async () => {
    assert.equal((await stack.start('backup-s3', { SNAPSHOT_NAME: 'chained', LOCATION: 'chain' })).statusCode, 200);
    const done = await stack.finished('backup-s3', undefined, 60_000);
    assert.equal(done.status, 'COMPLETE', JSON.stringify(done.errors));
    assert.match(stepOf(done, 'commit', 'svc:[commit-manifest]').message, /at s3:\/\/backups\/chain\/chained\/manifest\.json$/);
  });

  it('a location whose variables the agent lacks fails at once, naming the variables and no value', async () => {
    assert.equal((await stack.start('backup-s3', { SNAPSHOT_NAME: 'nokeys', LOCATION: 'unset' })).statusCode, 200);
    const done = await stack.finished('backup-s3', undefined, 60_000);
    assert.equal(done.status, 'ERROR');
    const step = stepOf(done, 'upload-backups', 'node-0:[upload-s3]');
    assert.equal(step.message, 'location unset takes its credentials from NOT_SET_KEY_ID, NOT_SET_SECRET, which are not set in the environment of the process running this step');
    assert.equal(step.attempts, 1, 'not retried: nothing will set them');
  });

  it('a start with an unknown location, one of another kind, or LOCATION mixed with a bucket is a 400 naming each problem', async () => {
    const unknown = await stack.start('backup-s3', { SNAPSHOT_NAME: 'x', LOCATION: 'nowhere' });
    assert.equal(unknown.statusCode, 400);
    assert.match(unknown.json<{ message: string }>().message, /LOCATION 'nowhere' is not a location of service svc \(known: primary, chain, offsite, unset\)/);
    const kind = await stack.start('restore-s3', { SNAPSHOT_NAME: 'x', LOCATION: 'offsite', S3_BUCKET_NAME: 'other' });
    assert.equal(kind.statusCode, 400);
    const problems = kind.json<{ problems?: Array<{ parameter: string; message: string }> }>().problems ?? [];
    assert.deepEqual(
      problems.map((p) => `${p.parameter} ${p.message}`),
      [
        'LOCATION \'offsite\' is azure storage, and plan restore-s3 uses s3 (s3 locations: primary, chain, unset)',
        'S3_BUCKET_NAME cannot be given with LOCATION: location offsite says where the snapshots are',
      ],
      kind.body,
    );
  });
});
