import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, errorMessage, fromSystemError } from '../shared/index.js';
import { decompressor, type Compression } from './compress.js';
import { Digest } from './digest.js';
import { FsSink } from './fs-sink.js';
import type { TreeStats } from './tar-pack.js';
import { TarReader } from './tar-read.js';

export interface UnpackOptions {
  signal?: AbortSignal;
  /** @defaultValue 'gzip' */
  compression?: Compression;
  /** The archive must have exactly this size and sha256 (from the manifest). */
  expected?: { bytes: number; sha256: string };
  /**
   * The size the store said the object has: fewer bytes than that is the connection cut short
   * (retryable), not a corrupt snapshot.
   */
  announcedBytes?: number;
  /** Called as compressed bytes are read. */
  onBytes?: (bytes: number) => void;
  /** Names the archive in messages, e.g. the object key. @defaultValue 'archive' */
  label?: string;
  /** Restore owners and setuid/setgid. @defaultValue running as root */
  asRoot?: boolean;
}

export interface UnpackResult {
  bytes: number;
  sha256: string;
  stats: TreeStats;
}

/** zlib's codes (`Z_DATA_ERROR`, …) and zstd's (`ZSTD_error_checksum_wrong`, …). */
const isDecompressionError = (error: unknown): boolean => /^(Z_|ZSTD_error_)/.test(String((error as { code?: unknown }).code));

/**
 * Extracts a compressed tar stream into `dir`, a fresh staging directory (see FsSink for the rules:
 * nothing is written through a symlink, links come back verbatim, modes exactly). With
 * `expected`, the bytes must match in size and sha256, checked as they stream. Errors say what
 * happened: a cut connection is UNAVAILABLE (retried), a full disk NO_SPACE, a size or digest
 * mismatch or broken compression or tar CHECKSUM, a hostile entry UNSAFE_ARCHIVE.
 * On failure `dir` holds a partial extraction: callers throw it away.
 */
export async function unpackArchive(source: Readable, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  const label = options.label ?? 'archive';
  const compression = options.compression ?? 'gzip';
  const expected = options.expected;
  const digest = new Digest({
    ...(options.onBytes === undefined ? {} : { onBytes: options.onBytes }),
    ...(expected === undefined
      ? {}
      : {
          limit: {
            bytes: expected.bytes,
            error: () => new AppError('CHECKSUM', `${label} is larger than the ${expected.bytes} bytes its manifest records: it is not the object that was backed up`),
          },
        }),
  });
  // The stream that failed first is the cause: pipeline then destroys the others with its error,
  // so the source also reports a failure that began further down.
  let sourceError: unknown;
  let downstreamFailed = false;
  source.once('error', (error) => {
    if (!downstreamFailed) sourceError = error;
  });
  // A short read is the source ending early, never a failure further down that stopped reading.
  let sourceEnded = false;
  source.once('end', () => (sourceEnded = true));
  const sink = new FsSink(dir, { label, ...(options.asRoot === undefined ? {} : { asRoot: options.asRoot }) });
  const short = (): boolean => sourceEnded && options.announcedBytes !== undefined && digest.received < options.announcedBytes;
  try {
    const streams = [source, digest, decompressor(compression), new TarReader(sink, label)] as const;
    for (const stream of streams.slice(1)) {
      stream.once('error', () => {
        if (sourceError === undefined) downstreamFailed = true;
      });
    }
    if (options.signal === undefined) await pipeline(...streams);
    else await pipeline(...streams, { signal: options.signal });
  } catch (error) {
    sink.abort();
    if (options.signal?.aborted === true) throw options.signal.reason instanceof Error ? options.signal.reason : new AppError('CANCELLED', 'cancelled');
    if (sourceError !== undefined) {
      if (sourceError instanceof AppError) throw sourceError;
      throw new AppError('UNAVAILABLE', `reading ${label} failed after ${digest.bytes} bytes: ${errorMessage(sourceError)}`, { cause: sourceError });
    }
    if (error instanceof AppError) throw error;
    if (short()) throw new AppError('UNAVAILABLE', `reading ${label} stopped after ${digest.received} of ${options.announcedBytes} bytes`, { cause: error });
    if (isDecompressionError(error)) throw new AppError('CHECKSUM', `${label} is not a valid ${compression} stream (${errorMessage(error)}): it is corrupt or truncated`, { cause: error });
    throw fromSystemError(error, `restoring from ${label}`);
  }
  if (expected !== undefined && digest.bytes !== expected.bytes) {
    if (short()) throw new AppError('UNAVAILABLE', `reading ${label} stopped after ${digest.received} of ${options.announcedBytes} bytes`);
    throw new AppError('CHECKSUM', `${label} has ${digest.bytes} bytes where its manifest records ${expected.bytes}: it is truncated or was replaced`);
  }
  if (expected !== undefined && digest.sha256 !== expected.sha256) {
    throw new AppError('CHECKSUM', `${label} has sha256 ${digest.sha256} where its manifest records ${expected.sha256}: it is corrupt`);
  }
  if (!sink.finished) throw new AppError('CHECKSUM', `${label} has no end-of-archive marker: it is truncated`);
  return { bytes: digest.bytes, sha256: digest.sha256, stats: sink.stats };
}
