import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPlanTree } from '../../src/main/tree-format.js';

const step = (name: string, status: string) => ({ id: name, name, status, attempts: 0, message: '', progress: null, startedAt: null, finishedAt: null, retryAt: null });

describe('plan tree output', () => {
  it('matches the DC/OS CLI layout', () => {
    const text = formatPlanTree({
      name: 'deploy',
      strategy: 'serial',
      status: 'IN_PROGRESS',
      errors: [],
      phases: [
        { id: 'a', name: 'hello', strategy: 'serial', status: 'COMPLETE', steps: [step('hello-0:[server]', 'COMPLETE')] },
        { id: 'b', name: 'world', strategy: 'serial', status: 'PENDING', steps: [step('world-0:[server, sidecar]', 'PENDING'), step('world-1:[server, sidecar]', 'PENDING')] },
      ],
    });
    assert.equal(
      text,
      [
        'deploy (serial strategy) (IN_PROGRESS)',
        '├─ hello (serial strategy) (COMPLETE)',
        '│  └─ hello-0:[server] (COMPLETE)',
        '└─ world (serial strategy) (PENDING)',
        '   ├─ world-0:[server, sidecar] (PENDING)',
        '   └─ world-1:[server, sidecar] (PENDING)',
      ].join('\n'),
    );
  });

  it('appends errors and shows missing fields as <UNKNOWN>', () => {
    assert.equal(formatPlanTree({ errors: ['node-0:[x]: boom'], phases: [] }), '<UNKNOWN> (<UNKNOWN> strategy) (<UNKNOWN>)\n\nErrors:\n- node-0:[x]: boom');
  });
});
