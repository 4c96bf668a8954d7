import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { AppError } from '../../src/shared/index.js';
import { createAzureStore, createFsStore, createS3Store, type BlobStore } from '../../src/storage/index.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type AzureServer } from '../helpers/azure.js';
import { startS3, type S3Server } from '../helpers/s3.js';
import { tempDir } from '../helpers/tmp.js';
import { sleep } from '../helpers/wait.js';
import { startBlackHole, startProxy, type BlackHole } from '../helpers/proxy.js';

/** One store under test: how to make it, and how to make it with wrong credentials or a missing bucket. */
interface Subject {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  store(): BlobStore;
  wrongCredentials?: { store(): BlobStore; secret: string; message: RegExp };
  missingLocation?: { store(): BlobStore; message: RegExp };
  /** Uploads begun and never finished (S3 multipart). */
  pending?(): string[];
}

const SECRET = 'not-the-right-secret-0123456789';

function fsSubject(): Subject {
  let root = '';
  return {
    name: 'filesystem',
    start: () => Promise.resolve(void (root = tempDir('drplan-fs-store-'))),
    stop: () => Promise.resolve(),
    store: () => createFsStore(root),
  };
}

function s3Subject(): Subject {
  let s3: S3Server;
  const make = (overrides: Partial<Parameters<typeof createS3Store>[0]> = {}): BlobStore =>
    createS3Store({ bucket: s3.bucket, region: 'us-east-1', endpoint: s3.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, partSizeMb: 5, queueSize: 2, ...overrides });
  return {
    name: 'S3 (s3rver)',
    start: async () => void (s3 = await startS3(['backups'])),
    stop: () => s3.stop(),
    store: () => make(),
    // s3rver checks the access key id (it does not verify signatures).
    wrongCredentials: { store: () => make({ credentials: { accessKeyId: 'AKIAWRONG', secretAccessKey: SECRET } }), secret: SECRET, message: /^S3 refused the credentials for backups\/.* \((InvalidAccessKeyId|HTTP 403)\): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY/ },
    missingLocation: { store: () => make({ bucket: 'no-such-bucket' }), message: /^bucket no-such-bucket does not exist at http:\/\/127\.0\.0\.1:\d+$/ },
    pending: () => s3.pendingUploads(),
  };
}

function azureSubject(): Subject {
  let azure: AzureServer;
  const make = (overrides: Partial<Parameters<typeof createAzureStore>[0]> = {}): BlobStore =>
    createAzureStore({ account: AZURITE_ACCOUNT, container: azure.container, endpoint: azure.endpoint, auth: { kind: 'sharedKey', key: AZURITE_KEY }, blockSizeMb: 1, concurrency: 2, ...overrides });
  const wrongKey = Buffer.from(SECRET.repeat(2)).toString('base64');
  return {
    name: 'Azure Blob Storage (Azurite)',
    start: async () => void (azure = await startAzurite(['backups'])),
    stop: () => azure.stop(),
    store: () => make(),
    wrongCredentials: { store: () => make({ auth: { kind: 'sharedKey', key: wrongKey } }), secret: wrongKey, message: /^Azure refused the credentials for backups\/.* \(AuthorizationFailure|AuthenticationFailed|HTTP 403\): check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY$/ },
    missingLocation: { store: () => make({ container: 'no-such-container' }), message: /^container no-such-container does not exist in account devstoreaccount1 at http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/ },
  };
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A stream of `total` random bytes in 64 KiB chunks, produced as it is read. */
function randomStream(total: number, onChunk?: (sent: number) => void): { stream: Readable; hash: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(64 * 1024, total - sent));
      sent += chunk.length;
      hash.update(chunk);
      onChunk?.(sent);
      this.push(chunk);
    },
  });
  return { stream, hash: () => hash.digest('hex') };
}

