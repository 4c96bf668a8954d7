import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exited, spawnDrplan } from './agent-process.js';
import { freePort } from './redis.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';

export interface ServeOptions {
  redisUrl: string;
  /** File name → YAML with `$ROOT` for a private directory. */
  services: Record<string, string>;
  /** @defaultValue the repository's plans/ */
  plansDir?: string;
  /** `serve` (everything) or `api` (API and dashboard only). @defaultValue 'serve' */
  command?: 'serve' | 'api';
  env?: Record<string, string>;
  /** Share a root (and so data directories) with another process. */
  root?: string;
}

/** `drplan serve` (or `drplan api`) as a real process on a free port, ready when /readyz says so. */
export async function startServe(options: ServeOptions) {
  const root = options.root ?? tempDir();
  const servicesDir = join(root, `services-${options.command ?? 'serve'}`);
  mkdirSync(servicesDir, { recursive: true });
  for (const [name, text] of Object.entries(options.services)) writeFileSync(join(servicesDir, name), text.replaceAll('$ROOT', root));
  const port = await freePort();
  const child = spawnDrplan([options.command ?? 'serve'], {
    REDIS_URL: options.redisUrl,
    HOST: '127.0.0.1',
    PORT: String(port),
    DRPLAN_SERVICES_DIR: servicesDir,
    DRPLAN_PLANS_DIR: options.plansDir ?? join(import.meta.dirname, '../../plans'),
    DRPLAN_SECRET_KEY: Buffer.alloc(32, 5).toString('base64'),
    DRPLAN_WORKER_LOCK_SECONDS: '5',
    ...options.env,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `drplan ${options.command ?? 'serve'} to be ready`,
    async () => {
      if (child.exitCode !== null) throw new Error(`drplan exited ${child.exitCode}: ${child.output()}`);
      try {
        return (await fetch(`${url}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
    30_000,
    100,
  );
  return {
    url,
    root,
    output: child.output,
    async stop(): Promise<void> {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited(child);
      clearTimeout(timer);
    },
  };
}
