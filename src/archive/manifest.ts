import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AppError } from '../shared/index.js';

export const MANIFEST_FORMAT = 1;

export const ManifestNodeSchema = Type.Object({
  index: Type.Integer({ minimum: 0 }),
  key: Type.String(),
  bytes: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  files: Type.Integer({ minimum: 0 }),
});

/** `<SNAPSHOT_NAME>/manifest.json`: written last, it is what makes a snapshot exist. */
export const ManifestSchema = Type.Object({
  format: Type.Literal(MANIFEST_FORMAT),
  service: Type.String(),
  plan: Type.String(),
  runId: Type.String(),
  snapshot: Type.String(),
  type: Type.Literal('tar.gz'),
  storage: Type.String(),
  location: Type.String(),
  created: Type.String({ description: 'ISO 8601 time the manifest was written' }),
  pod: Type.String(),
  nodeCount: Type.Integer({ minimum: 1 }),
  bytes: Type.Integer({ minimum: 0 }),
  nodes: Type.Array(ManifestNodeSchema),
});
export type Manifest = Static<typeof ManifestSchema>;
export type ManifestNode = Static<typeof ManifestNodeSchema>;

export function manifestKey(prefix: string, snapshot: string): string {
  return `${prefix === '' ? '' : `${prefix.replace(/\/+$/, '')}/`}${snapshot}/manifest.json`;
}

/** `[<prefix>/]<SNAPSHOT_NAME>/node-<POD_INDEX>.tar.gz` */
export function nodeKey(prefix: string, snapshot: string, index: number): string {
  return `${prefix === '' ? '' : `${prefix.replace(/\/+$/, '')}/`}${snapshot}/node-${index}.tar.gz`;
}

/** Reads a manifest, saying precisely what is wrong with one that does not parse or fit. */
export function parseManifest(text: string, where: string): Manifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new AppError('CHECKSUM', `${where} is not valid JSON: ${(error as Error).message}`);
  }
  if (!Value.Check(ManifestSchema, data)) {
    const first = [...Value.Errors(ManifestSchema, data)][0];
    throw new AppError('CHECKSUM', `${where} is not a drplan manifest: ${first?.path || '/'} ${first?.message ?? 'is invalid'}`);
  }
  const manifest = data;
  const indexes = manifest.nodes.map((n) => n.index).sort((a, b) => a - b);
  if (indexes.length !== manifest.nodeCount || indexes.some((index, i) => index !== i)) {
    throw new AppError('CHECKSUM', `${where} lists nodes ${indexes.join(', ')} but records ${manifest.nodeCount} nodes`);
  }
  return manifest;
}
