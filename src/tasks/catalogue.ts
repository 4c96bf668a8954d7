import type { LocationSpec, ServiceSpec, SnapshotRecord } from '../engine/index.js';
import type { Manifest, Snapshot } from '../repository/index.js';
import { storageDriver, type Location, type StorageKind } from '../storage/index.js';
import { locationOf, repositoryFor } from './location.js';

/** The catalogue entry of a committed snapshot in a location: where it is, whole, and what its manifest says. */
export function snapshotRecord(snapshot: Snapshot, location: Location): SnapshotRecord {
  const m = snapshot.manifest;
  return {
    name: snapshot.name,
    service: m.service,
    plan: m.plan,
    runId: m.runId,
    storage: location.storage,
    location: location.name,
    prefix: location.prefix,
    endpoint: location.endpoint,
    ...(location.region === undefined ? {} : { region: location.region }),
    ...(location.account === undefined ? {} : { account: location.account }),
    ...(location.locationName === undefined ? {} : { locationName: location.locationName }),
    locationParameters: storageDriver(location.storage).parameters(location),
    created: m.created,
    bytes: m.bytes,
    nodes: m.nodes.length,
    pods: m.pods.map((p) => ({ name: p.name, count: p.count })),
    type: m.backupType,
    parent: m.parent?.name ?? null,
  };
}

/** What a location holds for a service, read from its manifests. */
export interface LocationListing {
  location: string;
  /** Committed snapshots of this service, newest first, with their manifests. */
  snapshots: Array<{ record: SnapshotRecord; manifest: Manifest }>;
  /** Manifests that could not be read, and why. */
  unreadable: Array<{ name: string; problem: string }>;
  /** Snapshot directories without a manifest: backups that never committed. */
  incomplete: string[];
  /** Committed snapshots of other services in the same place (left out). */
  otherServices: number;
}

/**
 * Lists a named location of a service with the credentials of this process (the variables the
 * location names in `environment`, or the SDK's default chain).
 */
export async function listLocation(service: ServiceSpec, spec: LocationSpec, environment: Readonly<Record<string, string | undefined>>, signal?: AbortSignal): Promise<LocationListing> {
  const { repo, location } = repositoryFor(spec.storage as StorageKind, service, {}, environment, undefined, locationOf(spec));
  try {
    const listing = await repo.list(signal === undefined ? {} : { signal });
    const own = listing.snapshots.filter((s) => s.manifest.service === service.name);
    return {
      location: spec.name,
      snapshots: own.map((snapshot) => ({ record: snapshotRecord(snapshot, location), manifest: snapshot.manifest })),
      unreadable: listing.unreadable,
      incomplete: listing.incomplete,
      otherServices: listing.snapshots.length - own.length,
    };
  } finally {
    repo.store.close();
  }
}
