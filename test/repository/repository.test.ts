import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import type { Compression } from '../../src/archive/index.js';
import { Repository, type StoredArchive } from '../../src/repository/index.js';
import { AppError } from '../../src/shared/index.js';
import { createFsStore } from '../../src/storage/index.js';
import { tempDir } from '../helpers/tmp.js';

const shape = { name: 'duo', pods: [{ name: 'node', count: 2 }, { name: 'zk', count: 1 }] };
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A repository in a fresh directory (or `repo`), with the three archives of snapshot `name` uploaded. */
async function uploaded(name = 'snap', prefix = 'prod/duo', into?: Repository, compression?: Compression) {
  const root = tempDir();
  const repo = into ?? new Repository(createFsStore(root), prefix);
  const uploads: StoredArchive[] = [];
  for (const [pod, index] of [['zk', 0], ['node', 1], ['node', 0]] as const) {
    const body = Buffer.from(`archive of ${pod}-${index}`);
    const put = await repo.putArchive(name, { pod, index }, Readable.from([body]), { runId: 'run-1', ...(compression === undefined ? {} : { compression }) });
    uploads.push({ pod, index, key: put.key, bytes: put.bytes, sha256: sha(body), etag: put.etag, files: 1, dataBytes: 10, ...(compression === undefined ? {} : { compression }) });
  }
  const draft = { name, service: shape, snapshotModes: { node: 'hardlink' as const, zk: 'copy' as const }, plan: 'backup-fs', runId: 'run-1', uploads };
  return { root, repo, uploads, draft };
}

const rejection = async (promise: Promise<unknown>): Promise<AppError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof AppError, String(error));
  return error;
};

