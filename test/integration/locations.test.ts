import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { writeDataset } from '../../scripts/lib/dataset.js';
import type { SnapshotRecord } from '../../src/engine/index.js';
import { createS3Store } from '../../src/storage/index.js';
import { exited, spawnDrplan } from '../helpers/agent-process.js';
import { runCli } from '../helpers/cli.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzureServer } from '../helpers/azure.js';
import { shippedPlans } from '../helpers/fixtures.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { startStack, stepOf, type Stack } from '../helpers/stack.js';
import { describeTree } from '../helpers/tree.js';

const service = (s3: S3Server, azure: AzureServer, deadPort: number): string => `name: svc
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
  history:
    storage: s3
    bucket: backups
    region: us-east-1
    endpoint: ${s3.endpoint}
    prefix: history
    credentials: { accessKeyIdEnv: PRIMARY_KEY_ID, secretAccessKeyEnv: PRIMARY_SECRET }
  twin:
    storage: s3
    bucket: backups
    region: us-east-1
    endpoint: ${s3.endpoint.replace('127.0.0.1', 'localhost')}
    prefix: history
    credentials: { accessKeyIdEnv: PRIMARY_KEY_ID, secretAccessKeyEnv: PRIMARY_SECRET }
  dead:
    storage: s3
    bucket: backups
    region: us-east-1
    endpoint: http://127.0.0.1:${deadPort}
    credentials: { accessKeyIdEnv: PRIMARY_KEY_ID, secretAccessKeyEnv: PRIMARY_SECRET }
  unset:
    storage: s3
    bucket: backups
    region: us-east-1
    endpoint: ${s3.endpoint}
    credentials: { accessKeyIdEnv: NOT_SET_KEY_ID, secretAccessKeyEnv: NOT_SET_SECRET }
`;

// The AWS default chain of the API in this process (for the location `chain`), never the instance
// metadata service, which is not on loopback.
Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_EC2_METADATA_DISABLED: 'true' });

