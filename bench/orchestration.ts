// `npm run bench -- --case orchestration`: what a plan costs beside its transfers. A service of
// --nodes nodes (100 by default) with a few KB each, backed up to local S3 (s3rver) through the
// real API, one coordinator and one `--all-nodes` agent, serially and in parallel; and the plan
// status route under a steady --rate of requests per second for --seconds while a parallel backup
// runs, with its latency percentiles. Writes JSON to bench/results/.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, getPriority, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { drplanArgs, freePort, startRedisServer, startS3rver } from '../scripts/lib/services.js';

const { values: args } = parseArgs({
  options: {
    case: { type: 'string', default: 'orchestration' },
    nodes: { type: 'string', default: '100' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '20' },
    dir: { type: 'string', default: join(tmpdir(), 'drplan-bench-orchestration') },
    out: { type: 'string', default: 'bench/results' },
  },
  strict: false,
});
const nodeCount = Number(args.nodes);
const rate = Number(args.rate);
const loadSeconds = Number(args.seconds);
const root = String(args.dir);
const repo = join(import.meta.dirname, '..');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Tree {
  status: string;
  finishedAt: string | null;
  errors: string[];
  phases: Array<{ name: string; steps: Array<{ startedAt: string | null; finishedAt: string | null }> }>;
}


