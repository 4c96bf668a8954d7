import type { Command } from 'commander';
import type { PlanInfo, RunInfo } from '../api/index.js';
import { AppError, formatBytes, formatDuration } from '../shared/index.js';
import { apiCommand, clientFor, failure, type ApiDefaults } from './plan-commands.js';
import { formatTable } from './snapshot-commands.js';
import { formatPlanTree } from './tree-format.js';

/** A run's outcome in a word or two: what happened, not only the status. */
export function outcomeOf(run: Pick<RunInfo, 'status' | 'active' | 'stoppedAt' | 'snapshot' | 'errors'>): string {
  if (run.active) return run.status === 'WAITING' ? 'paused' : 'running';
  if (run.stoppedAt !== null && run.status !== 'COMPLETE') return run.snapshot === null ? 'stopped' : 'stopped after commit';
  if (run.status === 'ERROR' || run.errors.length > 0) return 'failed';
  return run.status === 'COMPLETE' ? 'complete' : run.status.toLowerCase();
}

/** `drplan runs list|show`: the run history of a service. */
export function addRunCommands(program: Command, out: (text: string) => void, defaults: ApiDefaults): void {
  const runs = apiCommand(program, 'runs', defaults).description('the run history of a service');
  const base = (service: string | undefined): string => (service === undefined ? '/v1/runs' : `/v1/service/${encodeURIComponent(service)}/runs`);
  runs
    .command('list')
    .alias('ls')
    .description('runs of the service, newest first')
    .option('--plan <plan>', 'only runs of this plan')
    .option('--limit <n>', 'at most this many', '20')
    .action(async (o: { plan?: string; limit: string }, command: Command) => {
      const { client, opts } = clientFor(command, defaults);
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new AppError('BAD_REQUEST', `--limit ${o.limit}: give a whole number of at least 1`);
      const query = new URLSearchParams({ limit: String(limit), ...(o.plan === undefined ? {} : { plan: o.plan }) });
      const response = await client.request('GET', `${base(opts.service)}?${query.toString()}`);
      if (response.status !== 200) throw failure(response);
      const list = response.body as RunInfo[];
      if (opts.json === true) return out(JSON.stringify(list, null, 2));
      if (list.length === 0) return out('No runs yet.');
      out(
        formatTable(
          ['RUN', 'PLAN', 'OUTCOME', 'STARTED', 'DURATION', 'BYTES', 'SNAPSHOT', 'NOTE'],
          list.map((r) => [
            r.id,
            r.plan,
            outcomeOf(r),
            r.startedAt,
            formatDuration(r.durationMs / 1000),
            formatBytes(r.bytes),
            r.snapshot ?? '-',
            outcomeOf(r).startsWith('stopped') ? `stopped by ${r.stoppedBy ?? 'someone'}` : (r.errors[0] ?? ''),
          ]),
        ),
      );
    });

  runs
    .command('show')
    .description("one run's whole tree, also after later runs of its plan")
    .argument('<runId>')
    .action(async (runId: string, _o: unknown, command: Command) => {
      const { client, opts } = clientFor(command, defaults);
      const response = await client.request('GET', `${base(opts.service)}/${encodeURIComponent(runId)}`);
      if (![200, 202, 417].includes(response.status)) throw failure(response);
      if (opts.json === true) return out(JSON.stringify(response.body, null, 2));
      const tree = response.body as PlanInfo;
      const head = [`run ${tree.runId ?? runId} of ${tree.name}, started ${tree.startedAt ?? '?'}${tree.finishedAt === null ? '' : `, finished ${tree.finishedAt}`}`];
      if (tree.snapshot !== undefined && tree.snapshot !== null) head.push(`committed snapshot ${tree.snapshot}`);
      if (tree.stoppedAt !== undefined && tree.stoppedAt !== null) head.push(`stopped ${tree.stoppedAt}${tree.stoppedBy === undefined || tree.stoppedBy === null ? '' : ` by ${tree.stoppedBy}`}`);
      out([...head, formatPlanTree(tree)].join('\n'));
    });
}
