import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../src/main/cli.js';
import { freePort, type RedisServer } from '../helpers/redis.js';
import { listeningFixtureStack, runCli } from '../helpers/cli.js';
import type { Stack } from '../helpers/stack.js';

describe('drplan plan … over HTTP', () => {
  let redis: RedisServer;
  let stack: Stack;
  let url: string;
  const cli = (...args: string[]) => runCli(url, ...args);

  let close: () => Promise<void>;
  before(async () => {
    ({ redis, stack, url, close } = await listeningFixtureStack());
  });
  after(() => close());

  it('lists plans and prints a never-run plan as a tree', async () => {
    assert.deepEqual(JSON.parse((await cli('plan', 'list')).out), ['counting', 'crash', 'failing', 'flow', 'hanging', 'long', 'strict']);
    const status = await cli('plan', 'status', 'flow');
    assert.equal(status.code, 0);
    assert.equal(
      status.out,
      [
        'flow (serial strategy) (PENDING)',
        '├─ one-by-one (serial strategy) (PENDING)',
        '│  ├─ node-0:[work] (PENDING)',
        '│  ├─ node-1:[work] (PENDING)',
        '│  └─ node-2:[work] (PENDING)',
        '└─ all-at-once (parallel strategy) (PENDING)',
        '   ├─ node-0:[work] (PENDING)',
        '   ├─ node-1:[work] (PENDING)',
        '   └─ node-2:[work] (PENDING)',
      ].join('\n'),
    );
  });

  it('starts with -p, pauses and resumes with the DC/OS sentences', async () => {
    const started = await cli('plan', 'start', 'flow', '-p', 'MODE=serial', '--service', 'svc');
    assert.equal(started.code, 0, started.err);
    assert.match((JSON.parse(started.out) as { runId: string }).runId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(await cli('plan', 'pause', 'flow'), { code: 0, out: '"flow" plan has been paused.', err: '' });
    assert.deepEqual(await cli('plan', 'pause', 'flow'), {
      code: 0,
      out: 'Cannot execute command. Command has already been issued or the plan has completed',
      err: '',
    });
    assert.deepEqual(await cli('plan', 'resume', 'flow'), { code: 0, out: '"flow" plan has been resumed.', err: '' });
    await stack.waitPlan('flow', 'COMPLETE', (t) => t.status === 'COMPLETE');
    assert.match((await cli('plan', 'status', 'flow')).out, /^flow \(serial strategy\) \(COMPLETE\)\n├─ one-by-one/);
    const restarted = await cli('plan', 'force-restart', 'flow', 'all-at-once', 'node-2:[work]');
    assert.equal(restarted.out, '"flow" plan: step "node-2:[work]" in phase "all-at-once" has been restarted.');
    await stack.waitPlan('flow', 'COMPLETE', (t) => t.status === 'COMPLETE');
    const json = JSON.parse((await cli('plan', 'status', 'flow', '--json')).out) as { status: string };
    assert.equal(json.status, 'COMPLETE');
  });

  it('prints errors, and the problems of a refused start, with exit code 1', async () => {
    const refused = await cli('plan', 'start', 'strict', '-p', 'NAME=Upper', '-p', 'LEVEL=a=b');
    assert.equal(refused.code, 1);
    assert.match(refused.err, /^Error: invalid parameters for plan strict/);
    assert.match(refused.err, /\n {2}- NAME 'Upper' does not match the pattern/);
    assert.match(refused.err, /\n {2}- LEVEL must be one of: low, high/);
    assert.match(refused.err, /\n {2}- PASSWORD is required/);
    assert.equal((await cli('plan', 'start', 'strict', '-p', 'no-value')).err, 'Error: -p no-value: expected KEY=VALUE or KEY, with KEY of letters, digits and underscores');
    assert.equal((await cli('plan', 'start', 'strict', '-p', 'DRPLAN_TEST_UNSET')).err, 'Error: -p DRPLAN_TEST_UNSET: the environment variable DRPLAN_TEST_UNSET is not set');

    assert.equal((await cli('plan', 'start', 'failing')).code, 0);
    await stack.waitPlan('failing', 'ERROR', (t) => t.status === 'ERROR');
    const status = await cli('plan', 'status', 'failing');
    assert.equal(status.code, 0, 'a plan in ERROR is still a status');
    assert.match(status.out, /\n\nErrors:\n- doomed node-0:\[fail\]: failed after 2 attempts: hook fail exited with code 3: disk on fire at node 0$/);
    const forced = await cli('plan', 'force-complete', 'failing', 'doomed', 'node-0:[fail]');
    assert.equal(forced.out, '"failing" plan: step "node-0:[fail]" in phase "doomed" has been forced to complete.');
    await cli('plan', 'stop', 'failing');

    const missing = await cli('plan', 'status', 'nope');
    assert.deepEqual(missing, { code: 1, out: '', err: 'Error: Plan nope not found' });
  });

  it('never prints the token from the environment in help', async () => {
    const out: string[] = [];
    await main(['node', 'drplan', 'plan', '--help'], { DRPLAN_API_TOKEN: 'tok-in-env-123' }, { out: (t) => out.push(t), err: (t) => out.push(t) });
    assert.match(out.join('\n'), /--token <token>/);
    assert.doesNotMatch(out.join('\n'), /tok-in-env-123/);
    process.exitCode = 0;
  });

  it('keeps a path in --url (behind a proxy)', async () => {
    const { DrplanClient } = await import('../../src/main/http-client.js');
    const seen: string[] = [];
    const original = globalThis.fetch;
    globalThis.fetch = ((input: URL) => {
      seen.push(String(input));
      return Promise.resolve(new Response('[]', { status: 200 }));
    }) as typeof fetch;
    try {
      await new DrplanClient({ url: 'https://admin.example/service/drplan' }).request('GET', '/v1/plans');
    } finally {
      globalThis.fetch = original;
    }
    assert.deepEqual(seen, ['https://admin.example/service/drplan/v1/plans']);
  });

  it('refuses to serve beyond loopback without a token', async () => {
    const bin = join(import.meta.dirname, '../../bin/drplan.js');
    const refused = await promisify(execFile)(process.execPath, [bin, 'api'], { env: { PATH: process.env['PATH'], HOST: '0.0.0.0', REDIS_URL: redis.url } }).then(
      () => assert.fail('should refuse'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^Error: refusing to listen on 0\.0\.0\.0 without DRPLAN_API_TOKEN/);
  });

  it('runs as the package bin, and says when the API is unreachable', async () => {
    const bin = join(import.meta.dirname, '../../bin/drplan.js');
    const run = promisify(execFile);
    const listed = await run(process.execPath, [bin, 'plan', 'list', '--url', url]);
    assert.ok((JSON.parse(listed.stdout) as string[]).includes('flow'));
    const port = await freePort();
    const down = await run(process.execPath, [bin, 'plan', 'status', 'flow', '--url', `http://127.0.0.1:${port}`]).then(
      () => assert.fail('should fail'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(down.code, 1);
    assert.match(down.stderr, new RegExp(`^Error: cannot reach drplan at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
  });
});