for (const subject of [fsSubject(), s3Subject(), azureSubject()]) {
  describe(`BlobStore contract: ${subject.name}`, () => {
    before(() => subject.start());
    after(() => subject.stop());

    it('puts, heads, gets, lists and deletes', async () => {
      const store = subject.store();
      await store.put('snap/a/one.bin', Buffer.from('first'));
      await store.put('snap/a/two.bin', Buffer.from('second!'));
      await store.put('other/three.bin', Buffer.from('x'));
      const head = await store.head('snap/a/two.bin');
      assert.deepEqual({ key: head?.key, bytes: head?.bytes }, { key: 'snap/a/two.bin', bytes: 7 });
      const got = await store.get('snap/a/one.bin');
      assert.equal(got.bytes, 5);
      assert.equal((await buffer(got.body)).toString(), 'first');
      assert.deepEqual((await store.list('snap/')).map((b) => b.key).sort(), ['snap/a/one.bin', 'snap/a/two.bin']);
      await store.delete('snap/a/one.bin');
      assert.equal(await store.head('snap/a/one.bin'), null);
      await store.delete('snap/a/one.bin');
      store.close();
    });

    it('streams a large object both ways without changing a byte', async () => {
      const store = subject.store();
      let progress = 0;
      const { stream, hash } = randomStream(24 * 1024 * 1024 + 123);
      const put = await store.put('large/object.bin', stream, { onProgress: (bytes) => (progress = bytes) });
      assert.equal(put.bytes, 24 * 1024 * 1024 + 123);
      assert.equal(progress, put.bytes);
      const got = await store.get('large/object.bin');
      assert.equal(got.bytes, put.bytes);
      const hashing = createHash('sha256');
      for await (const chunk of got.body) hashing.update(chunk as Buffer);
      assert.equal(hashing.digest('hex'), hash());
      store.close();
    });

    it('says NOT_FOUND for a missing key', async () => {
      const store = subject.store();
      assert.equal(await store.head('nothing/here'), null);
      const error = await store.get('nothing/here').catch((e: unknown) => e);
      assert.ok(error instanceof AppError && error.code === 'NOT_FOUND', String(error));
      assert.equal(error.retryable, false);
      store.close();
    });

    it('a cancelled upload leaves nothing behind', async () => {
      const store = subject.store();
      const controller = new AbortController();
      const { stream } = randomStream(64 * 1024 * 1024, (sent) => {
        if (sent >= 12 * 1024 * 1024) controller.abort(new Error('stopped'));
      });
      const error = await store.put('cancelled/object.bin', stream, { signal: controller.signal }).catch((e: unknown) => e);
      assert.ok(error instanceof AppError && error.code === 'CANCELLED', String(error));
      await sleep(300);
      assert.equal(await store.head('cancelled/object.bin'), null);
      assert.deepEqual(await store.list('cancelled/'), []);
      if (subject.pending !== undefined) assert.deepEqual(subject.pending(), [], 'no multipart upload left open');
      store.close();
    });

    it('a source that fails fails the upload with its own error, and stores nothing', async () => {
      const store = subject.store();
      let sent = 0;
      const failing = new Readable({
        read() {
          sent += 1;
          if (sent > 100) this.destroy(new Error('disk read error'));
          else this.push(randomBytes(64 * 1024));
        },
      });
      const error = await store.put('failed/object.bin', failing).catch((e: unknown) => e);
      assert.ok(error instanceof Error);
      assert.match(error.message, /disk read error/);
      await sleep(300);
      assert.equal(await store.head('failed/object.bin'), null);
      if (subject.pending !== undefined) assert.deepEqual(subject.pending(), []);
      store.close();
    });

    if (subject.wrongCredentials !== undefined) {
      const wrong = subject.wrongCredentials;
      it('refused credentials are AUTH, not retried, and never print the secret', async () => {
        const store = wrong.store();
        for (const attempt of [() => store.put('x/y', Buffer.from('z')), () => store.get('x/y'), () => store.list('x/')]) {
          const error = await attempt().catch((e: unknown) => e);
          assert.ok(error instanceof AppError, String(error));
          assert.equal(error.code, 'AUTH');
          assert.equal(error.retryable, false);
          assert.match(error.message, wrong.message);
          assert.ok(!error.message.includes(wrong.secret));
        }
        store.close();
      });
    }

    if (subject.missingLocation !== undefined) {
      const missing = subject.missingLocation;
      it('a missing bucket or container is CONFIG, not retried', async () => {
        const store = missing.store();
        const error = await store.put('x/y', Buffer.from('z')).catch((e: unknown) => e);
        assert.ok(error instanceof AppError, String(error));
        assert.equal(error.code, 'CONFIG');
        assert.equal(error.retryable, false);
        assert.match(error.message, missing.message);
        store.close();
      });
    }

    it('is fine with an empty object', async () => {
      const store = subject.store();
      await store.put('empty/object', Readable.from([]));
      assert.equal((await store.head('empty/object'))?.bytes, 0);
      assert.equal(sha(await buffer((await store.get('empty/object')).body)), sha(Buffer.alloc(0)));
      store.close();
    });

    it('gives each version of an object its own tag, the same from put, head, get and list', async () => {
      const store = subject.store();
      const first = await store.put('tagged/object', randomStream(300_000).stream);
      assert.ok(first.etag !== null && first.etag !== '', 'a put returns the version tag');
      assert.equal((await store.head('tagged/object'))?.etag, first.etag);
      const got = await store.get('tagged/object');
      got.body.resume();
      assert.equal(got.etag, first.etag);
      assert.equal((await store.list('tagged/'))[0]?.etag, first.etag);
      await sleep(20);
      const second = await store.put('tagged/object', randomStream(300_000).stream);
      assert.notEqual(second.etag, first.etag, 'writing the object again changes its tag');
      store.close();
    });

    it('a create-only put refuses a key that exists, and leaves it as it was', async () => {
      const store = subject.store();
      await store.put('once/manifest.json', Buffer.from('first'), { create: true });
      const error = await store.put('once/manifest.json', Buffer.from('second'), { create: true }).catch((e: unknown) => e);
      assert.ok(error instanceof AppError, String(error));
      assert.equal(error.code, 'CONFLICT');
      assert.equal((await buffer((await store.get('once/manifest.json')).body)).toString(), 'first');
      await store.put('once/archive.tar.gz', randomStream(200_000).stream, { create: true, metadata: { drplan_run: 'r1' } });
      const stream = await store.put('once/archive.tar.gz', randomStream(200_000).stream, { create: true }).catch((e: unknown) => e);
      assert.ok(stream instanceof AppError && stream.code === 'CONFLICT', String(stream));
      assert.deepEqual((await store.head('once/archive.tar.gz'))?.metadata, { drplan_run: 'r1' }, 'metadata kept with the object');
      store.close();
    });

    it('a source that failed before the upload started fails the upload at once: it never hangs', async () => {
      const store = subject.store();
      for (const when of ['before', 'next tick'] as const) {
        // As the packer's pipeline makes it: a stream with a listener for its errors.
        const source = new Readable({ read() {} });
        source.on('error', () => undefined);
        if (when === 'before') source.destroy(new AppError('SOURCE_CHANGED', 'table.db changed while it was read'));
        else process.nextTick(() => source.destroy(new AppError('SOURCE_CHANGED', 'table.db changed while it was read')));
        const started = Date.now();
        const error = await Promise.race([store.put(`early/${when}.bin`, source).catch((e: unknown) => e), sleep(10_000).then(() => 'hung')]);
        assert.ok(error instanceof AppError, `${when}: ${String(error)}`);
        assert.equal(error.code, 'SOURCE_CHANGED');
        assert.ok(Date.now() - started < 5000);
        assert.equal(await store.head(`early/${when}.bin`), null);
      }
      store.close();
    });
  });
}

