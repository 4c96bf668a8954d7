// The long-running commands (serve, api, coordinator, agent) and validate: everything that reads
// the YAML and loads the servers and the storage SDKs. The CLI imports this only to run them.
import { getPriority, setPriority } from 'node:os';
import { assertSafeListen, loadConfig } from '../config/index.js';
import { AppError } from '../shared/index.js';
import { closeOnSignals, startAgent, startApi, startCoordinator, type Part } from './processes.js';
import { agentNodes, createRuntime, localNodes, type Runtime } from './runtime.js';
import { withSecretKey } from './secret-key.js';
export { validate } from './validate.js';

/** Starts long-running parts on one runtime and keeps them until a signal. */
async function runParts(env: NodeJS.ProcessEnv, start: (runtime: Runtime) => Promise<Part[]>): Promise<void> {
  const runtime = await createRuntime(env);
  const parts: Part[] = [];
  try {
    parts.push(...(await start(runtime)));
  } catch (error) {
    for (const part of parts.reverse()) await part.close().catch(() => undefined);
    await runtime.close();
    throw error;
  }
  await closeOnSignals(runtime, parts);
}

/** `drplan serve`: API, coordinator and an agent for every local node, with a secret key of its own when none is set. */
export function serve(env: NodeJS.ProcessEnv, out: (text: string) => void): Promise<void> {
  assertSafeListen(loadConfig(env));
  const keyed = withSecretKey(env);
  return runParts(keyed.env, async (runtime) => {
    if (keyed.generated !== null) runtime.logger.info({ file: keyed.generated }, 'DRPLAN_SECRET_KEY is not set: secret parameters are sealed with the key kept in the state directory');
    const nodes = localNodes(runtime.specs.services.values());
    const coordinator = await startCoordinator(runtime);
    const agent = startAgent(runtime, nodes);
    const api = await startApi(runtime);
    out(`drplan is serving ${api.url} (agents for ${nodes.filter((n) => n.pod !== null).length} nodes)`);
    return [coordinator, agent, api];
  });
}

export function api(env: NodeJS.ProcessEnv): Promise<void> {
  assertSafeListen(loadConfig(env));
  return runParts(env, async (runtime) => [await startApi(runtime)]);
}

export function coordinator(env: NodeJS.ProcessEnv): Promise<void> {
  return runParts(env, async (runtime) => [await startCoordinator(runtime)]);
}

/**
 * An agent's work is background work beside the service whose data it reads (and, on a shared
 * host, beside Redis and the API): it runs at a lower CPU priority, DRPLAN_AGENT_NICE (0 keeps
 * the priority it was started with). Its hooks inherit it.
 */
function lowerPriority(runtime: Runtime): void {
  const nice = runtime.config.agentNice;
  if (nice === 0) return;
  try {
    if (getPriority() < nice) setPriority(nice);
  } catch (error) {
    runtime.logger.warn({ err: (error as Error).message, nice }, 'cannot lower the CPU priority of the agent');
  }
}

export function agent(env: NodeJS.ProcessEnv, o: { service: string; node: string[]; allNodes?: boolean; pod?: string }): Promise<void> {
  return runParts(env, (runtime) => {
    const service = runtime.specs.services.get(o.service);
    if (service === undefined) throw new AppError('CONFIG', `--service ${o.service}: no such service (${[...runtime.specs.services.keys()].join(', ')})`);
    lowerPriority(runtime);
    return Promise.resolve([startAgent(runtime, [...agentNodes(service, o), { service: service.name, pod: null, index: null }])]);
  });
}
