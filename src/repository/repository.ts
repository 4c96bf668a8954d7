import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { AppError, errorMessage, forEachLimit } from '../shared/index.js';
import type { BlobStore, RequestOptions } from '../storage/index.js';
import type { Compression } from '../archive/index.js';
import { archiveContentType, archiveName, FILE_LIST_CONTENT_TYPE, fileListName, manifestKey, MANIFEST, nodeLabel, objectKey } from './layout.js';
import { parseManifest, serializeManifest, type Manifest, type ManifestNode, type SnapshotMode } from './manifest.js';

/** The metadata that names the run that wrote an object (a name S3 and Azure both take). */
export const RUN_METADATA = 'drplan_run';

/** What a snapshot must fit: the service's name and its pods with their counts. */
export interface ServiceShape {
  name: string;
  pods: ReadonlyArray<{ name: string; count: number }>;
}

/** A committed snapshot as read from its location. */
export interface Snapshot {
  name: string;
  manifest: Manifest;
  /** The sha256 of manifest.json's bytes. */
  sha256: string;
}

/** What an upload wrote: the archive relative to the snapshot's directory, its size and digest, and the store's version tag. */
export interface StoredArchive {
  pod: string;
  index: number;
  key: string;
  bytes: number;
  sha256: string;
  etag: string | null;
  files: number;
  dataBytes: number;
  /** Bytes a restore writes (sparse holes left out). */
  writtenBytes?: number;
  /** @defaultValue 'gzip' (uploads recorded before zstd existed) */
  compression?: Compression;
  /** The node's file list (absent in uploads recorded before file lists existed). */
  fileList?: StoredObject;
}

/** An object written beside an archive, relative to the snapshot's directory. */
export interface StoredObject {
  key: string;
  bytes: number;
  sha256: string;
  etag?: string | null;
}

type PutOptions = RequestOptions & { runId: string; onProgress?: (bytes: number) => void };

export interface CommitDraft {
  name: string;
  service: ServiceShape;
  snapshotModes: Readonly<Record<string, SnapshotMode>>;
  plan: string;
  runId: string;
  uploads: readonly StoredArchive[];
  /** The snapshot an incremental builds on (its manifest as read when the run began); none for a full. */
  parent?: Snapshot;
}

export interface Listing {
  snapshots: Snapshot[];
  /** Manifests that could not be read, and why. */
  unreadable: Array<{ name: string; problem: string }>;
  /** Snapshot directories holding objects but no manifest: backups that never committed. */
  incomplete: string[];
}

/**
 * The one owner of the snapshot layout in a location (a store and a key prefix): keys,
 * manifests, the commit protocol (a name with a manifest is never written again), the checks a
 * restore makes before it touches a node, and listing what a location holds.
 */
export class Repository {
  constructor(
    readonly store: BlobStore,
    readonly prefix: string,
  ) {}

  /** `s3://bucket/prefix`: how messages name the location. */
  get where(): string {
    return this.prefix === '' ? this.store.url : `${this.store.url}/${this.prefix}`;
  }

  /** `s3://bucket/prefix/name/manifest.json`: how messages name an object. */
  url(name: string, relative = MANIFEST): string {
    return `${this.store.url}/${objectKey(this.prefix, name, relative)}`;
  }

  private async manifestOf(name: string, options: RequestOptions): Promise<Snapshot | null> {
    let bytes: Buffer;
    try {
      // A GET rather than a HEAD: refusals then carry the store's error code (HEAD answers have no body).
      bytes = await buffer((await this.store.get(manifestKey(this.prefix, name), options)).body);
    } catch (error) {
      if (error instanceof AppError && error.code === 'NOT_FOUND') return null;
      throw error;
    }
    const read = parseManifest(bytes, this.url(name));
    return { name, ...read };
  }

  /** The committed snapshot `name`. @throws AppError NOT_FOUND when it has no manifest. */
  async read(name: string, options: RequestOptions = {}): Promise<Snapshot> {
    const snapshot = await this.manifestOf(name, options);
    if (snapshot === null) {
      throw new AppError('NOT_FOUND', `snapshot ${name} has no manifest at ${this.url(name)}: it does not exist, or its backup never committed`);
    }
    return snapshot;
  }

  /** Refuses a name that has a manifest, whoever wrote it: snapshots are immutable. */
  async assertUnused(name: string, options: RequestOptions = {}): Promise<void> {
    const existing = await this.manifestOf(name, options);
    if (existing !== null) {
      throw new AppError('CONFLICT', `snapshot ${name} already exists at ${this.url(name)} (run ${existing.manifest.runId}); snapshots are immutable: choose another SNAPSHOT_NAME`);
    }
  }