/** Stores that talk to a server: a server that accepts and never answers, or stops mid-answer, times out. */
for (const subject of [s3HangSubject(), azureHangSubject()]) {
  describe(`BlobStore timeouts: ${subject.name}`, () => {
    let hole: BlackHole;
    before(async () => {
      hole = await startBlackHole();
      await subject.start();
    });
    after(async () => {
      await hole.stop();
      await subject.stop();
    });

    it('every request to a server that never answers fails with TIMEOUT, retryable, instead of hanging', async () => {
      const store = subject.silent(hole.url, 800);
      const attempts: Array<[string, () => Promise<unknown>]> = [
        ['head', () => store.head('k')],
        ['get', () => store.get('k')],
        ['list', () => store.list('p/')],
        ['delete', () => store.delete('k')],
        ['put a buffer', () => store.put('k', Buffer.from('manifest'))],
        ['put a stream', () => store.put('k', randomStream(12 * 1024 * 1024).stream)],
      ];
      for (const [what, attempt] of attempts) {
        const started = Date.now();
        const error = await Promise.race([attempt().catch((e: unknown) => e), sleep(30_000).then(() => 'hung')]);
        assert.ok(error instanceof AppError, `${what}: ${String(error)}`);
        assert.equal(error.code, 'TIMEOUT', `${what}: ${error.message}`);
        assert.equal(error.retryable, true);
        assert.match(error.message, /no answer for 1s|did not answer/);
        assert.ok(Date.now() - started < 15_000, `${what} took ${Date.now() - started} ms`);
      }
      assert.ok(hole.connections > 0);
      store.close();
    });

    it('a download that stops in the middle fails with TIMEOUT', async () => {
      const proxy = await startProxy(subject.endpoint());
      try {
        const direct = subject.through(subject.endpoint(), 60_000);
        await direct.put('stall/object.bin', randomStream(4 * 1024 * 1024).stream);
        direct.close();
        const store = subject.through(proxy.url, 800);
        proxy.stallNext(/^GET \S*stall\/object\.bin/, 1024 * 1024);
        const got = await store.get('stall/object.bin');
        const error = await Promise.race([buffer(got.body).catch((e: unknown) => e), sleep(30_000).then(() => 'hung')]);
        assert.ok(error instanceof AppError, String(error));
        assert.equal(error.code, 'TIMEOUT');
        store.close();
      } finally {
        await proxy.stop();
      }
    });
  });
}

