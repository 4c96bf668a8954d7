// @ts-check
// The run history of a service (GET …/runs): what each run did, how long it took, who stopped it.
import { badge, bytes, duration, h, time } from './dom.js';

/**
 * @typedef {{ id: string, plan: string, status: string, startedAt: string, finishedAt: string | null, durationMs: number,
 *   active: boolean, bytes: number, errors: string[], snapshot: string | null, stoppedAt: string | null, stoppedBy: string | null }} RunSummary
 */

/** What happened, in a word or two (the CLI's `runs list` says the same). @param {RunSummary} run */
export function outcome(run) {
  if (run.active) return run.status === 'WAITING' ? 'paused' : 'running';
  if (run.stoppedAt !== null && run.status !== 'COMPLETE') return run.snapshot === null ? 'stopped' : 'stopped after commit';
  if (run.status === 'ERROR' || run.errors.length > 0) return 'failed';
  return run.status === 'COMPLETE' ? 'complete' : run.status.toLowerCase();
}

/** @param {RunSummary[]} runs */
export function historyTable(runs) {
  if (runs.length === 0) return h('p', { class: 'hint' }, 'No runs yet.');
  return h(
    'table',
    { class: 'history' },
    h('thead', {}, h('tr', {}, ['Started', 'Plan', 'Outcome', 'Duration', 'Bytes', 'Snapshot', 'Note', 'Run'].map((t) => h('th', {}, t)))),
    h(
      'tbody',
      {},
      runs.map((run) =>
        h(
          'tr',
          { 'data-run': run.id, class: `outcome-${outcome(run).replace(/ /g, '-')}` },
          h('td', {}, time(run.startedAt)),
          h('td', {}, run.plan),
          h('td', {}, badge(run.status), ' ', outcome(run)),
          h('td', {}, duration(run.durationMs / 1000)),
          h('td', {}, bytes(run.bytes)),
          h('td', {}, run.snapshot ?? '–'),
          h('td', { class: 'message' }, outcome(run).startsWith('stopped') ? `stopped by ${run.stoppedBy ?? 'someone'} at ${time(run.stoppedAt)}` : (run.errors[0] ?? '')),
          h('td', { class: 'run-id', title: run.id }, run.id.slice(0, 8)),
        ),
      ),
    ),
  );
}
