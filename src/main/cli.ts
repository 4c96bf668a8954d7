import { Command, CommanderError } from 'commander';
import { errorMessage, isAppError } from '../shared/index.js';
import type { Terminal } from './follow.js';
import { addPlanCommands } from './plan-commands.js';
import { addSnapshotCommands } from './snapshot-commands.js';
import { addRunCommands } from './run-commands.js';
import type * as ServerModule from './server-commands.js';

type ServerCommands = typeof ServerModule;

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

export function buildProgram(env: NodeJS.ProcessEnv = process.env, io: Io = stdio): Command {
  const { out, err } = io;
  const program = new Command('drplan')
    .description('DC/OS-style backup and restore plans over every node of a service')
    .showHelpAfterError()
    .exitOverride()
    // Before any subcommand is added: they copy these settings when created.
    .configureOutput({ writeOut: (text) => out(text.trimEnd()), writeErr: (text) => err(text.trimEnd()) });

  // The long-running processes load the servers, the SDKs and the YAML only when they start:
  // the HTTP-only commands below answer without them.
  const servers = (): Promise<ServerCommands> => import('./server-commands.js');
  program
    .command('serve')
    .description('API, dashboard, coordinator and an agent for every node whose data directory is on this host')
    .action(async () => (await servers()).serve(env, out));

  program
    .command('api')
    .description('the REST API and dashboard only')
    .action(async () => (await servers()).api(env));

  program
    .command('coordinator')
    .description('the plan engine only; any number may run')
    .action(async () => (await servers()).coordinator(env));

  program
    .command('agent')
    .description('the worker for nodes of one service')
    .requiredOption('--service <service>', 'the service')
    .option('--node <index>', 'a node: an index, or <pod>-<index> (repeat)', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option('--all-nodes', 'every node of the service (of --pod, when given)')
    .option('--pod <pod>', 'the pod the --node indexes are of, for services with several pods')
    .action(async (o: { service: string; node: string[]; allNodes?: boolean; pod?: string }) => (await servers()).agent(env, o));

  program
    .command('validate')
    .description('check services/ and plans/; every problem with file and line')
    .action(async () => {
      process.exitCode = (await servers()).validate(out, err, env);
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
