import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceSpec } from '../../src/engine/index.js';
import { agentNodes } from '../../src/main/runtime.js';

const duo: ServiceSpec = {
  name: 'duo',
  pods: { broker: { count: 2, dataDir: '/d/b-{{POD_INDEX}}', snapshot: 'hardlink' }, zk: { count: 3, dataDir: '/d/z-{{POD_INDEX}}', snapshot: 'copy' } },
  hooks: {},
  locations: {},
  file: 'duo.yml',
  dir: '/',
};
const names = (nodes: ReturnType<typeof agentNodes>): string[] => nodes.map((n) => `${n.pod ?? ''}-${n.index ?? ''}`);

describe('the nodes drplan agent serves', () => {
  it('takes <pod>-<index>, or indexes of --pod, or every node (of --pod)', () => {
    assert.deepEqual(names(agentNodes(duo, { node: ['broker-1', 'zk-0'] })), ['broker-1', 'zk-0']);
    assert.deepEqual(names(agentNodes(duo, { node: ['0', '2'], pod: 'zk' })), ['zk-0', 'zk-2']);
    assert.deepEqual(names(agentNodes(duo, { node: [], allNodes: true, pod: 'broker' })), ['broker-0', 'broker-1']);
    assert.equal(agentNodes(duo, { node: [], allNodes: true }).length, 5);
  });

  it('says what is wrong with a pod or a node it does not have', () => {
    assert.throws(() => agentNodes(duo, { node: ['0'], pod: 'kafka' }), /--pod kafka: service duo has no such pod \(pods: broker, zk\)/);
    assert.throws(() => agentNodes(duo, { node: ['3'], pod: 'zk' }), /--node zk-3: pod zk of service duo has instances 0 to 2/);
    assert.throws(() => agentNodes(duo, { node: [] }), /give --node <index> \(repeatable\) or --all-nodes/);
  });
});
