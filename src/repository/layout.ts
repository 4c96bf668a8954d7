import type { Compression } from '../archive/index.js';

/**
 * Where a snapshot's objects lie in a location (format 2):
 *
 * ```
 * [<prefix>/]<SNAPSHOT_NAME>/<pod>-<POD_INDEX>.tar.gz    the node's archive (.tar.zst with zstd)
 * [<prefix>/]<SNAPSHOT_NAME>/<pod>-<POD_INDEX>.files.gz  its file list: every entry, with each file's sha256
 * [<prefix>/]<SNAPSHOT_NAME>/<pod>-<POD_INDEX>.deleted   paths gone since the parent (incrementals)
 * [<prefix>/]<SNAPSHOT_NAME>/manifest.json               written last: the commit point
 * ```
 *
 * For the pod named `node` the archive keys are the DC/OS ones, `node-<POD_INDEX>.tar.gz`.
 * Nothing outside this module builds a key.
 */

export const MANIFEST = 'manifest.json';

const EXTENSIONS: Record<Compression, string> = { gzip: '.tar.gz', zstd: '.tar.zst' };

const CONTENT_TYPES: Record<Compression, string> = { gzip: 'application/gzip', zstd: 'application/zstd' };

/** The media type an archive is stored with. */
export const archiveContentType = (compression: Compression): string => CONTENT_TYPES[compression];

/** `[<prefix>/]<name>`: the snapshot's directory in the location. */
export function snapshotDir(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}/${name}`;
}

/** The archive of one node, relative to the snapshot's directory (the manifest records it so). */
export function archiveName(pod: string, index: number, compression: Compression = 'gzip'): string {
  return `${pod}-${index}${EXTENSIONS[compression]}`;
}

/** The file list of one node, relative to the snapshot's directory. */
export const fileListName = (pod: string, index: number): string => `${pod}-${index}.files.gz`;

export const FILE_LIST_CONTENT_TYPE = 'application/gzip';

export const objectKey = (prefix: string, name: string, relative: string): string => `${snapshotDir(prefix, name)}/${relative}`;

export const manifestKey = (prefix: string, name: string): string => objectKey(prefix, name, MANIFEST);

/** `<pod>-<i>`, as steps and messages name a node. */
export const nodeLabel = (pod: string, index: number): string => `${pod}-${index}`;
