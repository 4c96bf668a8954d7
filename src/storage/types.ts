import type { AppError } from '../shared/index.js';
import type { Readable } from 'node:stream';

export type StorageKind = 's3' | 'azure' | 'fs';

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface PutOptions extends RequestOptions {
  /** Called with the bytes sent so far. */
  onProgress?: (bytes: number) => void;
  contentType?: string;
  /** Only create: fail with CONFLICT when the key exists (a conditional write where the store has them). */
  create?: boolean;
  /** Kept with the object and given back by head: names are lower-case letters, digits and `_`. */
  metadata?: Record<string, string>;
}

export interface BlobInfo {
  key: string;
  bytes: number;
  /** The store's version tag of the object: it changes whenever the object is written again. */
  etag: string | null;
  /** What the writer kept with the object (head only). */
  metadata?: Record<string, string>;
}

/**
 * One interface for every place snapshots go. Bodies stream both ways; a put that fails or is
 * cancelled leaves nothing behind under its key. Every request has a timeout: a store that
 * accepts a connection and never answers fails with TIMEOUT, whatever the caller's signal.
 * Errors are AppErrors whose codes say whether a retry may help (AUTH and CONFIG never,
 * UNAVAILABLE and TIMEOUT may); NOT_FOUND for a missing key.
 */
export interface BlobStore {
  readonly kind: StorageKind;
  /** The bucket or container, for messages and the catalogue. */
  readonly location: string;
  /** `s3://bucket`: how messages name the store. */
  readonly url: string;
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<{ bytes: number; etag: string | null }>;
  /** The object's bytes as a stream, and its size. */
  get(key: string, options?: RequestOptions): Promise<{ body: Readable; bytes: number; etag: string | null }>;
  /** Size and version of an object, or null when there is none. */
  head(key: string, options?: RequestOptions): Promise<BlobInfo | null>;
  list(prefix: string, options?: RequestOptions): Promise<BlobInfo[]>;
  delete(key: string, options?: RequestOptions): Promise<void>;
  /** Releases connections. */
  close(): void;
}

/** Runs a lookup whose errors `fail` maps; a missing object is null rather than an error (head). */
export async function nullIfMissing<T>(lookup: () => Promise<T>, fail: (error: unknown) => AppError): Promise<T | null> {
  try {
    return await lookup();
  } catch (error) {
    const mapped = fail(error);
    if (mapped.code === 'NOT_FOUND') return null;
    throw mapped;
  }
}