describe('locations: a backup and a restore named by LOCATION, with the credentials in the agent’s environment', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let azure: AzureServer;
  let stack: Stack;
  let agent: ChildProcess & { output: () => string };
  const nodes = [0, 1, 2];
  const trees = (): Array<Record<string, string>> => nodes.map((i) => describeTree(stack.dataDir(i)));
  const s3Store = () => createS3Store({ bucket: 'backups', region: 'us-east-1', endpoint: s3.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });

  before(async () => {
    redis = await startRedis();
    s3 = await startS3(['backups']);
    azure = await startAzurite(['backups']);
    stack = await startStack({
      redisUrl: redis.url,
      services: { 'svc.yml': service(s3, azure, await freePort()) },
      plans: shippedPlans('backup-s3', 'restore-s3', 'backup-azure', 'restore-azure'),
      agents: false,
      // The API reads locations too (refresh, latest): the variables the locations name, and no
      // more. Steps run in the agent, with its own environment.
      environment: { PRIMARY_KEY_ID: 'S3RVER', PRIMARY_SECRET: 'S3RVER', OFFSITE_KEY: AZURITE_KEY },
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
      assert.deepEqual(done.parameters, { SNAPSHOT_NAME: name, LOCATION: location, COMPRESSION: 'gzip', BACKUP_RESTORE_STRATEGY: 'serial' }, 'nothing but the location (and the defaults) in the run');
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
    const backup = await stack.finished('backup-s3', undefined, 60_000);
    assert.equal(backup.status, 'COMPLETE');
    assert.equal(backup.snapshot, 'one-node');
    // A stop after the commit resets the steps, and says the snapshot is there: it is not hidden.
    const stop = await stack.post('backup-s3', 'stop');
    assert.equal(stop.json<{ message: string }>().message, 'Received cmd: stop for plan backup-s3; snapshot one-node was already committed and stays');
    const stopped = (await stack.status('backup-s3')).body;
    assert.deepEqual([stopped.status, stopped.snapshot], ['WAITING', 'one-node']);
    const [run] = (await stack.app.inject({ method: 'GET', url: '/v1/service/svc/runs?plan=backup-s3&limit=1' })).json<Array<{ id: string; snapshot: string | null }>>();
    assert.deepEqual(run, { ...run, id: backup.runId, snapshot: 'one-node' });
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
    assert.match(unknown.json<{ message: string }>().message, /LOCATION 'nowhere' is not a location of service svc \(known: primary, chain, offsite, history, twin, dead, unset\)/);
    const kind = await stack.start('restore-s3', { SNAPSHOT_NAME: 'x', LOCATION: 'offsite', S3_BUCKET_NAME: 'other' });
    assert.equal(kind.statusCode, 400);
    const problems = kind.json<{ problems?: Array<{ parameter: string; message: string }> }>().problems ?? [];
    assert.deepEqual(
      problems.map((p) => `${p.parameter} ${p.message}`),
      [
        'LOCATION \'offsite\' is azure storage, and plan restore-s3 uses s3 (s3 locations: primary, chain, history, twin, dead, unset)',
        'S3_BUCKET_NAME cannot be given with LOCATION: location offsite says where the snapshots are',
      ],
      kind.body,
    );
    // The agent's own Azure identity never goes to an endpoint a request names.
    const ambient = await stack.start('backup-azure', { SNAPSHOT_NAME: 'x', AZURE_STORAGE_ACCOUNT: 'a', CONTAINER_NAME: 'c', AZURE_BLOB_ENDPOINT: 'https://collector.invalid/a' });
    assert.equal(ambient.statusCode, 400);
    assert.deepEqual(ambient.json<{ problems: Array<{ parameter: string }> }>().problems.map((p) => p.parameter), ['AZURE_BLOB_ENDPOINT']);
    assert.match(ambient.body, /would send this agent's own Azure token there: give credentials, or declare the endpoint in a location of the service/);
    // A store that does not answer while latest is resolved is a 503 to try again, not a bad parameter.
    const down = await stack.start('restore-s3', { SNAPSHOT_NAME: 'latest', LOCATION: 'dead' });
    assert.equal(down.statusCode, 503, down.body);
    assert.match(down.json<{ message: string }>().message, /^latest could not be resolved from storage: /);
  });

  it('SNAPSHOT_NAME=latest and RESTORE_BEFORE pick the right snapshot out of three, resolved when the run starts', async () => {
    const created: string[] = [];
    for (const version of ['a', 'b', 'c']) {
      writeFileSync(join(stack.dataDir(1), 'version'), version);
      assert.equal((await stack.start('backup-s3', { SNAPSHOT_NAME: `v-${version}`, LOCATION: 'history' })).statusCode, 200);
      assert.equal((await stack.finished('backup-s3', undefined, 60_000)).status, 'COMPLETE');
      const entry = (await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots?location=history' })).json<Array<{ name: string; created: string }>>().find((e) => e.name === `v-${version}`);
      created.push(entry!.created);
    }
    // Objects of a backup that never committed, newer than all: never "latest".
    await s3Store().put('history/v-broken/node-0.tar.gz', Buffer.from('partial'));
    const restoreOf = async (parameters: Record<string, string>): Promise<{ name: string; version: string }> => {
      const started = await stack.start('restore-s3', { LOCATION: 'history', NODES: '1', RESTORE_POLICY: 'force', ...parameters });
      assert.equal(started.statusCode, 200, started.body);
      const done = await stack.finished('restore-s3', undefined, 60_000);
      assert.equal(done.status, 'COMPLETE', JSON.stringify(done.errors));
      return { name: done.parameters['SNAPSHOT_NAME'] ?? '', version: readFileSync(join(stack.dataDir(1), 'version'), 'utf8') };
    };
    writeFileSync(join(stack.dataDir(1), 'version'), 'damaged');
    assert.deepEqual(await restoreOf({ SNAPSHOT_NAME: 'latest' }), { name: 'v-c', version: 'c' }, 'the run shows the concrete name');
    assert.deepEqual(await restoreOf({ SNAPSHOT_NAME: 'latest', RESTORE_BEFORE: created[2]! }), { name: 'v-b', version: 'b' }, 'strictly before');
    assert.deepEqual(await restoreOf({ SNAPSHOT_NAME: 'latest', RESTORE_BEFORE: new Date(Date.parse(created[1]!) - 1).toISOString() }), { name: 'v-a', version: 'a' });

    const none = await stack.start('restore-s3', { SNAPSHOT_NAME: 'latest', LOCATION: 'history', RESTORE_BEFORE: '2001-01-01' });
    assert.equal(none.statusCode, 400);
    assert.match(none.json<{ message: string }>().message, /SNAPSHOT_NAME latest: s3:\/\/backups\/history holds no committed snapshot of service svc created before 2001-01-01$/);
    const without = await stack.start('restore-s3', { SNAPSHOT_NAME: 'v-a', LOCATION: 'history', RESTORE_BEFORE: '2030-01-01' });
    assert.equal(without.statusCode, 400);
    assert.match(without.json<{ message: string }>().message, /RESTORE_BEFORE picks among the snapshots: give SNAPSHOT_NAME=latest with it/);
    const named = await stack.start('backup-s3', { SNAPSHOT_NAME: 'latest', LOCATION: 'history' });
    assert.equal(named.statusCode, 400, 'no backup takes the name restores resolve');
  });

  it('refresh rebuilds a wiped catalogue from the manifests: every committed snapshot comes back, none that never committed', async () => {
    const before = (await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots' })).json<Array<{ name: string; locationName?: string }>>();
    await stack.redis.del(`${stack.prefix}:_svc:svc:snapshots`, `${stack.prefix}:_svc:svc:manifests`);
    assert.deepEqual((await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots' })).json(), [], 'wiped');

    const refreshed = await stack.app.inject({ method: 'POST', url: '/v1/service/svc/snapshots/refresh' });
    assert.equal(refreshed.statusCode, 200, refreshed.body);
    const results = refreshed.json<Array<{ location: string; snapshots: number; added: string[]; removed: string[]; incomplete: string[]; error?: string }>>();
    const byLocation = Object.fromEntries(results.map((r) => [r.location, r]));
    assert.deepEqual(byLocation['history']?.added, ['v-a', 'v-b', 'v-c']);
    assert.deepEqual(byLocation['history']?.incomplete, ['v-broken']);
    assert.deepEqual(byLocation['offsite']?.added, ['one-azure']);
    assert.match(byLocation['unset']?.error ?? '', /^location unset takes its credentials from NOT_SET_KEY_ID, NOT_SET_SECRET, which are not set/);
    const after = (await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots' })).json<Array<{ name: string; locationName?: string }>>();
    const names = (list: typeof after): string[] => list.map((e) => `${e.locationName ?? '?'}/${e.name}`).sort();
    // The same bucket and prefix behind another endpoint is another place, with entries of its own.
    assert.deepEqual(byLocation['twin']?.added, ['v-a', 'v-b', 'v-c']);
    assert.deepEqual(names(after.filter((e) => e.locationName !== 'twin')), names(before), 'exactly the committed snapshots are back');

    const historyAgain = await stack.app.inject({ method: 'POST', url: '/v1/service/svc/snapshots/refresh?location=history' });
    assert.deepEqual(historyAgain.json<Array<{ added: string[]; removed: string[] }>>().map((r) => [r.added, r.removed]), [[[], []]], 'refreshing one place leaves the other alone');
    assert.equal((await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots/v-b' })).statusCode, 409, 'the name is in two places now');
    await stack.redis.del(`${stack.prefix}:_svc:svc:snapshots`, `${stack.prefix}:_svc:svc:manifests`);
    await stack.app.inject({ method: 'POST', url: '/v1/service/svc/snapshots/refresh?location=history' });

    // A location the API cannot open, asked for alone, says why in the result.
    const unset = await stack.app.inject({ method: 'POST', url: '/v1/service/svc/snapshots/refresh?location=unset' });
    assert.equal(unset.statusCode, 200);
    assert.match(unset.json<Array<{ error?: string }>>()[0]?.error ?? '', /^location unset takes its credentials from NOT_SET_KEY_ID, NOT_SET_SECRET/);

    // An entry recorded after a listing began (a backup that committed meanwhile) outlives that listing's refresh.
    const [entry] = (await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots?location=history' })).json<Array<Record<string, unknown>>>();
    const listedFrom = new Date().toISOString();
    const late = { ...(entry as unknown as SnapshotRecord), name: 'v-late', created: new Date(Date.now() + 1000).toISOString() };
    await stack.store.recordSnapshot(late, { format: 2 });
    const kept = await stack.store.replaceSnapshots('svc', late, [], listedFrom);
    assert.ok(!kept.removed.includes('v-late') && kept.removed.includes('v-c'), JSON.stringify(kept));
    await stack.store.replaceSnapshots('svc', late, [], new Date(Date.now() + 60_000).toISOString());
    await stack.app.inject({ method: 'POST', url: '/v1/service/svc/snapshots/refresh?location=history' });

    // A snapshot deleted from storage leaves the catalogue at the next refresh of its location.
    await s3Store().delete('history/v-a/manifest.json');
    const again = await stack.app.inject({ method: 'POST', url: '/v1/service/svc/snapshots/refresh?location=history' });
    assert.deepEqual(again.json<Array<{ removed: string[]; added: string[] }>>().map((r) => [r.added, r.removed]), [[[], ['v-a']]]);

    const detail = await stack.app.inject({ method: 'GET', url: '/v1/service/svc/snapshots/v-b' });
    assert.equal(detail.statusCode, 200, detail.body);
    const body = detail.json<{ manifest: { format: number; snapshot: string; nodes: unknown[] }; chain: string[]; restore: unknown }>();
    assert.deepEqual([body.manifest.format, body.manifest.snapshot, body.manifest.nodes.length, body.chain], [2, 'v-b', 3, ['v-b']]);
    assert.deepEqual(body.restore, { plan: 'restore-s3', parameters: { SNAPSHOT_NAME: 'v-b', LOCATION: 'history' } });
    assert.equal((await stack.app.inject({ method: 'POST', url: '/v1/service/svc/snapshots/refresh?location=nowhere' })).statusCode, 404);

    // The same through the CLI.
    const url = await stack.app.listen({ host: '127.0.0.1', port: 0 });
    const described = await runCli(url, 'snapshots', 'describe', 'v-b', '--service', 'svc');
    assert.equal(described.code, 0, described.err);
    assert.match(described.out, /^snapshot v-b of service svc\n {2}where: +history \(s3:\/\/backups\/history\) at http:\/\/127\.0\.0\.1:\d+, region us-east-1\n/);
    assert.match(described.out, /\n {2}restore: +drplan plan start restore-s3 -p SNAPSHOT_NAME=v-b -p LOCATION=history\n/);
    assert.match(described.out, /\n {2}manifest:\n {4}\{\n {6}"format": 2,\n/);
    const cliRefresh = await runCli(url, 'snapshots', 'refresh', '--location', 'history', '--service', 'svc');
    assert.deepEqual(cliRefresh, { code: 0, out: 'history: 2 committed snapshots, catalogue unchanged\n  never committed (no manifest): v-a, v-broken', err: '' });
    const listed = await runCli(url, 'snapshots', 'list', '--location', 'history', '--service', 'svc');
    assert.deepEqual(listed.out.split('\n').slice(1).map((line) => line.split(/ +/).slice(0, 4).join(' ')), ['v-c backup-s3 s3 history', 'v-b backup-s3 s3 history']);
  });
});
