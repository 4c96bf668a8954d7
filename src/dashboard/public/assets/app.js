// @ts-check
// The dashboard: services and their plans, the selected plan's tree, its start form, and the
// snapshot catalogue, kept current by polling the REST API (fast while a run is active, slow when
// idle, revalidated with ETags so an unchanged plan costs a 304).
import { Api, Unauthorized, servicePath } from './api.js';
import { badge, confirmAction, h } from './dom.js';
import { Memo, planBody, planHead } from './plan-view.js';
import { historyTable } from './history.js';
import { snapshotTable } from './snapshots.js';
import { startForm } from './start-form.js';

const ACTIVE_MS = 1000;
const IDLE_MS = 5000;
const SELECTED_IDLE_MS = 3000;
const HIDDEN_MS = 15000;
const SERVICES_MS = 30000;
const SNAPSHOTS_MS = 10000;

const api = new Api();
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @typedef {import('./plan-view.js').Plan} Plan */
const state = {
  /** @type {Array<{ name: string, default: boolean, plans: string[] }>} */
  services: [],
  /** @type {string | null} */
  service: null,
  /** @type {string | null} */
  selected: null,
  /** @type {Map<string, { tree: Plan | null, nextAt: number, busy: boolean }>} */
  plans: new Map(),
  servicesAt: 0,
  snapshotsAt: 0,
  historyAt: 0,
  /** @type {string | null} the service whose history is on the page */
  historyOf: null,
  /** @type {string | null} the service whose catalogue is on the page */
  snapshotsOf: null,
  memo: new Memo(),
  startOpen: false,
  /** @type {Record<string, string>} values the next start form begins with (a restore from the catalogue) */
  prefill: {},
  /** @type {Map<string, string[]>} the parameters each plan of the service declares, once read */
  declared: new Map(),
};

function route() {
  const match = /^#\/service\/([^/]+)(?:\/plan\/([^/]+))?/.exec(location.hash);
  return match === null ? { service: null, plan: null } : { service: decodeURIComponent(match[1] ?? ''), plan: match[2] === undefined ? null : decodeURIComponent(match[2]) };
}

function navigate(/** @type {string} */ service, /** @type {string | null} */ plan) {
  location.hash = `#/service/${encodeURIComponent(service)}${plan === null ? '' : `/plan/${encodeURIComponent(plan)}`}`;
}

function connection(/** @type {string} */ text, ok = true) {
  const el = $('connection');
  el.textContent = text;
  el.className = ok ? 'ok' : 'error';
}

/** Runs a request; a 401 opens the token prompt, anything else unexpected shows in the header. */
async function guarded(/** @type {() => Promise<void>} */ work) {
  try {
    await work();
  } catch (error) {
    if (error instanceof Unauthorized) askToken(error.message);
    else connection(error instanceof Error ? error.message : String(error), false);
  }
}

function askToken(/** @type {string} */ message) {
  connection(message, false);
  const dialog = /** @type {HTMLDialogElement} */ ($('token-dialog'));
  $('token-message').textContent = message;
  if (!dialog.open) dialog.showModal();
}

$('token-form').addEventListener('submit', () => {
  const input = /** @type {HTMLInputElement} */ ($('token-input'));
  api.setToken(input.value.trim());
  input.value = '';
  state.servicesAt = 0;
  for (const entry of state.plans.values()) entry.nextAt = 0;
});

async function loadServices() {
  state.servicesAt = Date.now() + 2000; // until it succeeds
  const answer = await api.get('v1/services');
  if (answer.status !== 200) throw new Error(answer.body?.message ?? `HTTP ${answer.status}`);
  state.servicesAt = Date.now() + SERVICES_MS;
  state.services = answer.body;
  const wanted = route();
  const service = state.services.find((s) => s.name === wanted.service) ?? state.services.find((s) => s.default) ?? state.services[0];
  const picker = /** @type {HTMLSelectElement} */ ($('service'));
  picker.replaceChildren(...state.services.map((s) => h('option', { value: s.name, selected: s.name === service?.name }, s.name)));
  $('service-picker').hidden = state.services.length < 2;
  if (service !== undefined) selectService(service.name, wanted.plan);
}

