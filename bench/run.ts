// `npm run bench`: backup-s3 and restore-s3 through the real API and agents against a local S3
// server, beside GNU tar and gzip on the same data at the same level. Prints a table and writes JSON.
//   npm run bench -- --size-mb 1024 --nodes 3 --level 6 --small-files 20000
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeDataset } from '../scripts/lib/dataset.js';
import { freePort, startRedisServer, startS3rver } from '../scripts/lib/services.js';

const { values: args } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1024' },
    nodes: { type: 'string', default: '3' },
    level: { type: 'string', default: '6' },
    'small-files': { type: 'string', default: '20000' },
    repeat: { type: 'string', default: '3' },
    dir: { type: 'string', default: join(tmpdir(), 'drplan-bench') },
    's3-dir': { type: 'string', default: existsSync('/dev/shm') ? '/dev/shm/drplan-bench-s3' : join(tmpdir(), 'drplan-bench-s3') },
    out: { type: 'string', default: 'bench/results' },
  },
});
const sizeMb = Number(args['size-mb']);
const nodeCount = Number(args.nodes);
const level = Number(args.level);
const smallFiles = Number(args['small-files']);
const repeat = Math.max(1, Number(args.repeat));
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};
const root = args.dir;
const repo = join(import.meta.dirname, '..');
const MB = 1e6;
const BUCKET = 'bench';

const seconds = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;

/**
 * fetch, once more on a network error: the timed GNU commands block this process (spawnSync), and
 * a keep-alive connection the API closed meanwhile is only noticed on the next request.
 */
async function request(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    return fetch(url, init);
  }
}

