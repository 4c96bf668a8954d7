import { Command, CommanderError } from 'commander';
import { assertSafeListen, loadConfig } from '../config/index.js';
import { AppError, errorMessage, isAppError } from '../shared/index.js';
import type { Terminal } from './follow.js';
import { addPlanCommands } from './plan-commands.js';
import { closeOnSignals, startAgent, startApi, startCoordinator, type Part } from './processes.js';
import { createRuntime, localNodes, parseNode } from './runtime.js';
import { addSnapshotCommands } from './snapshot-commands.js';
import { validate } from './validate.js';
import { withSecretKey } from './secret-key.js';
import { addRunCommands } from './run-commands.js';

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Standard output when it is a terminal: `--watch` redraws in place there. */
  terminal?: Terminal | undefined;
}

const stdio: Io = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
  terminal: process.stdout.isTTY
    ? { write: (text) => void process.stdout.write(text), columns: () => process.stdout.columns || 80, rows: () => process.stdout.rows || 24 }
    : undefined,
};

function defaultUrl(env: NodeJS.ProcessEnv): string {
  const host = env['HOST'] === undefined || env['HOST'] === '' || env['HOST'] === '0.0.0.0' || env['HOST'] === '::' ? '127.0.0.1' : env['HOST'];
  return env['DRPLAN_URL'] ?? `http://${host.includes(':') ? `[${host}]` : host}:${env['PORT'] ?? '8080'}`;
}

/** Starts long-running parts on one runtime and keeps them until a signal. */
async function runParts(env: NodeJS.ProcessEnv, start: (runtime: Awaited<ReturnType<typeof createRuntime>>) => Promise<Part[]>): Promise<void> {
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

export function buildProgram(env: NodeJS.ProcessEnv = process.env, io: Io = stdio): Command {
  const { out, err } = io;
  const program = new Command('drplan')
    .description('DC/OS-style backup and restore plans over every node of a service')
    .showHelpAfterError()
    .exitOverride()
    // Before any subcommand is added: they copy these settings when created.
    .configureOutput({ writeOut: (text) => out(text.trimEnd()), writeErr: (text) => err(text.trimEnd()) });

  program
    .command('serve')
    .description('API, dashboard, coordinator and an agent for every node whose data directory is on this host')
    .action(() => {
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
    });

  program
    .command('api')
    .description('the REST API and dashboard only')
    .action(() => {
      assertSafeListen(loadConfig(env));
      return runParts(env, async (runtime) => [await startApi(runtime)]);
    });

  program
    .command('coordinator')
    .description('the plan engine only; any number may run')
    .action(() => runParts(env, async (runtime) => [await startCoordinator(runtime)]));

  program
    .command('agent')
    .description('the worker for nodes of one service')
    .requiredOption('--service <service>', 'the service')
    .option('--node <index>', 'a node: an index, or <pod>-<index> (repeat)', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option('--all-nodes', 'every node of the service')
    .action((o: { service: string; node: string[]; allNodes?: boolean }) =>
      runParts(env, (runtime) => {
        const service = runtime.specs.services.get(o.service);
        if (service === undefined) throw new AppError('CONFIG', `--service ${o.service}: no such service (${[...runtime.specs.services.keys()].join(', ')})`);
        if (o.node.length === 0 && o.allNodes !== true) throw new AppError('CONFIG', 'give --node <index> (repeatable) or --all-nodes');
        const nodes =
          o.allNodes === true
            ? Object.entries(service.pods).flatMap(([pod, spec]) => Array.from({ length: spec.count }, (_, index) => ({ service: service.name, pod, index })))
            : o.node.map((text) => parseNode(service, text));
        return Promise.resolve([startAgent(runtime, [...nodes, { service: service.name, pod: null, index: null }])]);
      }),
    );

  program
    .command('validate')
    .description('check services/ and plans/; every problem with file and line')
    .action(() => {
      process.exitCode = validate(out, err, env);
    });

  const api = { url: defaultUrl(env), ...(env['DRPLAN_API_TOKEN'] === undefined ? {} : { token: env['DRPLAN_API_TOKEN'] }) };
  addPlanCommands(program, { out, terminal: io.terminal }, api);
  addSnapshotCommands(program, out, api);
  addRunCommands(program, out, api);
  return program;
}

/** Runs the CLI; sets process.exitCode rather than exiting, so callers and tests keep control. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, io: Io = stdio): Promise<void> {
  const program = buildProgram(env, io);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    io.err(isAppError(error) ? `Error: ${error.message}` : `Error: ${errorMessage(error)}`);
    process.exitCode = 1;
  }
}
