import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { Redis } from 'ioredis';
import { formatProblem, loadConfig, loadSpecs, plansForService, type Config, type Specs } from '../config/index.js';
import { dataDirOf, type ServiceSpec } from '../engine/index.js';
import { RunStore, type Catalog } from '../runs/index.js';
import { AppError, createLogger, createSecretBox, own, type Logger, type LoggerOptions, type SecretBox } from '../shared/index.js';
import { builtinTaskNames, listLocation, namedLocation, prepareStart, restoreTaskOf } from '../tasks/index.js';
import type { NodeRef } from '../workers/index.js';

/** What every long-running process shares: config, YAML, logger, one Redis connection, the run store. */
export interface Runtime {
  config: Readonly<Config>;
  specs: Specs;
  catalog: Catalog;
  logger: Logger;
  /** Retries commands until Redis is back: for the coordinator and agents, which just wait. */
  redis: Redis;
  store: RunStore;
  secretBox: SecretBox;
  defaultService: string | null;
  close(): Promise<void>;
}

export function secretNamesOf(specs: Specs): string[] {
  return [...specs.plans.values()].flatMap((plan) => Object.entries(plan.parameters).filter(([, spec]) => spec.secret).map(([name]) => name));
}

/** Reads env and YAML; refuses to go on when either has problems, listing all of them. */
export function loadSetup(env: NodeJS.ProcessEnv = process.env): { config: Readonly<Config>; specs: Specs; defaultService: string | null } {
  const config = loadConfig(env);
  const specs = loadSpecs(config.servicesDir, config.plansDir, builtinTaskNames());
  if (specs.problems.length > 0) {
    throw new AppError('CONFIG', `the service and plan files have problems:\n${specs.problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
  }
  if (specs.services.size === 0) throw new AppError('CONFIG', `no services in ${config.servicesDir}`);
  let defaultService = config.defaultService;
  if (defaultService !== null && !specs.services.has(defaultService)) {
    throw new AppError('CONFIG', `DRPLAN_DEFAULT_SERVICE is '${defaultService}', which is not one of: ${[...specs.services.keys()].join(', ')}`);
  }
  if (defaultService === null && specs.services.size === 1) defaultService = [...specs.services.keys()][0] ?? null;
  return { config, specs, defaultService };
}

export interface RuntimeOptions {
  /** Where log lines go. @defaultValue stdout */
  logDestination?: LoggerOptions['destination'];
}

export async function createRuntime(env: NodeJS.ProcessEnv = process.env, options: RuntimeOptions = {}): Promise<Runtime> {
  const { config, specs, defaultService } = loadSetup(env);
  const logger = createLogger({
    level: config.logLevel,
    secretNames: secretNamesOf(specs),
    ...(options.logDestination === undefined ? {} : { destination: options.logDestination }),
  });
  // BullMQ workers share this connection, so it must retry forever rather than fail commands.
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
  redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis connection error'));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new AppError('UNAVAILABLE', `cannot reach Redis at ${redactUrl(config.redisUrl)}: ${(error as Error).message}`);
  }
  if (config.secretKey === null) {
    logger.warn('DRPLAN_SECRET_KEY is not set: secret parameters are kept in Redis unencrypted, and only while their run needs them');
  }
  const secretBox = createSecretBox(config.secretKey);
  const store = new RunStore({ redis, prefix: config.queuePrefix, secretBox, logger, historyLimit: config.runHistory });
  const catalog = catalogOf(specs, env);
  return {
    config,
    specs,
    catalog,
    logger,
    redis,
    store,
    secretBox,
    defaultService,
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** The services and plans the API serves, with the start checks that need a service. */
export function catalogOf(specs: Specs, env: Readonly<Record<string, string | undefined>>): Catalog {
  return {
    service: (name) => specs.services.get(name),
    plans: (service) => plansForService(specs, service),
    restoreTask: restoreTaskOf,
    prepare: (service, plan, resolved) => prepareStart(service, plan, resolved, { environment: env }),
    listLocation: (service, name) => listLocation(service, namedLocation(service, name), env),
  };
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

/** Pod instances whose data directory (or the directory it would be made in) exists on this host. */
export function localNodes(services: Iterable<ServiceSpec>): NodeRef[] {
  const nodes: NodeRef[] = [];
  for (const service of services) {
    let any = false;
    for (const [pod, spec] of Object.entries(service.pods)) {
      for (let index = 0; index < spec.count; index += 1) {
        const dir = dataDirOf(service, pod, index);
        if (existsSync(dir) || existsSync(dirname(dir))) {
          nodes.push({ service: service.name, pod, index });
          any = true;
        }
      }
    }
    if (any) nodes.push({ service: service.name, pod: null, index: null });
  }
  return nodes;
}

/** `3` (the pod named node, or the only pod) or `broker-3`. */
export function parseNode(service: ServiceSpec, text: string): NodeRef {
  const pods = Object.keys(service.pods);
  const match = /^(?:([a-z0-9-]+)-)?(\d+)$/.exec(text);
  const pod = match?.[1] ?? (service.pods['node'] !== undefined ? 'node' : pods.length === 1 ? pods[0] : undefined);
  const index = Number(match?.[2]);
  if (match === null || pod === undefined) throw new AppError('CONFIG', `--node ${text}: give an index, or <pod>-<index> (pods: ${pods.join(', ')})`);
  const spec = own(service.pods, pod);
  if (spec === undefined) throw new AppError('CONFIG', `--node ${text}: service ${service.name} has no pod ${pod} (pods: ${pods.join(', ')})`);
  if (index >= spec.count) throw new AppError('CONFIG', `--node ${text}: pod ${pod} of service ${service.name} has instances 0 to ${spec.count - 1}`);
  return { service: service.name, pod, index };
}

/** The nodes `drplan agent` serves: `--node` (an index, or `<pod>-<index>`; with `--pod`, indexes of that pod) or `--all-nodes` (of `--pod` alone, when given). */
export function agentNodes(service: ServiceSpec, o: { node: string[]; allNodes?: boolean; pod?: string }): NodeRef[] {
  if (o.pod !== undefined && own(service.pods, o.pod) === undefined) {
    throw new AppError('CONFIG', `--pod ${o.pod}: service ${service.name} has no such pod (pods: ${Object.keys(service.pods).join(', ')})`);
  }
  if (o.node.length === 0 && o.allNodes !== true) throw new AppError('CONFIG', 'give --node <index> (repeatable) or --all-nodes');
  if (o.allNodes === true) {
    return Object.entries(service.pods)
      .filter(([pod]) => o.pod === undefined || pod === o.pod)
      .flatMap(([pod, spec]) => Array.from({ length: spec.count }, (_, index) => ({ service: service.name, pod, index })));
  }
  return o.node.map((text) => parseNode(service, o.pod !== undefined && /^\d+$/.test(text) ? `${o.pod}-${text}` : text));
}
