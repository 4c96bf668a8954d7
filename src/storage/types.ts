import type { AppError } from '../shared/index.js';
import type { Readable } from 'node:stream';

export type StorageKind = 's3' | 'azure' | 'fs';

export interface PutOptions {
  signal?: AbortSignal;
  /** Called with the bytes sent so far. */
  onProgress?: (bytes: number) => void;
  contentType?: string;
}

export interface BlobInfo {
  key: string;
  bytes: number;
}

/**
 * One interface for every place snapshots go. Bodies stream both ways; a put that fails or is
 * cancelled leaves nothing behind under its key. Errors are AppErrors: AUTH and CONFIG are not
 * retryable, UNAVAILABLE is; NOT_FOUND for a missing key.
 */
export interface BlobStore {
  readonly kind: StorageKind;
  /** The bucket or container, for messages and the catalogue. */
  readonly location: string;
  put(key: string, body: Readable | Buffer, options?: PutOptions): Promise<{ bytes: number }>;
  /** The object's bytes as a stream, and its size. */
  get(key: string, options?: { signal?: AbortSignal }): Promise<{ body: Readable; bytes: number }>;
  /** Size of an object, or null when there is none. */
  head(key: string): Promise<BlobInfo | null>;
  list(prefix: string): Promise<BlobInfo[]>;
  delete(key: string): Promise<void>;
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
