import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable, Transform } from 'node:stream';
import { AppError } from '../shared/index.js';
import { nullIfMissing, type BlobInfo, type BlobStore } from './types.js';

export interface S3StoreOptions {
  bucket: string;
  region: string;
  /** Any S3-compatible endpoint; path-style addressing is used with it. */
  endpoint?: string | undefined;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  /** Multipart part size. Memory held by an upload is about 2 × partSizeMb × queueSize. @defaultValue 5 */
  partSizeMb?: number;
  /** Parts in flight at once. @defaultValue 4 */
  queueSize?: number;
}

const MiB = 1024 * 1024;
const AUTH_ERRORS = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken', 'InvalidToken', 'TokenRefreshRequired', 'AuthorizationHeaderMalformed', 'InvalidClientTokenId']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

/** Maps an SDK error once: never echoes credentials, says what to check, and whether a retry may help. */
export function mapS3Error(error: unknown, where: string, endpoint: string): AppError {
  if (error instanceof AppError) return error;
  const e = (error ?? {}) as SdkError;
  const status = e.$metadata?.httpStatusCode;
  // Responses without a body (HEAD) leave the SDK without an error code.
  const name = e.name === undefined || e.name === 'Unknown' ? (status === undefined ? 'Error' : `HTTP ${status}`) : e.name;
  const code = e.code ?? (e.cause as SdkError | undefined)?.code;
  if (name === 'AbortError') return new AppError('CANCELLED', `${where}: cancelled`, { cause: error });
  if (AUTH_ERRORS.has(name) || status === 403) {
    return new AppError('AUTH', `S3 refused the credentials for ${where} (${name}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket policy`, { cause: error });
  }
  if (name === 'NoSuchBucket') return new AppError('CONFIG', `bucket ${where.split('/')[0] ?? where} does not exist at ${endpoint}`, { cause: error });
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformedRegion') {
    return new AppError('CONFIG', `${where}: the bucket is in another region than AWS_REGION`, { cause: error });
  }
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return new AppError('NOT_FOUND', `${where} does not exist`, { cause: error });
  if ((code !== undefined && NETWORK_CODES.has(code)) || name === 'TimeoutError' || name === 'RequestTimeout') {
    return new AppError('UNAVAILABLE', `cannot reach S3 at ${endpoint} for ${where}: ${code ?? name}`, { retryable: true, cause: error });
  }
  if (status !== undefined && status >= 400 && status < 500 && name !== 'SlowDown' && status !== 429) {
    return new AppError('CONFIG', `S3 rejected ${where}: ${name}${e.message === undefined || e.message === name ? '' : `: ${e.message}`}`, { cause: error });
  }
  return new AppError('UNAVAILABLE', `S3 failed on ${where}: ${name}${status === undefined ? '' : ` (HTTP ${status})`}`, { retryable: true, cause: error });
}

export function createS3Store(options: S3StoreOptions): BlobStore {
  const endpoint = options.endpoint ?? `https://s3.${options.region}.amazonaws.com`;
  const custom = options.endpoint !== undefined;
  const client = new S3Client({
    region: options.region,
    ...(custom ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    credentials: {
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      ...(options.sessionToken === undefined ? {} : { sessionToken: options.sessionToken }),
    },
    maxAttempts: 3,
    followRegionRedirects: !custom,
    // S3-compatible stores often lack the newer flexible checksums; drplan checks sha256 end to end.
    ...(custom ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
    requestHandler: { connectionTimeout: 10_000 },
  });
  const Bucket = options.bucket;
  const where = (key: string): string => `${Bucket}/${key}`;
  const fail = (error: unknown, key: string): AppError => mapS3Error(error, where(key), endpoint);

  /** Multipart uploads of `key` left by a writer that died (a killed agent): nothing else writes it. */
  async function abortLeftovers(key: string): Promise<void> {
    try {
      const page = await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: key }));
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === key && upload.UploadId !== undefined) {
          await client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: upload.UploadId }));
        }
      }
    } catch {
      // Best effort: some stores cannot list uploads and some policies forbid it; a bucket lifecycle
      // rule (AbortIncompleteMultipartUpload) cleans up there. The upload itself reports real problems.
    }
  }

  return {
    kind: 's3',
    location: Bucket,
    async put(key, body, putOptions = {}) {
      if (!Buffer.isBuffer(body)) await abortLeftovers(key);
      let bytes = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          putOptions.onProgress?.(bytes);
          done(null, chunk);
        },
      });
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      let sourceError: unknown;
      source.on('error', (error) => {
        sourceError = error;
        counter.destroy(error);
      });
      const upload = new Upload({
        client,
        params: { Bucket, Key: key, Body: source.pipe(counter), ContentType: putOptions.contentType ?? 'application/octet-stream' },
        partSize: Math.max(5, options.partSizeMb ?? 5) * MiB,
        queueSize: options.queueSize ?? 4,
        leavePartsOnError: false,
      });
      const onAbort = (): void => {
        source.destroy();
        void upload.abort();
      };
      putOptions.signal?.addEventListener('abort', onAbort, { once: true });
      if (putOptions.signal?.aborted === true) onAbort();
      try {
        await upload.done();
        return { bytes };
      } catch (error) {
        // A cancelled upload rejects at once while parts may still be in flight: abort the
        // multipart upload here too, so nothing half-written stays behind.
        const uploadId = (upload as unknown as { uploadId?: string }).uploadId;
        if (uploadId !== undefined) {
          await client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
        }
        if (putOptions.signal?.aborted === true) throw new AppError('CANCELLED', `upload of ${where(key)} cancelled`, { cause: error });
        if (sourceError !== undefined) {
          throw sourceError instanceof AppError
            ? sourceError
            : new AppError('UNAVAILABLE', `reading the data for ${where(key)} failed: ${(sourceError as Error).message}`, { retryable: true, cause: sourceError });
        }
        throw fail(error, key);
      } finally {
        putOptions.signal?.removeEventListener('abort', onAbort);
      }
    },
    async get(key, getOptions = {}) {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket, Key: key }), getOptions.signal === undefined ? {} : { abortSignal: getOptions.signal });
        if (!(response.Body instanceof Readable)) throw new AppError('INTERNAL', `S3 returned no stream for ${where(key)}`);
        return { body: response.Body, bytes: response.ContentLength ?? 0 };
      } catch (error) {
        throw fail(error, key);
      }
    },
    head: (key) =>
      nullIfMissing(
        async () => ({ key, bytes: (await client.send(new HeadObjectCommand({ Bucket, Key: key }))).ContentLength ?? 0 }),
        (error) => fail(error, key),
      ),
    async list(prefix) {
      const out: BlobInfo[] = [];
      let token: string | undefined;
      try {
        do {
          const page = await client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken: token }));
          for (const item of page.Contents ?? []) if (item.Key !== undefined) out.push({ key: item.Key, bytes: item.Size ?? 0 });
          token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
        } while (token !== undefined);
      } catch (error) {
        throw fail(error, prefix);
      }
      return out;
    },
    async delete(key) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket, Key: key }));
      } catch (error) {
        throw fail(error, key);
      }
    },
    close() {
      client.destroy();
    },
  };
}
