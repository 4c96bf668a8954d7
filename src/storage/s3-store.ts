import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { AppError } from '../shared/index.js';
import { nullIfMissing, type BlobInfo, type BlobStore } from './types.js';
import { counted, tag, DEFAULT_TIMEOUT_MS, timed, timeoutError, watchBody } from './watch.js';

export interface S3StoreOptions {
  bucket: string;
  region: string;
  /** Any S3-compatible endpoint; path-style addressing is used with it. */
  endpoint?: string | undefined;
  /** Static keys; undefined: the AWS SDK's default credential chain of this process. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | undefined;
  /** Multipart part size. Memory held by an upload is about 2 × partSizeMb × queueSize. @defaultValue 5 */
  partSizeMb?: number;
  /** Parts in flight at once. @defaultValue 4 */
  queueSize?: number;
  /** A request that gets no answer (no byte either way) for this long fails with TIMEOUT. @defaultValue 60000 */
  timeoutMs?: number;
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
  if (name === 'CredentialsProviderError') {
    return new AppError(
      'AUTH',
      `no AWS credentials for ${where}: the default chain of this process (environment, shared config files, web identity, instance metadata) found none (${(e.message ?? '').split('\n')[0]?.slice(0, 200)}); give AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name the variables that hold them in the location`,
      { cause: error },
    );
  }
  if (name === 'PreconditionFailed' || status === 412) return new AppError('CONFLICT', `${where} already exists`, { cause: error });
  if (AUTH_ERRORS.has(name) || status === 403) {
    return new AppError('AUTH', `S3 refused the credentials for ${where} (${name}): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket policy`, { cause: error });
  }
  if (name === 'NoSuchBucket') return new AppError('CONFIG', `bucket ${where.split('/')[0] ?? where} does not exist at ${endpoint}`, { cause: error });
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformedRegion') {
    return new AppError('CONFIG', `${where}: the bucket is in another region than AWS_REGION`, { cause: error });
  }
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return new AppError('NOT_FOUND', `${where} does not exist`, { cause: error });
  if (name === 'TimeoutError' || code === 'ETIMEDOUT') return new AppError('TIMEOUT', `S3 at ${endpoint} did not answer for ${where}`, { cause: error });
  if ((code !== undefined && NETWORK_CODES.has(code)) || name === 'RequestTimeout') {
    return new AppError('UNAVAILABLE', `cannot reach S3 at ${endpoint} for ${where}: ${code ?? name}`, { cause: error });
  }
  if (status !== undefined && status >= 400 && status < 500 && name !== 'SlowDown' && status !== 429) {
    return new AppError('CONFIG', `S3 rejected ${where}: ${name}${e.message === undefined || e.message === name ? '' : `: ${e.message}`}`, { cause: error });
  }
  return new AppError('UNAVAILABLE', `S3 failed on ${where}: ${name}${status === undefined ? '' : ` (HTTP ${status})`}`, { cause: error });
}

