// @ts-check
// DOM helpers. Everything is built with createElement and text nodes: no string from the API is
// ever parsed as HTML, so a message holding markup shows as that markup's text.

/**
 * Creates an element. `on<event>` props add listeners; other props become attributes, or
 * properties for non-string values (value, checked, disabled). Children are nodes or text.
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...unknown} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else if (typeof value === 'string' || typeof value === 'number') el.setAttribute(key, String(value));
    else if (value === true) el.setAttribute(key, '');
    else /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (el))[key] = value;
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** @param {number} n */
export function bytes(n) {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`;
}

/** @param {number} seconds */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** @param {string | null | undefined} iso */
export function time(iso) {
  if (iso === null || iso === undefined) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** @param {string} status */
export function badge(status) {
  return h('span', { class: `badge status-${status}` }, status);
}

/**
 * A progress bar with "done of total · rate · ETA", or null when there is nothing to show.
 * @param {{ bytesDone: number, bytesTotal: number | null, rate?: number, eta?: number } | null | undefined} progress
 */
export function progressBar(progress) {
  if (progress === null || progress === undefined) return null;
  const { bytesDone, bytesTotal } = progress;
  const parts = [bytesTotal === null ? bytes(bytesDone) : `${bytes(bytesDone)} of ${bytes(bytesTotal)}`];
  if (bytesTotal !== null && bytesTotal > 0) parts.push(`${Math.min(100, Math.floor((100 * bytesDone) / bytesTotal))}%`);
  if (progress.rate !== undefined) parts.push(`${bytes(progress.rate)}/s`);
  if (progress.eta !== undefined) parts.push(`ETA ${duration(progress.eta)}`);
  const bar = bytesTotal === null || bytesTotal === 0 ? h('progress') : h('progress', { max: bytesTotal, value: Math.min(bytesDone, bytesTotal) });
  return h('div', { class: 'progress' }, bar, h('span', { class: 'progress-text' }, parts.join(' · ')));
}

/** Shows a modal confirmation; resolves true when confirmed. @param {string} message @param {string} action */
export function confirmAction(message, action) {
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById('confirm-dialog'));
  /** @type {HTMLElement} */ (document.getElementById('confirm-message')).textContent = message;
  /** @type {HTMLElement} */ (document.getElementById('confirm-ok')).textContent = action;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
  });
}