function selectService(/** @type {string} */ name, /** @type {string | null} */ plan) {
  const service = state.services.find((s) => s.name === name);
  if (service === undefined) return;
  if (state.service !== name) {
    state.service = name;
    state.plans = new Map(service.plans.map((p) => [p, { tree: null, nextAt: 0, busy: false }]));
    state.snapshotsAt = 0;
    state.historyAt = 0;
    state.declared = new Map();
  }
  for (const p of service.plans) if (!state.plans.has(p)) state.plans.set(p, { tree: null, nextAt: 0, busy: false });
  const selected = plan !== null && service.plans.includes(plan) ? plan : (state.selected !== null && service.plans.includes(state.selected) ? state.selected : (service.plans[0] ?? null));
  if (selected !== state.selected) {
    state.selected = selected;
    state.startOpen = false;
    state.memo = new Memo();
    $('start').replaceChildren();
    $('notice').replaceChildren();
  }
  $('plans-title').textContent = `Plans of ${name}`;
  renderPlans();
  renderSelected();
}

async function pollPlan(/** @type {string} */ name) {
  const entry = state.plans.get(name);
  if (entry === undefined || state.service === null) return;
  entry.busy = true;
  try {
    const answer = await api.get(servicePath(state.service, 'plans', name));
    if (![200, 202, 417].includes(answer.status)) throw new Error(`${name}: ${answer.body?.message ?? `HTTP ${answer.status}`}`);
    const wasActive = entry.tree?.active === true;
    if (answer.changed || entry.tree === null) {
      entry.tree = answer.body;
      renderPlans();
      if (name === state.selected) renderSelected();
    }
    if (wasActive && entry.tree?.active !== true) state.snapshotsAt = 0;
    // A run that started or ended changes the history.
    if (wasActive !== (entry.tree?.active === true)) state.historyAt = 0;
    connection(`live · updated ${new Date().toLocaleTimeString()}`);
  } finally {
    const active = entry.tree?.active === true;
    const idle = name === state.selected ? SELECTED_IDLE_MS : IDLE_MS;
    entry.nextAt = Date.now() + (document.hidden ? HIDDEN_MS : active ? ACTIVE_MS : idle);
    entry.busy = false;
  }
}

function renderPlans() {
  const items = [...state.plans].map(([name, entry]) =>
    h(
      'li',
      { 'data-plan': name, class: name === state.selected ? 'selected' : undefined },
      h('a', { href: `#/service/${encodeURIComponent(state.service ?? '')}/plan/${encodeURIComponent(name)}` }, h('span', { class: 'plan-name' }, name), ' ', entry.tree === null ? null : badge(entry.tree.status)),
    ),
  );
  $('plans').replaceChildren(...items);
}

function renderSelected() {
  const name = state.selected;
  const tree = name === null ? null : (state.plans.get(name)?.tree ?? null);
  if (name === null || tree === null) {
    $('plan-head').replaceChildren(h('p', {}, name === null ? 'No plans.' : 'Loading…'));
    $('plan-body').replaceChildren();
    return;
  }
  const { memo } = state;
  const head = [tree.name, tree.status, tree.active, tree.interrupted, tree.runId, tree.startedAt, tree.finishedAt, tree.strategy, state.startOpen];
  $('plan-head').replaceChildren(memo.get('head', head, () => planHead(tree, act, toggleStart, state.startOpen)));
  $('plan-body').replaceChildren(planBody(tree, act, memo, takesNodes(name) ? restoreNode : null));
  memo.done();
}

/** Whether a plan declares NODES (read once per plan, then the page renders again). @param {string} plan */
function takesNodes(plan) {
  const known = state.declared.get(plan);
  if (known !== undefined) return known.includes('NODES');
  const service = state.service;
  if (service === null) return false;
  state.declared.set(plan, []);
  void guarded(async () => {
    const answer = await api.get(servicePath(service, 'plans', plan, 'parameters'));
    if (answer.status !== 200) return;
    state.declared.set(plan, answer.body.parameters.map((/** @type {{ name: string }} */ p) => p.name));
    if (state.selected === plan) renderSelected();
  });
  return false;
}

/** Opens the selected plan's start form for one node, with the run's other parameters (never a secret). @param {string} node */
function restoreNode(node) {
  const tree = state.selected === null ? null : (state.plans.get(state.selected)?.tree ?? null);
  if (tree === null) return;
  state.prefill = { ...Object.fromEntries(Object.entries(tree.parameters).filter(([, value]) => value !== '******')), NODES: node };
  state.startOpen = true;
  renderSelected();
  void guarded(buildStartForm);
}

function toggleStart() {
  state.startOpen = !state.startOpen;
  $('notice').replaceChildren();
  if (!state.startOpen) $('start').replaceChildren();
  else void guarded(buildStartForm);
  renderSelected();
}

