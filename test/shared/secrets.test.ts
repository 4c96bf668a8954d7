import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, createSecretBox } from '../../src/shared/index.js';

describe('secret box', () => {
  it('seals with AES-256-GCM and opens with the same key only', () => {
    const box = createSecretBox(Buffer.alloc(32, 1));
    const sealed = box.seal('{"AWS_SECRET_ACCESS_KEY":"wJalr"}');
    assert.doesNotMatch(sealed, /wJalr/);
    assert.notEqual(box.seal('x'), box.seal('x'), 'a fresh IV every time');
    assert.equal(box.open(sealed), '{"AWS_SECRET_ACCESS_KEY":"wJalr"}');
    assert.throws(() => createSecretBox(Buffer.alloc(32, 2)).open(sealed), /cannot be decrypted/);
    const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.throws(() => box.open(tampered), /cannot be decrypted/);
  });

  it('without a key, values are kept as they are and encrypted ones cannot be read', () => {
    const plain = createSecretBox(null);
    assert.equal(plain.encrypted, false);
    assert.equal(plain.open(plain.seal('v')), 'v');
    assert.throws(() => plain.open(createSecretBox(Buffer.alloc(32)).seal('v')), /set DRPLAN_SECRET_KEY/);
  });
});

describe('logger', () => {
  it('masks secret names and authorization headers', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ destination, secretNames: ['MY_PASSWORD'] });
    logger.info({ parameters: { AWS_SECRET_ACCESS_KEY: 'wJalr', SNAPSHOT_NAME: 'n1' }, MY_PASSWORD: 'hunter2' }, 'started');
    logger.info({ req: { headers: { authorization: 'Bearer tok' } } }, 'request');
    logger.info({ a: { b: { CLIENT_SECRET: 'deep' } } }, 'nested');
    const out = lines.join('');
    for (const secret of ['wJalr', 'hunter2', 'Bearer tok', 'deep']) assert.doesNotMatch(out, new RegExp(secret));
    assert.match(out, /"SNAPSHOT_NAME":"n1"/);
    assert.match(out, /\*\*\*\*\*\*/);
  });
});
