import type { Command } from 'commander';
import type { PlanInfo } from '../api/index.js';
import { AppError } from '../shared/index.js';
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

function failure(response: Response): AppError {
  const body = response.body as { error?: string; message?: string; problems?: Array<{ parameter: string; message: string }>; runId?: string } | string | null;
  if (typeof body === 'object' && body !== null && typeof body.message === 'string') {
    const lines = [body.message];
    for (const p of body.problems ?? []) lines.push(`  - ${p.parameter} ${p.message}`);
    if (body.runId !== undefined && !body.message.includes(body.runId)) lines.push(`active run: ${body.runId}`);
    return new AppError('BAD_REQUEST', lines.join('\n'));
  }
  return new AppError('BAD_REQUEST', `HTTP ${response.status}: ${typeof body === 'string' ? body : JSON.stringify(body)}`);
}

/** Parses repeated `-p KEY=VALUE`; the value may contain '='. */
export function parseParams(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of values) {
    const at = item.indexOf('=');
    if (at <= 0) throw new AppError('BAD_REQUEST', `-p ${item}: expected KEY=VALUE`);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

const query = (entries: Record<string, string | undefined>): string => {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(entries)) if (value !== undefined) params.set(key, value);
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
};

/** `drplan plan …`: the DC/OS CLI verbs over the REST API. */
export function addPlanCommands(program: Command, out: Out, defaults: { url: string; token?: string }): void {
  for (const name of ['plan', 'plans']) {
    const plan = program
      .command(name, { hidden: name === 'plans' })
      .description('list, inspect and operate plans over the REST API')
      .option('--url <url>', 'drplan API address', defaults.url)
      // No commander default: it would print the token in --help.
      .option('--token <token>', 'bearer token (default: $DRPLAN_API_TOKEN)')
      .option('--service <service>', 'service to address (default: the default service)')
      .option('--json', 'print the raw JSON response');
    const client = (command: Command): { client: DrplanClient; opts: GlobalOptions } => {
      const opts = command.optsWithGlobals<GlobalOptions>();
      return { client: new DrplanClient({ url: opts.url, token: opts.token ?? defaults.token, service: opts.service }), opts };
    };
    const json = (value: unknown): void => out(JSON.stringify(value, null, 2));
    /** Runs an operation and prints DC/OS's sentence for it, or the 208 notice. */
    const operate = async (command: Command, path: string, sentence: string): Promise<void> => {
      const { client: c, opts } = client(command);
      const response = await c.request('POST', c.plansPath(path));
      if (opts.json === true) return json(response.body);
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
      .action(async (planName: string, _o: unknown, command: Command) => {
        const { client: c, opts } = client(command);
        const response = await c.request('GET', c.plansPath(`/${encodeURIComponent(planName)}`));
        if (![200, 202, 417].includes(response.status)) throw failure(response);
        if (opts.json === true) json(response.body);
        else out(formatPlanTree(response.body as PlanInfo));
      });

    plan
      .command('start')
      .description('start a run with parameters')
      .argument('<plan>')
      .option('-p, --params <KEY=VALUE>', 'a parameter (repeat)', (value: string, previous: string[]) => [...previous, value], [] as string[])
      .action(async (planName: string, o: { params: string[] }, command: Command) => {
        const { client: c } = client(command);
        const response = await c.request('POST', c.plansPath(`/${encodeURIComponent(planName)}/start`), parseParams(o.params));
        if (response.status !== 200) throw failure(response);
        json(response.body);
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

    plan
      .command('pause')
      .alias('interrupt')
      .description('pause the plan or one phase: running steps finish, no new ones start')
      .argument('<plan>')
      .argument('[phase]')
      .action((planName: string, phase: string | undefined, _o: unknown, command: Command) =>
        operate(
          command,
          `/${encodeURIComponent(planName)}/interrupt${query({ phase })}`,
          phase === undefined ? `"${planName}" plan has been paused.` : `"${planName}" plan: phase "${phase}" has been paused.`,
        ),
      );

    plan
      .command('resume')
      .alias('continue')
      .description('resume the plan or one phase')
      .argument('<plan>')
      .argument('[phase]')
      .action((planName: string, phase: string | undefined, _o: unknown, command: Command) =>
        operate(
          command,
          `/${encodeURIComponent(planName)}/continue${query({ phase })}`,
          phase === undefined ? `"${planName}" plan has been resumed.` : `"${planName}" plan: phase "${phase}" has been resumed.`,
        ),
      );

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