interface HangSubject {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  endpoint(): string;
  /** A store at `endpoint` with the given timeout. */
  through(endpoint: string, timeoutMs: number): BlobStore;
  /** A store whose server never answers. */
  silent(endpoint: string, timeoutMs: number): BlobStore;
}

function s3HangSubject(): HangSubject {
  let s3: S3Server;
  const make = (endpoint: string, timeoutMs: number): BlobStore =>
    createS3Store({ bucket: 'backups', region: 'us-east-1', endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, timeoutMs });
  return { name: 'S3', start: async () => void (s3 = await startS3(['backups'])), stop: () => s3.stop(), endpoint: () => s3.endpoint, through: make, silent: make };
}

function azureHangSubject(): HangSubject {
  let azure: AzureServer;
  const make = (endpoint: string, timeoutMs: number): BlobStore =>
    createAzureStore({ account: AZURITE_ACCOUNT, container: 'backups', endpoint, auth: { kind: 'sharedKey', key: AZURITE_KEY }, timeoutMs, blockSizeMb: 1 });
  return {
    name: 'Azure',
    start: async () => void (azure = await startAzurite(['backups'])),
    stop: () => azure.stop(),
    endpoint: () => azure.endpoint,
    through: make,
    silent: (endpoint, timeoutMs) => make(`${endpoint}/${AZURITE_ACCOUNT}`, timeoutMs),
  };
}
