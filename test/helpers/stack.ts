import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { buildApp, type PlanInfo } from '../../src/api/index.js';
import { formatProblem, loadSpecs, type Specs } from '../../src/config/index.js';
import { dataDirOf } from '../../src/engine/index.js';
import { createProducer } from '../../src/jobs/index.js';
import { createCoordinator, PlanRuns, RunStore, type Catalog, type Coordinator } from '../../src/runs/index.js';
import { createLogger, createSecretBox } from '../../src/shared/index.js';
import { builtinTaskNames, DEFAULT_TASK_SETTINGS, inheritedEnvironment, type TaskSettings } from '../../src/tasks/index.js';
import { createAgent, type Agent, type NodeRef } from '../../src/workers/index.js';
import { catalogOf } from '../../src/main/runtime.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';

export interface StackOptions {
  redisUrl: string;
  /** File name → YAML, written to services/ and plans/. */
  services: Record<string, string>;
  plans: Record<string, string>;
  secretKey?: Buffer | null;
  apiToken?: string | null;
  coordinators?: number;
  /** Start in-process agents for every node. @defaultValue true */
  agents?: boolean;
  /** Agent settings over the defaults (storage timeouts, settle time). */
  settings?: Partial<TaskSettings>;
  /** Runs kept per service. @defaultValue 100 */
  runHistory?: number;
  /** The environment of the API and the agents (location credentials). @defaultValue process.env */
  environment?: Record<string, string | undefined>;
}

let stacks = 0;