async function main(): Promise<void> {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'services'), { recursive: true });
  for (let i = 0; i < nodeCount; i += 1) {
    const dir = join(root, 'orch', `node-${i}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 3; f += 1) writeFileSync(join(dir, `file-${f}`), `node ${i} file ${f}\n`.repeat(40));
  }
  writeFileSync(join(root, 'services', 'orch.yml'), `name: orch\npods:\n  node:\n    count: ${nodeCount}\n    dataDir: ${join(root, 'orch')}/node-{{POD_INDEX}}\n`);
  const redis = await startRedisServer({ dir: join(root, 'redis') });
  const s3 = await startS3rver({ dir: join(root, 's3'), bucket: 'bench' });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    REDIS_URL: redis.url,
    PORT: String(port),
    DRPLAN_SERVICES_DIR: join(root, 'services'),
    DRPLAN_PLANS_DIR: join(repo, 'plans'),
    DRPLAN_QUEUE_PREFIX: `orch${Date.now()}`,
    LOG_LEVEL: 'warn',
  };
  const drplan = (argv: string[]): ChildProcess => spawn(process.execPath, drplanArgs(argv), { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const children = [drplan(['api']), drplan(['coordinator']), drplan(['agent', '--service', 'orch', '--all-nodes'])];
  process.on('exit', () => children.forEach((child) => child.kill()));
  while (!(await fetch(`${base}/readyz`).then((r) => r.ok, () => false))) await sleep(200);
  const parameters = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', S3_BUCKET_NAME: 'bench', S3_ENDPOINT_URL: s3.endpoint };
  const treeUrl = `${base}/v1/service/orch/plans/backup-s3`;

  const start = async (snapshot: string, strategy: string): Promise<number> => {
    const t0 = Date.now();
    const response = await fetch(`${base}/v1/service/orch/plans/backup-s3/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...parameters, SNAPSHOT_NAME: snapshot, BACKUP_RESTORE_STRATEGY: strategy }),
    });
    if (!response.ok) throw new Error(`start: ${response.status} ${await response.text()}`);
    return t0;
  };
  const finished = async (): Promise<Tree> => {
    for (;;) {
      const tree = (await (await fetch(treeUrl)).json()) as Tree;
      if (tree.finishedAt !== null) {
        if (tree.status !== 'COMPLETE') throw new Error(`backup ended ${tree.status}: ${tree.errors.slice(0, 3).join('; ')}`);
        return tree;
      }
      await sleep(250);
    }
  };
  /** Wall time during which at least one upload step ran: their sum when serial, their union when parallel. */
  const transferSeconds = (tree: Tree): number => {
    const spans = (tree.phases.find((p) => p.name === 'upload-backups')?.steps ?? [])
      .map((s) => [Date.parse(s.startedAt ?? ''), Date.parse(s.finishedAt ?? '')] as const)
      .sort((a, b) => a[0] - b[0]);
    let total = 0;
    let end = -Infinity;
    for (const [from, to] of spans) {
      if (to <= end) continue;
      total += to - Math.max(from, end);
      end = to;
    }
    return total / 1000;
  };

  const plans: Record<string, { wallSeconds: number; transferSeconds: number; overheadSeconds: number }> = {};
  for (const strategy of ['serial', 'parallel']) {
    process.stdout.write(`backup-s3 of ${nodeCount} nodes, ${strategy}...\n`);
    const t0 = await start(`orch-${strategy}-${Date.now()}`, strategy);
    const tree = await finished();
    const wall = (Date.parse(tree.finishedAt ?? '') - t0) / 1000;
    const transfer = transferSeconds(tree);
    plans[strategy] = { wallSeconds: round(wall), transferSeconds: round(transfer), overheadSeconds: round(wall - transfer) };
  }

  // The status route at a steady rate, from its own process (the storage emulator runs in this
  // one), during a parallel backup.
  process.stdout.write(`GET the plan tree at ${rate}/s for ${loadSeconds} s during a parallel backup...\n`);
  const load = spawn(process.execPath, ['--import', 'tsx', join(repo, 'bench/status-load.ts'), '--url', treeUrl, '--rate', String(rate), '--seconds', String(loadSeconds)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  load.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const loadDone = new Promise<void>((resolve, reject) => load.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the load generator exited with ${code}`)))));
  // It warms up on the finished plan first (3 s at the same rate, not counted), then the backup
  // and the measured window begin together.
  while (!output.includes('ready\n')) {
    if (load.exitCode !== null) throw new Error('the load generator stopped before it was ready');
    await sleep(20);
  }
  output = '';
  // The storage emulator, in this process, stands in for object storage that is elsewhere in a
  // real deployment: from here on it yields the CPU to what runs on this host (as the agent does
  // by itself, DRPLAN_AGENT_NICE), so the figures are of the API, not of s3rver's share.
  setPriority(Math.max(getPriority(), 10));
  const loadStart = await start(`orch-load-${Date.now()}`, 'parallel');
  load.stdin.end('go\n');
  const loadedBackup = await finished();
  await loadDone;
  const status = JSON.parse(output) as { requests: number; failed: number; achievedRate: number; p50ms: number; p99ms: number; maxMs: number; p99msBySecond: number[] };
  const backupSeconds = round((Date.parse(loadedBackup.finishedAt ?? '') - loadStart) / 1000);
  const failed = status.failed;

  const report = { date: new Date().toISOString(), machine: { cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, node: process.version }, parameters: { nodes: nodeCount, rate, seconds: loadSeconds }, plans, status: { ...status, backupSeconds } };
  mkdirSync(String(args.out), { recursive: true });
  const file = join(String(args.out), `orchestration-${nodeCount}n-${Date.now()}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(
    [
      '',
      `backup-s3 of ${nodeCount} nodes (a few KB each): wall time, time with an upload step running, and the rest (the plan's own overhead)`,
      ...Object.entries(plans).map(([strategy, p]) => `  ${strategy.padEnd(9)} ${String(p.wallSeconds).padStart(7)} s  ${String(p.transferSeconds).padStart(7)} s  ${String(p.overheadSeconds).padStart(7)} s`),
      `plan status at ${rate}/s for ${loadSeconds} s during a parallel backup (${backupSeconds} s of it): ${status.achievedRate}/s answered, p50 ${status.p50ms} ms, p99 ${status.p99ms} ms, max ${status.maxMs} ms, ${failed} failed`,
      `  p99 by second (ms): ${status.p99msBySecond.join(' ')}`,
      `written to ${file}`,
      '',
    ].join('\n'),
  );
  for (const child of children) child.kill('SIGTERM');
  await s3.stop();
  redis.stop();
  rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
