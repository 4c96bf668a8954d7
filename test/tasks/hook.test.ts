import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/shared/index.js';
import { hookEnvironment, hookTask, inheritedEnvironment, outputTail } from '../../src/tasks/index.js';
import { service } from '../helpers/specs.js';
import { taskContext } from '../helpers/task-context.js';
import { tempDir } from '../helpers/tmp.js';

describe('hooks', () => {
  it('run with the step variables and an allow-listed environment only', async () => {
    const dir = tempDir();
    const agentEnv = { PATH: process.env['PATH'], HOME: '/home/x', DRPLAN_API_TOKEN: 'must-not-leak', AWS_SECRET_ACCESS_KEY: 'nor-this' };
    const { context } = taskContext({ dataDir: dir, parameters: { SNAPSHOT_NAME: 's1', REGION: 'eu' } });
    context.settings = { ...context.settings, hookEnv: inheritedEnvironment(agentEnv) };
    const command = 'echo "$POD_INDEX|$SNAPSHOT_NAME|$DATA_DIR|$REGION|${DRPLAN_API_TOKEN:-none}|${AWS_SECRET_ACCESS_KEY:-none}|$HOME|$(pwd)"';
    const output = await hookTask('env', { command, timeoutSeconds: 5, retryable: true })(context);
    assert.equal(output.message, `0|s1|${dir}|eu|none|none|/home/x|${dir}`);
  });

  it('see the snapshot as SNAPSHOT_DIR, or the data dir itself when the pod takes no snapshot', () => {
    const dir = tempDir();
    const { context } = taskContext({ dataDir: dir, parameters: { SNAPSHOT_NAME: 's1' } });
    assert.equal(hookEnvironment(context)['SNAPSHOT_DIR'], `${dir}.drplan/snapshots/s1`);
    const none = service(1);
    none.pods['node'] = { ...none.pods['node']!, snapshot: 'none' };
    assert.equal(hookEnvironment({ ...context, service: none })['SNAPSHOT_DIR'], dir);
  });

  it('finish when they exit even if something they started keeps their output open', async () => {
    const { context } = taskContext({ dataDir: tempDir() });
    const started = Date.now();
    const output = await hookTask('daemon', { command: 'setsid sleep 30 & echo started', timeoutSeconds: 20, retryable: true })(context);
    assert.equal(output.message, 'started');
    assert.ok(Date.now() - started < 5000);
  });

  it('decode output split inside a character', async () => {
    const { context } = taskContext({ dataDir: tempDir() });
    const output = await hookTask('utf8', { command: "printf '\\303'; sleep 0.2; printf '\\251t\\303\\251\\n'", timeoutSeconds: 5, retryable: true })(context);
    assert.equal(output.message, 'été');
  });

  it('run argument lists without a shell', async () => {
    const { context } = taskContext({ dataDir: tempDir() });
    const output = await hookTask('argv', { command: ['printf', '%s', '$HOME; rm -rf /'], timeoutSeconds: 5, retryable: true })(context);
    assert.equal(output.message, '$HOME; rm -rf /');
  });

  it('fail with the exit code and the tail of their output, retryable as declared', async () => {
    const { context } = taskContext({ dataDir: tempDir() });
    const error = await hookTask('x', { command: 'for i in 1 2 3; do echo "line $i"; done; exit 4', timeoutSeconds: 5, retryable: false })(context).catch((e: unknown) => e);
    assert.ok(error instanceof AppError);
    assert.equal(error.message, 'hook x exited with code 4: line 1\nline 2\nline 3');
    assert.equal(error.retryable, false);
    const missing = await hookTask('y', { command: ['/nonexistent/binary'], timeoutSeconds: 5, retryable: true })(context).catch((e: unknown) => e);
    assert.ok(missing instanceof AppError);
    assert.match(missing.message, /^hook y cannot start: spawn \/nonexistent\/binary ENOENT/);
    assert.equal(missing.retryable, false);
  });

  it('are killed, with what they started, when the step is cancelled', async () => {
    const controller = new AbortController();
    const { context } = taskContext({ dataDir: tempDir(), signal: controller.signal });
    const started = Date.now();
    const running = hookTask('sleepy', { command: 'sleep 30 & sleep 30; wait', timeoutSeconds: 60, retryable: true })(context);
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(running, /hook sleepy was cancelled/);
    assert.ok(Date.now() - started < 2000);
  });

  it('keep the last lines of long output', () => {
    const text = Array.from({ length: 200 }, (_, i) => `line ${i}`).join('\n');
    const tail = outputTail(text);
    assert.ok(tail.length <= 600);
    assert.ok(tail.endsWith('line 199'));
    assert.equal(outputTail('x'.repeat(1000)).length, 600);
  });
});
