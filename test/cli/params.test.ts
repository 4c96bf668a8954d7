import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseParams } from '../../src/main/plan-commands.js';
import { exited, spawnDrplan } from '../helpers/agent-process.js';
import { listeningFixtureStack } from '../helpers/cli.js';
import type { Stack } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

describe('parameters from the command line, the environment and files', () => {
  it('-p KEY=VALUE keeps everything after the first =, and -p KEY takes the environment variable KEY', () => {
    assert.deepEqual(parseParams(['A=b=c', 'TOKEN', 'EMPTY='], { TOKEN: 's3cr3t' }), { A: 'b=c', TOKEN: 's3cr3t', EMPTY: '' });
    assert.throws(() => parseParams(['TOKEN'], {}), /^AppError: -p TOKEN: the environment variable TOKEN is not set$/);
    assert.throws(() => parseParams(['=x']), /^AppError: -p =…: expected KEY=VALUE or KEY/);
    assert.throws(() => parseParams(['BAD-NAME=x']), /^AppError: -p BAD-NAME=…: expected KEY=VALUE or KEY/, 'the value never shows in the message');
  });

  it('--params-file reads KEY=VALUE lines, skips blanks and comments, names the line of a bad one, and -p wins', () => {
    const text = '# backup credentials\n\nAWS_SECRET_ACCESS_KEY=abc/def==\n  AWS_REGION=eu-west-1  \nFROM_ENV\nLABEL=file\n';
    assert.deepEqual(parseParams(['LABEL=flag'], { FROM_ENV: 'e' }, [{ name: 'p.env', text }]), { AWS_SECRET_ACCESS_KEY: 'abc/def==', AWS_REGION: 'eu-west-1', FROM_ENV: 'e', LABEL: 'flag' });
    assert.throws(() => parseParams([], {}, [{ name: 'p.env', text: 'A=1\nnot a line\n' }]), /^AppError: p\.env:2: expected KEY=VALUE or KEY/);
  });
});

describe('drplan plan start with a secret from the environment and a params file', () => {
  let stack: Stack;
  let url: string;
  let close: () => Promise<void>;
  before(async () => {
    ({ stack, url, close } = await listeningFixtureStack());
  });
  after(() => close());

  it('sends the secret, and never has it in its own command line', async () => {
    const secret = 'tok-4f1c9a7e-never-in-argv';
    const file = join(tempDir(), 'params.env');
    writeFileSync(file, 'LABEL=from-file\n', { mode: 0o600 });
    const child = spawnDrplan(['plan', 'start', 'long', '-p', 'TOKEN', '--params-file', file, '--wait', '--url', url], { TOKEN: secret });
    try {
      const running = await stack.waitPlan('long', 'the run started by the CLI', (t) => t.runId !== null && t.phases[0]!.steps.every((s) => s.status === 'STARTED'), 30_000);
      // The CLI is still following the run: what `ps` shows of it, word for word.
      const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
      assert.ok(argv.includes('TOKEN') && argv.includes(file), argv.join(' '));
      assert.ok(!argv.some((word) => word.includes(secret)), 'the secret is not in the command line');
      assert.equal(running.parameters['LABEL'], 'from-file');
      assert.equal(running.parameters['TOKEN'], '******');
      const run = await stack.store.load(running.runId!);
      assert.deepEqual(await stack.store.secrets(run!), { TOKEN: secret }, 'the server got the secret');
      assert.equal((await stack.post('long', 'stop')).statusCode, 200);
      assert.equal(await exited(child), 1, child.output());
      assert.doesNotMatch(child.output(), new RegExp(secret));
    } finally {
      child.kill();
    }
  });
});
