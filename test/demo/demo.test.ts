import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PlanInfo } from '../../src/api/index.js';
import { describeTree } from '../helpers/tree.js';
import { after, before, describe, it } from 'node:test';
import { exited } from '../helpers/agent-process.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const repo = join(import.meta.dirname, '../..');

describe('npm run demo', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.stop());

  it('starts a working stack with sample data, S3 and Azure, and what it prints backs up and restores', async () => {
    const root = tempDir();
    cpSync(join(repo, 'services'), join(root, 'services'), { recursive: true });
    // The demo's emulators listen where its locations say: on free ports here, as a user whose
    // 4568 or 10000 is taken would set them.
    const demoYaml = join(root, 'services', 'demo.yml');
    const [s3Port, azurePort] = [await freePort(), await freePort()];
    const declared = readFileSync(demoYaml, 'utf8');
    assert.match(declared, /endpoint: http:\/\/127\.0\.0\.1:4568\n/);
    assert.match(declared, /endpoint: http:\/\/127\.0\.0\.1:10000\/devstoreaccount1\n/);
    writeFileSync(demoYaml, declared.replace('127.0.0.1:4568', `127.0.0.1:${s3Port}`).replace('127.0.0.1:10000', `127.0.0.1:${azurePort}`));
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', join(repo, 'scripts/demo.ts')], {
      cwd: repo,
      env: { ...process.env, REDIS_URL: redis.url, PORT: String(port), DRPLAN_SERVICES_DIR: join(root, 'services'), DRPLAN_QUEUE_PREFIX: 'demotest' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await waitFor('the banner', () => output.includes('Ctrl-C stops everything.'), 60_000, 100);
      const base = `http://127.0.0.1:${port}`;
      assert.match(output, new RegExp(`API: +${base.replace(/\./g, '\\.')}/v1`));
      assert.match(output, new RegExp(`dashboard: +${base.replace(/\./g, '\\.')}/\n`));
      assert.match(await (await fetch(`${base}/`)).text(), /<title>drplan<\/title>/);
      assert.match(output, new RegExp(`npx drplan plan status backup-s3 --url ${base.replace(/\./g, '\\.')}`));
      assert.match(output, new RegExp(`S3: +http://127\\.0\\.0\\.1:${s3Port}, bucket drplan-demo .*: location local-s3\n`));
      // The printed commands name the snapshot and the location, and hold no credential.
      assert.match(output, /npx drplan plan start backup-s3 -p SNAPSHOT_NAME=demo-1 -p LOCATION=local-s3 --wait/);
      assert.match(output, /npx drplan plan start restore-s3 -p SNAPSHOT_NAME=latest -p LOCATION=local-s3 -p NODES=1 --wait/);
      assert.match(output, /npx drplan plan start restore-azure -p SNAPSHOT_NAME=demo-azure-1 -p LOCATION=local-azure -p NODES=1 --wait/);
      // A restore under the safe policy needs the node lost first: the banner says so before each one.
      assert.match(output, /backup-azure [^\n]*\n {2}rm -rf \S*node-1\n {2}npx drplan plan start restore-azure/);
      assert.doesNotMatch(output, /S3RVER|Eby8vdM02x/);
      const plans = (await (await fetch(`${base}/v1/plans`)).json()) as string[];
      assert.deepEqual(plans.sort(), ['backup-azure', 'backup-s3', 'restore-azure', 'restore-s3']);
      for (let i = 0; i < 3; i += 1) {
        const dir = join(root, 'var/demo', `node-${i}`);
        assert.ok(existsSync(join(dir, 'large')) && readdirSync(join(dir, 'small')).length > 0, `node-${i} has sample data`);
      }
      assert.ok(existsSync(join(root, 'var/drplan.log')));

      // Run the printed commands as a user would (the bin instead of npx, from the repository).
      const lines = output.split('\n').map((line) => line.trim());
      const command = (prefix: string): string[] => {
        const line = lines.find((l) => l.startsWith(prefix));
        assert.ok(line !== undefined, `the demo prints '${prefix}…'`);
        return line.replace(/^npx drplan /, '').split(' ');
      };
      const drplan = (args: string[]) => promisify(execFile)(process.execPath, [join(repo, 'bin/drplan.js'), ...args], { cwd: repo });
      const curl = lines.find((l) => l.startsWith('curl -s -X POST'));
      assert.ok(curl !== undefined && JSON.parse(/-d '(.*)'$/.exec(curl)?.[1] ?? '') !== null, 'the curl body is JSON');
      const finished = async (plan: string): Promise<PlanInfo> =>
        waitFor(`${plan} to finish`, async () => {
          const tree = (await (await fetch(`${base}/v1/plans/${plan}`)).json()) as PlanInfo;
          return tree.finishedAt !== null ? tree : undefined;
        }, 90_000, 200);

      const node1 = join(root, 'var/demo/node-1');
      const before = describeTree(node1);
      // --wait: the command returns when the run is over, exit 0 for COMPLETE.
      assert.match((await drplan(command('npx drplan plan start backup-s3'))).stdout, /backup-s3 run \S+ is COMPLETE\n$/);
      const backup = await finished('backup-s3');
      assert.equal(backup.status, 'COMPLETE', JSON.stringify(backup.errors));
      const rm = lines.find((l) => l.startsWith('rm -rf '));
      assert.equal(rm, `rm -rf ${node1}`, 'the wipe names node-1');
      rmSync(node1, { recursive: true });
      const others = [0, 2].map((i) => describeTree(join(root, 'var/demo', `node-${i}`)));
      await drplan(command('npx drplan plan start restore-s3'));
      const restore = await finished('restore-s3');
      assert.equal(restore.status, 'COMPLETE', JSON.stringify(restore.errors));
      const after = describeTree(node1);
      assert.deepEqual(after, { ...before, SCHEMA: after['SCHEMA']! }, 'node-1 is back as it was, with the schema its hook wrote');
      assert.deepEqual([0, 2].map((i) => describeTree(join(root, 'var/demo', `node-${i}`))), others, 'NODES=1: the other nodes were not touched');
      assert.equal(restore.parameters['SNAPSHOT_NAME'], 'demo-1', 'latest, resolved when the run started');

      // And the Azure pair, against Azurite.
      await drplan(command('npx drplan plan start backup-azure'));
      const azureBackup = await finished('backup-azure');
      assert.equal(azureBackup.status, 'COMPLETE', JSON.stringify(azureBackup.errors));
      rmSync(node1, { recursive: true });
      await drplan(command('npx drplan plan start restore-azure'));
      const azureRestore = await finished('restore-azure');
      assert.equal(azureRestore.status, 'COMPLETE', JSON.stringify(azureRestore.errors));
      const again = describeTree(node1);
      assert.deepEqual(again, { ...after, SCHEMA: again['SCHEMA']! }, 'node-1 is back from Azure too');
    } finally {
      child.kill('SIGINT');
      assert.equal(await exited(child), 0, output);
    }
  });
});
