// Local stand-ins for what a deployment provides: a redis-server and an S3-protocol server.
// Used by `npm run demo` and `npm run bench`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import S3rver from 's3rver';

const BIN = join(import.meta.dirname, '../../bin/drplan.js');

/**
 * The runtime flags drplan runs with, from the first line of bin/drplan.js
 * (`#!/usr/bin/env -S node <flags>`): the Docker image and the npm scripts pass the same ones.
 */
export function drplanNodeFlags(): string[] {
  const shebang = readFileSync(BIN, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node(?<flags>( --[\w-]+=\S+)*)$/.exec(shebang);
  if (match === null) throw new Error(`bin/drplan.js must start with "#!/usr/bin/env -S node [--flag=value ...]", not ${JSON.stringify(shebang)}`);
  return (match.groups?.['flags'] ?? '').trim().split(' ').filter((flag) => flag !== '');
}

/** Arguments that run `drplan <argv>` as the drplan command would, for spawn(process.execPath, ...). */
export const drplanArgs = (argv: string[]): string[] => [...drplanNodeFlags(), BIN, ...argv];

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `port` on loopback, or an error saying who needs it when something else holds it. */
export async function requirePort(port: number, who: string): Promise<number> {
  if (await portFree(port)) return port;
  throw new Error(`port ${port} on 127.0.0.1 is in use, and ${who} needs it: stop what listens there, or change the endpoint`);
}

/** `preferred` if it is free on loopback, otherwise any free port. */
export async function freePort(preferred = 0): Promise<number> {
  if (preferred !== 0 && (await portFree(preferred))) return preferred;
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version']).error === undefined;
}

export const REDIS_INSTALL_HELP =
  'Set REDIS_URL to a Redis you have, or install redis-server:\n' +
  '  Debian/Ubuntu: sudo apt-get install -y redis-server\n' +
  '  macOS:         brew install redis\n';

/** A private redis-server on loopback, keeping its files in `dir`; stopped with `stop()` or when this process exits. */
export async function startRedisServer(options: { dir: string; port?: number; appendonly?: boolean }): Promise<{ url: string; stop: () => void }> {
  const port = await freePort(options.port ?? 0);
  mkdirSync(options.dir, { recursive: true });
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', options.dir, '--save', '', '--maxmemory-policy', 'noeviction'];
  args.push('--appendonly', options.appendonly === true ? 'yes' : 'no');
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited with code ${code}: ${out}`)));
  });
  process.on('exit', () => child.kill());
  return { url: `redis://127.0.0.1:${port}`, stop: () => void child.kill() };
}

/** s3rver on loopback with `bucket` made, objects under `dir`. Its credentials are S3RVER / S3RVER. */
export async function startS3rver(options: { dir: string; bucket: string; port?: number; exactPort?: boolean }): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const port = options.exactPort === true && options.port !== undefined ? options.port : await freePort(options.port ?? 0);
  mkdirSync(options.dir, { recursive: true });
  const server = new S3rver({ port, address: '127.0.0.1', directory: options.dir, silent: true, configureBuckets: [{ name: options.bucket, configs: [] }] });
  await server.run();
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => server.close() };
}

/** Azurite's well-known development account and key (public, for the emulator only). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Azurite's blob service on loopback, keeping its data in `dir`, with `container` made. */
export async function startAzuriteBlob(options: { dir: string; container: string; port?: number; exactPort?: boolean }): Promise<{ endpoint: string; pid: number | undefined; stop: () => void }> {
  const port = options.exactPort === true && options.port !== undefined ? options.port : await freePort(options.port ?? 0);
  mkdirSync(options.dir, { recursive: true });
  const bin = join(import.meta.dirname, '../../node_modules/.bin/azurite-blob');
  const child = spawn(bin, ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', options.dir, '--silent', '--disableTelemetry', '--skipApiVersionCheck', '--loose'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  process.on('exit', () => child.kill());
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY), { retryOptions: { maxTries: 1 } });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await service.getContainerClient(options.container).createIfNotExists();
      break;
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`azurite did not start: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return { endpoint, pid: child.pid, stop: () => void child.kill() };
}
