import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { PlanInfo } from '../api/index.js';
import { AppError } from '../shared/index.js';
import { followPlan, liveView, type Outcome, type Terminal } from './follow.js';
import { DrplanClient, type Response } from './http-client.js';
import { formatPlanTree } from './tree-format.js';

const ALREADY = 'Cannot execute command. Command has already been issued or the plan has completed';

interface GlobalOptions {
  url: string;
  token?: string;
  service?: string;
  json?: boolean;
}

type Out = (text: string) => void;

export interface PlanIo {
  out: Out;
  /** Set when standard output is a terminal: `--watch` redraws in place there. */
  terminal?: Terminal | undefined;
}

interface FollowFlags {
  interval: string;
  timeout?: string;
}

const seconds = (flag: string, text: string | undefined): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new AppError('BAD_REQUEST', `${flag} ${text}: expected a number of seconds above 0`);
  return value;
};

/** Without a terminal: the tree again whenever a status in it changes (not on every progress tick). */
function changes(out: Out): (tree: PlanInfo) => void {
  let last = '';
  return (tree) => {
    const text = formatPlanTree(tree);
    if (text !== last) out(`${text}\n`);
    last = text;
  };
}

export function failure(response: Response): AppError {
  const body = response.body as { error?: string; message?: string; problems?: Array<{ parameter: string; message: string }>; runId?: string } | string | null;
  if (typeof body === 'object' && body !== null && typeof body.message === 'string') {
    const lines = [body.message];
    for (const p of body.problems ?? []) lines.push(`  - ${p.parameter} ${p.message}`);
    if (body.runId !== undefined && !body.message.includes(body.runId)) lines.push(`active run: ${body.runId}`);
    return new AppError('BAD_REQUEST', lines.join('\n'));
  }
  return new AppError('BAD_REQUEST', `HTTP ${response.status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** One `KEY=VALUE`, or `KEY` alone for the value of the environment variable KEY (as `docker run -e KEY` takes it). */
function parameter(item: string, env: Readonly<Record<string, string | undefined>>, where: string): [string, string] {
  const at = item.indexOf('=');
  const key = at < 0 ? item : item.slice(0, at);
  if (!KEY.test(key)) throw new AppError('BAD_REQUEST', `${where}: expected KEY=VALUE or KEY, with KEY of letters, digits and underscores`);
  if (at >= 0) return [key, item.slice(at + 1)];
  const value = env[key];
  if (value === undefined) throw new AppError('BAD_REQUEST', `${where}: the environment variable ${key} is not set`);
  return [key, value];
}

/**
 * The parameters of `--params-file FILE`s (`KEY=VALUE` lines; `KEY` alone, blank lines and `#`
 * comments as in an env file), then of repeated `-p KEY=VALUE` or `-p KEY`, later ones winning.
 * The value may contain '='; nothing is unquoted or expanded.
 */
export function parseParams(values: string[], env: Readonly<Record<string, string | undefined>> = {}, files: Array<{ name: string; text: string }> = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of files) {
    file.text.split(/\r?\n/).forEach((line, index) => {
      const trimmed = line.replace(/^\s+/, '');
      if (trimmed === '' || trimmed.startsWith('#')) return;
      const [key, value] = parameter(trimmed.replace(/\s+$/, ''), env, `${file.name}:${index + 1}`);
      out[key] = value;
    });
  }
  for (const item of values) {
    const [key, value] = parameter(item, env, `-p ${item.includes('=') ? `${item.slice(0, item.indexOf('='))}=…` : item}`);
    out[key] = value;
  }
  return out;
}

