// @ts-check
// The snapshot catalogue (GET …/snapshots) and what a restore of one of them starts from.
import { bytes, h, time } from './dom.js';

/** @typedef {{ name: string, plan: string, storage: string, location: string, created: string, bytes: number, nodes: number }} Snapshot */

/** Where each storage's restore plan takes the bucket or container. */
const LOCATION_PARAMETER = /** @type {Record<string, string>} */ ({ s3: 'S3_BUCKET_NAME', azure: 'CONTAINER_NAME' });

/** The start values of a restore of `snapshot`: its name, and its bucket or container. @param {Snapshot} snapshot */
export function restoreValues(snapshot) {
  const location = LOCATION_PARAMETER[snapshot.storage];
  return { SNAPSHOT_NAME: snapshot.name, ...(location === undefined ? {} : { [location]: snapshot.location }) };
}

/**
 * The catalogue as a table; rows whose storage has a restore plan get a Restore… button.
 * @param {Snapshot[]} snapshots @param {(storage: string) => boolean} restorable @param {(snapshot: Snapshot) => void} onRestore
 */
export function snapshotTable(snapshots, restorable, onRestore) {
  if (snapshots.length === 0) return h('p', { class: 'hint' }, 'No committed snapshots yet: a completed backup plan adds one.');
  return h(
    'table',
    { class: 'snapshots' },
    h('thead', {}, h('tr', {}, ['Name', 'Plan', 'Storage', 'Bucket / container', 'Created', 'Size', 'Nodes', ''].map((t) => h('th', {}, t)))),
    h(
      'tbody',
      {},
      snapshots.map((s) =>
        h(
          'tr',
          { 'data-snapshot': s.name },
          [s.name, s.plan, s.storage, s.location, time(s.created), bytes(s.bytes), String(s.nodes)].map((t) => h('td', {}, t)),
          h('td', {}, restorable(s.storage) ? h('button', { type: 'button', onclick: () => onRestore(s) }, 'Restore…') : null),
        ),
      ),
    ),
  );
}
