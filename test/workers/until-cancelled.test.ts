import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError, createLogger } from '../../src/shared/index.js';
import { untilCancelled } from '../../src/workers/index.js';

const log = createLogger({ level: 'silent' });

describe('a cancelled task', () => {
  it('that ignores its signal lets its worker go after the grace period', async () => {
    const controller = new AbortController();
    const stuck = new Promise<string>(() => undefined);
    const started = Date.now();
    setTimeout(() => controller.abort(new AppError('CANCELLED', 'the step was stopped or reset')), 50);
    const error = await untilCancelled(stuck, controller.signal, 200, log).catch((e: unknown) => e);
    assert.ok(error instanceof AppError && error.code === 'CANCELLED', String(error));
    assert.ok(Date.now() - started < 1000);
  });

  it('that winds down within the grace period ends with its own outcome', async () => {
    const controller = new AbortController();
    const task = new Promise<string>((resolve) => controller.signal.addEventListener('abort', () => setTimeout(() => resolve('cleaned up'), 20)));
    controller.abort();
    assert.equal(await untilCancelled(task, controller.signal, 1000, log), 'cleaned up');
  });

  it('that is never cancelled just runs', async () => {
    assert.equal(await untilCancelled(Promise.resolve(7), new AbortController().signal, 10, log), 7);
  });
});