/** API (injected), coordinators and agents in this process, on a private Redis prefix. Call close() in an after hook. */
export async function startStack(options: StackOptions) {
  const root = tempDir();
  const servicesDir = join(root, 'services');
  const plansDir = join(root, 'plans');
  mkdirSync(servicesDir);
  mkdirSync(plansDir);
  for (const [name, text] of Object.entries(options.services)) writeFileSync(join(servicesDir, name), text.replaceAll('$ROOT', root));
  for (const [name, text] of Object.entries(options.plans)) writeFileSync(join(plansDir, name), text);
  const specs: Specs = loadSpecs(servicesDir, plansDir, builtinTaskNames());
  assert.deepEqual(specs.problems.map(formatProblem), [], 'fixture YAML is valid');

  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const prefix = `t${process.pid}x${++stacks}`;
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  const store = new RunStore({ redis, prefix, secretBox: createSecretBox(options.secretKey ?? null), logger, ...(options.runHistory === undefined ? {} : { historyLimit: options.runHistory }) });
  const catalog: Catalog = catalogOf(specs, options.environment ?? process.env);
  const defaultService = specs.services.size === 1 ? ([...specs.services.keys()][0] ?? null) : null;
  const app: FastifyInstance = await buildApp({
    planRuns: new PlanRuns(store, catalog),
    catalog,
    serviceNames: () => [...specs.services.keys()],
    defaultService,
    apiToken: options.apiToken ?? null,
    logger,
    ready: async () => (await redis.ping()) === 'PONG',
  });

  // Each coordinator gets connections of its own, as separate processes would.
  const connections = Array.from({ length: options.coordinators ?? 1 }, () => new Redis(options.redisUrl, { maxRetriesPerRequest: null }));
  const producers = connections.map((connection) => createProducer({ connection, prefix }));
  const coordinators: Coordinator[] = connections.map((connection, i) =>
    createCoordinator({
      store: new RunStore({ redis: connection, prefix, secretBox: createSecretBox(options.secretKey ?? null), logger }),
      producer: producers[i]!,
      logger,
      tickMs: 100,
      reconcileMs: 1000,
    }),
  );
  for (const coordinator of coordinators) await coordinator.start();

  const nodes: NodeRef[] = [...specs.services.values()].flatMap((service) => [
    ...Object.entries(service.pods).flatMap(([pod, spec]) => Array.from({ length: spec.count }, (_, index) => ({ service: service.name, pod, index }))),
    { service: service.name, pod: null, index: null },
  ]);
  const agents: Agent[] = [];
  const addAgent = (): Agent => {
    const agent = createAgent({
      connection: redis,
      prefix,
      store,
      services: specs.services,
      nodes,
      logger,
      heartbeatMs: 100,
      lockMs: 2000,
      settings: { ...DEFAULT_TASK_SETTINGS, hookEnv: inheritedEnvironment(process.env), environment: options.environment ?? process.env, ...options.settings },
    });
    agents.push(agent);
    return agent;
  };
  if (options.agents ?? true) addAgent();

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const agent of agents) await agent.close();
    for (const coordinator of coordinators) await coordinator.stop();
    for (const producer of producers) await producer.close();
    await app.close();
    for (const connection of connections) connection.disconnect();
    redis.disconnect();
  };

  // The service of the first file given is the one requests go to unless told otherwise.
  const firstFile = Object.keys(options.services)[0] ?? '';
  const firstService = [...specs.services.values()].find((s) => s.file.endsWith(`/${firstFile}`))?.name ?? '';
  /** Requests go to the per-service routes, for the first service unless told otherwise. */
  const plansPath = (plan: string, rest = '', service = firstService): string => `/v1/service/${service}/plans/${plan}${rest}`;
  return {
    root,
    specs,
    prefix,
    redis,
    store,
    app,
    addAgent,
    close,
    logs: (): string => lines.join(''),
    /** The environment a `drplan` process needs to join this stack (same Redis, prefix, YAML and key). */
    processEnv: (extra: Record<string, string> = {}): Record<string, string> => ({
      REDIS_URL: options.redisUrl,
      DRPLAN_SERVICES_DIR: servicesDir,
      DRPLAN_PLANS_DIR: plansDir,
      DRPLAN_QUEUE_PREFIX: prefix,
      ...(options.secretKey === undefined || options.secretKey === null ? {} : { DRPLAN_SECRET_KEY: options.secretKey.toString('base64') }),
      ...extra,
    }),
    dataDir: (index: number, service = firstService, pod = 'node'): string => dataDirOf(specs.services.get(service)!, pod, index),
    async start(plan: string, parameters: Record<string, unknown> = {}, service?: string) {
      return app.inject({ method: 'POST', url: plansPath(plan, '/start', service), payload: parameters });
    },
    async post(plan: string, operation: string, query = '', service?: string) {
      return app.inject({ method: 'POST', url: plansPath(plan, `/${operation}${query}`, service) });
    },
    async status(plan: string, service?: string): Promise<{ code: number; body: PlanInfo }> {
      const response = await app.inject({ method: 'GET', url: plansPath(plan, '', service) });
      return { code: response.statusCode, body: response.json<PlanInfo>() };
    },
    /** The plan's run once it has ended (COMPLETE, ERROR or stopped, with no work left). */
    async finished(plan: string, service?: string, timeoutMs = 60_000): Promise<PlanInfo> {
      return this.waitPlan(plan, 'finished', (t) => t.finishedAt !== null && !t.active, timeoutMs, service);
    },
    /** Polls the plan until `done` holds for its tree. */
    async waitPlan(plan: string, what: string, done: (tree: PlanInfo) => boolean, timeoutMs = 20_000, service?: string): Promise<PlanInfo> {
      return waitFor(
        `${plan}: ${what}`,
        async () => {
          const response = await app.inject({ method: 'GET', url: plansPath(plan, '', service) });
          const tree = response.json<PlanInfo>();
          return done(tree) ? tree : undefined;
        },
        timeoutMs,
      );
    },
  };
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/** The step of a tree by phase and step name. */
export function stepOf(tree: PlanInfo, phase: string, step: string) {
  const found = tree.phases.find((p) => p.name === phase)?.steps.find((s) => s.name === step);
  assert.ok(found, `${phase} / ${step} is in the tree`);
  return found;
}
