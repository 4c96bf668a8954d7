import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { estimateTarSize, manifestKey, nodeKey, packDirectory, parseManifest, unpackArchive, type Manifest } from '../archive/index.js';
import { createBlobStore, PREFIX_PARAMETER, type BlobStore, type StorageKind } from '../storage/index.js';
import { AppError, formatBytes, own } from '../shared/index.js';
import { requireDataDir, snapshotDir, snapshotNameOf, stagingRoot } from './paths.js';
import { swapIn } from './swap.js';
import type { Task, TaskContext } from './types.js';

/** What an upload step leaves for commit-manifest. */
export interface UploadResult {
  storage: StorageKind;
  location: string;
  key: string;
  index: number;
  bytes: number;
  sha256: string;
  files: number;
}

export function isUploadResult(value: unknown): value is UploadResult {
  const v = value as Partial<UploadResult> | null;
  return typeof v === 'object' && v !== null && typeof v.key === 'string' && typeof v.sha256 === 'string' && typeof v.index === 'number';
}

async function openStore(kind: StorageKind, context: TaskContext): Promise<{ store: BlobStore; prefix: string; values: Record<string, string> }> {
  const values = { ...context.parameters, ...(await context.secrets()) };
  const store = createBlobStore(kind, values, context.settings.transfer);
  return { store, prefix: values[PREFIX_PARAMETER[kind]] ?? '', values };
}

const url = (store: BlobStore, key: string): string => `${store.kind}://${store.location}/${key}`;

/** 'free' when the snapshot has no manifest, 'ours' when this run wrote it; otherwise refuses. */
async function refuseIfCommitted(store: BlobStore, key: string, name: string, runId: string): Promise<'free' | 'ours'> {
  let text: string;
  try {
    // A GET rather than a HEAD: refusals then carry the store's error code (HEAD responses have no body).
    text = (await buffer((await store.get(key)).body)).toString('utf8');
  } catch (error) {
    if (error instanceof AppError && error.code === 'NOT_FOUND') return 'free';
    throw error;
  }
  const manifest = parseManifest(text, url(store, key));
  if (manifest.runId === runId) return 'ours';
  throw new AppError('CONFLICT', `snapshot ${name} already exists at ${url(store, key)} (run ${manifest.runId}); snapshots are immutable: choose another SNAPSHOT_NAME`);
}

/** Streams the node's snapshot as tar.gz straight to `<SNAPSHOT_NAME>/node-<i>.tar.gz`: no temporary file. */
export function uploadTask(kind: StorageKind): Task {
  return async (context) => {
    const dataDir = requireDataDir(context);
    const name = snapshotNameOf(context);
    const dir = snapshotDir(dataDir, name);
    if (!existsSync(dir)) {
      throw new AppError('CONFIG', `the snapshot of ${context.stepName.split(':')[0] ?? 'this node'} is not at ${dir} (a cleanup ran since): restart the plan, or its create-snapshots phase`);
    }
    const { store, prefix } = await openStore(kind, context);
    try {
      await refuseIfCommitted(store, manifestKey(prefix, name), name, context.run.id);
      const size = await estimateTarSize(dir);
      context.progress.bytes(0, size.bytes);
      const key = nodeKey(prefix, name, context.podIndex ?? 0);
      const packed = packDirectory(dir, {
        level: context.settings.gzipLevel,
        threads: context.settings.gzipThreads,
        signal: context.signal,
        onTarBytes: (bytes) => context.progress.bytes(Math.min(bytes, size.bytes), size.bytes),
      });
      await store.put(key, packed.stream, { signal: context.signal, contentType: 'application/gzip' });
      const packedResult = packed.result();
      const result: UploadResult = {
        storage: kind,
        location: store.location,
        key,
        index: context.podIndex ?? 0,
        bytes: packedResult.bytes,
        sha256: packedResult.sha256,
        files: packedResult.files,
      };
      return {
        message: `uploaded ${packedResult.files} files, ${formatBytes(packedResult.tarBytes)} as ${formatBytes(packedResult.bytes)} to ${url(store, key)}`,
        result,
        progress: { bytesDone: packedResult.tarBytes, bytesTotal: packedResult.tarBytes },
      };
    } finally {
      store.close();
    }
  };
}