/** Resident memory of a process now, in MB. */
function rss(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

interface PlanTree {
  status: string;
  finishedAt: string | null;
  errors: string[];
  phases: Array<{ name: string; steps: Array<{ startedAt: string | null; finishedAt: string | null }> }>;
}

function run(command: string): number {
  const started = process.hrtime.bigint();
  const result = spawnSync('/bin/sh', ['-c', command], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (result.status !== 0) throw new Error(`failed (${result.status}): ${command}`);
  return seconds(started);
}

/** Datasets are kept between runs: generating gigabytes takes longer than backing them up. */
async function dataset(dir: string, make: () => Promise<unknown>, key: string): Promise<void> {
  const marker = join(dir, '..', `${dir.split('/').pop() ?? 'x'}.ready`);
  if (existsSync(marker) && readFileSync(marker, 'utf8') === key && existsSync(dir)) return;
  rmSync(dir, { recursive: true, force: true });
  await make();
  writeFileSync(marker, key);
}

const dirs = { large: (i: number) => join(root, 'bench', `node-${i}`), small: join(root, 'bench-small', 'node-0') };

function serviceYaml(name: string, count: number): string {
  return `name: ${name}\npods:\n  node:\n    count: ${count}\n    dataDir: ${join(root, name)}/node-{{POD_INDEX}}\n`;
}

function drplan(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [join(repo, 'bin/drplan.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit'] });
}

/** Peak resident memory of a process so far (Linux VmHWM), in MB. */
function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

const used = (path: string): number => {
  const s = statfsSync(path);
  return (s.blocks - s.bfree) * s.bsize;
};

async function main(): Promise<void> {
  mkdirSync(root, { recursive: true });
  const started = process.hrtime.bigint();
  for (let i = 0; i < nodeCount; i += 1) {
    await dataset(dirs.large(i), () => writeDataset(dirs.large(i), { seed: 1000 + i, largeBytes: sizeMb * 1024 * 1024 * 0.9, largeFiles: Math.max(1, Math.round(sizeMb / 128)), smallFiles: Math.round(sizeMb * 2) }), `${sizeMb}`);
  }
  await dataset(dirs.small, () => writeDataset(dirs.small, { seed: 7, largeBytes: 0, largeFiles: 0, smallFiles }), `${smallFiles}`);
  process.stdout.write(`datasets ready in ${seconds(started).toFixed(0)} s under ${root}\n`);

  mkdirSync(join(root, 'services'), { recursive: true });
  writeFileSync(join(root, 'services', 'bench.yml'), serviceYaml('bench', nodeCount));
  writeFileSync(join(root, 'services', 'bench-small.yml'), serviceYaml('bench-small', 1));
  rmSync(args['s3-dir'], { recursive: true, force: true });
  const redis = await startRedisServer({ dir: join(root, 'redis') });
  const s3 = await startS3rver({ dir: args['s3-dir'], bucket: BUCKET });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    REDIS_URL: redis.url,
    PORT: String(port),
    DRPLAN_SERVICES_DIR: join(root, 'services'),
    DRPLAN_PLANS_DIR: join(repo, 'plans'),
    DRPLAN_GZIP_LEVEL: String(level),
    DRPLAN_QUEUE_PREFIX: `bench${Date.now()}`,
    LOG_LEVEL: 'warn',
  };
  const api = drplan(['api'], env);
  const coordinator = drplan(['coordinator'], env);
  const agents = [drplan(['agent', '--service', 'bench', '--all-nodes'], env), drplan(['agent', '--service', 'bench-small', '--all-nodes'], env)];
  const children = [api, coordinator, ...agents];
  process.on('exit', () => children.forEach((child) => child.kill()));
  for (;;) {
    const ok = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const s3Params = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', S3_BUCKET_NAME: BUCKET, S3_ENDPOINT_URL: s3.endpoint };
  interface Timed {
    /** Start request to plan complete. */
    seconds: number;
    /** Time inside the steps of the transfer phase (the rest is orchestration: snapshots, queues, commit, cleanup). */
    transferSeconds: number;
    extraDiskMb: number;
    /** The agent's largest resident memory seen while the plan ran. */
    agentRssMb: number;
  }
  /** Starts a plan and waits for it to finish; returns its wall time and the peak extra disk used on the data filesystem. */
  const plan = async (service: string, name: string, params: Record<string, string>): Promise<Timed> => {
    const before = used(root);
    let peak = before;
    let agentRssMb = 0;
    const agentPid = (service === 'bench' ? agents[0] : agents[1])?.pid ?? 0;
    const t0 = process.hrtime.bigint();
    const response = await request(`${base}/v1/service/${service}/plans/${name}/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
    if (!response.ok) throw new Error(`${name} start: ${response.status} ${await response.text()}`);
    for (;;) {
      peak = Math.max(peak, used(root));
      agentRssMb = Math.max(agentRssMb, rss(agentPid));
      const tree = (await (await request(`${base}/v1/service/${service}/plans/${name}`)).json()) as PlanTree;
      if (tree.finishedAt !== null) {
        if (tree.status !== 'COMPLETE') throw new Error(`${name} ended ${tree.status}: ${tree.errors.join('; ')}`);
        const transfer = tree.phases.find((p) => p.name === 'upload-backups' || p.name === 'fetch-restore')?.steps ?? [];
        const transferSeconds = transfer.reduce((sum, step) => sum + (Date.parse(step.finishedAt ?? '') - Date.parse(step.startedAt ?? '')) / 1000, 0);
        return { seconds: seconds(t0), transferSeconds, extraDiskMb: (peak - before) / MB, agentRssMb: Math.round(agentRssMb) };
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const objectPath = (snapshot: string, index: number): string => join(args['s3-dir'], BUCKET, snapshot, `node-${index}.tar.gz._S3rver_object`);
  const bytesOf = (dir: string): number => Number(spawnSync('du', ['-sb', dir], { encoding: 'utf8' }).stdout.split('\t')[0]);

  const dataBytes = Array.from({ length: nodeCount }, (_, i) => bytesOf(dirs.large(i))).reduce((a, b) => a + b, 0);
  const strategy = { BACKUP_RESTORE_STRATEGY: 'serial' };
  // Both sides start alike. Backups: the data is in the page cache (read once before timing) and
  // earlier writes are flushed (sync). Restores: each goes into the node's data directory right
  // after the same tree was deleted from it, then flushed: creating files just after deleting many
  // is much slower on some filesystems, so a fresh scratch directory would favour one side.
  const settle = (): void => void spawnSync('sync');
  const warm = (dir: string): void => void run(`tar -cf - -C ${dir} . > /dev/null`);
  const gnuRestoreOf = (snapshot: string, targets: Array<{ index: number; dir: string }>): number =>
    targets.reduce((total, { index, dir }) => {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      settle();
      return total + run(`gzip -dc ${objectPath(snapshot, index)} | tar -xf - -C ${dir}`);
    }, 0);

  // Each round: our backup and GNU's on the same data, then our restore and GNU's from the same objects.
  const rounds: Array<{ backup: Timed; gnuBackup: number; restore: Timed; gnuRestore: number; compressed: number }> = [];
  const nodes = Array.from({ length: nodeCount }, (_, i) => i);
  for (let round = 1; round <= repeat; round += 1) {
    const snapshot = `run-${Date.now()}`;
    process.stdout.write(`round ${round} of ${repeat}: backing up ${(dataBytes / MB).toFixed(0)} MB on ${nodeCount} nodes, then restoring...\n`);
    for (const i of nodes) warm(dirs.large(i));
    settle();
    const backup = await plan('bench', 'backup-s3', { ...s3Params, ...strategy, SNAPSHOT_NAME: snapshot });
    settle();
    const gnuBackup = nodes.reduce((total, i) => total + run(`tar -cf - -C ${dirs.large(i)} . | gzip -${level} > /dev/null`), 0);
    const compressed = nodes.reduce((total, i) => total + bytesOf(objectPath(snapshot, i)), 0);
    for (const i of nodes) rmSync(dirs.large(i), { recursive: true, force: true });
    settle();
    const restore = await plan('bench', 'restore-s3', { ...s3Params, ...strategy, SNAPSHOT_NAME: snapshot });
    const restoredBytes = nodes.reduce((total, i) => total + bytesOf(dirs.large(i)), 0);
    if (restoredBytes !== dataBytes) throw new Error(`restored ${restoredBytes} bytes of ${dataBytes}`);
    rounds.push({ backup, gnuBackup, restore, gnuRestore: gnuRestoreOf(snapshot, nodes.map((i) => ({ index: i, dir: dirs.large(i) }))), compressed });
  }
  const pick = (f: (r: (typeof rounds)[number]) => number): number => median(rounds.map(f));
  const backup: Timed = {
    seconds: pick((r) => r.backup.seconds),
    transferSeconds: pick((r) => r.backup.transferSeconds),
    extraDiskMb: Math.max(...rounds.map((r) => r.backup.extraDiskMb)),
    agentRssMb: Math.max(...rounds.map((r) => r.backup.agentRssMb)),
  };
  const restore: Timed = {
    seconds: pick((r) => r.restore.seconds),
    transferSeconds: pick((r) => r.restore.transferSeconds),
    extraDiskMb: 0,
    agentRssMb: Math.max(...rounds.map((r) => r.restore.agentRssMb)),
  };
  const gnuBackup = pick((r) => r.gnuBackup);
  const gnuRestore = pick((r) => r.gnuRestore);
  const compressed = rounds[0]?.compressed ?? 0;

  process.stdout.write(`small files: ${smallFiles}, ${repeat} rounds...\n`);
  const small: Array<{ backup: number; gnuBackup: number; restore: number; gnuRestore: number }> = [];
  for (let round = 1; round <= repeat; round += 1) {
    const snapshot = `small-${Date.now()}`;
    warm(dirs.small);
    settle();
    const backupRun = await plan('bench-small', 'backup-s3', { ...s3Params, SNAPSHOT_NAME: snapshot });
    settle();
    const gnuBackupRun = run(`tar -cf - -C ${dirs.small} . | gzip -${level} > /dev/null`);
    rmSync(dirs.small, { recursive: true, force: true });
    settle();
    const restoreRun = await plan('bench-small', 'restore-s3', { ...s3Params, SNAPSHOT_NAME: snapshot });
    small.push({ backup: backupRun.seconds, gnuBackup: gnuBackupRun, restore: restoreRun.seconds, gnuRestore: gnuRestoreOf(snapshot, [{ index: 0, dir: dirs.small }]) });
  }
  const smallBackup = { seconds: median(small.map((r) => r.backup)) };
  const smallRestore = { seconds: median(small.map((r) => r.restore)) };
  const gnuSmallBackup = median(small.map((r) => r.gnuBackup));
  const gnuSmallRestore = median(small.map((r) => r.gnuRestore));

  const agentRss = peakRss(agents[0]?.pid ?? 0);
  const smallAgentRss = peakRss(agents[1]?.pid ?? 0);
  const mbps = (bytes: number, s: number): number => Math.round((bytes / MB / s) * 10) / 10;
  const files = smallFiles + 4;
  const results = {
    date: new Date().toISOString(),
    machine: {
      cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
      memoryGiB: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      tar: spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0],
      gzip: spawnSync('gzip', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0],
    },
    parameters: { sizeMbPerNode: sizeMb, nodes: nodeCount, gzipLevel: level, strategy: 'serial', smallFiles, rounds: repeat, statistic: 'median' },
    data: { bytes: dataBytes, compressedBytes: compressed, ratio: Math.round((compressed / dataBytes) * 1000) / 1000 },
    backup: { seconds: backup.seconds, transferSeconds: backup.transferSeconds, mbps: mbps(dataBytes, backup.seconds), gnuSeconds: gnuBackup, gnuMbps: mbps(dataBytes, gnuBackup), ratio: Math.round((gnuBackup / backup.seconds) * 100) / 100, extraDiskMb: Math.round(backup.extraDiskMb) },
    restore: { seconds: restore.seconds, transferSeconds: restore.transferSeconds, mbps: mbps(dataBytes, restore.seconds), gnuSeconds: gnuRestore, gnuMbps: mbps(dataBytes, gnuRestore), ratio: Math.round((gnuRestore / restore.seconds) * 100) / 100 },
    smallFiles: {
      backupFilesPerSecond: Math.round(files / smallBackup.seconds),
      gnuBackupFilesPerSecond: Math.round(files / gnuSmallBackup),
      restoreFilesPerSecond: Math.round(files / smallRestore.seconds),
      gnuRestoreFilesPerSecond: Math.round(files / gnuSmallRestore),
    },
    agentPeakRssMb: Math.round(agentRss),
    agentRssDuringBackupMb: backup.agentRssMb,
    agentRssDuringRestoreMb: restore.agentRssMb,
    smallFilesAgentPeakRssMb: Math.round(smallAgentRss),
  };
  mkdirSync(args.out, { recursive: true });
  const file = join(args.out, `bench-${sizeMb}mb-${nodeCount}n-${Date.now()}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  const row = (what: string, ours: number, gnu: number, unit: string, ratio: number): string =>
    `${what.padEnd(22)} ${`${ours} ${unit}`.padStart(14)} ${`${gnu} ${unit}`.padStart(14)} ${ratio.toFixed(2).padStart(8)}`;
  process.stdout.write(
    [
      '',
      `${(dataBytes / MB).toFixed(0)} MB on ${nodeCount} nodes (${sizeMb} MiB each), gzip -${level}, serial; compressed to ${(compressed / MB).toFixed(0)} MB; medians of ${repeat} rounds`,
      `${'what'.padEnd(22)} ${'drplan'.padStart(14)} ${'GNU tar+gzip'.padStart(14)} ${'ratio'.padStart(8)}`,
      row('backup', results.backup.mbps, results.backup.gnuMbps, 'MB/s', results.backup.ratio),
      row('restore', results.restore.mbps, results.restore.gnuMbps, 'MB/s', results.restore.ratio),
      row('small-file backup', results.smallFiles.backupFilesPerSecond, results.smallFiles.gnuBackupFilesPerSecond, 'files/s', results.smallFiles.backupFilesPerSecond / results.smallFiles.gnuBackupFilesPerSecond),
      row('small-file restore', results.smallFiles.restoreFilesPerSecond, results.smallFiles.gnuRestoreFilesPerSecond, 'files/s', results.smallFiles.restoreFilesPerSecond / results.smallFiles.gnuRestoreFilesPerSecond),
      `plan wall time vs time in the transfer steps: backup ${backup.seconds.toFixed(1)} s / ${backup.transferSeconds.toFixed(1)} s, restore ${restore.seconds.toFixed(1)} s / ${restore.transferSeconds.toFixed(1)} s`,
      `agent RSS: ${results.agentPeakRssMb} MB at most; seen during backup ${backup.agentRssMb} MB, restore ${restore.agentRssMb} MB; extra disk on the data filesystem during backup: ${results.backup.extraDiskMb} MB`,
      `written to ${file}`,
      '',
    ].join('\n'),
  );
  for (const child of children) child.kill('SIGTERM');
  await s3.stop();
  redis.stop();
  rmSync(args['s3-dir'], { recursive: true, force: true });
}

main().catch((error: unknown) => {
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}${cause}\n`);
  process.exit(1);
});
