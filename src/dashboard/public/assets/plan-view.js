// @ts-check
// One plan: its run, errors, parameters, and the tree of phases and steps with their progress and
// the operations that apply to each.
import { badge, h, progressBar, time } from './dom.js';

/**
 * @typedef {{ id: string, name: string, status: string, attempts: number, message: string,
 *   progress: { bytesDone: number, bytesTotal: number | null, rate?: number, eta?: number } | null,
 *   startedAt: string | null, finishedAt: string | null, retryAt: string | null }} Step
 * @typedef {{ id: string, name: string, status: string, strategy: string, steps: Step[] }} Phase
 * @typedef {{ name: string, service: string, runId: string | null, status: string, active: boolean, interrupted: boolean, strategy: string,
 *   parameters: Record<string, string>, startedAt: string | null, finishedAt: string | null, errors: string[],
 *   progress: { bytesDone: number, bytesTotal: number | null }, phases: Phase[], rerunBlocked?: string | null }} Plan
 * @typedef {{ phase?: string, step?: string }} Target
 * @typedef {(operation: string, target: Target, label: string, confirm?: string) => void} Act
 */

/** @param {string} label @param {() => void} onclick @param {boolean} enabled @param {string} [title] @param {string} [kind] */
function button(label, onclick, enabled, title, kind) {
  return h('button', { type: 'button', class: kind, title, disabled: !enabled, onclick }, label);
}

/** Why an ended run cannot run again (its secrets are gone), or null. @param {Plan} plan @returns {string | null} */
function rerunBlocked(plan) {
  return plan.active ? null : plan.rerunBlocked ?? null;
}

/** What the run is doing, in a word. @param {Plan} plan */
function runState(plan) {
  if (plan.active) return plan.interrupted ? 'paused' : 'running';
  if (plan.status === 'COMPLETE' && plan.errors.length === 0) return 'complete';
  if (plan.status === 'ERROR' || plan.errors.length > 0) return 'failed';
  return 'stopped';
}

/** @param {Plan} plan @param {Act} act @param {() => void} toggleStart @param {boolean} startOpen */
export function planHead(plan, act, toggleStart, startOpen) {
  const ran = plan.runId !== null;
  const blocked = rerunBlocked(plan);
  const meta = ran ? [`run ${plan.runId}`, `started ${time(plan.startedAt)}`, runState(plan)] : ['never run'];
  if (ran && plan.finishedAt !== null) meta.push(`finished ${time(plan.finishedAt)}`);
  return h(
    'div',
    { class: 'plan-head' },
    h('h2', {}, plan.name, ' ', badge(plan.status)),
    h('p', { class: 'meta' }, `${plan.strategy} strategy · ${meta.join(' · ')}`),
    h(
      'div',
      { class: 'actions' },
      button(startOpen ? 'Hide start form' : 'Start…', toggleStart, startOpen || !plan.active, plan.active ? 'a run of this plan is active' : undefined, 'primary'),
      button('Pause', () => act('interrupt', {}, 'pause'), plan.active && !plan.interrupted),
      button('Resume', () => act('continue', {}, 'resume'), ran && plan.interrupted && blocked === null, blocked ?? (plan.active ? undefined : 'a stopped plan resumes from the start')),
      button('Stop', () => act('stop', {}, 'stop', `Stop ${plan.name}? Running transfers are cancelled and every step goes back to PENDING.`), plan.active, undefined, 'danger'),
      button('Restart', () => act('restart', {}, 'restart', undefined), ran && !plan.active && blocked === null, blocked ?? 'run the whole plan again with its stored parameters'),
    ),
    blocked === null ? null : h('p', { class: 'notice' }, `Restart and resume are off: ${blocked}.`),
  );
}

/**
 * Reuses the element built for `key` last time when its data is the same, so a poll that changes
 * one step's progress leaves every other element (its open state, focus, a click under way) alone.
 */
export class Memo {
  constructor() {
    /** @type {Map<string, { data: string, el: HTMLElement }>} */
    this.last = new Map();
    /** @type {Map<string, { data: string, el: HTMLElement }>} */
    this.next = new Map();
  }

  /** @param {string} key @param {unknown} data @param {() => HTMLElement} build */
  get(key, data, build) {
    const text = JSON.stringify(data);
    const old = this.last.get(key);
    const el = old !== undefined && old.data === text ? old.el : build();
    this.next.set(key, { data: text, el });
    return el;
  }

  /** Forgets what the last render did not use. */
  done() {
    this.last = this.next;
    this.next = new Map();
  }
}

/**
 * @param {Plan} plan @param {Act} act @param {Memo} memo
 * @param {((node: string) => void) | null} [restoreNode] for a plan that restores and takes NODES: opens its form for one node
 */