/** Writes `<SNAPSHOT_NAME>/manifest.json` from the uploads of this run, after checking each object: the commit point. */
export const commitManifestTask: Task = async (context) => {
  const uploads = context.run.phases.flatMap((phase) => phase.steps).filter((step) => step.status === 'COMPLETE' && isUploadResult(step.result));
  const results = uploads.map((step) => step.result as UploadResult);
  const first = results[0];
  if (first === undefined) throw new AppError('CONFIG', 'there are no completed uploads in this run to commit');
  const pod = uploads[0]?.pod ?? 'node';
  const count = own(context.service.pods, pod)?.count ?? 0;
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !results.some((r) => r.index === i));
  if (missing.length > 0) {
    throw new AppError('CONFIG', `nodes ${missing.join(', ')} have no upload in this run (forced complete?): restart their upload steps`);
  }
  const name = snapshotNameOf(context);
  const { store, prefix } = await openStore(first.storage, context);
  try {
    const key = manifestKey(prefix, name);
    const nodes = results.sort((a, b) => a.index - b.index);
    for (const node of nodes) {
      const found = await store.head(node.key);
      if (found === null || found.bytes !== node.bytes) {
        throw new AppError('CHECKSUM', `${url(store, node.key)} ${found === null ? 'is missing' : `has ${found.bytes} bytes, not the ${node.bytes} uploaded`}: restart its upload step`);
      }
    }
    const manifest: Manifest = {
      format: 1,
      service: context.service.name,
      plan: context.run.plan,
      runId: context.run.id,
      snapshot: name,
      type: 'tar.gz',
      storage: first.storage,
      location: store.location,
      created: new Date().toISOString(),
      pod,
      nodeCount: count,
      bytes: nodes.reduce((sum, node) => sum + node.bytes, 0),
      nodes: nodes.map((n) => ({ index: n.index, key: n.key, bytes: n.bytes, sha256: n.sha256, files: n.files })),
    };
    if ((await refuseIfCommitted(store, key, name, context.run.id)) === 'free') {
      await store.put(key, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), { contentType: 'application/json' });
    }
    return {
      message: `committed snapshot ${name}: ${count} nodes, ${formatBytes(manifest.bytes)} at ${url(store, key)}`,
      result: { key },
      catalog: {
        name,
        service: manifest.service,
        plan: manifest.plan,
        runId: manifest.runId,
        storage: manifest.storage,
        location: manifest.location,
        created: manifest.created,
        bytes: manifest.bytes,
        nodes: manifest.nodeCount,
      },
    };
  } finally {
    store.close();
  }
};

async function isEmpty(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

async function readManifest(store: BlobStore, key: string, name: string): Promise<Manifest> {
  let text: string;
  try {
    text = (await buffer((await store.get(key)).body)).toString('utf8');
  } catch (error) {
    if (error instanceof AppError && error.code === 'NOT_FOUND') {
      throw new AppError('NOT_FOUND', `snapshot ${name} has no manifest at ${url(store, key)}: it does not exist, or its backup never committed`);
    }
    throw error;
  }
  return parseManifest(text, url(store, key));
}

/**
 * Restores the node from the snapshot: checks the manifest (exists, this service, same node
 * count), refuses a non-empty data dir under the safe policy, extracts into a staging directory
 * beside the data while verifying size and sha256, and only then swaps it in.
 */
export function fetchRestoreTask(kind: StorageKind): Task {
  return async (context) => {
    const dataDir = requireDataDir(context);
    const name = snapshotNameOf(context);
    const root = stagingRoot(dataDir);
    const marker = join(root, 'restored.json');
    const done = existsSync(marker) ? (JSON.parse(await readFile(marker, 'utf8')) as { runId: string; message: string }) : null;
    if (done?.runId === context.run.id) return { message: done.message };

    const { store, prefix, values } = await openStore(kind, context);
    try {
      const manifest = await readManifest(store, manifestKey(prefix, name), name);
      const pod = context.pod ?? manifest.pod;
      const count = own(context.service.pods, pod)?.count ?? 0;
      if (manifest.service !== context.service.name) {
        throw new AppError('CONFIG', `snapshot ${name} is of service ${manifest.service}, not ${context.service.name}`);
      }
      if (manifest.nodeCount !== count) {
        throw new AppError('CONFIG', `snapshot ${name} has ${manifest.nodeCount} nodes but service ${context.service.name} has ${count}`);
      }
      const node = manifest.nodes.find((n) => n.index === context.podIndex);
      if (node === undefined) throw new AppError('CONFIG', `snapshot ${name} has no node ${context.podIndex ?? '?'}`);
      const policy = values['RESTORE_POLICY'] ?? 'safe';
      if (policy !== 'force' && !(await isEmpty(dataDir))) {
        throw new AppError('CONFLICT', `data directory ${dataDir} is not empty: RESTORE_POLICY=safe leaves it as it is (use RESTORE_POLICY=force to replace it)`);
      }

      const staging = join(root, `restore-${context.run.id}`);
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { recursive: true });
      context.progress.bytes(0, node.bytes);
      let unpacked;
      try {
        const { body } = await store.get(node.key, { signal: context.signal });
        unpacked = await unpackArchive(body, staging, {
          signal: context.signal,
          expected: { bytes: node.bytes, sha256: node.sha256 },
          onBytes: (bytes) => context.progress.bytes(bytes, node.bytes),
          label: url(store, node.key),
        });
        await swapIn(dataDir, staging, join(root, `previous-${context.run.id}`));
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
      const message = `restored ${unpacked.files} files (${formatBytes(unpacked.bytes)}, sha256 verified) from ${url(store, node.key)}`;
      await writeFile(marker, JSON.stringify({ runId: context.run.id, snapshot: name, message }));
      return { message, result: { key: node.key, files: unpacked.files, bytes: unpacked.bytes }, progress: { bytesDone: unpacked.bytes, bytesTotal: node.bytes } };
    } finally {
      store.close();
    }
  };
}