describe('repository: the snapshot layout and its commit protocol', () => {
  it('keys carry the pod; the manifest, written last, records every pod and node in order', async () => {
    const { root, repo, draft } = await uploaded();
    assert.deepEqual((await repo.store.list('prod/duo/snap/')).map((o) => o.key), ['prod/duo/snap/node-0.tar.gz', 'prod/duo/snap/node-1.tar.gz', 'prod/duo/snap/zk-0.tar.gz']);
    const { snapshot, existed } = await repo.commit(draft);
    assert.equal(existed, false);
    const written = JSON.parse((await buffer((await repo.store.get('prod/duo/snap/manifest.json')).body)).toString()) as Record<string, unknown>;
    assert.deepEqual(written['pods'], [{ name: 'node', count: 2, snapshotMode: 'hardlink' }, { name: 'zk', count: 1, snapshotMode: 'copy' }]);
    assert.deepEqual(snapshot.manifest.nodes.map((n) => `${n.pod}-${n.index}=${n.key}`), ['node-0=node-0.tar.gz', 'node-1=node-1.tar.gz', 'zk-0=zk-0.tar.gz']);
    assert.deepEqual([written['format'], written['backupType'], written['parent'], written['chain']], [2, 'full', null, { full: 'snap', depth: 0 }]);
    assert.equal(snapshot.sha256, sha(await buffer((await repo.store.get('prod/duo/snap/manifest.json')).body)));
    void root;
  });

  it('zstd archives are .tar.zst and the manifest says so; uploads compressed differently are not committed together', async () => {
    const { repo, draft } = await uploaded('zst', 'prod/duo', undefined, 'zstd');
    assert.deepEqual((await repo.store.list('prod/duo/zst/')).map((o) => o.key), ['prod/duo/zst/node-0.tar.zst', 'prod/duo/zst/node-1.tar.zst', 'prod/duo/zst/zk-0.tar.zst']);
    const mixed = await rejection(repo.commit({ ...draft, uploads: draft.uploads.map((u, i) => (i === 0 ? { ...u, compression: 'gzip' as const } : u)) }));
    assert.equal(mixed.code, 'CONFIG');
    assert.match(mixed.message, /^the uploads of this run are compressed differently \(gzip, zstd\)/);
    const { snapshot } = await repo.commit(draft);
    assert.equal(snapshot.manifest.compression, 'zstd');
    assert.deepEqual(snapshot.manifest.nodes.map((n) => n.key), ['node-0.tar.zst', 'node-1.tar.zst', 'zk-0.tar.zst']);
  });

  it('committing the same uploads of the same run again finds its manifest; any other write under a committed name is refused', async () => {
    const { repo, draft } = await uploaded();
    await repo.commit(draft);
    assert.equal((await repo.commit(draft)).existed, true, 'a commit step run twice succeeds');
    const other = await rejection(repo.commit({ ...draft, runId: 'run-2' }));
    assert.equal(other.code, 'CONFLICT');
    assert.match(other.message, /^snapshot snap already exists at file:\/\/\S+\/prod\/duo\/snap\/manifest\.json \(run run-1\); snapshots are immutable/);
    const again = await rejection(repo.putArchive('snap', { pod: 'node', index: 0 }, Readable.from([Buffer.from('new data')]), { runId: 'run-1' }));
    assert.equal(again.code, 'CONFLICT', 'even the run that committed it cannot upload again');
    assert.equal((await buffer((await repo.store.get('prod/duo/snap/node-0.tar.gz')).body)).toString(), 'archive of node-0');
  });

  it("never writes over another run's uncommitted object; replaces one an earlier attempt of its own run left", async () => {
    const { repo } = await uploaded();
    const foreign = await rejection(repo.putArchive('snap', { pod: 'node', index: 0 }, Readable.from([Buffer.from('mine')]), { runId: 'run-2' }));
    assert.equal(foreign.code, 'CONFLICT');
    assert.match(foreign.message, /node-0\.tar\.gz was written by run run-1, which has not committed snapshot snap: another backup may be writing it/);
    assert.equal((await buffer((await repo.store.get('prod/duo/snap/node-0.tar.gz')).body)).toString(), 'archive of node-0');
    const own = await repo.putArchive('snap', { pod: 'node', index: 0 }, Readable.from([Buffer.from('attempt 2')]), { runId: 'run-1' });
    assert.equal(own.bytes, 9);
    assert.equal((await buffer((await repo.store.get('prod/duo/snap/node-0.tar.gz')).body)).toString(), 'attempt 2');
    assert.deepEqual((await repo.store.head('prod/duo/snap/node-0.tar.gz'))?.metadata, { drplan_run: 'run-1' });
  });

  it('refuses to commit a node without an upload, an object that is missing, short, or written again since its upload', async () => {
    const { root, repo, draft } = await uploaded();
    const missingNode = await rejection(repo.commit({ ...draft, uploads: draft.uploads.filter((u) => u.pod !== 'zk') }));
    assert.equal(missingNode.message, 'zk-0 have no upload in this run (forced complete?): restart their upload steps');

    await new Promise((resolve) => setTimeout(resolve, 10));
    writeFileSync(join(root, 'prod/duo/snap/node-1.tar.gz'), 'archive of node-9');
    const rewritten = await rejection(repo.commit(draft));
    assert.equal(rewritten.code, 'CHECKSUM');
    assert.match(rewritten.message, /\/prod\/duo\/snap\/node-1\.tar\.gz was written again after its upload: restart its upload step$/);

    writeFileSync(join(root, 'prod/duo/snap/node-1.tar.gz'), 'short');
    assert.match((await rejection(repo.commit(draft))).message, /node-1\.tar\.gz has 5 bytes, not the 17 uploaded/);
    await repo.store.delete('prod/duo/snap/node-1.tar.gz');
    assert.match((await rejection(repo.commit(draft))).message, /node-1\.tar\.gz is missing/);
    assert.equal(await repo.store.head('prod/duo/snap/manifest.json'), null, 'nothing was committed');
  });

  it('checks before a restore: the manifest fits the service, and the node’s archive is there with its size', async () => {
    const { repo, draft } = await uploaded();
    await repo.commit(draft);
    const { node } = await repo.preflight('snap', shape, { pod: 'zk', index: 0 });
    assert.equal(node.key, 'zk-0.tar.gz');
    assert.equal((await rejection(repo.preflight('snap', { ...shape, name: 'other' }, { pod: 'zk', index: 0 }))).message, 'snapshot snap is of service duo, not other');
    assert.equal(
      (await rejection(repo.preflight('snap', { name: 'duo', pods: [{ name: 'node', count: 3 }] }, { pod: 'node', index: 0 }))).message,
      'snapshot snap has pods 2 node, 1 zk but service duo has 3 node',
    );
    await repo.store.put('prod/duo/snap/zk-0.tar.gz', Buffer.from('x'));
    const short = await rejection(repo.preflight('snap', shape, { pod: 'zk', index: 0 }));
    assert.equal(short.code, 'CHECKSUM');
    assert.match(short.message, /zk-0\.tar\.gz has 1 bytes where its manifest records 15: it is truncated or was replaced$/);
    const none = await rejection(repo.preflight('never', shape, { pod: 'zk', index: 0 }));
    assert.equal(none.code, 'NOT_FOUND');
  });

  it('reads format 1 manifests, so snapshots taken before format 2 still restore', async () => {
    const root = tempDir();
    const store = createFsStore(root);
    const body = Buffer.from('old archive');
    await store.put('old/node-0.tar.gz', body);
    const v1 = { format: 1, service: 'svc', plan: 'backup-s3', runId: 'r0', snapshot: 'old', type: 'tar.gz', storage: 's3', location: 'backups', created: '2026-01-01T00:00:00.000Z', pod: 'node', nodeCount: 1, bytes: body.length, nodes: [{ index: 0, key: 'old/node-0.tar.gz', bytes: body.length, sha256: sha(body), files: 1 }] };
    await store.put('old/manifest.json', Buffer.from(JSON.stringify(v1)));
    const repo = new Repository(store, '');
    const { snapshot, node } = await repo.preflight('old', { name: 'svc', pods: [{ name: 'node', count: 1 }] }, { pod: 'node', index: 0 });
    assert.equal(snapshot.manifest.format, 2);
    assert.equal(node.key, 'node-0.tar.gz');
    assert.equal((await buffer((await repo.openArchive(snapshot, node)).body)).toString(), 'old archive');
  });

  it('reads manifests strictly, naming what is wrong', async () => {
    const store = createFsStore(tempDir());
    const repo = new Repository(store, '');
    await store.put('bad/manifest.json', Buffer.from('{'));
    assert.match((await rejection(repo.read('bad'))).message, /bad\/manifest\.json is not valid JSON/);
    await store.put('odd/manifest.json', Buffer.from('{"format":2}'));
    assert.match((await rejection(repo.read('odd'))).message, /odd\/manifest\.json is not a drplan manifest: \/\w+ /);
  });

  it('lists a location: committed snapshots newest first, unreadable manifests, backups that never committed', async () => {
    const { repo, draft } = await uploaded('older');
    await repo.commit(draft);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = await uploaded('newer', 'prod/duo', repo);
    await repo.commit(later.draft);
    const here = repo;
    await repo.store.put('prod/duo/broken/manifest.json', Buffer.from('not json'));
    await repo.store.put('prod/duo/halfway/node-0.tar.gz', Buffer.from('x'));
    await repo.store.put('prod/elsewhere/manifest.json', Buffer.from('{}'));
    const listing = await here.list();
    assert.deepEqual(listing.snapshots.map((s) => s.name), ['newer', 'older']);
    assert.deepEqual(listing.unreadable.map((u) => u.name), ['broken']);
    assert.deepEqual(listing.incomplete, ['halfway']);
  });
});

