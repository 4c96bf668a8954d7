import { ClientSecretCredential, DefaultAzureCredential } from '@azure/identity';
import { BlobServiceClient, RestError, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { Readable } from 'node:stream';
import { AppError } from '../shared/index.js';
import { nullIfMissing, type BlobInfo, type BlobStore } from './types.js';
import { counted, tag, deadline, DEFAULT_TIMEOUT_MS, timed, timeoutError, watchBody } from './watch.js';

export type AzureAuth =
  | { kind: 'sharedKey'; key: string }
  | { kind: 'servicePrincipal'; tenantId: string; clientId: string; clientSecret: string; authorityHost?: string | undefined }
  /** DefaultAzureCredential of this process: environment, workload identity, managed identity, Azure CLI. */
  | { kind: 'default' };

export interface AzureStoreOptions {
  account: string;
  container: string;
  /** For Azurite and sovereign clouds. @defaultValue https://<account>.blob.core.windows.net */
  endpoint?: string | undefined;
  auth: AzureAuth;
  /** Block size of streamed uploads; an upload holds about blockSizeMb × concurrency. @defaultValue 4 */
  blockSizeMb?: number;
  /** Blocks in flight. @defaultValue 4 */
  concurrency?: number;
  /** A request that gets no answer for this long fails with TIMEOUT. @defaultValue 60000 */
  timeoutMs?: number;
}

const MiB = 1024 * 1024;
const AUTH_CODES = new Set(['AuthenticationFailed', 'AuthorizationFailure', 'AuthorizationPermissionMismatch', 'AuthorizationSourceIPMismatch', 'InvalidAuthenticationInfo', 'AuthorizationProtocolMismatch']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'REQUEST_SEND_ERROR']);

function credentialsHint(auth: AzureAuth): string {
  if (auth.kind === 'sharedKey') return 'check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY';
  if (auth.kind === 'servicePrincipal') return 'check CLIENT_ID, TENANT_ID, CLIENT_SECRET and the role assignment on the container';
  return 'no AZURE_STORAGE_KEY or service principal was given, so DefaultAzureCredential of this process was used: give one, or check its identity and role assignment on the container';
}

/** Maps Azure SDK and identity errors once: clear, never the secret, and whether a retry may help. */
export function mapAzureError(error: unknown, where: string, options: Pick<AzureStoreOptions, 'auth' | 'account' | 'container'> & { endpoint: string }): AppError {
  if (error instanceof AppError) return error;
  const e = error as { name?: string; code?: string; statusCode?: number; message?: string; cause?: { code?: string } };
  const secret = options.auth.kind === 'sharedKey' ? options.auth.key : options.auth.kind === 'servicePrincipal' ? options.auth.clientSecret : '';
  const scrub = (text: string): string => (secret === '' ? text : text.split(secret).join('******'));
  if (e.name === 'AbortError') return new AppError('CANCELLED', `${where}: cancelled`, { cause: error });
  // @azure/identity (and MSAL under it): the token could not be had, whatever the reason.
  const identity = /^(Authentication\w*Error|AggregateAuthenticationError|CredentialUnavailableError|ClientAuthError|ServerError)$/.test(e.name ?? '');
  if (identity || /AADSTS\d+/.test(e.message ?? '')) {
    const first = scrub((e.message ?? '').split('\n')[0] ?? '').slice(0, 300);
    return new AppError('AUTH', `cannot get an Azure AD token for ${where} (${e.name}): ${first}; ${credentialsHint(options.auth)}`, { cause: error });
  }
  if (error instanceof RestError || e.statusCode !== undefined) {
    const status = e.statusCode ?? 0;
    const code = e.code ?? `HTTP ${status}`;
    if (AUTH_CODES.has(code) || status === 401 || status === 403) {
      return new AppError('AUTH', `Azure refused the credentials for ${where} (${code}): ${credentialsHint(options.auth)}`, { cause: error });
    }
    if (code === 'ContainerNotFound') return new AppError('CONFIG', `container ${options.container} does not exist in account ${options.account} at ${options.endpoint}`, { cause: error });
    if (code === 'BlobNotFound' || status === 404) return new AppError('NOT_FOUND', `${where} does not exist`, { cause: error });
    if (code === 'BlobAlreadyExists' || code === 'ConditionNotMet' || status === 409 || status === 412) return new AppError('CONFLICT', `${where} already exists`, { cause: error });
    if (status === 429 || status >= 500) return new AppError('UNAVAILABLE', `Azure failed on ${where}: ${code}`, { cause: error });
    if (NETWORK_CODES.has(code) || NETWORK_CODES.has(e.cause?.code ?? '')) {
      return new AppError('UNAVAILABLE', `cannot reach Azure Blob Storage at ${options.endpoint} for ${where}: ${e.cause?.code ?? code}`, { cause: error });
    }
    if (status >= 400) return new AppError('CONFIG', `Azure rejected ${where}: ${code}`, { cause: error });
  }
  const network = e.code ?? e.cause?.code;
  if (network !== undefined && NETWORK_CODES.has(network)) {
    return new AppError('UNAVAILABLE', `cannot reach Azure Blob Storage at ${options.endpoint} for ${where}: ${network}`, { cause: error });
  }
  return new AppError('UNAVAILABLE', `Azure failed on ${where}: ${scrub(e.message ?? String(error)).slice(0, 300)}`, { cause: error });
}

