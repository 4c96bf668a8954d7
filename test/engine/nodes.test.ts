import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRun, nodeSelectionProblems, type ServiceSpec } from '../../src/engine/index.js';
import { phase, plan } from '../helpers/specs.js';

const duo: ServiceSpec = {
  name: 'duo',
  pods: { node: { count: 3, dataDir: '/d/node-{{POD_INDEX}}', snapshot: 'hardlink' }, zk: { count: 2, dataDir: '/d/zk-{{POD_INDEX}}', snapshot: 'copy' } },
  hooks: {},
  locations: {},
  file: 'duo.yml',
  dir: '/',
};
const spec = plan([phase('restore', { pod: '*', nodes: '{{NODES}}', task: 'snapshot' }), phase('all', { pod: 'node', task: 'snapshot' })], {
  parameters: { NODES: { required: false, secret: false } },
});
const steps = (values: Record<string, string>): string[][] => {
  let n = 0;
  return createRun(spec, duo, { values, secrets: {} }, { runId: 'r', now: 0, newId: () => `id-${n++}` }).phases.map((p) => p.steps.map((s) => s.name));
};

describe('selecting nodes', () => {
  it('an index is that instance of every pod the phase walks, <pod>-<index> one instance; none given is every node', () => {
    assert.deepEqual(steps({ NODES: '1' })[0], ['node-1:[snapshot]', 'zk-1:[snapshot]']);
    assert.deepEqual(steps({ NODES: 'node-0, zk-1' })[0], ['node-0:[snapshot]', 'zk-1:[snapshot]']);
    assert.deepEqual(steps({})[0], ['node-0:[snapshot]', 'node-1:[snapshot]', 'node-2:[snapshot]', 'zk-0:[snapshot]', 'zk-1:[snapshot]']);
    assert.deepEqual(steps({ NODES: '2' })[1], ['node-0:[snapshot]', 'node-1:[snapshot]', 'node-2:[snapshot]'], 'a phase without nodes: keeps them all');
  });

  it('says which selector is not a node, and which names none of the service', () => {
    assert.deepEqual(nodeSelectionProblems(spec, duo, { NODES: '2' }), []);
    assert.deepEqual(
      nodeSelectionProblems(spec, duo, { NODES: 'zk-2,x y,3' }).map((p) => `${p.parameter} ${p.message}`),
      [
        "NODES 'zk-2' is not a node of service duo (node-0, node-1, node-2, zk-0, zk-1)",
        "NODES 'x y' is not a node: give indexes or <pod>-<index>, comma-separated (e.g. 1 or 0,2 or node-1)",
        "NODES '3' is not a node of service duo (node-0, node-1, node-2, zk-0, zk-1)",
      ],
    );
  });
});
