import { readFileSync } from 'node:fs';
import { buildApp } from '../api/index.js';
import { assertSafeListen } from '../config/index.js';
import { createProducer } from '../jobs/index.js';
import { createCoordinator, PlanRuns } from '../runs/index.js';
import { errorMessage } from '../shared/index.js';
import { createAgent, type NodeRef } from '../workers/index.js';
import type { Runtime } from './runtime.js';

export interface Part {
  name: string;
  close(): Promise<void>;
}

const version = (): string => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
};

export async function startApi(runtime: Runtime): Promise<Part & { url: string }> {
  assertSafeListen(runtime.config);
  const app = await buildApp({
    planRuns: new PlanRuns(runtime.store, runtime.catalog),
    catalog: runtime.catalog,
    serviceNames: () => [...runtime.specs.services.keys()],
    defaultService: runtime.defaultService,
    apiToken: runtime.config.apiToken,
    logger: runtime.logger,
    ready: async () => (await runtime.redis.ping()) === 'PONG',
    version: version(),
  });
  const url = await app.listen({ host: runtime.config.host, port: runtime.config.port });
  runtime.logger.info({ url }, 'api listening');
  return { name: 'api', url, close: () => app.close() };
}

export async function startCoordinator(runtime: Runtime): Promise<Part> {
  const producer = createProducer({ connection: runtime.redis, prefix: runtime.config.queuePrefix });
  const coordinator = createCoordinator({ store: runtime.store, producer, logger: runtime.logger.child({ part: 'coordinator' }) });
  await coordinator.start();
  return {
    name: 'coordinator',
    close: async () => {
      await coordinator.stop();
      await producer.close();
    },
  };
}

export function startAgent(runtime: Runtime, nodes: NodeRef[]): Part {
  const agent = createAgent({
    connection: runtime.redis,
    prefix: runtime.config.queuePrefix,
    store: runtime.store,
    services: runtime.specs.services,
    nodes,
    logger: runtime.logger.child({ part: 'agent' }),
    lockMs: runtime.config.workerLockMs,
  });
  return { name: 'agent', close: () => agent.close() };
}

/** Closes the parts in reverse order on SIGINT/SIGTERM, then the runtime. A second signal exits at once. */
export function closeOnSignals(runtime: Runtime, parts: Part[]): Promise<void> {
  return new Promise((resolve) => {
    let closing = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      if (closing) process.exit(130);
      closing = true;
      runtime.logger.info({ signal }, 'shutting down');
      void (async () => {
        for (const part of [...parts].reverse()) {
          await part.close().catch((error: unknown) => runtime.logger.warn({ part: part.name, err: errorMessage(error) }, 'close failed'));
        }
        await runtime.close();
        resolve();
      })();
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });
}
