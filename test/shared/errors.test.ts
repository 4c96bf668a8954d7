import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { errorHandler } from '../../src/api/errors.js';
import { AppError, ERROR_CODES, fromSystemError, type ErrorCode } from '../../src/shared/index.js';

describe('the error table', () => {
  it('gives every code an HTTP status and says whether a retry may help', () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      assert.ok(Number.isInteger(entry.status) && entry.status >= 400 && entry.status < 600, code);
      const error = new AppError(code as ErrorCode, 'x');
      assert.equal(error.retryable, entry.retryable, `${code}: retryability comes from the table only`);
      assert.equal(error.status, entry.status);
    }
    const retried = Object.entries(ERROR_CODES).filter(([, e]) => e.retryable).map(([code]) => code).sort();
    assert.deepEqual(retried, ['HOOK_FAILED', 'INTERNAL', 'SOURCE_CHANGED', 'TIMEOUT', 'UNAVAILABLE', 'WORKER_LOST']);
  });

  it('says what a filesystem error means on the node: a full disk is not a corrupt snapshot', () => {
    const full = fromSystemError(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/data/node-0.drplan/x' }), 'restoring x');
    assert.equal(full.code, 'NO_SPACE');
    assert.equal(full.retryable, false);
    assert.equal(full.message, 'restoring x: the disk is full (/data/node-0.drplan/x)');
    assert.equal(fromSystemError(Object.assign(new Error('denied'), { code: 'EACCES' }), 'reading y').code, 'PERMISSION');
    assert.equal(fromSystemError(new Error('odd'), 'doing z').code, 'INTERNAL');
    const own = new AppError('CHECKSUM', 'kept');
    assert.equal(fromSystemError(own, 'anything'), own, 'an AppError passes through');
  });

  it('is what the API answers with: client errors say why, server errors hide their internals', async () => {
    const app = Fastify({ logger: false });
    app.setErrorHandler(errorHandler);
    const codes: ErrorCode[] = ['CONFLICT', 'CHECKSUM', 'UNAVAILABLE', 'NO_SPACE', 'CONFIG'];
    for (const code of codes) app.get(`/${code}`, () => Promise.reject(new AppError(code, `the ${code} message`)));
    for (const code of codes) {
      const response = await app.inject({ method: 'GET', url: `/${code}` });
      assert.equal(response.statusCode, ERROR_CODES[code].status, code);
      const body = response.json<{ error: string; message: string }>();
      if (ERROR_CODES[code].status < 500 || code === 'UNAVAILABLE') assert.deepEqual(body, { error: code, message: `the ${code} message` });
      else assert.deepEqual(body, { error: 'INTERNAL', message: 'internal error; see the server log' });
    }
    await app.close();
  });
});
