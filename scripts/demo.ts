// `npm run demo`: a working local stack from a fresh clone. Redis (REDIS_URL, or a private
// redis-server), sample data for the three demo nodes, and `drplan serve` in this process.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { pino } from 'pino';
import { dataDirOf } from '../src/engine/index.js';
import { closeOnSignals, startAgent, startApi, startCoordinator } from '../src/main/processes.js';
import { createRuntime, localNodes } from '../src/main/runtime.js';
import { writeDataset } from './lib/dataset.js';

// Logs and the private Redis live in var/ beside services/ (the repository's, unless DRPLAN_SERVICES_DIR says otherwise).
const varDir = resolve(process.env['DRPLAN_SERVICES_DIR'] ?? 'services', '..', 'var');

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freePort(preferred: number): Promise<number> {
  if (await portFree(preferred)) return preferred;
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : preferred));
    });
  });
}

/** REDIS_URL if set; otherwise a redis-server of our own on a free port, stopped with the demo. */
async function redis(): Promise<{ url: string; stop: () => void }> {
  const given = process.env['REDIS_URL'];
  if (given !== undefined && given !== '') return { url: given, stop: () => undefined };
  if (spawnSync('redis-server', ['--version']).error !== undefined) {
    process.stderr.write(
      'The demo needs Redis: set REDIS_URL to a Redis you have, or install redis-server\n' +
        '  Debian/Ubuntu: sudo apt-get install -y redis-server\n' +
        '  macOS:         brew install redis\n',
    );
    process.exit(1);
  }
  const port = await freePort(6390);
  const dir = join(varDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}: ${out}`)));
  });
  process.on('exit', () => child.kill());
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill() };
}

const empty = (dir: string): boolean => !existsSync(dir) || readdirSync(dir).length === 0;

async function main(): Promise<void> {
  const { url: redisUrl, stop: stopRedis } = await redis();
  const port = Number(process.env['PORT'] ?? (await freePort(8080)));
  mkdirSync(varDir, { recursive: true });
  const logFile = join(varDir, 'drplan.log');
  const env = { ...process.env, REDIS_URL: redisUrl, PORT: String(port), HOST: '127.0.0.1' };
  const runtime = await createRuntime(env, { logDestination: pino.destination({ dest: logFile, sync: false }) });

  const service = runtime.specs.services.get('demo');
  if (service === undefined) throw new Error('services/demo.yml is missing');
  const count = service.pods['node']?.count ?? 0;
  for (let index = 0; index < count; index += 1) {
    const dir = dataDirOf(service, 'node', index);
    if (empty(dir)) await writeDataset(dir, { seed: index + 1, largeBytes: 8 * 1024 * 1024, largeFiles: 2, smallFiles: 200 });
  }

  const nodes = localNodes(runtime.specs.services.values());
  const parts = [await startCoordinator(runtime), startAgent(runtime, nodes), await startApi(runtime)];
  const base = `http://127.0.0.1:${port}`;
  const cli = (args: string): string => `npx drplan ${args}${port === 8080 ? '' : ` --url ${base}`}`;
  const show = (dir: string): string => relative(process.cwd(), dir) || '.';
  process.stdout.write(
    [
      '',
      'drplan demo is running',
      `  API:        ${base}   (OpenAPI: ${base}/docs)`,
      `  Redis:      ${redisUrl}`,
      `  nodes:      ${count} of service demo, data in ${show(dataDirOf(service, 'node', 0)).replace(/0$/, '{0..2}')}`,
      `  log:        ${show(logFile)}`,
      '',
      'Try:',
      `  ${cli('plan list')}`,
      `  ${cli('plan status backup-s3')}`,
      `  curl -s ${base}/v1/plans/backup-s3`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  await closeOnSignals(runtime, parts);
  stopRedis();
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