  /**
   * Streams a node's archive to its key, after checking the name is still free. The object is
   * created only if none is there (a conditional write where the store has them), and carries
   * the run that wrote it: an object an earlier attempt of this run left (it never committed) is
   * replaced, one another run wrote is never written over.
   */
  async putArchive(
    name: string,
    node: { pod: string; index: number },
    body: Readable,
    options: PutOptions & { compression?: Compression },
  ): Promise<{ key: string; bytes: number; etag: string | null }> {
    return this.putNodeObject(name, archiveName(node.pod, node.index, options.compression), body, archiveContentType(options.compression ?? 'gzip'), options);
  }

  /** Streams a node's file list to its key, as `putArchive` does its archive. */
  async putFileList(name: string, node: { pod: string; index: number }, body: Readable, options: PutOptions): Promise<{ key: string; bytes: number; etag: string | null }> {
    return this.putNodeObject(name, fileListName(node.pod, node.index), body, FILE_LIST_CONTENT_TYPE, options);
  }

  /** A node's file list as a stream. */
  async openFileList(snapshot: Snapshot, node: ManifestNode, options: RequestOptions = {}): Promise<Readable> {
    if (node.fileList === null) throw new AppError('NOT_FOUND', `snapshot ${snapshot.name} has no file list for ${nodeLabel(node.pod, node.index)} (it was written before file lists existed)`);
    return (await this.store.get(objectKey(this.prefix, snapshot.name, node.fileList.key), options)).body;
  }

