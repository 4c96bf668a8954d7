export { Repository, type ServiceShape, type Snapshot, type StoredArchive, type CommitDraft, type Listing } from './repository.js';
export { parseManifest, serializeManifest, ManifestSchema, SNAPSHOT_MODES, type Manifest, type ManifestNode, type SnapshotMode, type ReadManifest } from './manifest.js';
export { archiveName, manifestKey, objectKey, snapshotDir, nodeLabel, MANIFEST } from './layout.js';