export function createS3Store(options: S3StoreOptions): BlobStore {
  const endpoint = options.endpoint ?? `https://s3.${options.region}.amazonaws.com`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const custom = options.endpoint !== undefined;
  const client = new S3Client({
    region: options.region,
    ...(custom ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    ...(options.credentials === undefined
      ? {}
      : {
          credentials: {
            accessKeyId: options.credentials.accessKeyId,
            secretAccessKey: options.credentials.secretAccessKey,
            ...(options.credentials.sessionToken === undefined ? {} : { sessionToken: options.credentials.sessionToken }),
          },
        }),
    maxAttempts: 3,
    followRegionRedirects: !custom,
    // S3-compatible stores often lack the newer flexible checksums; drplan checks sha256 end to end.
    ...(custom ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
    // socketTimeout: a connection that stays silent this long is dropped (a hung server fails, it never hangs a step).
    requestHandler: { connectionTimeout: Math.min(10_000, timeoutMs), socketTimeout: timeoutMs },
  });
  const Bucket = options.bucket;
  const where = (key: string): string => `${Bucket}/${key}`;
  const fail = (error: unknown, key: string): AppError => mapS3Error(error, where(key), endpoint);
  /** One request under the store's timeout, cancelled with the caller's signal. */
  const request = <T>(key: string, signal: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> =>
    timed(`S3 at ${endpoint} for ${where(key)}`, timeoutMs, signal, run, (error) => fail(error, key));

  /** A create-only write checks first too: S3-compatible stores that ignore If-None-Match still refuse. */
  async function refuseExisting(key: string, signal: AbortSignal | undefined): Promise<void> {
    const exists = await request(key, signal, (abortSignal) => client.send(new HeadObjectCommand({ Bucket, Key: key }), { abortSignal })).then(
      () => true,
      (error: unknown) => {
        if (error instanceof AppError && error.code === 'NOT_FOUND') return false;
        throw error;
      },
    );
    if (exists) throw new AppError('CONFLICT', `${where(key)} already exists`);
  }

  /** Multipart uploads of `key` left by a writer that died (a killed agent): nothing else writes it. */
  async function abortLeftovers(key: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      const page = await request(key, signal, (abortSignal) => client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: key }), { abortSignal }));
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === key && upload.UploadId !== undefined) {
          const UploadId = upload.UploadId;
          await request(key, signal, (abortSignal) => client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId }), { abortSignal }));
        }
      }
    } catch (error) {
      if (error instanceof AppError && (error.code === 'CANCELLED' || error.code === 'TIMEOUT')) throw error;
      // Best effort: some stores cannot list uploads and some policies forbid it; a bucket lifecycle
      // rule (AbortIncompleteMultipartUpload) cleans up there. The upload itself reports real problems.
    }
  }

  return {
    kind: 's3',
    location: Bucket,
    url: `s3://${Bucket}`,
    async put(key, body, putOptions = {}) {
      const ContentType = putOptions.contentType ?? 'application/octet-stream';
      if (Buffer.isBuffer(body)) {
        // Small objects (manifests) in one request, conditional when asked: S3 answers 412 to
        // If-None-Match: * when the key exists. S3-compatible stores that ignore the header still
        // get the check before the write.
        if (putOptions.create === true) await refuseExisting(key, putOptions.signal);
        const result = await request(key, putOptions.signal, (abortSignal) =>
          client.send(new PutObjectCommand({ Bucket, Key: key, Body: body, ContentType, Metadata: putOptions.metadata, ...(putOptions.create === true ? { IfNoneMatch: '*' } : {}) }), { abortSignal }),
        );
        putOptions.onProgress?.(body.length);
        return { bytes: body.length, etag: tag(result.ETag) };
      }
      if (putOptions.create === true) await refuseExisting(key, putOptions.signal);
      await abortLeftovers(key, putOptions.signal);
      let bytes = 0;
      const upload = new Upload({
        client,
        // IfNoneMatch goes with the completion (or the single put): the object appears only if no other writer's did.
        params: {
          Bucket,
          Key: key,
          Body: counted(body, (n) => ((bytes = n), putOptions.onProgress?.(n))),
          ContentType,
          Metadata: putOptions.metadata,
          ...(putOptions.create === true ? { IfNoneMatch: '*' } : {}),
        },
        partSize: Math.max(5, options.partSizeMb ?? 5) * MiB,
        queueSize: options.queueSize ?? 4,
        leavePartsOnError: false,
      });
      const onAbort = (): void => {
        body.destroy();
        void upload.abort();
      };
      putOptions.signal?.addEventListener('abort', onAbort, { once: true });
      if (putOptions.signal?.aborted === true) onAbort();
      let sourceError: unknown;
      body.once('error', (error) => (sourceError = error));
      try {
        const done = await upload.done();
        return { bytes, etag: tag(('ETag' in done ? done.ETag : undefined)) };
      } catch (error) {
        // A cancelled upload rejects at once while parts may still be in flight: abort the
        // multipart upload here too, so nothing half-written stays behind.
        const uploadId = (upload as unknown as { uploadId?: string }).uploadId;
        if (uploadId !== undefined) {
          await request(key, undefined, (abortSignal) => client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId }), { abortSignal })).catch(() => undefined);
        }
        if (putOptions.signal?.aborted === true) throw new AppError('CANCELLED', `upload of ${where(key)} cancelled`, { cause: error });
        if (sourceError !== undefined) {
          throw sourceError instanceof AppError
            ? sourceError
            : new AppError('INTERNAL', `reading the data for ${where(key)} failed: ${(sourceError as Error).message}`, { cause: sourceError });
        }
        if ((error as { name?: string }).name === 'TimeoutError') throw timeoutError(`S3 at ${endpoint} for ${where(key)}`, timeoutMs);
        throw fail(error, key);
      } finally {
        putOptions.signal?.removeEventListener('abort', onAbort);
      }
    },
    async get(key, getOptions = {}) {
      const response = await request(key, getOptions.signal, (abortSignal) => client.send(new GetObjectCommand({ Bucket, Key: key }), { abortSignal }));
      if (!(response.Body instanceof Readable)) throw new AppError('INTERNAL', `S3 returned no stream for ${where(key)}`);
      return {
        body: watchBody(response.Body, `${where(key)} from S3 at ${endpoint}`, timeoutMs, getOptions.signal),
        bytes: response.ContentLength ?? 0,
        etag: tag(response.ETag),
      };
    },
    head: (key, headOptions = {}) =>
      nullIfMissing(
        async () => {
          const found = await request(key, headOptions.signal, (abortSignal) => client.send(new HeadObjectCommand({ Bucket, Key: key }), { abortSignal }));
          return { key, bytes: found.ContentLength ?? 0, etag: tag(found.ETag), metadata: found.Metadata ?? {} };
        },
        (error) => (error instanceof AppError ? error : fail(error, key)),
      ),
    async list(prefix, listOptions = {}) {
      const out: BlobInfo[] = [];
      let token: string | undefined;
      do {
        const ContinuationToken = token;
        const page = await request(prefix, listOptions.signal, (abortSignal) =>
          client.send(new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken }), { abortSignal }),
        );
        for (const item of page.Contents ?? []) if (item.Key !== undefined) out.push({ key: item.Key, bytes: item.Size ?? 0, etag: tag(item.ETag) });
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return out;
    },
    async delete(key, deleteOptions = {}) {
      await request(key, deleteOptions.signal, (abortSignal) => client.send(new DeleteObjectCommand({ Bucket, Key: key }), { abortSignal }));
    },
    close() {
      client.destroy();
    },
  };
}
