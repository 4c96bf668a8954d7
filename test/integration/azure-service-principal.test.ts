import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exited, spawnDrplan } from '../helpers/agent-process.js';
import { AZURITE_ACCOUNT, startAzurite, type AzureServer } from '../helpers/azure.js';
import { DEMO_LIKE, shippedPlans } from '../helpers/fixtures.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.js';
import { startStack, stepOf, type Stack } from '../helpers/stack.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { startTokenEndpoint, type TokenEndpoint } from '../helpers/token-endpoint.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '0f3c2a91-1b2c-4d5e-8f90-a1b2c3d4e5f6';
const SECRET = 'sp-secret~Q8x.7Zk_9a-correct';

describe('backup-azure and restore-azure with a service principal (Azurite over HTTPS with OAuth, a local token endpoint)', () => {
  let redis: RedisServer;
  let azure: AzureServer;
  let token: TokenEndpoint;
  let stack: Stack;
  let agent: ReturnType<typeof spawnDrplan>;
  const principal = (extra: Record<string, string> = {}): Record<string, string> => ({
    AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT,
    CONTAINER_NAME: azure.container,
    AZURE_BLOB_ENDPOINT: azure.endpoint,
    CLIENT_ID: CLIENT,
    TENANT_ID: TENANT,
    CLIENT_SECRET: SECRET,
    AZURE_AUTHORITY_HOST: token.authorityHost,
    ...extra,
  });

  before(async () => {
    const tls = selfSignedCertificate();
    redis = await startRedis();
    azure = await startAzurite(['backups'], { oauth: { certPath: tls.certPath, keyPath: tls.keyPath } });
    token = await startTokenEndpoint({ cert: tls.cert, key: tls.key, tenantId: TENANT, clientSecret: SECRET });
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': DEMO_LIKE('svc') }, plans: shippedPlans('backup-azure', 'restore-azure'), agents: false, secretKey: Buffer.alloc(32, 3) });
    for (let i = 0; i < 3; i += 1) {
      mkdirSync(stack.dataDir(i), { recursive: true });
      writeFileSync(join(stack.dataDir(i), 'data.txt'), `node ${i}`);
    }
    // The agent trusts the test certificate the way an operator would: NODE_EXTRA_CA_CERTS.
    agent = spawnDrplan(['agent', '--service', 'svc', '--all-nodes'], stack.processEnv({ NODE_EXTRA_CA_CERTS: tls.certPath }));
  });
  after(async () => {
    agent.kill('SIGTERM');
    await exited(agent);
    await stack.close();
    await token.stop();
    await azure.stop();
    await redis.stop();
  });

  it('gets a token with the client secret and backs up and restores over OAuth', async () => {
    assert.equal((await stack.start('backup-azure', principal({ SNAPSHOT_NAME: 'sp-1' }))).statusCode, 200);
    const backup = await stack.waitPlan('backup-azure', 'finished', (t) => t.finishedAt !== null, 60_000);
    assert.equal(backup.status, 'COMPLETE', `${JSON.stringify(backup.errors)}\n${agent.output()}`);
    assert.ok(token.requests.length > 0);
    for (const request of token.requests) {
      assert.deepEqual(request, { clientId: CLIENT, scope: 'https://storage.azure.com/.default', secretMatched: true });
    }
    assert.equal((await stack.start('restore-azure', principal({ SNAPSHOT_NAME: 'sp-1', RESTORE_POLICY: 'force' }))).statusCode, 200);
    const restore = await stack.waitPlan('restore-azure', 'finished', (t) => t.finishedAt !== null, 60_000);
    assert.equal(restore.status, 'COMPLETE', JSON.stringify(restore.errors));
  });

  it('a refused client secret ends in ERROR saying why, and the secret shows nowhere', async () => {
    const wrong = 'sp-secret~wrong-but-long-enough';
    assert.equal((await stack.start('backup-azure', principal({ SNAPSHOT_NAME: 'sp-2', CLIENT_SECRET: wrong }))).statusCode, 200);
    const tree = await stack.waitPlan('backup-azure', 'finished', (t) => t.finishedAt !== null, 60_000);
    const step = stepOf(tree, 'upload-backups', 'node-0:[upload-azure]');
    assert.equal(step.status, 'ERROR');
    assert.match(step.message, /^cannot get an Azure AD token for backups\/sp-2\/manifest\.json \(\w+\): .*AADSTS7000215.*; check CLIENT_ID, TENANT_ID, CLIENT_SECRET and the role assignment on the container$/);
    assert.equal(step.attempts, 1);
    const everything = JSON.stringify(tree) + stack.logs() + agent.output();
    assert.ok(!everything.includes(wrong) && !everything.includes(SECRET), 'no client secret in the status or any log');
  });

  it('an unreachable token endpoint ends in ERROR with a clear message', async () => {
    const closed = `https://127.0.0.1:${await freePort()}`;
    assert.equal((await stack.start('backup-azure', principal({ SNAPSHOT_NAME: 'sp-3', AZURE_AUTHORITY_HOST: closed }))).statusCode, 200);
    const tree = await stack.waitPlan('backup-azure', 'finished', (t) => t.finishedAt !== null, 60_000);
    const step = stepOf(tree, 'upload-backups', 'node-0:[upload-azure]');
    assert.equal(step.status, 'ERROR');
    assert.match(step.message, /^cannot get an Azure AD token for backups\/sp-3\/manifest\.json \(\w+\): .*; check CLIENT_ID, TENANT_ID, CLIENT_SECRET/);
    assert.ok(!step.message.includes(SECRET));
  });
});
