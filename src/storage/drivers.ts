import { AppError } from '../shared/index.js';
import { createAzureStore, type AzureAuth } from './azure-store.js';
import { createFsStore } from './fs-store.js';
import { createS3Store } from './s3-store.js';
import type { BlobStore, StorageKind } from './types.js';
import { DEFAULT_TIMEOUT_MS } from './watch.js';

/** Agent-level tuning of transfers (environment, not plan parameters). */
export interface TransferSettings {
  s3PartSizeMb: number;
  s3QueueSize: number;
  azureBlockSizeMb: number;
  azureConcurrency: number;
  /** A storage request with no answer for this long fails with TIMEOUT. */
  timeoutMs: number;
}

export const DEFAULT_TRANSFER_SETTINGS: TransferSettings = { s3PartSizeMb: 5, s3QueueSize: 4, azureBlockSizeMb: 4, azureConcurrency: 4, timeoutMs: DEFAULT_TIMEOUT_MS };

/** Where snapshots live: a bucket, container or directory, and a prefix in it. Holds no secret. */
export interface Location {
  storage: StorageKind;
  /** The bucket, the container, or the directory. */
  name: string;
  /** Key prefix, without a trailing slash; '' for none. */
  prefix: string;
  endpoint: string | null;
  /** S3: the bucket's region. */
  region?: string;
  /** Azure: the storage account. */
  account?: string;
}

/** One kind of storage: which plan parameters name a location in it, and how to open it. */
export interface StorageDriver {
  readonly kind: StorageKind;
  /** The location the parameters name. @throws AppError CONFIG naming what is missing. */
  locate(values: Readonly<Record<string, string>>): Location;
  /** The store at `location`, with the credentials among `values` (parameters and secrets). */
  open(location: Location, values: Readonly<Record<string, string>>, settings: TransferSettings): BlobStore;
  /** The parameters that name `location` again, for a plan's start form. */
  parameters(location: Location): Record<string, string>;
}

const given = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

function need(values: Readonly<Record<string, string>>, names: string[]): void {
  const missing = names.filter((name) => given(values[name]) === undefined);
  if (missing.length > 0) throw new AppError('CONFIG', `missing parameters for storage: ${missing.join(', ')}`);
}

const prefixOf = (value: string | undefined): string => (value ?? '').replace(/^\/+|\/+$/g, '');

/** A shared key when AZURE_STORAGE_KEY is given, otherwise the service principal (CLIENT_ID, TENANT_ID, CLIENT_SECRET). */
export function azureAuth(values: Readonly<Record<string, string>>): AzureAuth {
  const key = given(values['AZURE_STORAGE_KEY']);
  if (key !== undefined) return { kind: 'sharedKey', key };
  const [clientId, tenantId, clientSecret] = [given(values['CLIENT_ID']), given(values['TENANT_ID']), given(values['CLIENT_SECRET'])];
  if (clientId === undefined || tenantId === undefined || clientSecret === undefined) {
    throw new AppError('CONFIG', 'Azure needs AZURE_STORAGE_KEY, or CLIENT_ID, TENANT_ID and CLIENT_SECRET');
  }
  return { kind: 'servicePrincipal', clientId, tenantId, clientSecret, authorityHost: given(values['AZURE_AUTHORITY_HOST']) };
}

const s3: StorageDriver = {
  kind: 's3',
  locate(values) {
    need(values, ['AWS_REGION', 'S3_BUCKET_NAME']);
    return {
      storage: 's3',
      name: values['S3_BUCKET_NAME'] ?? '',
      prefix: prefixOf(values['S3_PREFIX']),
      endpoint: given(values['S3_ENDPOINT_URL']) ?? null,
      region: values['AWS_REGION'] ?? '',
    };
  },
  open(location, values, settings) {
    need(values, ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
    return createS3Store({
      bucket: location.name,
      region: location.region ?? '',
      endpoint: location.endpoint ?? undefined,
      accessKeyId: values['AWS_ACCESS_KEY_ID'] ?? '',
      secretAccessKey: values['AWS_SECRET_ACCESS_KEY'] ?? '',
      sessionToken: given(values['AWS_SESSION_TOKEN']),
      partSizeMb: settings.s3PartSizeMb,
      queueSize: settings.s3QueueSize,
      timeoutMs: settings.timeoutMs,
    });
  },
  parameters: (location) => ({
    S3_BUCKET_NAME: location.name,
    AWS_REGION: location.region ?? '',
    ...(location.endpoint === null ? {} : { S3_ENDPOINT_URL: location.endpoint }),
    ...(location.prefix === '' ? {} : { S3_PREFIX: location.prefix }),
  }),
};

const azure: StorageDriver = {
  kind: 'azure',
  locate(values) {
    need(values, ['AZURE_STORAGE_ACCOUNT', 'CONTAINER_NAME']);
    const account = values['AZURE_STORAGE_ACCOUNT'] ?? '';
    return {
      storage: 'azure',
      name: values['CONTAINER_NAME'] ?? '',
      prefix: prefixOf(given(values['AZURE_PREFIX']) ?? values['AZURE_BLOB_PREFIX']),
      endpoint: given(values['AZURE_BLOB_ENDPOINT']) ?? null,
      account,
    };
  },
  open(location, values, settings) {
    return createAzureStore({
      account: location.account ?? '',
      container: location.name,
      endpoint: location.endpoint ?? undefined,
      auth: azureAuth(values),
      blockSizeMb: settings.azureBlockSizeMb,
      concurrency: settings.azureConcurrency,
      timeoutMs: settings.timeoutMs,
    });
  },
  parameters: (location) => ({
    AZURE_STORAGE_ACCOUNT: location.account ?? '',
    CONTAINER_NAME: location.name,
    ...(location.endpoint === null ? {} : { AZURE_BLOB_ENDPOINT: location.endpoint }),
    ...(location.prefix === '' ? {} : { AZURE_PREFIX: location.prefix }),
  }),
};

const fs: StorageDriver = {
  kind: 'fs',
  locate(values) {
    need(values, ['FS_ROOT']);
    return { storage: 'fs', name: values['FS_ROOT'] ?? '', prefix: prefixOf(values['FS_PREFIX']), endpoint: null };
  },
  open: (location) => createFsStore(location.name),
  parameters: (location) => ({ FS_ROOT: location.name, ...(location.prefix === '' ? {} : { FS_PREFIX: location.prefix }) }),
};

/** Every kind of storage drplan can use, by kind: nothing outside storage/ names one. */
export const STORAGE_DRIVERS: Readonly<Record<StorageKind, StorageDriver>> = { s3, azure, fs };

export function storageDriver(kind: string): StorageDriver {
  const driver = (STORAGE_DRIVERS as Record<string, StorageDriver | undefined>)[kind];
  if (driver === undefined) throw new AppError('CONFIG', `no storage of kind '${kind}' (known: ${Object.keys(STORAGE_DRIVERS).join(', ')})`);
  return driver;
}
