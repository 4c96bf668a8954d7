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

  it('live view: a bar with bytes, rate and ETA for moving steps, the last message line for others, cut to the terminal', () => {
    const MiB = 1024 * 1024;
    const upload = { ...step('node-0:[upload-s3]', 'STARTED'), progress: { bytesDone: 30 * MiB, bytesTotal: 120 * MiB, rate: 10 * MiB, eta: 9 } };
    const hook = { ...step('node-1:[backup-schema]', 'STARTED'), message: 'dumping\nrunning backup-schema for 3s: table 4 of 9\n' };
    const done = { ...step('node-2:[upload-s3]', 'COMPLETE'), progress: { bytesDone: 2048, bytesTotal: 2048 } };
    const tree = { name: 'b', strategy: 'serial', status: 'IN_PROGRESS', errors: [], phases: [{ id: 'p', name: 'up', strategy: 'parallel', status: 'IN_PROGRESS', steps: [upload, hook, done] }] };
    assert.equal(
      formatPlanTree(tree, { live: true }),
      [
        'b (serial strategy) (IN_PROGRESS)',
        '└─ up (parallel strategy) (IN_PROGRESS)',
        '   ├─ node-0:[upload-s3] (STARTED) [█████░░░░░░░░░░░░░░░] 25% 30.0 MiB/120 MiB 10.0 MiB/s ETA 9s',
        '   ├─ node-1:[backup-schema] (STARTED) running backup-schema for 3s: table 4 of 9',
        '   └─ node-2:[upload-s3] (COMPLETE) [████████████████████] 100% 2.0 KiB/2.0 KiB',
      ].join('\n'),
    );
    assert.equal(formatPlanTree(tree), formatPlanTree(tree, { live: false }), 'plain status stays the DC/OS tree');
    assert.doesNotMatch(formatPlanTree(tree), /█|MiB/);
    const narrow = formatPlanTree(tree, { live: true, columns: 40 }).split('\n');
    assert.ok(narrow.every((line) => [...line].length < 40), 'no line wraps, so a redraw can count them');
    assert.equal(narrow[2], '   ├─ node-0:[upload-s3] (STARTED) [██…');
  });

  it('shows control characters from messages and errors as spaces, so output cannot drive the terminal', () => {
    const hook = { ...step('node-0:[backup-schema]', 'STARTED'), message: 'dump \u001b[2J\u001b]0;owned\u0007done\ttab' };
    const text = formatPlanTree({ name: 'b', strategy: 'serial', status: 'ERROR', errors: ['bad \u001b[31mred\r'], phases: [{ id: 'p', name: 'x', strategy: 'serial', status: 'STARTED', steps: [hook] }] }, { live: true });
    assert.deepEqual([...text].filter((c) => c !== '\n' && (c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127)), []);
    assert.ok(text.includes('node-0:[backup-schema] (STARTED) dump  [2J ]0;owned done tab\n'));
    assert.ok(text.endsWith('- bad  [31mred '));
  });
});
