// `npm run bench`: backup and restore plans through the real API and agents, against local S3
// (s3rver) and Azure (Azurite) servers, beside GNU tar and gzip on the same data at the same level.
// Prints a table per storage and writes JSON to bench/results/.
//   npm run bench -- --size-mb 1024 --nodes 3 --level 6 --small-files 20000 --repeat 3 --storage s3,azure
//   npm run bench -- --case orchestration [--nodes 100 --rate 500 --seconds 20]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { writeDataset } from '../scripts/lib/dataset.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, drplanArgs, freePort, startAzuriteBlob, startRedisServer, startS3rver } from '../scripts/lib/services.js';
import { storageDriver, DEFAULT_TRANSFER_SETTINGS, type StorageKind } from '../src/storage/index.js';

const { values: args } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1024' },
    nodes: { type: 'string', default: '3' },
    level: { type: 'string', default: '6' },
    'small-files': { type: 'string', default: '20000' },
    repeat: { type: 'string', default: '3' },
    storage: { type: 'string', default: 's3,azure' },
    dir: { type: 'string', default: join(tmpdir(), 'drplan-bench') },
    'store-dir': { type: 'string', default: existsSync('/dev/shm') ? '/dev/shm/drplan-bench-store' : join(tmpdir(), 'drplan-bench-store') },
    out: { type: 'string', default: 'bench/results' },
    // `--case orchestration`: the plan's own cost at 100 nodes instead (bench/orchestration.ts).
    case: { type: 'string', default: 'throughput' },
    // `--isolated false`: only the cases through the API (a memory check at a larger size).
    isolated: { type: 'string', default: 'true' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
  },
});
const sizeMb = Number(args['size-mb']);
const nodeCount = Number(args.nodes);
const level = Number(args.level);
const smallFiles = Number(args['small-files']);
const repeat = Math.max(1, Number(args.repeat));
const storages = args.storage.split(',').map((s) => s.trim()) as Array<Extract<StorageKind, 's3' | 'azure'>>;
const root = args.dir;
const storeDir = args['store-dir'];
const repo = join(import.meta.dirname, '..');
const MB = 1e6;
const BUCKET = 'bench';

const seconds = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

/** Runs a shell command, returns its wall time in seconds. */
function run(command: string): number {
  return shell(command).seconds;
}

