import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stateDirOf, withSecretKey } from '../../src/main/secret-key.js';
import { tempDir } from '../helpers/tmp.js';

describe('the secret key of the embedded default', () => {
  it('is made once in the state directory, mode 0600, and kept across starts', () => {
    const state = join(tempDir(), 'var');
    const first = withSecretKey({ DRPLAN_STATE_DIR: state });
    const file = join(state, 'secret-key');
    assert.equal(first.generated, file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(Buffer.from(first.env['DRPLAN_SECRET_KEY'] ?? '', 'base64').length, 32);
    assert.equal(readFileSync(file, 'utf8').trim(), first.env['DRPLAN_SECRET_KEY']);
    assert.deepEqual(readdirSync(state), ['secret-key'], 'no temporary file left');
    const second = withSecretKey({ DRPLAN_STATE_DIR: state });
    assert.equal(second.env['DRPLAN_SECRET_KEY'], first.env['DRPLAN_SECRET_KEY'], 'the same key after a restart');
  });

  it('leaves a key that was given alone, and refuses a key file others can read', () => {
    const state = join(tempDir(), 'var');
    assert.deepEqual(withSecretKey({ DRPLAN_STATE_DIR: state, DRPLAN_SECRET_KEY: 'given' }), { env: { DRPLAN_STATE_DIR: state, DRPLAN_SECRET_KEY: 'given' }, generated: null });
    withSecretKey({ DRPLAN_STATE_DIR: state });
    chmodSync(join(state, 'secret-key'), 0o644);
    assert.throws(() => withSecretKey({ DRPLAN_STATE_DIR: state }), /secret-key is readable by others \(mode 644\): chmod 600 it, or set DRPLAN_SECRET_KEY$/);
    // An empty or damaged key file (a crash while writing it, by hand) never means "no key".
    writeFileSync(join(state, 'secret-key'), '', { mode: 0o600 });
    chmodSync(join(state, 'secret-key'), 0o600);
    assert.throws(() => withSecretKey({ DRPLAN_STATE_DIR: state }), /secret-key does not hold a 32-byte key in base64: remove it/);
  });

  it('lives in var/ beside the services directory unless DRPLAN_STATE_DIR says otherwise', () => {
    assert.equal(stateDirOf({ DRPLAN_SERVICES_DIR: '/srv/drplan/services' }), '/srv/drplan/var');
    assert.equal(stateDirOf({}, '/repo'), '/repo/var');
    assert.equal(stateDirOf({ DRPLAN_STATE_DIR: 'state' }, '/repo'), '/repo/state');
  });
});
