import { readFileSync } from 'node:fs';
import { buildApp } from '../api/index.js';
import { createProducer } from '../jobs/index.js';
import { Redis } from 'ioredis';
import { createCoordinator, PlanRuns, RunStore } from '../runs/index.js';
import { errorMessage } from '../shared/index.js';
import { inheritedEnvironment } from '../tasks/index.js';
import { createAgent, type NodeRef } from '../workers/index.js';
import type { Runtime } from './runtime.js';

export interface Part {
  name: string;
  close(): Promise<void>;
}

/** The package version, from src/main or from its compiled copy in dist/src/main. */
const version = (): string => {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // try the next level up
    }
  }
  return '0.0.0';
};

/**
 * The API gets a connection of its own that fails fast: while Redis is down requests answer 503
 * at once instead of queueing until it is back.
 */
export async function startApi(runtime: Runtime): Promise<Part & { url: string }> {
  const redis = new Redis(runtime.config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5000 });
  let warned = false;
  redis.on('error', (error: Error) => {
    if (!warned) runtime.logger.warn({ err: error.message }, 'api: redis connection error');
    warned = true;
  });
  redis.on('ready', () => (warned = false));
  await redis.connect();
  const store = new RunStore({ redis, prefix: runtime.config.queuePrefix, secretBox: runtime.secretBox, logger: runtime.logger, historyLimit: runtime.config.runHistory });
  const app = await buildApp({
    planRuns: new PlanRuns(store, runtime.catalog),
    catalog: runtime.catalog,
    serviceNames: () => [...runtime.specs.services.keys()],
    defaultService: runtime.defaultService,
    apiToken: runtime.config.apiToken,
    logger: runtime.logger,
    ready: () => Promise.race([redis.ping().then((pong) => pong === 'PONG'), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000).unref())]),
    version: version(),
  });
  const url = await app.listen({ host: runtime.config.host, port: runtime.config.port });
  runtime.logger.info({ url }, 'api listening');
  return {
    name: 'api',
    url,
    close: async () => {
      await app.close();
      redis.disconnect();
    },
  };
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
    settings: {
      gzipLevel: runtime.config.gzipLevel,
      zstdLevel: runtime.config.zstdLevel,
      gzipThreads: runtime.config.gzipThreads,
      transfer: {
        s3PartSizeMb: runtime.config.s3PartSizeMb,
        s3QueueSize: runtime.config.s3QueueSize,
        azureBlockSizeMb: runtime.config.azureBlockSizeMb,
        azureConcurrency: runtime.config.azureConcurrency,
        timeoutMs: runtime.config.storageTimeoutMs,
      },
      settleMs: runtime.config.settleMs,
      hookEnv: inheritedEnvironment(process.env),
      environment: process.env,
    },
  });
  return { name: 'agent', close: () => agent.close() };
}

/** Closes the parts in reverse order on SIGINT/SIGTERM, then the runtime. A second signal exits at once. */
export function closeOnSignals(runtime: Runtime, parts: Part[]): Promise<void> {
  return new Promise((resolve) => {
    let closing = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      // A second signal while closing exits at once.
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
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });
}
