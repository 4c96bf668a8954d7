import type { PlanInfo } from '../api/index.js';
import { AppError } from '../shared/index.js';
import type { DrplanClient } from './http-client.js';
import { formatPlanTree } from './tree-format.js';

/** A terminal the CLI may redraw in place. */
export interface Terminal {
  write: (text: string) => void;
  columns: () => number;
  rows: () => number;
}

export interface FollowOptions {
  /** Seconds between polls. @defaultValue 1 */
  interval: number;
  /** Give up after this many seconds (exit 124, as timeout(1) does). */
  timeout?: number | undefined;
  /** Follow this run: if another run of the plan replaces it, stop with an error. */
  runId?: string | undefined;
  /** Called with each tree that differs from the last one. */
  onTree: (tree: PlanInfo) => void;
  /** Seconds the API may stay unreachable (or answer 5xx) before following gives up (exit 3). @defaultValue 60 */
  patience?: number;
}

/** How a followed run ended, and the exit code scripts get for it. */
export interface Outcome {
  tree: PlanInfo;
  code: 0 | 1 | 3 | 124;
  summary: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** 0 when the run completed (or there is none), 1 when it failed or was stopped. */
export function outcomeOf(tree: PlanInfo): Omit<Outcome, 'tree'> {
  if (tree.runId === null) return { code: 0, summary: `${tree.name} has never run` };
  if (tree.status === 'COMPLETE' && tree.errors.length === 0) return { code: 0, summary: `${tree.name} run ${tree.runId} is COMPLETE` };
  if (tree.status === 'ERROR' || tree.errors.length > 0) return { code: 1, summary: `${tree.name} run ${tree.runId} ended in ERROR` };
  return { code: 1, summary: `${tree.name} run ${tree.runId} was stopped (${tree.status})` };
}

/** Polls a plan until its run has nothing left to do. A server that is briefly away is waited for. */
export async function followPlan(client: DrplanClient, path: string, options: FollowOptions): Promise<Outcome> {
  const deadline = options.timeout === undefined ? Infinity : Date.now() + options.timeout * 1000;
  const patience = (options.patience ?? 60) * 1000;
  let last = '';
  let tree: PlanInfo | null = null;
  let failingSince: number | null = null;
  for (;;) {
    const polled = await poll(client, path);
    if (polled.tree !== undefined) {
      failingSince = null;
      tree = polled.tree;
      const text = JSON.stringify(tree);
      if (text !== last) options.onTree(tree);
      last = text;
      if (options.runId !== undefined && tree.runId !== options.runId) {
        return { tree, code: 1, summary: `run ${options.runId} was replaced by run ${tree.runId ?? 'none'}` };
      }
      if (!tree.active) return { tree, ...outcomeOf(tree) };
    } else {
      // A plan never seen (wrong URL, unknown plan) or a refusal (4xx) fails now; a server that
      // was there and is briefly away (restart, network blip, 5xx) is waited for.
      if (!polled.transient || tree === null) throw new AppError('UNAVAILABLE', `cannot follow the plan: ${polled.reason}`);
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= patience) {
        return { tree, code: 3, summary: `lost the API for ${Math.round((Date.now() - failingSince) / 1000)}s (${polled.reason}); the run goes on` };
      }
    }
    if (Date.now() >= deadline) return { tree, code: 124, summary: `gave up after ${options.timeout}s: ${tree.name} is ${tree.status}` };
    await sleep(Math.max(50, Math.min(options.interval * 1000, deadline - Date.now())));
  }
}

/** One GET of the plan: its tree, or why not and whether trying again may help. */
async function poll(client: DrplanClient, path: string): Promise<{ tree?: PlanInfo; reason: string; transient: boolean }> {
  try {
    const response = await client.request('GET', path);
    if ([200, 202, 417].includes(response.status)) return { tree: response.body as PlanInfo, reason: '', transient: false };
    const body = response.body as { message?: string } | null;
    const reason = `HTTP ${response.status}${typeof body?.message === 'string' ? `: ${body.message}` : ''}`;
    return { reason, transient: response.status >= 500 };
  } catch (error) {
    return { reason: (error as Error).message, transient: true };
  }
}

/** Redraws the live tree in place: the cursor goes back over the lines written last time. */
export function liveView(terminal: Terminal): (tree: PlanInfo) => void {
  let height = 0;
  return (tree) => {
    // The cursor cannot go back above the top of the screen: draw at most a screenful.
    const lines = formatPlanTree(tree, { live: true, columns: terminal.columns() }).split('\n');
    const room = Math.max(3, terminal.rows() - 1);
    const text = (lines.length <= room ? lines : [...lines.slice(0, room - 1), `… ${lines.length - room + 1} more lines (a taller terminal shows them)`]).join('\n');
    // CSI n F: to the start of the line n lines up; CSI J: clear to the end of the screen.
    terminal.write(`${height > 0 ? `\x1b[${height}F\x1b[J` : ''}${text}\n`);
    height = text.split('\n').length;
  };
}
