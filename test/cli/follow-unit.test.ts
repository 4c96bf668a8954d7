import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PlanInfo } from '../../src/api/index.js';
import { followPlan, liveView } from '../../src/main/follow.js';
import type { DrplanClient, Response } from '../../src/main/http-client.js';

const tree = (status: string, active: boolean, steps = 1): PlanInfo => ({
  name: 'p',
  service: 's',
  runId: 'r1',
  status: status,
  active,
  interrupted: false,
  strategy: 'serial',
  parameters: {},
  startedAt: null,
  finishedAt: null,
  errors: status === 'ERROR' ? ['boom'] : [],
  progress: { bytesDone: 0, bytesTotal: null },
  phases: [
    {
      id: 'ph',
      name: 'phase',
      status: status,
      strategy: 'serial',
      steps: Array.from({ length: steps }, (_, i) => ({ id: `s${i}`, name: `node-${i}:[x]`, status: status, attempts: 1, message: '', progress: null, startedAt: null, finishedAt: null, retryAt: null })),
    },
  ],
});

/** A client whose answers are scripted: a Response, or an Error it throws (a dropped connection). */
function scripted(answers: Array<Response | Error>): DrplanClient {
  let i = 0;
  const request = (): Promise<Response> => {
    const answer = answers[Math.min(i, answers.length - 1)];
    i += 1;
    return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer as Response);
  };
  return { request } as unknown as DrplanClient;
}

describe('following a run', () => {
  it('waits through a restarting API and 5xx answers, then reports the outcome', async () => {
    const client = scripted([
      { status: 202, body: tree('IN_PROGRESS', true) },
      new Error('cannot reach drplan at http://x: ECONNREFUSED'),
      { status: 503, body: { error: 'UNAVAILABLE', message: 'Redis is unreachable' } },
      { status: 200, body: tree('COMPLETE', false) },
    ]);
    const outcome = await followPlan(client, '/v1/plans/p', { interval: 0.01, onTree: () => undefined });
    assert.deepEqual([outcome.code, outcome.summary], [0, 'p run r1 is COMPLETE']);
  });

  it('gives up with 3 when the API stays away, and fails at once on a refusal or a plan never seen', async () => {
    const away = scripted([{ status: 202, body: tree('IN_PROGRESS', true) }, new Error('ECONNREFUSED')]);
    const lost = await followPlan(away, '/v1/plans/p', { interval: 0.01, patience: 0.1, onTree: () => undefined });
    assert.equal(lost.code, 3);
    assert.match(lost.summary, /^lost the API for 0s \(ECONNREFUSED\); the run goes on$/);
    await assert.rejects(followPlan(scripted([new Error('ECONNREFUSED')]), '/x', { interval: 0.01, onTree: () => undefined }), /cannot follow the plan: ECONNREFUSED/);
    const refused = scripted([{ status: 202, body: tree('IN_PROGRESS', true) }, { status: 401, body: { message: 'the bearer token is wrong' } }]);
    await assert.rejects(followPlan(refused, '/x', { interval: 0.01, onTree: () => undefined }), /cannot follow the plan: HTTP 401: the bearer token is wrong/);
  });

  it('ends with 1 on ERROR and when another run replaces the one followed', async () => {
    assert.equal((await followPlan(scripted([{ status: 417, body: tree('ERROR', false) }]), '/x', { interval: 0.01, onTree: () => undefined })).code, 1);
    const replaced = await followPlan(scripted([{ status: 202, body: tree('IN_PROGRESS', true) }]), '/x', { interval: 0.01, runId: 'r0', onTree: () => undefined });
    assert.deepEqual([replaced.code, replaced.summary], [1, 'run r0 was replaced by run r1']);
  });

  it('redraws over exactly the lines of the last frame, and never more than a screenful', () => {
    const written: string[] = [];
    const draw = liveView({ write: (t) => written.push(t), columns: () => 80, rows: () => 6 });
    draw(tree('IN_PROGRESS', true, 2));
    draw(tree('IN_PROGRESS', true, 9));
    draw(tree('COMPLETE', false, 9));
    assert.equal(written[0], 'p (serial strategy) (IN_PROGRESS)\n└─ phase (serial strategy) (IN_PROGRESS)\n   ├─ node-0:[x] (IN_PROGRESS)\n   └─ node-1:[x] (IN_PROGRESS)\n');
    assert.ok(written[1]?.startsWith('\x1b[4F\x1b[J'), 'back over the 4 lines drawn');
    assert.equal(written[1]?.split('\n').at(-2), '… 7 more lines (a taller terminal shows them)');
    assert.equal(written[1]?.split('\n').length, 6, '5 lines on a 6-row terminal');
    assert.ok(written[2]?.startsWith('\x1b[5F\x1b[J'), 'back over the 5 lines drawn');
  });
});
