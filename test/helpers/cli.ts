import { mkdirSync } from 'node:fs';
import { main } from '../../src/main/cli.js';
import { PLANS, SERVICE } from './fixtures.js';
import { startRedis, type RedisServer } from './redis.js';
import { startStack, type Stack } from './stack.js';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** The CLI in this process against the API at `url`, its output captured (not a terminal). */
export async function runCli(url: string, ...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const previous = process.exitCode;
  process.exitCode = 0;
  await main(['node', 'drplan', ...args, '--url', url], {}, { out: (t) => out.push(t), err: (t) => err.push(t) });
  const code = Number(process.exitCode ?? 0);
  process.exitCode = previous;
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** redis-server and a stack of the fixture service and plans, its API listening for the CLI. */
export async function listeningFixtureStack(): Promise<{ redis: RedisServer; stack: Stack; url: string; close: () => Promise<void> }> {
  const redis = await startRedis();
  const stack = await startStack({ redisUrl: redis.url, services: { 'svc.yml': SERVICE }, plans: PLANS });
  for (let i = 0; i < 3; i += 1) mkdirSync(stack.dataDir(i), { recursive: true });
  const url = await stack.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    redis,
    stack,
    url,
    close: async () => {
      await stack.close();
      await redis.stop();
    },
  };
}