export function planBody(plan, act, memo, restoreNode = null) {
  const ran = plan.runId !== null;
  const overall = plan.progress.bytesTotal === null ? null : h('div', { class: 'overall' }, h('span', { class: 'hint' }, 'Bytes of the steps started so far'), progressBar(plan.progress));
  const errors = plan.errors.length === 0 ? null : h('div', { class: 'errors', role: 'alert' }, h('h3', {}, 'Errors'), h('ul', {}, plan.errors.map((e) => h('li', {}, e))));
  const entries = Object.entries(plan.parameters);
  const parameters =
    entries.length === 0
      ? null
      : memo.get('parameters', [plan.runId, entries], () =>
          h('details', { class: 'parameters' }, h('summary', {}, ran ? 'Parameters of this run' : 'Default parameters'), h('dl', {}, entries.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
        );
  return h('div', { class: 'plan-body' }, errors, overall, parameters, plan.phases.map((phase) => phaseView(plan, phase, act, ran, memo, restoreNode)));
}

/** @param {Plan} plan @param {Phase} phase @param {Act} act @param {boolean} ran @param {Memo} memo @param {((node: string) => void) | null} restoreNode */
function phaseView(plan, phase, act, ran, memo, restoreNode) {
  const paused = phase.status === 'WAITING';
  const done = phase.status === 'COMPLETE';
  const target = { phase: phase.id };
  const blocked = rerunBlocked(plan);
  const head = memo.get(`phase:${phase.id}`, [phase.status, plan.active, ran, blocked], () =>
    h(
      'div',
      { class: 'phase-head' },
      h('h3', {}, phase.name, ' ', h('span', { class: 'strategy' }, `(${phase.strategy})`), ' ', badge(phase.status)),
      h(
        'div',
        { class: 'actions small' },
        button('Pause', () => act('interrupt', target, `pause ${phase.name}`), plan.active && !paused && !done),
        button('Resume', () => act('continue', target, `resume ${phase.name}`), ran && paused && blocked === null, blocked ?? undefined),
        button('Restart', () => act('restart', target, `restart ${phase.name}`), ran && blocked === null, blocked ?? undefined),
        button('Force complete', () => act('forceComplete', target, `force-complete ${phase.name}`, `Mark phase ${phase.name} COMPLETE? Its steps will not run; what runs is cancelled.`), ran && !done, undefined, 'danger'),
      ),
    ),
  );
  return h(
    'div',
    { class: `phase status-${phase.status}`, 'data-phase': phase.name },
    head,
    h(
      'table',
      { class: 'steps' },
      h('thead', {}, h('tr', {}, ['Step', 'Status', 'Attempts', 'Progress', 'Message', ''].map((t) => h('th', {}, t)))),
      h('tbody', {}, phase.steps.map((step) => memo.get(`step:${step.id}`, [step, ran, blocked, restoreNode !== null], () => stepRow(phase, step, act, ran, blocked, restoreNode)))),
    ),
  );
}

/** The node of a step that restores one (`node-1:[fetch-restore-…]`), or null. @param {Step} step */
function restoredNode(step) {
  return /^([a-z0-9-]+-\d+):\[fetch-restore-[a-z0-9-]+\]$/.exec(step.name)?.[1] ?? null;
}

/**
 * @param {Phase} phase @param {Step} step @param {Act} act @param {boolean} ran @param {string | null} blocked
 * @param {((node: string) => void) | null} restoreNode
 */
function stepRow(phase, step, act, ran, blocked, restoreNode) {
  const target = { phase: phase.id, step: step.id };
  const node = restoreNode === null ? null : restoredNode(step);
  const when = step.status === 'DELAYED' && step.retryAt !== null ? h('div', { class: 'retry' }, `retry at ${time(step.retryAt)}`) : null;
  return h(
    'tr',
    { class: `step status-${step.status}`, 'data-step': step.name },
    h('td', { class: 'name' }, step.name),
    h('td', {}, badge(step.status)),
    h('td', { class: 'attempts' }, String(step.attempts)),
    h('td', { class: 'progress-cell' }, progressBar(step.progress)),
    h('td', { class: 'message' }, step.message, when),
    h(
      'td',
      { class: 'actions small' },
      button('Restart', () => act('restart', target, `restart ${step.name}`), ran && blocked === null, blocked ?? undefined),
      button('Force complete', () => act('forceComplete', target, `force-complete ${step.name}`, `Mark ${step.name} COMPLETE without running it? If it runs, it is cancelled.`), ran && step.status !== 'COMPLETE', undefined, 'danger'),
      node === null || restoreNode === null ? null : button('Restore this node…', () => restoreNode(node), true, `a new run of this plan for ${node} alone (NODES=${node}); the other nodes are not touched`),
    ),
  );
}