  private async putNodeObject(name: string, key: string, body: Readable, contentType: string, options: PutOptions): Promise<{ key: string; bytes: number; etag: string | null }> {
    await this.assertUnused(name, options);
    const full = objectKey(this.prefix, name, key);
    const existing = await this.store.head(full, options);
    if (existing !== null) {
      const writer = existing.metadata?.[RUN_METADATA];
      if (writer !== options.runId) {
        throw new AppError(
          'CONFLICT',
          `${this.url(name, key)} was written by ${writer === undefined ? 'something other than drplan' : `run ${writer}`}, which has not committed snapshot ${name}: another backup may be writing it. Choose another SNAPSHOT_NAME (or give each service its own prefix), or restart that run; if it is dead, delete the objects under ${this.url(name, '')}`,
        );
      }
      await this.store.delete(full, options);
    }
    const put = await this.store.put(full, body, {
      contentType,
      create: true,
      metadata: { [RUN_METADATA]: options.runId },
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    return { key, ...put };
  }

  /**
   * The commit point: checks that every node of every pod has an upload whose object is there,
   * as big as uploaded and not written since (its version tag unchanged), then writes
   * manifest.json, only if none exists. Committing again the same uploads of the same run
   * finds its own manifest and succeeds; anything else under a committed name is a CONFLICT.
   */
  async commit(draft: CommitDraft, options: RequestOptions = {}): Promise<{ snapshot: Snapshot; existed: boolean }> {
    const order = new Map(draft.service.pods.map((pod, i) => [pod.name, i]));
    const missing = draft.service.pods.flatMap((pod) =>
      Array.from({ length: pod.count }, (_, index) => index).filter((index) => !draft.uploads.some((u) => u.pod === pod.name && u.index === index)).map((index) => nodeLabel(pod.name, index)),
    );
    if (missing.length > 0) throw new AppError('CONFIG', `${missing.join(', ')} have no upload in this run (forced complete?): restart their upload steps`);
    const compressions = [...new Set(draft.uploads.map((u) => u.compression ?? 'gzip'))];
    if (compressions.length > 1) {
      throw new AppError('CONFIG', `the uploads of this run are compressed differently (${compressions.join(', ')}): restart the upload steps so that they all use one COMPRESSION`);
    }
    const uploads = [...draft.uploads].sort((a, b) => (order.get(a.pod) ?? 0) - (order.get(b.pod) ?? 0) || a.index - b.index);
    const objects = uploads.flatMap((u) => [{ key: u.key, bytes: u.bytes, etag: u.etag }, ...(u.fileList === undefined ? [] : [{ key: u.fileList.key, bytes: u.fileList.bytes, etag: u.fileList.etag ?? null }])]);
    for (const upload of objects) {
      const key = objectKey(this.prefix, draft.name, upload.key);
      const found = await this.store.head(key, options);
      const problem =
        found === null
          ? 'is missing'
          : found.bytes !== upload.bytes
            ? `has ${found.bytes} bytes, not the ${upload.bytes} uploaded`
            : upload.etag !== null && found.etag !== null && found.etag !== upload.etag
              ? 'was written again after its upload'
              : null;
      if (problem !== null) throw new AppError('CHECKSUM', `${this.url(draft.name, upload.key)} ${problem}: restart its upload step`);
    }
    const manifest: Manifest = {
      format: 2,
      service: draft.service.name,
      pods: draft.service.pods.map((pod) => ({ name: pod.name, count: pod.count, snapshotMode: draft.snapshotModes[pod.name] ?? 'hardlink' })),
      plan: draft.plan,
      runId: draft.runId,
      snapshot: draft.name,
      created: new Date().toISOString(),
      compression: compressions[0] ?? 'gzip',
      backupType: draft.parent === undefined ? 'full' : 'incremental',
      parent: draft.parent === undefined ? null : { name: draft.parent.name, sha256: draft.parent.sha256 },
      chain: draft.parent === undefined ? { full: draft.name, depth: 0 } : { full: draft.parent.manifest.chain.full, depth: draft.parent.manifest.chain.depth + 1 },
      bytes: uploads.reduce((sum, u) => sum + u.bytes, 0),
      nodes: uploads.map((u) => ({
        pod: u.pod,
        index: u.index,
        key: u.key,
        bytes: u.bytes,
        sha256: u.sha256,
        fileList: u.fileList === undefined ? null : { key: u.fileList.key, bytes: u.fileList.bytes, sha256: u.fileList.sha256 },
        files: u.files,
        dataBytes: u.dataBytes,
        ...(u.writtenBytes === undefined ? {} : { writtenBytes: u.writtenBytes }),
      })),
    };
    const existing = await this.manifestOf(draft.name, options);
    if (existing !== null) {
      if (existing.manifest.runId === draft.runId && sameNodes(existing.manifest.nodes, manifest.nodes)) return { snapshot: existing, existed: true };
      throw new AppError('CONFLICT', `snapshot ${draft.name} already exists at ${this.url(draft.name)} (run ${existing.manifest.runId}); snapshots are immutable: choose another SNAPSHOT_NAME`);
    }
    const bytes = serializeManifest(manifest);
    await this.store.put(manifestKey(this.prefix, draft.name), bytes, { contentType: 'application/json', create: true, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    return { snapshot: { name: draft.name, ...parseManifest(bytes, this.url(draft.name)) }, existed: false };
  }

  /**
   * The chain `name` restores from, full first, every link checked: its manifest there, of the
   * same service and pods, the sha256 its child recorded, and the depths contiguous down to a full.
   * @throws AppError NOT_FOUND when `name` itself has no manifest, CHECKSUM naming the broken link.
   */
  async chain(name: string, options: RequestOptions = {}): Promise<Snapshot[]> {
    const broken = (why: string): AppError => new AppError('CHECKSUM', `snapshot ${name} cannot be restored: ${why}`);
    let child = await this.read(name, options);
    const links = [child];
    for (let parentRef = child.manifest.parent; parentRef !== null; parentRef = child.manifest.parent) {
      const m = child.manifest;
      const parent = await this.manifestOf(parentRef.name, options);
      if (parent === null) throw broken(`${parentRef.name}, which ${child.name} builds on (depth ${m.chain.depth - 1} of the chain from ${m.chain.full}), has no manifest at ${this.url(parentRef.name)}`);
      const p = parent.manifest;
      if (parent.sha256 !== parentRef.sha256) throw broken(`the manifest of ${parentRef.name}, which ${child.name} builds on, was replaced since (sha256 ${parent.sha256}, recorded ${parentRef.sha256})`);
      if (p.service !== m.service) throw broken(`${parentRef.name}, which ${child.name} builds on, is of service ${p.service}, not ${m.service}`);
      if (p.chain.full !== m.chain.full || p.chain.depth !== m.chain.depth - 1) {
        throw broken(`${parentRef.name} is at depth ${p.chain.depth} of the chain from ${p.chain.full}, where ${child.name} (depth ${m.chain.depth} from ${m.chain.full}) needs its parent`);
      }
      const shape = (x: Manifest): string => x.pods.map((pod) => `${pod.count} ${pod.name}`).join(', ');
      if (shape(p) !== shape(m)) throw broken(`${parentRef.name} has pods ${shape(p)} where ${child.name} has ${shape(m)}`);
      links.unshift(parent);
      child = parent;
    }
    const full = child.manifest;
    if (full.backupType !== 'full' || full.chain.depth !== 0 || full.chain.full !== full.snapshot) throw broken(`${full.snapshot}, the root of its chain, is not a full backup`);
    return links;
  }

  /** The snapshots of `listing` that build on `name`, directly or further down its chains, nearest first. */
  static dependents(listing: Listing, name: string): Snapshot[] {
    const out: Snapshot[] = [];
    const queue = [name];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const parent = next;
      const children = listing.snapshots.filter((s) => s.manifest.parent?.name === parent).sort((a, b) => a.manifest.chain.depth - b.manifest.chain.depth || a.name.localeCompare(b.name));
      for (const child of children) {
        if (out.includes(child)) continue;
        out.push(child);
        queue.push(child.name);
      }
    }
    return out;
  }

  /** Every way `snapshot` does not fit `service`, at once. @throws AppError CONFIG listing them. */
  checkFits(snapshot: Snapshot, service: ServiceShape): void {
    const m = snapshot.manifest;
    if (m.service !== service.name) throw new AppError('CONFIG', `snapshot ${snapshot.name} is of service ${m.service}, not ${service.name}`);
    const describe = (pods: ReadonlyArray<{ name: string; count: number }>): string => pods.map((p) => `${p.count} ${p.name}`).join(', ');
    const fits = m.pods.length === service.pods.length && m.pods.every((pod) => service.pods.some((p) => p.name === pod.name && p.count === pod.count));
    if (!fits) {
      if (m.pods.length === 1 && service.pods.length === 1 && m.pods[0]?.name === service.pods[0]?.name) {
        throw new AppError('CONFIG', `snapshot ${snapshot.name} has ${m.pods[0]?.count ?? 0} nodes but service ${service.name} has ${service.pods[0]?.count ?? 0}`);
      }
      throw new AppError('CONFIG', `snapshot ${snapshot.name} has pods ${describe(m.pods)} but service ${service.name} has ${describe(service.pods)}`);
    }
  }

  /**
   * What a restore checks before it touches a node: the manifest is there, of this service, with
   * its pods, and the node's archive exists with the recorded size.
   */
  async preflight(name: string, service: ServiceShape, node: { pod: string; index: number }, options: RequestOptions = {}): Promise<{ snapshot: Snapshot; node: ManifestNode }> {
    const snapshot = await this.read(name, options);
    this.checkFits(snapshot, service);
    const entry = snapshot.manifest.nodes.find((n) => n.pod === node.pod && n.index === node.index);
    if (entry === undefined) throw new AppError('CONFIG', `snapshot ${name} has no ${nodeLabel(node.pod, node.index)}`);
    const found = await this.store.head(objectKey(this.prefix, name, entry.key), options);
    if (found === null) throw new AppError('CHECKSUM', `${this.url(name, entry.key)} is missing: snapshot ${name} cannot be restored`);
    if (found.bytes !== entry.bytes) {
      throw new AppError('CHECKSUM', `${this.url(name, entry.key)} has ${found.bytes} bytes where its manifest records ${entry.bytes}: it is truncated or was replaced`);
    }
    return { snapshot, node: entry };
  }

  /** A node's archive as a stream, with the size the store announces. */
  async openArchive(snapshot: Snapshot, node: ManifestNode, options: RequestOptions = {}): Promise<{ body: Readable; bytes: number }> {
    const { body, bytes } = await this.store.get(objectKey(this.prefix, snapshot.name, node.key), options);
    return { body, bytes };
  }

  /** Every snapshot directory in the location: committed ones with their manifests, unreadable ones, incomplete ones. */
  async list(options: RequestOptions = {}): Promise<Listing> {
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    const names = new Map<string, boolean>();
    for (const object of await this.store.list(base, options)) {
      const rest = object.key.slice(base.length).split('/');
      if (rest.length !== 2 || rest[0] === undefined || rest[0] === '') continue;
      names.set(rest[0], (names.get(rest[0]) ?? false) || rest[1] === MANIFEST);
    }
    const listing: Listing = { snapshots: [], unreadable: [], incomplete: [] };
    await forEachLimit([...names], 8, async ([name, committed]) => {
      if (!committed) {
        listing.incomplete.push(name);
        return;
      }
      try {
        const snapshot = await this.manifestOf(name, options);
        if (snapshot !== null) listing.snapshots.push(snapshot);
      } catch (error) {
        if (error instanceof AppError && error.code === 'CHECKSUM') listing.unreadable.push({ name, problem: errorMessage(error) });
        else throw error;
      }
    });
    listing.snapshots.sort((a, b) => b.manifest.created.localeCompare(a.manifest.created));
    listing.incomplete.sort();
    return listing;
  }
}

function sameNodes(a: readonly ManifestNode[], b: readonly ManifestNode[]): boolean {
  return a.length === b.length && a.every((n, i) => n.pod === b[i]?.pod && n.index === b[i]?.index && n.key === b[i]?.key && n.sha256 === b[i]?.sha256);
}
