// `npm run demo`: a working local stack from a fresh clone. Redis (REDIS_URL, or a private
// redis-server), sample data for the three demo nodes, and `drplan serve` in this process.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pino } from 'pino';
import { dataDirOf, type LocationSpec, type ServiceSpec } from '../src/engine/index.js';
import { closeOnSignals, startAgent, startApi, startCoordinator } from '../src/main/processes.js';
import { createRuntime, localNodes } from '../src/main/runtime.js';
import { withSecretKey } from '../src/main/secret-key.js';
import { writeDataset } from './lib/dataset.js';
import { AZURITE_KEY, freePort, hasRedisServer, REDIS_INSTALL_HELP, requirePort, startAzuriteBlob, startRedisServer, startS3rver } from './lib/services.js';

// Logs and the private Redis live in var/ beside services/ (the repository's, unless DRPLAN_SERVICES_DIR says otherwise).
const varDir = resolve(process.env['DRPLAN_SERVICES_DIR'] ?? 'services', '..', 'var');

/** REDIS_URL if set; otherwise a redis-server of our own, stopped with the demo. */
async function redis(): Promise<{ url: string; stop: () => void }> {
  const given = process.env['REDIS_URL'];
  if (given !== undefined && given !== '') return { url: given, stop: () => undefined };
  if (!hasRedisServer()) {
    process.stderr.write(`The demo needs Redis. ${REDIS_INSTALL_HELP}`);
    process.exit(1);
  }
  return startRedisServer({ dir: join(varDir, 'redis'), port: 6390, appendonly: true });
}

const empty = (dir: string): boolean => !existsSync(dir) || readdirSync(dir).length === 0;

/** The demo's location of a kind, from services/demo.yml, and the port its emulator must listen on. */
function emulated(service: ServiceSpec, name: string): { location: LocationSpec; port: number } {
  const location = service.locations[name];
  if (location === undefined || location.endpoint === null) throw new Error(`${service.file} declares no location ${name} with an endpoint: the demo's emulators are started for it`);
  return { location, port: Number(new URL(location.endpoint).port) };
}

// The demo's locations name these variables for their credentials: the emulators' own, public ones.
const DEMO_CREDENTIALS = { DEMO_S3_KEY_ID: 'S3RVER', DEMO_S3_SECRET: 'S3RVER', DEMO_AZURE_KEY: AZURITE_KEY };

async function main(): Promise<void> {
  if (Number(process.versions.node.split('.')[0]) < 24) {
    throw new Error(`drplan needs Node.js 24 or newer; this is ${process.version}. On Linux (x64, arm64) npm ci installs it into node_modules/.bin, which npm run uses first; elsewhere install Node 24`);
  }
  const { url: redisUrl, stop: stopRedis } = await redis();
  const port = Number(process.env['PORT'] ?? (await freePort(8080)));
  mkdirSync(varDir, { recursive: true });
  const logFile = join(varDir, 'drplan.log');
  for (const [name, value] of Object.entries(DEMO_CREDENTIALS)) process.env[name] ??= value;
  // A key of its own in var/, so that a failed or stopped run can be restarted with its secrets.
  const { env } = withSecretKey({ ...process.env, REDIS_URL: redisUrl, PORT: String(port), HOST: '127.0.0.1' });
  const runtime = await createRuntime(env, { logDestination: pino.destination({ dest: logFile, sync: false }) });

  const service = runtime.specs.services.get('demo');
  if (service === undefined) throw new Error('services/demo.yml is missing');
  const s3 = emulated(service, 'local-s3');
  const blob = emulated(service, 'local-azure');
  const storage = await startS3rver({ dir: join(varDir, 's3'), bucket: s3.location.container, port: await requirePort(s3.port, `location local-s3 of ${service.file}`), exactPort: true });
  const azure = await startAzuriteBlob({ dir: join(varDir, 'azurite'), container: blob.location.container, port: await requirePort(blob.port, `location local-azure of ${service.file}`), exactPort: true });
  const count = service.pods['node']?.count ?? 0;
  for (let index = 0; index < count; index += 1) {
    const dir = dataDirOf(service, 'node', index);
    if (empty(dir)) await writeDataset(dir, { seed: index + 1, largeBytes: 8 * 1024 * 1024, largeFiles: 2, smallFiles: 200 });
  }

  const nodes = localNodes(runtime.specs.services.values());
  const parts = [await startCoordinator(runtime), startAgent(runtime, nodes), await startApi(runtime)];
  const base = `http://127.0.0.1:${port}`;
  const cli = (args: string): string => `npx drplan ${args}${port === 8080 ? '' : ` --url ${base}`}`;
  const show = (dir: string): string => {
    const rel = relative(process.cwd(), dir);
    return rel.startsWith('..') ? dir : rel || '.';
  };
  const s3Params = { LOCATION: s3.location.name };
  const azureParams = { LOCATION: blob.location.name };
  const flags = (extra: Record<string, string>, storageParams: Record<string, string> = s3Params): string =>
    Object.entries({ SNAPSHOT_NAME: 'demo-1', ...storageParams, ...extra })
      .map(([key, value]) => `-p ${key}=${value}`)
      .join(' ');
  const node1 = show(dataDirOf(service, 'node', 1));
  process.stdout.write(
    [
      '',
      'drplan demo is running',
      `  dashboard:  ${base}/`,
      `  API:        ${base}/v1   (OpenAPI: ${base}/docs)`,
      `  Redis:      ${redisUrl}`,
      `  S3:         ${storage.endpoint}, bucket ${s3.location.container} (s3rver, objects in ${show(join(varDir, 's3'))}): location ${s3.location.name}`,
      `  Azure:      ${azure.endpoint}, container ${blob.location.container} (Azurite, data in ${show(join(varDir, 'azurite'))}): location ${blob.location.name}`,
      `  nodes:      ${count} of service demo, data in ${show(dataDirOf(service, 'node', 0)).replace(/0$/, '{0..2}')}`,
      `  log:        ${show(logFile)}`,
      '',
      `Back up every node to the local S3 server and follow it live (or start it from the dashboard's form):`,
      `  ${cli(`plan start backup-s3 ${flags({})} --wait`)}`,
      `  ${cli('plan status backup-s3')}`,
      `  ${cli('snapshots list')}`,
      'or with curl:',
      `  curl -s -X POST ${base}/v1/plans/backup-s3/start -H 'content-type: application/json' -d '${JSON.stringify({ SNAPSHOT_NAME: 'demo-1', ...s3Params })}'`,
      `  curl -s ${base}/v1/plans/backup-s3`,
      '',
      'Then lose a node and restore it alone from the newest snapshot (the other nodes are not touched):',
      `  rm -rf ${node1}`,
      `  ${cli(`plan start restore-s3 ${flags({ SNAPSHOT_NAME: 'latest', NODES: '1' })} --wait`)}`,
      `  ${cli('runs list')}`,
      '',
      'The same to Azure Blob Storage (Azurite):',
      `  ${cli(`plan start backup-azure ${flags({ SNAPSHOT_NAME: 'demo-azure-1' }, azureParams)} --wait`)}`,
      `  rm -rf ${node1}`,
      `  ${cli(`plan start restore-azure ${flags({ SNAPSHOT_NAME: 'demo-azure-1', NODES: '1' }, azureParams)} --wait`)}`,
      '',
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
  await closeOnSignals(runtime, parts);
  await storage.stop();
  azure.stop();
  stopRedis();
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
