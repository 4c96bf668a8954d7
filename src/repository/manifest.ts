import { createHash } from 'node:crypto';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { COMPRESSIONS } from '../archive/index.js';
import { AppError } from '../shared/index.js';

const SHA256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const NAME = Type.String({ minLength: 1 });

export const SNAPSHOT_MODES = ['hardlink', 'reflink', 'copy', 'none'] as const;
export type SnapshotMode = (typeof SNAPSHOT_MODES)[number];

const ManifestNodeSchema = Type.Object({
  pod: NAME,
  index: Type.Integer({ minimum: 0 }),
  /** The archive, relative to the snapshot's directory. */
  key: NAME,
  bytes: Type.Integer({ minimum: 0 }),
  sha256: SHA256,
  /** The node's file list (written by incremental-capable backups), or null. */
  fileList: Type.Union([Type.Object({ key: NAME, bytes: Type.Integer({ minimum: 0 }), sha256: SHA256 }), Type.Null()]),
  /** Regular files and their bytes, as they were on the node. */
  files: Type.Integer({ minimum: 0 }),
  dataBytes: Type.Integer({ minimum: 0 }),
  /** Bytes a restore writes: the data of the files, the holes of sparse ones left out. */
  writtenBytes: Type.Optional(Type.Integer({ minimum: 0 })),
});

/** `manifest.json`, format 2: written last, it is what makes a snapshot exist. */
export const ManifestSchema = Type.Object({
  format: Type.Literal(2),
  service: NAME,
  /** Every pod of the service at backup time, in the order the service declares them. */
  pods: Type.Array(Type.Object({ name: NAME, count: Type.Integer({ minimum: 1 }), snapshotMode: Type.Union(SNAPSHOT_MODES.map((m) => Type.Literal(m))) }), { minItems: 1 }),
  plan: NAME,
  runId: NAME,
  snapshot: NAME,
  created: Type.String({ description: 'ISO 8601 time the manifest was written' }),
  compression: Type.Union(COMPRESSIONS.map((c) => Type.Literal(c))),
  backupType: Type.Union([Type.Literal('full'), Type.Literal('incremental')]),
  /** The snapshot this one builds on, and the sha256 of that snapshot's manifest. */
  parent: Type.Union([Type.Object({ name: NAME, sha256: SHA256 }), Type.Null()]),
  /** The full snapshot at the root of this one's chain, and how far down the chain this one is. */
  chain: Type.Object({ full: NAME, depth: Type.Integer({ minimum: 0 }) }),
  /** Bytes of every archive together. */
  bytes: Type.Integer({ minimum: 0 }),
  nodes: Type.Array(ManifestNodeSchema),
});
export type Manifest = Static<typeof ManifestSchema>;
export type ManifestNode = Static<typeof ManifestNodeSchema>;

/** Format 1: one pod, keys with their prefix. Still read, so old snapshots still restore. */
const ManifestV1Schema = Type.Object({
  format: Type.Literal(1),
  service: NAME,
  plan: NAME,
  runId: NAME,
  snapshot: NAME,
  type: Type.Literal('tar.gz'),
  storage: Type.String(),
  location: Type.String(),
  created: Type.String(),
  pod: NAME,
  nodeCount: Type.Integer({ minimum: 1 }),
  bytes: Type.Integer({ minimum: 0 }),
  nodes: Type.Array(Type.Object({ index: Type.Integer({ minimum: 0 }), key: NAME, bytes: Type.Integer({ minimum: 0 }), sha256: SHA256, files: Type.Integer({ minimum: 0 }) })),
});

function check<T extends TSchema>(schema: T, data: unknown, where: string): Static<T> {
  if (Value.Check(schema, data)) return data;
  const first = [...Value.Errors(schema, data)][0];
  throw new AppError('CHECKSUM', `${where} is not a drplan manifest: ${first?.path || '/'} ${first?.message ?? 'is invalid'}`);
}

/** A read manifest and the sha256 of its bytes (what a child snapshot records of its parent). */
export interface ReadManifest {
  manifest: Manifest;
  sha256: string;
}

/**
 * Reads a manifest of either format strictly, saying precisely what is wrong with one that does
 * not parse or fit, and checks that it lists each node of each pod once.
 */
export function parseManifest(bytes: Buffer, where: string): ReadManifest {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let data: unknown;
  try {
    data = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new AppError('CHECKSUM', `${where} is not valid JSON: ${(error as Error).message}`);
  }
  const format = (data as { format?: unknown } | null)?.format;
  const manifest = format === 1 ? upgrade(check(ManifestV1Schema, data, where)) : check(ManifestSchema, data, where);
  for (const pod of manifest.pods) {
    const indexes = manifest.nodes.filter((n) => n.pod === pod.name).map((n) => n.index).sort((a, b) => a - b);
    if (indexes.length !== pod.count || indexes.some((index, i) => index !== i)) {
      throw new AppError('CHECKSUM', `${where} lists ${pod.name} nodes ${indexes.join(', ') || 'none'} but records ${pod.count}`);
    }
  }
  const stray = manifest.nodes.find((n) => !manifest.pods.some((p) => p.name === n.pod));
  if (stray !== undefined) throw new AppError('CHECKSUM', `${where} lists a node of pod ${stray.pod}, which it does not record`);
  return { manifest, sha256 };
}

function upgrade(v1: Static<typeof ManifestV1Schema>): Manifest {
  return {
    format: 2,
    service: v1.service,
    pods: [{ name: v1.pod, count: v1.nodeCount, snapshotMode: 'hardlink' }],
    plan: v1.plan,
    runId: v1.runId,
    snapshot: v1.snapshot,
    created: v1.created,
    compression: 'gzip',
    backupType: 'full',
    parent: null,
    chain: { full: v1.snapshot, depth: 0 },
    bytes: v1.bytes,
    // Format 1 keys carry the prefix; format 2 keys are relative to the snapshot's directory.
    nodes: v1.nodes.map((n) => ({ pod: v1.pod, index: n.index, key: n.key.split('/').at(-1) ?? n.key, bytes: n.bytes, sha256: n.sha256, fileList: null, files: n.files, dataBytes: 0 })),
  };
}

export function serializeManifest(manifest: Manifest): Buffer {
  return Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
}