describe('repository: chains of incrementals', () => {
  /** full ← inc1 ← inc2 in one location, and a second full with nothing on it. */
  async function chainOfThree() {
    const first = await uploaded('full');
    const repo = first.repo;
    const full = (await repo.commit(first.draft)).snapshot;
    const one = await uploaded('inc1', 'prod/duo', repo);
    const inc1 = (await repo.commit({ ...one.draft, runId: 'run-1', parent: full })).snapshot;
    const two = await uploaded('inc2', 'prod/duo', repo);
    const inc2 = (await repo.commit({ ...two.draft, parent: inc1 })).snapshot;
    await repo.commit((await uploaded('other-full', 'prod/duo', repo)).draft);
    return { repo, full, inc1, inc2 };
  }

  it('an incremental records its parent by name and manifest sha256, and its depth in the chain from its full', async () => {
    const { repo, full, inc1, inc2 } = await chainOfThree();
    assert.deepEqual([inc1.manifest.backupType, inc1.manifest.parent, inc1.manifest.chain], ['incremental', { name: 'full', sha256: full.sha256 }, { full: 'full', depth: 1 }]);
    assert.deepEqual([inc2.manifest.parent, inc2.manifest.chain], [{ name: 'inc1', sha256: inc1.sha256 }, { full: 'full', depth: 2 }]);
    assert.deepEqual((await repo.chain('inc2')).map((s) => s.name), ['full', 'inc1', 'inc2']);
    assert.deepEqual((await repo.chain('full')).map((s) => s.name), ['full']);
    const listing = await repo.list();
    assert.deepEqual(Repository.dependents(listing, 'full').map((s) => s.name), ['inc1', 'inc2']);
    assert.deepEqual(Repository.dependents(listing, 'inc1').map((s) => s.name), ['inc2']);
    assert.deepEqual(Repository.dependents(listing, 'other-full'), []);
  });

  it('a chain whose middle manifest is deleted or replaced is refused, naming the link', async () => {
    const deleted = await chainOfThree();
    await deleted.repo.store.delete('prod/duo/inc1/manifest.json');
    const gone = await rejection(deleted.repo.chain('inc2'));
    assert.equal(gone.code, 'CHECKSUM');
    assert.match(gone.message, /^snapshot inc2 cannot be restored: inc1, which inc2 builds on \(depth 1 of the chain from full\), has no manifest at .*prod\/duo\/inc1\/manifest\.json$/);

    const replaced = await chainOfThree();
    const bytes = await buffer((await replaced.repo.store.get('prod/duo/inc1/manifest.json')).body);
    await replaced.repo.store.delete('prod/duo/inc1/manifest.json');
    await replaced.repo.store.put('prod/duo/inc1/manifest.json', Buffer.from(JSON.stringify(JSON.parse(bytes.toString()))), { contentType: 'application/json' });
    const swapped = await rejection(replaced.repo.chain('inc2'));
    assert.match(swapped.message, /^snapshot inc2 cannot be restored: the manifest of inc1, which inc2 builds on, was replaced since/);
    // The full and the first incremental are still whole.
    assert.deepEqual((await replaced.repo.chain('inc1')).map((s) => s.name), ['full', 'inc1']);
  });

  it('a parent of another service is refused', async () => {
    const { repo, inc1 } = await chainOfThree();
    const alien = JSON.parse((await buffer((await repo.store.get('prod/duo/full/manifest.json')).body)).toString()) as Record<string, unknown>;
    await repo.store.delete('prod/duo/full/manifest.json');
    const rewritten = Buffer.from(`${JSON.stringify({ ...alien, service: 'trio' }, null, 2)}\n`);
    await repo.store.put('prod/duo/full/manifest.json', rewritten, { contentType: 'application/json' });
    // Recorded with the new bytes' sha256, so only the service differs.
    const doctored = { ...inc1.manifest, parent: { name: 'full', sha256: sha(rewritten) } };
    await repo.store.delete('prod/duo/inc1/manifest.json');
    await repo.store.put('prod/duo/inc1/manifest.json', Buffer.from(JSON.stringify(doctored)), { contentType: 'application/json' });
    const error = await rejection(repo.chain('inc1'));
    assert.match(error.message, /^snapshot inc1 cannot be restored: full, which inc1 builds on, is of service trio, not duo$/);
  });
});
