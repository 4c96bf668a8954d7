import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { freePort } from './redis.js';
import { tempDir } from './tmp.js';

/** Azurite's well-known development account. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzureServer {
  endpoint: string;
  container: string;
  /** Parameters a plan needs to use this server with the shared key. */
  parameters: Record<string, string>;
  process: ChildProcess;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface AzuriteOptions {
  /** Serve HTTPS with this certificate and accept Azure AD bearer tokens (`--oauth basic`). */
  oauth?: { certPath: string; keyPath: string };
}

/**
 * Azure's own emulator (Azurite, blob service) on a free loopback port, with containers made.
 * With `oauth` it is started twice on the same workspace: over HTTP to make the containers with the
 * shared key (this process does not trust the test certificate), then over HTTPS with OAuth.
 */
export async function startAzurite(containers: string[] = ['backups'], options: AzuriteOptions = {}): Promise<AzureServer> {
  const location = tempDir('drplan-azurite-');
  if (options.oauth === undefined) return runAzurite(location, containers, []);
  const setup = await runAzurite(location, containers, []);
  await setup.stop();
  return runAzurite(location, [], ['--oauth', 'basic', '--cert', options.oauth.certPath, '--key', options.oauth.keyPath], 'https', containers[0]);
}

async function runAzurite(location: string, containers: string[], extraArgs: string[], scheme = 'http', defaultContainer?: string): Promise<AzureServer> {
  const port = await freePort();
  const bin = join(import.meta.dirname, '../../node_modules/.bin/azurite-blob');
  const child = spawn(
    bin,
    ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', location, '--silent', '--disableTelemetry', '--skipApiVersionCheck', '--loose', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  process.on('exit', () => child.kill('SIGKILL'));
  const deadline = Date.now() + 30_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`azurite did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const endpoint = `${scheme}://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const service = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
  for (const name of containers) await service.getContainerClient(name).createIfNotExists();
  const container = defaultContainer ?? containers[0] ?? 'backups';
  return {
    endpoint,
    container,
    parameters: { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_KEY, CONTAINER_NAME: container, AZURE_BLOB_ENDPOINT: endpoint },
    process: child,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}