export function createAzureStore(options: AzureStoreOptions): BlobStore {
  const endpoint = options.endpoint ?? `https://${options.account}.blob.core.windows.net`;
  const auth = options.auth;
  const credential =
    auth.kind === 'sharedKey'
      ? new StorageSharedKeyCredential(options.account, auth.key)
      : auth.kind === 'servicePrincipal'
        ? new ClientSecretCredential(auth.tenantId, auth.clientId, auth.clientSecret, {
            // A sovereign cloud or private authority: no instance discovery against the public cloud.
            ...(auth.authorityHost === undefined ? {} : { authorityHost: auth.authorityHost, disableInstanceDiscovery: true }),
          })
        : new DefaultAzureCredential();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const service = new BlobServiceClient(endpoint, credential, { retryOptions: { maxTries: 3 } });
  const container: ContainerClient = service.getContainerClient(options.container);
  const where = (key: string): string => `${options.container}/${key}`;
  const fail = (error: unknown, key: string): AppError => mapAzureError(error, where(key), { ...options, endpoint });
  const what = (key: string): string => `Azure Blob Storage at ${endpoint} for ${where(key)}`;
  /** One request under the store's timeout, cancelled with the caller's signal. */
  const request = <T>(key: string, signal: AbortSignal | undefined, run: (abortSignal: AbortSignal, touch: () => void) => Promise<T>): Promise<T> =>
    timed(what(key), timeoutMs, signal, run, (error) => fail(error, key));

  return {
    kind: 'azure',
    location: options.container,
    url: `azure://${options.container}`,
    async put(key, body, putOptions = {}) {
      const blob = container.getBlockBlobClient(key);
      const headers = { blobHTTPHeaders: { blobContentType: putOptions.contentType ?? 'application/octet-stream' } };
      // Create-only: the blob appears only if none is there (If-None-Match on the upload, or on the commit of its blocks).
      const conditional = {
        ...(putOptions.create === true ? { conditions: { ifNoneMatch: '*' } } : {}),
        ...(putOptions.metadata === undefined ? {} : { metadata: putOptions.metadata }),
      };
      if (Buffer.isBuffer(body)) {
        const result = await request(key, putOptions.signal, (abortSignal) => blob.upload(body, body.length, { ...headers, ...conditional, abortSignal }));
        putOptions.onProgress?.(body.length);
        return { bytes: body.length, etag: tag(result.etag) };
      }
      if (putOptions.create === true) {
        // Checked first too, so a refused create does not upload every block before it is refused.
        const there = await request(key, putOptions.signal, (abortSignal) => container.getBlobClient(key).exists({ abortSignal }));
        if (there) throw new AppError('CONFLICT', `${where(key)} already exists`);
      }
      let bytes = 0;
      let sourceError: unknown;
      body.once('error', (error) => (sourceError = error));
      // The clock runs while neither the source is read nor a block is staged: a store that stops
      // taking blocks stops the reading too, and times out.
      const clock = deadline(timeoutMs, putOptions.signal);
      const source = counted(body, (n) => {
        bytes = n;
        clock.touch();
        putOptions.onProgress?.(n);
      });
      // The SDK waits on its source: a store that stopped answering must stop the source too.
      clock.signal.addEventListener('abort', () => source.destroy(clock.expired ? timeoutError(what(key), timeoutMs) : new AppError('CANCELLED', `upload of ${where(key)} cancelled`)), { once: true });
      try {
        // Blocks are staged, and the blob exists only once the block list is committed at the
        // end: a cancelled or failed upload leaves no blob behind.
        const result = await blob.uploadStream(
          source,
          (options.blockSizeMb ?? 4) * MiB,
          options.concurrency ?? 4,
          { ...headers, ...conditional, abortSignal: clock.signal, onProgress: () => clock.touch() },
        );
        return { bytes, etag: tag(result.etag) };
      } catch (error) {
        if (putOptions.signal?.aborted === true) throw new AppError('CANCELLED', `upload of ${where(key)} cancelled`, { cause: error });
        if (clock.expired) throw timeoutError(what(key), timeoutMs);
        if (sourceError !== undefined) {
          throw sourceError instanceof AppError
            ? sourceError
            : new AppError('INTERNAL', `reading the data for ${where(key)} failed: ${(sourceError as Error).message}`, { cause: sourceError });
        }
        throw fail(error, key);
      } finally {
        clock.clear();
      }
    },
    async get(key, getOptions = {}) {
      const response = await request(key, getOptions.signal, (abortSignal) => container.getBlobClient(key).download(0, undefined, { abortSignal }));
      const body = response.readableStreamBody;
      if (body === undefined) throw new AppError('INTERNAL', `Azure returned no stream for ${where(key)}`);
      const stream = body instanceof Readable ? body : Readable.from(body as AsyncIterable<Buffer>);
      return { body: watchBody(stream, `${where(key)} from Azure Blob Storage at ${endpoint}`, timeoutMs, getOptions.signal), bytes: response.contentLength ?? 0, etag: tag(response.etag) };
    },
    head: (key, headOptions = {}) =>
      nullIfMissing(
        async () => {
          const found = await request(key, headOptions.signal, (abortSignal) => container.getBlobClient(key).getProperties({ abortSignal }));
          return { key, bytes: found.contentLength ?? 0, etag: tag(found.etag), metadata: found.metadata ?? {} };
        },
        (error) => (error instanceof AppError ? error : fail(error, key)),
      ),
    async list(prefix, listOptions = {}) {
      return request(prefix, listOptions.signal, async (abortSignal, touch) => {
        const out: BlobInfo[] = [];
        for await (const blob of container.listBlobsFlat({ prefix, abortSignal })) {
          touch();
          out.push({ key: blob.name, bytes: blob.properties.contentLength ?? 0, etag: tag(blob.properties.etag) });
        }
        return out;
      });
    },
    async delete(key, deleteOptions = {}) {
      await request(key, deleteOptions.signal, (abortSignal) => container.getBlobClient(key).deleteIfExists({ abortSignal }));
    },
    close() {},
  };
}