async function buildStartForm() {
  const service = state.service;
  const plan = state.selected;
  if (service === null || plan === null) return;
  const answer = await api.get(servicePath(service, 'plans', plan, 'parameters'));
  if (answer.status !== 200) throw new Error(answer.body?.message ?? `HTTP ${answer.status}`);
  if (state.selected !== plan || !state.startOpen) return;
  const submit = async (/** @type {Record<string, string>} */ values) => {
    try {
      return await api.post(servicePath(service, 'plans', plan, 'start'), values);
    } catch (error) {
      if (error instanceof Unauthorized) askToken(error.message);
      throw error;
    }
  };
  const started = () => {
    state.startOpen = false;
    $('start').replaceChildren();
    $('notice').replaceChildren(h('p', { class: 'ok' }, `${plan} started.`));
    refresh(plan);
    renderSelected();
  };
  $('start').replaceChildren(startForm(answer.body, submit, started, state.prefill));
  state.prefill = {};
}

/** @type {import('./plan-view.js').Act} */
function act(operation, target, label, confirmText) {
  void guarded(async () => {
    if (confirmText !== undefined && !(await confirmAction(confirmText, label.split(' ')[0] === 'stop' ? 'Stop' : 'Force complete'))) return;
    const service = state.service;
    const plan = state.selected;
    if (service === null || plan === null) return;
    const query = new URLSearchParams(Object.entries(target).filter(([, v]) => v !== undefined));
    const answer = await api.post(`${servicePath(service, 'plans', plan, operation)}${query.size === 0 ? '' : `?${query}`}`);
    const text = answer.status === 208 ? `${label}: nothing to do (already done or complete)` : answer.status === 200 ? `${label}: ${answer.body.message}` : `${label} failed: ${answer.body?.message ?? `HTTP ${answer.status}`}`;
    $('notice').replaceChildren(h('p', { class: answer.status >= 400 ? 'error' : 'ok' }, text));
    refresh(plan);
  });
}

function refresh(/** @type {string} */ plan) {
  const entry = state.plans.get(plan);
  if (entry !== undefined) entry.nextAt = 0;
}

async function pollSnapshots() {
  if (state.service === null) return;
  state.snapshotsAt = Date.now() + SNAPSHOTS_MS;
  const answer = await api.get(servicePath(state.service, 'snapshots'));
  if (answer.status !== 200) throw new Error(answer.body?.message ?? `HTTP ${answer.status}`);
  if (!answer.changed && state.snapshotsOf === state.service) return;
  state.snapshotsOf = state.service;
  const restorable = (/** @type {import('./snapshots.js').Snapshot} */ snapshot) => snapshot.restore !== null && state.plans.has(snapshot.restore.plan);
  $('snapshots').replaceChildren(snapshotTable(answer.body, restorable, openRestore));
}

async function pollHistory() {
  if (state.service === null) return;
  state.historyAt = Date.now() + SNAPSHOTS_MS;
  const answer = await api.get(`${servicePath(state.service, 'runs')}?limit=50`);
  if (answer.status !== 200) throw new Error(answer.body?.message ?? `HTTP ${answer.status}`);
  if (!answer.changed && state.historyOf === state.service) return;
  state.historyOf = state.service;
  $('history').replaceChildren(historyTable(answer.body));
}

/** Opens the plan the API names to restore a snapshot, with its name and location filled in. @param {import('./snapshots.js').Snapshot} snapshot */
function openRestore(snapshot) {
  const plan = snapshot.restore?.plan;
  if (state.service === null || plan === undefined || !state.plans.has(plan)) return;
  history.pushState(null, '', `#/service/${encodeURIComponent(state.service)}/plan/${encodeURIComponent(plan)}`);
  selectService(state.service, plan);
  state.prefill = { ...(snapshot.restore?.parameters ?? {}) };
  state.startOpen = true;
  renderSelected();
  void guarded(buildStartForm);
  $('plan').scrollIntoView();
}

let ticking = false;
async function tick() {
  if (ticking || /** @type {HTMLDialogElement} */ ($('token-dialog')).open) return;
  ticking = true;
  try {
    const now = Date.now();
    if (now >= state.servicesAt) await guarded(loadServices);
    const due = [...state.plans].filter(([, e]) => !e.busy && e.nextAt <= now).map(([name]) => name);
    await Promise.all(due.map((name) => guarded(() => pollPlan(name))));
    if (now >= state.snapshotsAt) await guarded(pollSnapshots);
    if (now >= state.historyAt) await guarded(pollHistory);
  } finally {
    ticking = false;
  }
}

$('service').addEventListener('change', (event) => navigate(/** @type {HTMLSelectElement} */ (event.target).value, null));
window.addEventListener('hashchange', () => {
  const wanted = route();
  if (wanted.service !== null) selectService(wanted.service, wanted.plan);
});
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) for (const entry of state.plans.values()) entry.nextAt = Math.min(entry.nextAt, Date.now());
});
setInterval(() => void tick(), 250);
void tick();
