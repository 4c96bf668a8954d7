export { Repository, type ServiceShape, type Snapshot, type StoredArchive, type StoredObject, type CommitDraft, type Listing } from './repository.js';
export { parseManifest, serializeManifest, ManifestSchema, SNAPSHOT_MODES, type Manifest, type ManifestNode, type SnapshotMode, type ReadManifest } from './manifest.js';
export { archiveName, fileListName, manifestKey, objectKey, snapshotDir, nodeLabel, MANIFEST } from './layout.js';