function readParamsFile(name: string): string {
  try {
    return readFileSync(name, 'utf8');
  } catch (error) {
    throw new AppError('BAD_REQUEST', `--params-file ${name}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

const query = (entries: Record<string, string | undefined>): string => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(entries)) if (value !== undefined) params.set(key, value);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
};

export interface ApiDefaults {
  url: string;
  token?: string;
}

/** A command group that talks to the REST API: `--url`, `--token`, `--service`, `--json`. */
export function apiCommand(program: Command, name: string, defaults: ApiDefaults): Command {
  return (
    program
      .command(name, { hidden: name === 'plans' })
      .option('--url <url>', 'drplan API address', defaults.url)
      // No commander default: it would print the token in --help.
      .option('--token <token>', 'bearer token (default: $DRPLAN_API_TOKEN)')
      .option('--service <service>', 'service to address (default: the default service)')
      .option('--json', 'print the raw JSON response')
  );
}

export function clientFor(command: Command, defaults: ApiDefaults): { client: DrplanClient; opts: GlobalOptions } {
  const opts = command.optsWithGlobals<GlobalOptions>();
  return { client: new DrplanClient({ url: opts.url, token: opts.token ?? defaults.token, service: opts.service }), opts };
}

/** `drplan plan …`: the DC/OS CLI verbs over the REST API. */
export function addPlanCommands(program: Command, io: PlanIo, defaults: ApiDefaults): void {
  const { out, terminal } = io;
  for (const name of ['plan', 'plans']) {
    const plan = apiCommand(program, name, defaults).description('list, inspect and operate plans over the REST API');
    const client = (command: Command) => clientFor(command, defaults);
    const json = (value: unknown): void => out(JSON.stringify(value, null, 2));

    /**
     * Follows a plan until its run ends and sets the exit code from the outcome. `live`: show it as
     * it goes (in place on a terminal); otherwise only the final tree is printed.
     */
    const watch = async (c: DrplanClient, path: string, o: FollowFlags, opts: GlobalOptions, live: boolean, runId?: string): Promise<void> => {
      const asJson = opts.json === true;
      const onTree = !live ? () => undefined : asJson ? (tree: PlanInfo) => out(JSON.stringify(tree)) : terminal !== undefined ? liveView(terminal) : changes(out);
      const outcome: Outcome = await followPlan(c, path, { interval: seconds('--interval', o.interval) ?? 1, timeout: seconds('--timeout', o.timeout), runId, onTree });
      if (asJson) {
        if (!live) json(outcome.tree);
      } else {
        if (!live) out(formatPlanTree(outcome.tree));
        out(outcome.summary);
      }
      process.exitCode = outcome.code;
    };
    /** Runs an operation and prints DC/OS's sentence for it, or the 208 notice. */
    const operate = async (command: Command, path: string, sentence: string): Promise<void> => {
      const { client: c, opts } = client(command);
      const response = await c.request('POST', c.plansPath(path));
      if (opts.json === true) {
        json(response.body);
        if (response.status >= 400) process.exitCode = 1;
        return;
      }
      if (response.status === 208) return out(ALREADY);
      if (response.status !== 200) throw failure(response);
      out(sentence);
    };

    plan
      .command('list')
      .description('names of the plans')
      .action(async (_o: unknown, command: Command) => {
        const { client: c } = client(command);
        const response = await c.request('GET', c.plansPath());
        if (response.status !== 200) throw failure(response);
        json(response.body);
      });

    plan
      .command('status')
      .alias('show')
      .description('the plan tree: phases, steps and their status')
      .argument('<plan>')
      .option('--watch', 'follow the run until it ends: redrawn in place with progress bars on a terminal, a tree per change otherwise, a JSON line per change with --json')
      .option('--interval <seconds>', 'seconds between polls with --watch', '1')
      .option('--timeout <seconds>', 'with --watch, give up after this long (exit 124)')
      .action(async (planName: string, o: FollowFlags & { watch?: boolean }, command: Command) => {
        const { client: c, opts } = client(command);
        const path = c.plansPath(`/${encodeURIComponent(planName)}`);
        if (o.watch === true) return watch(c, path, o, opts, true);
        const response = await c.request('GET', path);
        if (![200, 202, 417].includes(response.status)) throw failure(response);
        if (opts.json === true) json(response.body);
        else out(formatPlanTree(response.body as PlanInfo));
      });

    plan
      .command('start')
      .description('start a run with parameters')
      .argument('<plan>')
      .option('-p, --params <KEY=VALUE>', 'a parameter (repeat); -p KEY takes the value of the environment variable KEY', (value: string, previous: string[]) => [...previous, value], [] as string[])
      .option('--params-file <FILE>', 'KEY=VALUE lines, so that secrets stay off the command line (repeat; -p wins)', (value: string, previous: string[]) => [...previous, value], [] as string[])
      .option('--wait', 'follow the run; exit 0 when it is COMPLETE, 1 on ERROR or when it is stopped (for cron and scripts)')
      .option('--interval <seconds>', 'seconds between polls with --wait', '1')
      .option('--timeout <seconds>', 'with --wait, give up after this long (exit 124; the run goes on)')
      .action(async (planName: string, o: FollowFlags & { params: string[]; paramsFile: string[]; wait?: boolean }, command: Command) => {
        const { client: c, opts } = client(command);
        const files = o.paramsFile.map((name) => ({ name, text: readParamsFile(name) }));
        const response = await c.request('POST', c.plansPath(`/${encodeURIComponent(planName)}/start`), parseParams(o.params, process.env, files));
        if (response.status !== 200) throw failure(response);
        const started = response.body as { message: string; runId: string };
        if (o.wait !== true) return json(started);
        if (opts.json !== true) out(started.message);
        // Live on a terminal; with --json, or into a pipe or a log, only the outcome.
        return watch(c, c.plansPath(`/${encodeURIComponent(planName)}`), o, opts, terminal !== undefined && opts.json !== true, started.runId);
      });

    plan
      .command('stop')
      .description('interrupt the plan, cancel running steps and reset it')
      .argument('<plan>')
      .action(async (planName: string, _o: unknown, command: Command) => {
        const { client: c } = client(command);
        const response = await c.request('POST', c.plansPath(`/${encodeURIComponent(planName)}/stop`));
        if (response.status !== 200) throw failure(response);
        json(response.body);
      });

    // DC/OS's interrupt and continue, by their CLI names: the same shape, other words.
    for (const [verb, operation, done, what] of [
      ['pause', 'interrupt', 'paused', 'pause the plan or one phase: running steps finish, no new ones start'],
      ['resume', 'continue', 'resumed', 'resume the plan or one phase'],
    ] as const) {
      plan
        .command(verb)
        .alias(operation)
        .description(what)
        .argument('<plan>')
        .argument('[phase]')
        .action((planName: string, phase: string | undefined, _o: unknown, command: Command) =>
          operate(
            command,
            `/${encodeURIComponent(planName)}/${operation}${query({ phase })}`,
            phase === undefined ? `"${planName}" plan has been ${done}.` : `"${planName}" plan: phase "${phase}" has been ${done}.`,
          ),
        );
    }

    plan
      .command('force-restart')
      .alias('restart')
      .description('run the plan, a phase or a step again with its stored parameters')
      .argument('<plan>')
      .argument('[phase]')
      .argument('[step]')
      .action((planName: string, phase: string | undefined, step: string | undefined, _o: unknown, command: Command) =>
        operate(
          command,
          `/${encodeURIComponent(planName)}/restart${query({ phase, step })}`,
          step !== undefined
            ? `"${planName}" plan: step "${step}" in phase "${phase ?? ''}" has been restarted.`
            : phase !== undefined
              ? `"${planName}" plan: phase "${phase}" has been restarted.`
              : `"${planName}" plan has been restarted.`,
        ),
      );

    plan
      .command('force-complete')
      .alias('force')
      .description('mark a step complete')
      .argument('<plan>')
      .argument('<phase>')
      .argument('<step>')
      .action((planName: string, phase: string, step: string, _o: unknown, command: Command) =>
        operate(
          command,
          `/${encodeURIComponent(planName)}/forceComplete${query({ phase, step })}`,
          `"${planName}" plan: step "${step}" in phase "${phase}" has been forced to complete.`,
        ),
      );
  }
}
