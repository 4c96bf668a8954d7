import { existsSync } from 'node:fs';
import { COMPRESSIONS, estimateTarSize, FileListWriter, packDirectory, type Compression, type TreeStats } from '../archive/index.js';
import type { SnapshotMode } from '../engine/index.js';
import { nodeLabel, type StoredArchive } from '../repository/index.js';
import { AppError, formatBytes } from '../shared/index.js';
import type { Location, StorageKind } from '../storage/index.js';
import { snapshotRecord } from './catalogue.js';
import { openRepository, serviceShape } from './location.js';
import { podSpecOf, snapshotNameOf, sourceDir } from './paths.js';
import type { Task, TaskContext } from './types.js';

/** What an upload step leaves for commit-manifest. */
export interface UploadResult {
  location: Location;
  archive: StoredArchive;
}

export function isUploadResult(value: unknown): value is UploadResult {
  const v = value as Partial<UploadResult> | null;
  return typeof v === 'object' && v !== null && typeof v.location?.storage === 'string' && typeof v.archive?.sha256 === 'string';
}

/** The plan's COMPRESSION: gzip (the default, the DC/OS format) or zstd. */
export function compressionOf(context: Pick<TaskContext, 'parameters'>): Compression {
  const value = context.parameters['COMPRESSION'] ?? 'gzip';
  if (!(COMPRESSIONS as readonly string[]).includes(value)) throw new AppError('CONFIG', `COMPRESSION '${value}' is not one of ${COMPRESSIONS.join(', ')}`);
  return value as Compression;
}

/** How to make a backup of this pod consistent, for a file that changed while it was read. */
function advice(context: TaskContext, mode: SnapshotMode): string {
  const where = `pod ${context.pod ?? ''} of ${context.service.file}`;
  switch (mode) {
    case 'hardlink':
      return `the hardlink snapshot shares its files with the live data, so it changes with them: set snapshot: copy (or reflink on btrfs and XFS) for ${where}, or quiesce the service with freeze and thaw hooks`;
    case 'none':
      return `snapshot: none packs the live data directory: set snapshot: copy (or reflink) for ${where}, or quiesce the service with freeze and thaw hooks`;
    default:
      return `something wrote into the ${mode} snapshot itself (a backup-schema hook?): it must only add files`;
  }
}

/** `1,234 files, 3 symlinks, 2 hard links` and what was left out. */
export function describeTree(stats: TreeStats): string {
  const parts = [`${stats.files} files`];
  if (stats.symlinks > 0) parts.push(`${stats.symlinks} symlinks`);
  if (stats.hardlinks > 0) parts.push(`${stats.hardlinks} hard links`);
  if (stats.fifos > 0) parts.push(`${stats.fifos} FIFOs`);
  if (stats.sparse > 0) parts.push(`${stats.sparse} sparse`);
  return parts.join(', ');
}

export function describeSkipped(stats: TreeStats): string {
  if (stats.skipped.length === 0) return '';
  const shown = stats.skipped.slice(0, 3).map((s) => `${s.kind} ${s.path}`).join(', ');
  return `; left out ${stats.skipped.length} socket${stats.skipped.length === 1 ? '' : 's'} or device${stats.skipped.length === 1 ? '' : 's'}, which are not data (${shown}${stats.skipped.length > 3 ? ', …' : ''})`;
}

/**
 * Streams the node's snapshot as tar.gz (or tar.zst) straight to `<SNAPSHOT_NAME>/<pod>-<i>.tar.gz`,
 * and its file list to `<pod>-<i>.files.gz` beside it: no temporary file. A name that has a
 * manifest is never written again, whoever asks.
 */
