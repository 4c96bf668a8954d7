import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, statfs, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { unpackArchive } from '../archive/index.js';
import { nodeLabel, type ManifestNode, type Repository, type Snapshot } from '../repository/index.js';
import { AppError, formatBytes, fromSystemError } from '../shared/index.js';
import type { StorageKind } from '../storage/index.js';
import { describeTree } from './backup.js';
import { openRepository, serviceShape } from './location.js';
import { requireDataDir, snapshotNameOf, stagingRoot } from './paths.js';
import { swapIn } from './swap.js';
import type { Task, TaskContext } from './types.js';
import { removeTree } from './remove.js';

async function isEmpty(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

/** RESTORE_POLICY=safe leaves a node with data alone: refused before anything is fetched. */
async function checkPolicy(values: Record<string, string>, dataDir: string): Promise<void> {
  const policy = values['RESTORE_POLICY'] ?? 'safe';
  if (policy !== 'force' && !(await isEmpty(dataDir))) {
    throw new AppError('CONFLICT', `data directory ${dataDir} is not empty: RESTORE_POLICY=safe leaves it as it is (use RESTORE_POLICY=force to replace it)`);
  }
}

/** The free bytes of the filesystem that will hold `dir` (its nearest existing ancestor). */
async function freeBytes(dir: string): Promise<number> {
  let current = dir;
  while (!existsSync(current) && dirname(current) !== current) current = dirname(current);
  const info = await statfs(current);
  return info.bavail * info.bsize;
}

interface Checked {
  repo: Repository;
  values: Record<string, string>;
  snapshot: Snapshot;
  node: ManifestNode;
  dataDir: string;
}

/** Everything a restore of this node checks before it changes anything. */
async function check(kind: StorageKind, context: TaskContext): Promise<Checked> {
  const dataDir = requireDataDir(context);
  const name = snapshotNameOf(context);
  const { repo, values } = await openRepository(kind, context);
  try {
    const { snapshot, node } = await repo.preflight(name, serviceShape(context), { pod: context.pod ?? '', index: context.podIndex ?? 0 }, { signal: context.signal });
    await checkPolicy(values, dataDir);
    return { repo, values, snapshot, node, dataDir };
  } catch (error) {
    repo.store.close();
    throw error;
  }
}

/**
 * The restore plans' first phase, on every node before any is touched: the manifest is there and
 * fits the service, this node's archive exists with its recorded size, RESTORE_POLICY allows
 * replacing the data dir, and its disk has room for the data. A restore that would fail on one
 * node fails here, with every node as it was.
 */
export function preflightRestoreTask(kind: StorageKind): Task {
  return async (context) => {
    const { repo, snapshot, node, dataDir } = await check(kind, context);
    try {
      const free = await freeBytes(dataDir);
      // What the restore writes: sparse files' holes take no space (older manifests give the logical size).
      const needed = node.writtenBytes ?? node.dataBytes;
      if (needed > 0 && free < needed) {
        throw new AppError('NO_SPACE', `the disk of ${dataDir} has ${formatBytes(free)} free, and ${nodeLabel(node.pod, node.index)} of snapshot ${snapshot.name} holds ${formatBytes(needed)}`);
      }
      return {
        message: `snapshot ${snapshot.name} can be restored here: ${repo.url(snapshot.name, node.key)} is there with its ${formatBytes(node.bytes)}${needed > 0 ? `, and ${formatBytes(free)} are free for its ${formatBytes(needed)}` : ''}`,
        result: { key: node.key, bytes: node.bytes },
      };
    } finally {
      repo.store.close();
    }
  };
}

/**
 * Restores the node from the snapshot: checks again what the preflight checked, extracts into a
 * staging directory beside the data while verifying size and sha256, and only then swaps it in.
 */
export function fetchRestoreTask(kind: StorageKind): Task {
  return async (context) => {
    const root = stagingRoot(requireDataDir(context));
    // This very attempt cycle of the step already swapped the data in (its worker died before it
    // could say so): done. A restart of the step is a new generation, and restores again.
    const marker = join(root, 'restored.json');
    const attempt = `${context.run.id}/${context.stepGen}`;
    const done = existsSync(marker) ? (JSON.parse(await readFile(marker, 'utf8')) as { attempt?: string; message: string }) : null;
    if (done?.attempt === attempt) return { message: done.message };

    const { repo, snapshot, node, dataDir } = await check(kind, context);
    try {
      const staging = join(root, `restore-${context.run.id}`);
      await removeTree(staging);
      await mkdir(staging, { recursive: true }).catch((error: unknown) => {
        throw fromSystemError(error, `cannot make the staging directory ${staging}`);
      });
      const label = repo.url(snapshot.name, node.key);
      context.progress.bytes(0, node.bytes);
      let unpacked;
      try {
        const { body, bytes } = await repo.openArchive(snapshot, node, { signal: context.signal });
        unpacked = await unpackArchive(body, staging, {
          signal: context.signal,
          compression: snapshot.manifest.compression,
          expected: { bytes: node.bytes, sha256: node.sha256 },
          announcedBytes: bytes,
          onBytes: (n) => context.progress.bytes(n, node.bytes),
          label,
        });
        // A stopped restore never swaps: the node stays as it was.
        context.signal.throwIfAborted();
        await swapIn(dataDir, staging, join(root, `previous-${context.run.id}`));
      } finally {
        await removeTree(staging);
      }
      const message = `restored ${describeTree(unpacked.stats)} (${formatBytes(unpacked.bytes)}, sha256 verified) from ${label}`;
      await writeFile(marker, JSON.stringify({ attempt, snapshot: snapshot.name, message }));
      return {
        message,
        result: { key: node.key, files: unpacked.stats.files, bytes: unpacked.bytes },
        progress: { bytesDone: unpacked.bytes, bytesTotal: node.bytes },
      };
    } finally {
      repo.store.close();
    }
  };
}
