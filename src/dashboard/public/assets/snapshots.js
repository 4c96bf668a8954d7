// @ts-check
// The snapshot catalogue (GET …/snapshots) and what a restore of one of them starts from.
import { bytes, h, time } from './dom.js';

/**
 * A catalogue entry; `restore` is the plan the API says restores it and the parameters that name
 * it (the page knows no storage by name).
 * @typedef {{ name: string, plan: string, storage: string, location: string, prefix?: string, created: string, bytes: number, nodes: number,
 *   restore: { plan: string, parameters: Record<string, string> } | null }} Snapshot
 */

/**
 * The catalogue as a table; rows the API names a restore plan for get a Restore… button.
 * @param {Snapshot[]} snapshots @param {(snapshot: Snapshot) => boolean} restorable @param {(snapshot: Snapshot) => void} onRestore
 */
export function snapshotTable(snapshots, restorable, onRestore) {
  if (snapshots.length === 0) return h('p', { class: 'hint' }, 'No committed snapshots yet: a completed backup plan adds one.');
  return h(
    'table',
    { class: 'snapshots' },
    h('thead', {}, h('tr', {}, ['Name', 'Plan', 'Storage', 'Location', 'Created', 'Size', 'Nodes', ''].map((t) => h('th', {}, t)))),
    h(
      'tbody',
      {},
      snapshots.map((s) =>
        h(
          'tr',
          { 'data-snapshot': s.name },
          [s.name, s.plan, s.storage, s.prefix ? `${s.location}/${s.prefix}` : s.location, time(s.created), bytes(s.bytes), String(s.nodes)].map((t) => h('td', {}, t)),
          h('td', {}, restorable(s) ? h('button', { type: 'button', onclick: () => onRestore(s) }, 'Restore…') : null),
        ),
      ),
    ),
  );
}