export function uploadTask(kind: StorageKind): Task {
  return async (context) => {
    const name = snapshotNameOf(context);
    const mode = podSpecOf(context).snapshot;
    const dir = sourceDir(context);
    const node = { pod: context.pod ?? '', index: context.podIndex ?? 0 };
    const compression = compressionOf(context);
    if (!existsSync(dir)) {
      throw new AppError('CONFIG', `the snapshot of ${nodeLabel(node.pod, node.index)} is not at ${dir} (a cleanup ran since): restart the plan, or its create-snapshots phase`);
    }
    const { repo, location } = await openRepository(kind, context);
    try {
      const size = await estimateTarSize(dir);
      context.progress.bytes(0, size.bytes);
      // Packing and uploading fail together: whichever stops first stops the other.
      const controller = new AbortController();
      const stop = (): void => controller.abort(context.signal.reason);
      context.signal.addEventListener('abort', stop, { once: true });
      // The file list (every entry, each file's sha256 from the bytes packed) is stored beside
      // the archive as it is made.
      const list = new FileListWriter(name);
      const packed = packDirectory(dir, {
        onEntry: (entry) => list.add(entry),
        compression,
        level: compression === 'zstd' ? context.settings.zstdLevel : context.settings.gzipLevel,
        threads: context.settings.gzipThreads,
        signal: controller.signal,
        linkFactor: mode === 'hardlink' ? 2 : 1,
        settleMs: context.settings.settleMs,
        advice: advice(context, mode),
        onTarBytes: (bytes) => context.progress.bytes(Math.min(bytes, size.bytes), size.bytes),
      });
      packed.done.then(
        () => list.end(),
        (error: unknown) => list.destroy(error),
      );
      let put, listPut, packedResult, listResult;
      try {
        const options = { signal: controller.signal, runId: context.run.id };
        [put, listPut, packedResult, listResult] = await Promise.all([
          repo.putArchive(name, node, packed.stream, { ...options, compression }),
          repo.putFileList(name, node, list.stream, options),
          packed.done,
          list.done,
        ]);
      } catch (error) {
        controller.abort(error);
        list.destroy(error);
        // The packer's own failure says more than the upload's report of it.
        throw await packed.done.then(
          () => error,
          (packError: unknown) => (packError instanceof AppError ? packError : error),
        );
      } finally {
        context.signal.removeEventListener('abort', stop);
      }
      const archive: StoredArchive = {
        ...node,
        key: put.key,
        bytes: packedResult.bytes,
        sha256: packedResult.sha256,
        etag: put.etag,
        files: packedResult.stats.files,
        dataBytes: packedResult.stats.dataBytes,
        writtenBytes: packedResult.stats.writtenBytes,
        compression,
        fileList: { key: listPut.key, bytes: listResult.bytes, sha256: listResult.sha256, etag: listPut.etag },
      };
      const result: UploadResult = { location, archive };
      return {
        message: `uploaded ${describeTree(packedResult.stats)}, ${formatBytes(packedResult.tarBytes)} as ${formatBytes(packedResult.bytes)} to ${repo.url(name, put.key)}${describeSkipped(packedResult.stats)}${packedResult.stats.vanished > 0 ? `; ${packedResult.stats.vanished} entries were removed by the service while they were read, and are not in it` : ''}`,
        result,
        progress: { bytesDone: packedResult.tarBytes, bytesTotal: packedResult.tarBytes },
      };
    } finally {
      repo.store.close();
    }
  };
}

/** Writes `<SNAPSHOT_NAME>/manifest.json` from the uploads of this run, after checking each object: the commit point. */
export const commitManifestTask: Task = async (context) => {
  const results = (await context.loadRun()).phases
    .flatMap((phase) => phase.steps)
    .filter((step) => step.status === 'COMPLETE' && isUploadResult(step.result))
    .map((step) => step.result as UploadResult);
  const first = results[0];
  if (first === undefined) throw new AppError('CONFIG', 'there are no completed uploads in this run to commit');
  const name = snapshotNameOf(context);
  const { repo, location } = await openRepository(first.location.storage, context, first.location);
  try {
    const snapshotModes = Object.fromEntries(Object.entries(context.service.pods).map(([pod, spec]) => [pod, spec.snapshot]));
    const { snapshot } = await repo.commit(
      { name, service: serviceShape(context), snapshotModes, plan: context.run.plan, runId: context.run.id, uploads: results.map((r) => r.archive) },
      { signal: context.signal },
    );
    const m = snapshot.manifest;
    const count = m.nodes.length;
    const catalog = snapshotRecord(snapshot, location);
    return {
      message: `committed snapshot ${name}: ${count} nodes, ${formatBytes(m.bytes)} at ${repo.url(name)}`,
      result: { key: repo.url(name) },
      catalog,
      manifest: m,
    };
  } finally {
    repo.store.close();
  }
};
