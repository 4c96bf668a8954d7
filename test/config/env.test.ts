import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertSafeListen, loadConfig } from '../../src/config/index.js';
import { AppError } from '../../src/shared/index.js';

describe('environment', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({}, '/srv/drplan');
    assert.equal(config.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.servicesDir, '/srv/drplan/services');
    assert.equal(config.plansDir, '/srv/drplan/plans');
    assert.equal(config.queuePrefix, 'drplan');
    assert.equal(config.logLevel, 'info');
    assert.equal(config.apiToken, null);
    assert.equal(config.secretKey, null);
    assert.deepEqual([config.gzipLevel, config.zstdLevel], [6, 3]);
    assert.equal(loadConfig({ DRPLAN_ZSTD_LEVEL: '19' }).zstdLevel, 19);
    assert.ok(Object.isFrozen(config));
  });

  it('reports every bad variable at once', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', REDIS_URL: 'localhost:6379', DRPLAN_SECRET_KEY: 'c2hvcnQ=', LOG_LEVEL: 'loud', DRPLAN_ZSTD_LEVEL: '22' }),
      (error: unknown) => {
        assert.ok(error instanceof AppError);
        assert.equal(error.code, 'CONFIG');
        for (const name of ['PORT', 'REDIS_URL', 'DRPLAN_SECRET_KEY', 'LOG_LEVEL', 'DRPLAN_ZSTD_LEVEL']) assert.match(error.message, new RegExp(name));
        assert.doesNotMatch(error.message, /c2hvcnQ=/, 'the key itself is never printed');
        return true;
      },
    );
    assert.throws(() => loadConfig({ REDIS_URL: 'admin:hunter2@redis.internal:6379' }), (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.match(error.message, /got '\*\*\*@redis\.internal:6379'/);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
  });

  it('accepts a 32-byte base64 secret key', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    assert.equal(loadConfig({ DRPLAN_SECRET_KEY: key }).secretKey?.length, 32);
  });

  it('refuses to listen beyond loopback without a token', () => {
    assert.throws(() => assertSafeListen({ host: '0.0.0.0', apiToken: null }), /refusing to listen on 0\.0\.0\.0 without DRPLAN_API_TOKEN/);
    assertSafeListen({ host: '0.0.0.0', apiToken: 't' });
    assertSafeListen({ host: '127.0.0.1', apiToken: null });
    assertSafeListen({ host: '::1', apiToken: null });
    assertSafeListen({ host: 'localhost', apiToken: null });
  });
});
