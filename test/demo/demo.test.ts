import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
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

  it('starts a working stack with sample data, prints what to try, and stops cleanly on Ctrl-C', async () => {
    const root = tempDir();
    cpSync(join(repo, 'services'), join(root, 'services'), { recursive: true });
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
      assert.match(output, new RegExp(`API: +${base.replace(/\./g, '\\.')}`));
      assert.match(output, new RegExp(`npx drplan plan list --url ${base.replace(/\./g, '\\.')}`));
      const plans = (await (await fetch(`${base}/v1/plans`)).json()) as string[];
      assert.deepEqual(plans.sort(), ['backup-azure', 'backup-s3', 'restore-azure', 'restore-s3']);
      for (let i = 0; i < 3; i += 1) {
        const dir = join(root, 'var/demo', `node-${i}`);
        assert.ok(existsSync(join(dir, 'large')) && readdirSync(join(dir, 'small')).length > 0, `node-${i} has sample data`);
      }
      assert.ok(existsSync(join(root, 'var/drplan.log')));
    } finally {
      child.kill('SIGINT');
      assert.equal(await exited(child), 0, output);
    }
  });
});