/** Runs a shell command (bash, for pipefail): its wall time and the CPU seconds of everything it ran (bash's `times`). */
function shell(command: string): { seconds: number; cpu: number } {
  const started = process.hrtime.bigint();
  const result = spawnSync('/bin/bash', ['-o', 'pipefail', '-c', `${command}\ntimes >&3`], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  const wall = seconds(started);
  if (result.status !== 0) throw new Error(`failed (${result.status}): ${command}`);
  // The second line of `times`: user and system time of the shell's children, as 0m1.234s 0m0.056s.
  const children = String(result.output[3] ?? '').trim().split('\n')[1] ?? '';
  const cpu = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
  return { seconds: wall, cpu };
}

const has = (tool: string): boolean => spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

/** CPU seconds a process has used so far (utime + stime from /proc/<pid>/stat), 0 once it is gone. */
function cpuOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

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

/** Resident memory of a process (VmRSS now, or VmHWM: its peak so far), in MB. */
function memory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

const used = (path: string): number => {
  const s = statfsSync(path);
  return (s.blocks - s.bfree) * s.bsize;
};

interface PlanTree {
  status: string;
  finishedAt: string | null;
  errors: string[];
  phases: Array<{ name: string; steps: Array<{ startedAt: string | null; finishedAt: string | null }> }>;
}

interface Timed {
  /** Start request to plan complete. */
  seconds: number;
  /** Time inside the steps of the transfer phase; the rest is orchestration (snapshots, queues, commit, cleanup). */
  transferSeconds: number;
  extraDiskMb: number;
  /** The agent's largest resident memory seen while the plan ran. */
  agentRssMb: number;
  /** CPU seconds of the drplan processes (API, coordinator, agent) while the plan ran. */
  stackCpu: number;
  /** CPU seconds of the storage emulator (and of this process, which polls) meanwhile. */
  emulatorCpu: number;
}

/** Datasets are kept between runs: generating gigabytes takes longer than backing them up. */
async function dataset(dir: string, make: () => Promise<unknown>, key: string): Promise<void> {
  const marker = `${dir}.ready`;
  if (existsSync(marker) && readFileSync(marker, 'utf8') === key && existsSync(dir)) return;
  rmSync(dir, { recursive: true, force: true });
  await make();
  writeFileSync(marker, key);
}

const dirs = { large: (i: number) => join(root, 'bench', `node-${i}`), small: join(root, 'bench-small', 'node-0') };
const serviceYaml = (name: string, count: number): string => `name: ${name}\npods:\n  node:\n    count: ${count}\n    dataDir: ${join(root, name)}/node-{{POD_INDEX}}\n`;

async function main(): Promise<void> {
  mkdirSync(root, { recursive: true });
  const started = process.hrtime.bigint();
  for (let i = 0; i < nodeCount; i += 1) {
    const options = { seed: 1000 + i, largeBytes: sizeMb * 1024 * 1024 * 0.9, largeFiles: Math.max(1, Math.round(sizeMb / 128)), smallFiles: Math.round(sizeMb * 2) };
    await dataset(dirs.large(i), () => writeDataset(dirs.large(i), options), JSON.stringify(options));
  }
  await dataset(dirs.small, () => writeDataset(dirs.small, { seed: 7, largeBytes: 0, largeFiles: 0, smallFiles }), `${smallFiles}`);
  process.stdout.write(`datasets ready in ${seconds(started).toFixed(0)} s under ${root}\n`);

  mkdirSync(join(root, 'services'), { recursive: true });
  writeFileSync(join(root, 'services', 'bench.yml'), serviceYaml('bench', nodeCount));
  writeFileSync(join(root, 'services', 'bench-small.yml'), serviceYaml('bench-small', 1));
  rmSync(storeDir, { recursive: true, force: true });
  const redis = await startRedisServer({ dir: join(root, 'redis') });
  const parameters: Record<string, Record<string, string>> = {};
  // The S3 emulator runs in this process; Azurite in its own.
  let azurite: { pid: number | undefined } | undefined;
  const stops: Array<() => unknown> = [];
  if (storages.includes('s3')) {
    const s3 = await startS3rver({ dir: join(storeDir, 's3'), bucket: BUCKET });
    parameters['s3'] = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', S3_BUCKET_NAME: BUCKET, S3_ENDPOINT_URL: s3.endpoint };
    stops.push(() => s3.stop());
  }
  if (storages.includes('azure')) {
    const azure = await startAzuriteBlob({ dir: join(storeDir, 'azurite'), container: BUCKET });
    azurite = azure;
    parameters['azure'] = { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_KEY, CONTAINER_NAME: BUCKET, AZURE_BLOB_ENDPOINT: azure.endpoint };
    stops.push(() => azure.stop());
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    REDIS_URL: redis.url,
    PORT: String(port),
    DRPLAN_SERVICES_DIR: join(root, 'services'),
    DRPLAN_PLANS_DIR: join(repo, 'plans'),
    DRPLAN_GZIP_LEVEL: String(level),
    DRPLAN_QUEUE_PREFIX: `bench${Date.now()}`,
    LOG_LEVEL: 'warn',
  };
  const drplan = (argv: string[]): ChildProcess => spawn(process.execPath, drplanArgs(argv), { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const agents = { bench: drplan(['agent', '--service', 'bench', '--all-nodes']), 'bench-small': drplan(['agent', '--service', 'bench-small', '--all-nodes']) };
  const api = drplan(['api']);
  const coordinator = drplan(['coordinator']);
  const children = [api, coordinator, ...Object.values(agents)];
  process.on('exit', () => children.forEach((child) => child.kill()));
  while (!(await fetch(`${base}/readyz`).then((r) => r.ok, () => false))) await sleep(200);

  /** Starts a plan and waits for it to finish. */
  const plan = async (service: 'bench' | 'bench-small', storage: StorageKind, name: string, params: Record<string, string>): Promise<Timed> => {
    const before = used(root);
    let peak = before;
    let agentRssMb = 0;
    const stackPids = [api.pid ?? 0, coordinator.pid ?? 0, agents[service].pid ?? 0];
    const cpu0 = stackPids.reduce((sum, pid) => sum + cpuOf(pid), 0);
    const emulatorPid = storage === 'azure' ? azurite?.pid : undefined;
    const self0 = process.cpuUsage();
    const emulator0 = emulatorPid === undefined ? 0 : cpuOf(emulatorPid);
    const t0 = process.hrtime.bigint();
    const response = await request(`${base}/v1/service/${service}/plans/${name}/start`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
    if (!response.ok) throw new Error(`${name} start: ${response.status} ${await response.text()}`);
    for (;;) {
      peak = Math.max(peak, used(root));
      agentRssMb = Math.max(agentRssMb, memory(agents[service].pid ?? 0, 'VmRSS'));
      const tree = (await (await request(`${base}/v1/service/${service}/plans/${name}`)).json()) as PlanTree;
      if (tree.finishedAt !== null) {
        if (tree.status !== 'COMPLETE') throw new Error(`${name} ended ${tree.status}: ${tree.errors.join('; ')}`);
        const transfer = tree.phases.find((p) => p.name === 'upload-backups' || p.name === 'fetch-restore')?.steps ?? [];
        const transferSeconds = transfer.reduce((sum, step) => sum + (Date.parse(step.finishedAt ?? '') - Date.parse(step.startedAt ?? '')) / 1000, 0);
        const self = process.cpuUsage(self0);
        const stackCpu = stackPids.reduce((sum, pid) => sum + cpuOf(pid), 0) - cpu0;
        const emulatorCpu = (self.user + self.system) / 1e6 + (emulatorPid === undefined ? 0 : cpuOf(emulatorPid) - emulator0);
        return { seconds: seconds(t0), transferSeconds, extraDiskMb: (peak - before) / MB, agentRssMb: Math.round(agentRssMb), stackCpu, emulatorCpu };
      }
      await sleep(100);
    }
  };
  const bytesOf = (dir: string): number => Number(spawnSync('du', ['-sb', dir], { encoding: 'utf8' }).stdout.split('\t')[0]);

  // Both sides start alike. Backups: the data is in the page cache (read once before timing) and
  // earlier writes are flushed (sync). Restores: each goes into the node's data directory right
  // after the same tree was deleted from it, then flushed: creating files just after deleting many
  // is much slower on some filesystems, so a fresh scratch directory would favour one side.
  const settle = (): void => void spawnSync('sync');
  // tar writing to /dev/null reads no file data (it knows nothing will look): through cat it must.
  const warm = (dir: string): void => void run(`tar -cf - -C ${dir} . | cat > /dev/null`);
  const download = async (storage: StorageKind, key: string): Promise<string> => {
    const values = parameters[storage] ?? {};
    const driver = storageDriver(storage);
    const store = driver.open(driver.locate(values), values, DEFAULT_TRANSFER_SETTINGS);
    const file = join(storeDir, `gnu-${key.replace(/\//g, '-')}`);
    await pipeline((await store.get(key)).body, createWriteStream(file));
    store.close();
    return file;
  };
  /** GNU restores from the same objects, fetched to local files first (not timed: it reads no network). */
  const gnuRestore = async (storage: StorageKind, snapshot: string, targets: Array<{ index: number; dir: string }>): Promise<number> => {
    let total = 0;
    for (const { index, dir } of targets) {
      const file = await download(storage, `${snapshot}/node-${index}.tar.gz`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      settle();
      total += run(`gzip -dc ${file} | tar -xf - -C ${dir}`);
      rmSync(file);
    }
    return total;
  };

  const dataBytes = Array.from({ length: nodeCount }, (_, i) => bytesOf(dirs.large(i))).reduce((a, b) => a + b, 0);
  const nodes = Array.from({ length: nodeCount }, (_, i) => i);
  const results: Record<string, unknown> = {};
  const lines: string[] = [];
  const mbps = (bytes: number, s: number): number => Math.round((bytes / MB / s) * 10) / 10;
  const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
  const row = (what: string, ours: number, gnu: number, unit: string, peer = 'GNU'): string =>
    `${what.padEnd(40)} ${`${ours} ${unit}`.padStart(14)} ${`${gnu} ${unit}`.padStart(14)} ${(ours / gnu).toFixed(2).padStart(7)}  ${peer}`;
  const cpuRow = (what: string, ours: number, peer: number, name: string): string => `${what.padEnd(40)} ${`${ours.toFixed(1)} CPU-s`.padStart(14)} ${`${peer.toFixed(1)} CPU-s`.padStart(14)} ${(ours / peer).toFixed(2).padStart(7)}  ${name}`;

  // Isolated: one archive operation in its own process (dist/bench/archive-op.js), against the
  // peers on the same data, node 0's dataset and the small-file one. Restores go into a directory
  // emptied (and synced) just before, for each side alike.
  const op = (args: string): string => `${JSON.stringify(process.execPath)} ${JSON.stringify(join(repo, 'dist/bench/archive-op.js'))} ${args}`;
  const tools = { pigz: has('pigz'), zstd: has('zstd') };
  for (const [tool, present] of Object.entries(tools)) if (!present) lines.push(`${tool} is not installed: its columns are skipped (apt-get install -y ${tool})`);
  const scratch = join(root, 'unpack');
  const fresh = (): string => {
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch, { recursive: true });
    settle();
    return scratch;
  };
  const sha256Of = (file: string): string => spawnSync('sha256sum', [file], { encoding: 'utf8' }).stdout.slice(0, 64);
  interface Case {
    name: string;
    unit: 'MB/s' | 'files/s';
    amount: number;
    ours: () => string;
    peers: Array<{ name: string; command: () => string; present: boolean }>;
    before: () => void;
  }
  const isolatedCases = (dir: string, label: string, amount: number, unit: Case['unit'], compressions: Array<'gzip' | 'zstd'>): Case[] => {
    const cases: Case[] = [];
    for (const compression of compressions) {
      const lvl = compression === 'gzip' ? level : 3;
      const archive = join(root, `${label.replace(/\W+/g, '-')}.${compression === 'gzip' ? 'tar.gz' : 'tar.zst'}`);
      run(`${op(`pack ${dir} ${compression} ${lvl}`)} > ${archive}`);
      const sha = sha256Of(archive);
      const peers =
        compression === 'gzip'
          ? [
              { name: `tar | gzip -${lvl}`, command: () => `tar -cf - -C ${dir} . | gzip -${lvl} > /dev/null`, present: true },
              { name: `tar | pigz -p 2 -${lvl}`, command: () => `tar -cf - -C ${dir} . | pigz -p 2 -${lvl} > /dev/null`, present: tools.pigz },
            ]
          : [{ name: 'tar | zstd -3 -T2', command: () => `tar -cf - -C ${dir} . | zstd -q -3 -T2 > /dev/null`, present: tools.zstd }];
      cases.push({ name: `${label} pack, ${compression} -${lvl}`, unit, amount, ours: () => `${op(`pack ${dir} ${compression} ${lvl}`)} > /dev/null`, peers, before: () => warm(dir) });
      const unpackPeers =
        compression === 'gzip'
          ? [
              { name: 'gzip -dc | tar -x', command: () => `gzip -dc < ${archive} | tar -xf - -C ${fresh()}`, present: true },
              { name: 'pigz -dc | tar -x', command: () => `pigz -dc < ${archive} | tar -xf - -C ${fresh()}`, present: tools.pigz },
            ]
          : [{ name: 'zstd -dc | tar -x', command: () => `zstd -q -dc < ${archive} | tar -xf - -C ${fresh()}`, present: tools.zstd }];
      cases.push({ name: `${label} unpack, ${compression}, sha256 checked`, unit, amount, ours: () => op(`unpack ${archive} ${fresh()} ${compression} ${sha}`), peers: unpackPeers, before: () => run(`cat ${archive} > /dev/null`) });
    }
    return cases;
  };
  const largeFiles = Number(spawnSync('/bin/sh', ['-c', `find ${dirs.large(0)} -type f | wc -l`], { encoding: 'utf8' }).stdout.trim());
  const smallCount = smallFiles + 4;
  const cases = args.isolated === 'false' ? [] : [
    ...isolatedCases(dirs.large(0), 'node-0', bytesOf(dirs.large(0)), 'MB/s', ['gzip', 'zstd']),
    ...isolatedCases(dirs.small, 'small files', smallCount, 'files/s', ['gzip']),
  ];
  const isolated: Record<string, unknown> = {};
  lines.push('', `isolated, one process each, node 0's data (${(bytesOf(dirs.large(0)) / MB).toFixed(1)} MB, ${largeFiles} files) and ${smallCount} small files; medians of ${repeat} rounds`);
  lines.push(`${'what'.padEnd(40)} ${'drplan'.padStart(14)} ${'peer'.padStart(14)} ${'ratio'.padStart(7)}  peer`);
  for (const c of cases) {
    process.stdout.write(`isolated: ${c.name}...\n`);
    const ours: Array<{ seconds: number; cpu: number }> = [];
    const peers = new Map<string, Array<{ seconds: number; cpu: number }>>();
    for (let round = 1; round <= repeat; round += 1) {
      // Side by side, round by round: a drift of the machine's speed hits both.
      c.before();
      const mine = c.ours();
      ours.push(shell(mine));
      for (const peer of c.peers.filter((p) => p.present)) {
        c.before();
        const command = peer.command();
        peers.set(peer.name, [...(peers.get(peer.name) ?? []), shell(command)]);
      }
    }
    const rate = (runs: Array<{ seconds: number }>): number => {
      const s = median(runs.map((r) => r.seconds));
      return c.unit === 'MB/s' ? mbps(c.amount, s) : Math.round(c.amount / s);
    };
    const entry: Record<string, unknown> = { drplan: { rate: rate(ours), seconds: median(ours.map((r) => r.seconds)), cpu: median(ours.map((r) => r.cpu)) } };
    for (const peer of c.peers) {
      const runs = peers.get(peer.name);
      if (runs === undefined) {
        lines.push(`${c.name.padEnd(40)} ${`${rate(ours)} ${c.unit}`.padStart(14)} ${'skipped'.padStart(14)} ${''.padStart(7)}  ${peer.name} (not installed)`);
        continue;
      }
      entry[peer.name] = { rate: rate(runs), seconds: median(runs.map((r) => r.seconds)), cpu: median(runs.map((r) => r.cpu)), ratio: ratio(rate(ours), rate(runs)) };
      lines.push(row(c.name, rate(ours), rate(runs), c.unit, peer.name));
      lines.push(cpuRow('  CPU', median(ours.map((r) => r.cpu)), median(runs.map((r) => r.cpu)), peer.name));
    }
    isolated[c.name] = entry;
  }
  rmSync(scratch, { recursive: true, force: true });
  results['isolated'] = isolated;

  // Through the API, the coordinator, the agent and the emulator: backup with each compression,
  // and restore, against tar | gzip and gzip -dc | tar -x on the same data.
  const compressions = ['gzip', 'zstd'] as const;
  for (const storage of storages) {
    const params = parameters[storage] ?? {};
    type Round = { backup: Record<string, Timed>; restore: Record<string, Timed>; gnuBackup: { seconds: number; cpu: number }; gnuRestore: number; compressed: Record<string, number>; rssAfterMb: number };
    const rounds: Round[] = [];
    for (let round = 1; round <= repeat; round += 1) {
      const r: Round = { backup: {}, restore: {}, gnuBackup: { seconds: 0, cpu: 0 }, gnuRestore: 0, compressed: {}, rssAfterMb: 0 };
      let gzipSnapshot = '';
      for (const compression of compressions) {
        const snapshot = `run-${compression}-${Date.now()}`;
        if (compression === 'gzip') gzipSnapshot = snapshot;
        process.stdout.write(`${storage} round ${round} of ${repeat}: ${compression} backup of ${(dataBytes / MB).toFixed(0)} MB on ${nodeCount} nodes, then its restore...\n`);
        for (const i of nodes) warm(dirs.large(i));
        settle();
        r.backup[compression] = await plan('bench', storage, `backup-${storage}`, { ...params, BACKUP_RESTORE_STRATEGY: 'serial', SNAPSHOT_NAME: snapshot, COMPRESSION: compression });
        const manifest = JSON.parse(readFileSync(await download(storage, `${snapshot}/manifest.json`), 'utf8')) as { bytes: number };
        r.compressed[compression] = manifest.bytes;
        for (const i of nodes) rmSync(dirs.large(i), { recursive: true, force: true });
        settle();
        r.restore[compression] = await plan('bench', storage, `restore-${storage}`, { ...params, BACKUP_RESTORE_STRATEGY: 'serial', SNAPSHOT_NAME: snapshot });
        const restored = nodes.reduce((total, i) => total + bytesOf(dirs.large(i)), 0);
        if (restored !== dataBytes) throw new Error(`restored ${restored} bytes of ${dataBytes}`);
      }
      for (const i of nodes) warm(dirs.large(i));
      settle();
      r.gnuBackup = nodes.map((i) => shell(`tar -cf - -C ${dirs.large(i)} . | gzip -${level} > /dev/null`)).reduce((a, b) => ({ seconds: a.seconds + b.seconds, cpu: a.cpu + b.cpu }));
      r.gnuRestore = await gnuRestore(storage, gzipSnapshot, nodes.map((i) => ({ index: i, dir: dirs.large(i) })));
      r.rssAfterMb = Math.round(memory(agents.bench.pid ?? 0, 'VmRSS'));
      rounds.push(r);
    }
    const small: Array<{ backup: number; gnuBackup: number; restore: number; gnuRestore: number }> = [];
    for (let round = 1; round <= repeat; round += 1) {
      process.stdout.write(`${storage} small files round ${round} of ${repeat}: ${smallFiles} files...\n`);
      const snapshot = `small-${Date.now()}`;
      warm(dirs.small);
      settle();
      const backup = await plan('bench-small', storage, `backup-${storage}`, { ...params, SNAPSHOT_NAME: snapshot });
      settle();
      const gnuBackup = run(`tar -cf - -C ${dirs.small} . | gzip -${level} > /dev/null`);
      rmSync(dirs.small, { recursive: true, force: true });
      settle();
      const restore = await plan('bench-small', storage, `restore-${storage}`, { ...params, SNAPSHOT_NAME: snapshot });
      small.push({ backup: backup.seconds, gnuBackup, restore: restore.seconds, gnuRestore: await gnuRestore(storage, snapshot, [{ index: 0, dir: dirs.small }]) });
    }
    const pick = (f: (r: Round) => number): number => median(rounds.map(f));
    const gnuBackup = { seconds: pick((r) => r.gnuBackup.seconds), cpu: pick((r) => r.gnuBackup.cpu) };
    const gnuRestoreSeconds = pick((r) => r.gnuRestore);
    const perCompression: Record<string, unknown> = {};
    lines.push(
      '',
      `${storage}, through the API: ${(dataBytes / MB).toFixed(0)} MB on ${nodeCount} nodes (${sizeMb} MiB each), serial; medians of ${repeat} rounds`,
      `${'what'.padEnd(40)} ${'drplan'.padStart(14)} ${'peer'.padStart(14)} ${'ratio'.padStart(7)}  peer`,
    );
    for (const compression of compressions) {
      const backup = { seconds: pick((r) => r.backup[compression]?.seconds ?? 0), transferSeconds: pick((r) => r.backup[compression]?.transferSeconds ?? 0), stackCpu: pick((r) => r.backup[compression]?.stackCpu ?? 0), emulatorCpu: pick((r) => r.backup[compression]?.emulatorCpu ?? 0) };
      const restore = { seconds: pick((r) => r.restore[compression]?.seconds ?? 0), transferSeconds: pick((r) => r.restore[compression]?.transferSeconds ?? 0), stackCpu: pick((r) => r.restore[compression]?.stackCpu ?? 0), emulatorCpu: pick((r) => r.restore[compression]?.emulatorCpu ?? 0) };
      const compressed = rounds[0]?.compressed[compression] ?? 0;
      perCompression[compression] = {
        compressedBytes: compressed,
        backup: { ...backup, mbps: mbps(dataBytes, backup.seconds), ratio: ratio(gnuBackup.seconds, backup.seconds), extraDiskMb: Math.round(Math.max(...rounds.map((r) => r.backup[compression]?.extraDiskMb ?? 0))) },
        restore: { ...restore, mbps: mbps(dataBytes, restore.seconds), ratio: ratio(gnuRestoreSeconds, restore.seconds) },
        agentRssMb: { duringBackup: Math.max(...rounds.map((r) => r.backup[compression]?.agentRssMb ?? 0)), duringRestore: Math.max(...rounds.map((r) => r.restore[compression]?.agentRssMb ?? 0)) },
      };
      lines.push(
        row(`backup, ${compression}`, mbps(dataBytes, backup.seconds), mbps(dataBytes, gnuBackup.seconds), 'MB/s', `tar | gzip -${level}`),
        cpuRow('  CPU, drplan processes', backup.stackCpu, gnuBackup.cpu, `tar | gzip -${level}`),
        `${'  CPU, storage emulator'.padEnd(40)} ${`${backup.emulatorCpu.toFixed(1)} CPU-s`.padStart(14)}`,
        row(`restore, ${compression}`, mbps(dataBytes, restore.seconds), mbps(dataBytes, gnuRestoreSeconds), 'MB/s', 'gzip -dc | tar -x'),
        `${'  CPU, drplan processes'.padEnd(40)} ${`${restore.stackCpu.toFixed(1)} CPU-s`.padStart(14)}`,
        `${'  CPU, storage emulator'.padEnd(40)} ${`${restore.emulatorCpu.toFixed(1)} CPU-s`.padStart(14)}`,
        `  compressed to ${(compressed / MB).toFixed(0)} MB; plan wall / transfer steps: backup ${backup.seconds.toFixed(1)} s / ${backup.transferSeconds.toFixed(1)} s, restore ${restore.seconds.toFixed(1)} s / ${restore.transferSeconds.toFixed(1)} s`,
      );
    }
    const smallFilesResult = {
      backupFilesPerSecond: Math.round(smallCount / median(small.map((r) => r.backup))),
      gnuBackupFilesPerSecond: Math.round(smallCount / median(small.map((r) => r.gnuBackup))),
      restoreFilesPerSecond: Math.round(smallCount / median(small.map((r) => r.restore))),
      gnuRestoreFilesPerSecond: Math.round(smallCount / median(small.map((r) => r.gnuRestore))),
    };
    results[storage] = { ...perCompression, smallFiles: smallFilesResult, agentRssMbAfterEachRound: rounds.map((r) => r.rssAfterMb) };
    lines.push(
      row('small-file backup, gzip', smallFilesResult.backupFilesPerSecond, smallFilesResult.gnuBackupFilesPerSecond, 'files/s', `tar | gzip -${level}`),
      row('small-file restore, gzip', smallFilesResult.restoreFilesPerSecond, smallFilesResult.gnuRestoreFilesPerSecond, 'files/s', 'gzip -dc | tar -x'),
      `agent RSS after each round: ${rounds.map((r) => r.rssAfterMb).join(', ')} MB`,
    );
  }

  const report = {
    date: new Date().toISOString(),
    machine: {
      cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
      memoryGiB: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
      tar: spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0],
      gzip: spawnSync('gzip', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0],
      pigz: has('pigz') ? spawnSync('pigz', ['--version'], { encoding: 'utf8' }).stdout.trim() : null,
      zstd: has('zstd') ? spawnSync('zstd', ['--version'], { encoding: 'utf8' }).stdout.trim() : null,
    },
    parameters: { sizeMbPerNode: sizeMb, nodes: nodeCount, dataBytes, gzipLevel: level, strategy: 'serial', smallFiles, rounds: repeat, statistic: 'median', storages },
    results,
    agentPeakRssMb: Math.round(memory(agents.bench.pid ?? 0, 'VmHWM')),
  };
  mkdirSync(args.out, { recursive: true });
  const file = join(args.out, `bench-${sizeMb}mb-${nodeCount}n-${Date.now()}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write([...lines, '', `agent peak RSS over the whole run: ${report.agentPeakRssMb} MB`, `written to ${file}`, ''].join('\n'));
  for (const child of children) child.kill('SIGTERM');
  for (const stop of stops) await stop();
  redis.stop();
  // The emulators were just signalled, and may still be writing: retry what they recreate meanwhile.
  rmSync(storeDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
}

if (args.case === 'orchestration') await import('./orchestration.js');
else if (args.case !== 'throughput') throw new Error(`--case ${args.case}: throughput (the default) or orchestration`);
else main().catch((error: unknown) => {
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}${cause}\n`);
  process.exit(1);
});
