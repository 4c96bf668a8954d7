import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createRun, phaseProblems, type ServiceSpec } from '../../src/engine/index.js';
import { phase, plan } from '../helpers/specs.js';

const ENGINE = join(import.meta.dirname, '../../src/engine');

describe('the engine', () => {
  it('names no kind of storage and no built-in task: the task set is handed to it', () => {
    for (const file of readdirSync(ENGINE)) {
      const text = readFileSync(join(ENGINE, file), 'utf8');
      const found = /\b(s3|azure|upload-|fetch-restore|commit-manifest)\b/i.exec(text);
      assert.equal(found?.[0], undefined, `${file} names '${found?.[0] ?? ''}'`);
    }
  });

  it("walks every pod of a service, in the order it declares them, for pod: '*'", () => {
    const service: ServiceSpec = {
      name: 'duo',
      pods: { node: { count: 2, dataDir: '/d/node-{{POD_INDEX}}', snapshot: 'hardlink' }, zk: { count: 1, dataDir: '/d/zk-{{POD_INDEX}}', snapshot: 'copy' } },
      hooks: {},
      locations: {},
      file: 'duo.yml',
      dir: '/',
    };
    const spec = plan([phase('all', { pod: '*', task: 'snapshot' }), phase('once', { pod: undefined, task: 'snapshot' })]);
    const run = createRun(spec, service, { values: {}, secrets: {} }, { runId: 'r', now: 0, newId: (() => { let n = 0; return () => `id-${n++}`; })() });
    assert.deepEqual(run.phases[0]?.steps.map((s) => [s.name, s.pod, s.podIndex]), [['node-0:[snapshot]', 'node', 0], ['node-1:[snapshot]', 'node', 1], ['zk-0:[snapshot]', 'zk', 0]]);
    assert.deepEqual(run.phases[1]?.steps.map((s) => s.name), ['duo:[snapshot]']);
    assert.deepEqual(phaseProblems(spec, service, new Set(['snapshot'])), []);
    assert.deepEqual(phaseProblems(spec, service, new Set()).map((p) => p.message), [
      "phase all: task 'snapshot' is neither built in nor a hook of service duo",
      "phase once: task 'snapshot' is neither built in nor a hook of service duo",
    ]);
  });
});
