import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listeningFixtureStack, runCli, type CliResult } from '../helpers/cli.js';
import { DEMO_LIKE, shippedPlans } from '../helpers/fixtures.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { startStack, type Stack } from '../helpers/stack.js';

const BIN = join(import.meta.dirname, '../../bin/drplan.js');

const cli = runCli;

/** The CLI as a process on a pseudo-terminal (util-linux `script`), as an operator runs it. */
function onTerminal(args: string[]): Promise<CliResult> {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return new Promise((resolve) => {
    // A wide terminal, so progress lines are not cut.
    execFile('script', ['-q', '-f', '-e', '-c', `stty cols 200 rows 50; exec ${command}`, '/dev/null'], { env: { PATH: process.env['PATH'], TERM: 'xterm' }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), out: stdout, err: stderr });
    });
  });
}

describe('drplan plan start --wait and status --watch', () => {
  let stack: Stack;
  let url: string;
  let close: () => Promise<void>;
  before(async () => {
    ({ stack, url, close } = await listeningFixtureStack());
  });
  after(() => close());

  it('--wait exits 0 when the run is COMPLETE, printing the final tree', async () => {
    const result = await cli(url, 'plan', 'start', 'flow', '--wait', '--interval', '0.2');
    assert.equal(result.code, 0, result.err);
    const lines = result.out.split('\n');
    assert.match(lines[0] ?? '', /^Received cmd: start flow \(run [0-9a-f-]{36}\)$/);
    assert.equal(lines[1], 'flow (serial strategy) (COMPLETE)');
    assert.match(lines.at(-1) ?? '', /^flow run [0-9a-f-]{36} is COMPLETE$/);
  });

  it('--wait exits 1 when the run ends in ERROR, with its errors', async () => {
    const result = await cli(url, 'plan', 'start', 'failing', '--wait', '--interval', '0.2');
    assert.equal(result.code, 1);
    assert.match(result.out, /\nErrors:\n- doomed node-0:\[fail\]: failed after 2 attempts: hook fail exited with code 3: disk on fire at node 0\n/);
    assert.match(result.out, /failing run [0-9a-f-]{36} ended in ERROR$/);
  });

  it('--wait --json prints the final tree as JSON', async () => {
    const result = await cli(url, 'plan', 'start', 'counting', '--wait', '--json', '--interval', '0.2');
    assert.equal(result.code, 0, result.err);
    const tree = JSON.parse(result.out) as { status: string; active: boolean; runId: string };
    assert.equal(tree.status, 'COMPLETE');
    assert.equal(tree.active, false);
  });

  it('--timeout gives up with 124 while the run goes on; a stopped run ends a watch with 1', async () => {
    const timedOut = await cli(url, 'plan', 'start', 'long', '-p', 'TOKEN=t', '--wait', '--timeout', '0.6', '--interval', '0.2');
    assert.equal(timedOut.code, 124);
    assert.match(timedOut.out, /gave up after 0\.6s: long is (IN_PROGRESS|STARTED)$/);
    assert.equal((await stack.status('long')).body.active, true, 'the run goes on');

    const watching = cli(url, 'plan', 'status', 'long', '--watch', '--json', '--interval', '0.2');
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal((await stack.post('long', 'stop')).statusCode, 200);
    const watched = await watching;
    assert.equal(watched.code, 1);
    const trees = watched.out.split('\n').map((line) => JSON.parse(line) as { status: string; active: boolean });
    assert.deepEqual([trees[0]?.status, trees[0]?.active], ['STARTED', true]);
    assert.deepEqual(trees.at(-1), { ...trees.at(-1), status: 'WAITING', active: false }, 'stopped: interrupted and reset, as in DC/OS');
    assert.match(watched.err, /^$/);
  });

  it('--watch without a terminal prints the tree when a status changes, and the outcome', async () => {
    const result = await cli(url, 'plan', 'status', 'flow', '--watch');
    assert.equal(result.code, 0);
    assert.match(result.out, /^flow \(serial strategy\) \(COMPLETE\)\n/);
    assert.match(result.out, /flow run [0-9a-f-]{36} is COMPLETE$/);
    assert.equal((await cli(url, 'plan', 'status', 'hanging', '--watch')).out.split('\n').at(-1), 'hanging has never run');
  });

  it('--json prints a refused operation as the API answered it, and exits 1', async () => {
    const refused = await cli(url, 'plan', 'pause', 'nope', '--json');
    assert.equal(refused.code, 1);
    assert.deepEqual(JSON.parse(refused.out), { error: 'NOT_FOUND', message: 'Plan nope not found' });
  });

  it('rejects a bad --interval', async () => {
    const result = await cli(url, 'plan', 'status', 'flow', '--watch', '--interval', 'soon');
    assert.deepEqual(result, { code: 1, out: '', err: 'Error: --interval soon: expected a number of seconds above 0' });
  });

  it('redraws the tree in place on a terminal', async () => {
    const result = await onTerminal(['plan', 'start', 'flow', '--wait', '--interval', '0.1', '--url', url]);
    assert.equal(result.code, 0, result.out);
    // Each redraw moves up over exactly the lines of the frame before it, then clears below.
    // eslint-disable-next-line no-control-regex -- the terminal's escape codes are what is tested
    const parts = result.out.split(/\x1b\[(\d+)F\x1b\[J/);
    assert.ok(parts.length >= 5, 'redrawn at least twice');
    const lineCount = (part: string): number => part.split('\r\n').length - 1;
    for (let i = 1; i + 1 < parts.length; i += 2) {
      const drawn = lineCount(parts[i - 1] ?? '') - (i === 1 ? 1 : 0); // the first part starts with the start message
      assert.equal(Number(parts[i]), drawn, `redraw ${(i + 1) / 2}`);
    }
    assert.match(result.out, /node-\d:\[work\] \(STARTED\) running work for \d+s/, 'running steps show what they do');
    assert.match(result.out, /flow run [0-9a-f-]{36} is COMPLETE\r?\n$/);
  });

  it('snapshots list says when there are none', async () => {
    assert.equal((await cli(url, 'snapshots', 'list')).out, 'No committed snapshots.');
    assert.equal((await cli(url, 'snapshots', 'list', '--json')).out, '[]');
  });
});

describe('drplan --watch progress bars and snapshots list, with backup-s3', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let stack: Stack;
  let url: string;
  before(async () => {
    [redis, s3] = await Promise.all([startRedis(), startS3(['backups'])]);
    stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': DEMO_LIKE() }, plans: shippedPlans('backup-s3') });
    for (let i = 0; i < 3; i += 1) {
      mkdirSync(stack.dataDir(i), { recursive: true });
      writeFileSync(join(stack.dataDir(i), 'data.bin'), randomBytes(16 * 1024 * 1024));
    }
    url = await stack.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await stack.close();
    await Promise.all([redis.stop(), s3.stop()]);
  });

  it('shows bytes, rate and ETA per running step, then lists the snapshot', async () => {
    const params = Object.entries({ ...s3.parameters, SNAPSHOT_NAME: 'watched' }).flatMap(([k, v]) => ['-p', `${k}=${v}`]);
    const result = await onTerminal(['plan', 'start', 'backup-s3', ...params, '--wait', '--interval', '0.1', '--url', url]);
    assert.equal(result.code, 0, result.out);
    assert.match(result.out, /node-\d:\[upload-s3\] \(STARTED\) \[█*░*\] \d+% [\d.]+ (B|KiB|MiB)\/16\.0 MiB [\d.]+ (B|KiB|MiB)\/s ETA \d+s\r?\n/);

    const list = await cli(url, 'snapshots', 'list', '--service', 'svc');
    const lines = list.out.split('\n');
    assert.match(lines[0] ?? '', /^NAME +PLAN +STORAGE +LOCATION +CREATED +SIZE +NODES$/);
    assert.match(lines[1] ?? '', /^watched +backup-s3 +s3 +backups +\d{4}-\d\d-\d\dT\S+ +[\d.]+ MiB +3$/);
  });
});
