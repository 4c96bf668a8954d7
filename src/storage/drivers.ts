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
  /** The service's name for this location (its YAML `locations:` entry), when it has one. */
  locationName?: string;
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
  /** Every parameter that says where (not how to authenticate): what `LOCATION` stands in for. */
  readonly whereParameters: readonly string[];
  /**
   * What is wrong with the credentials a start gives (`has` says which parameters are there), by
   * parameter: a group given in part, or the agent's own identity sent where the request says.
   */
  credentialProblems(has: (name: string) => boolean): Array<{ parameter: string; message: string }>;
}

const given = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

function need(values: Readonly<Record<string, string>>, names: string[]): void {
  const missing = names.filter((name) => given(values[name]) === undefined);
  if (missing.length > 0) throw new AppError('CONFIG', `missing parameters for storage: ${missing.join(', ')}`);
}

const prefixOf = (value: string | undefined): string => (value ?? '').replace(/^\/+|\/+$/g, '');

/** Names that only work together: some given and others not is a mistake, never the default chain. */
function together(values: Readonly<Record<string, string>>, names: string[], what: string): boolean {
  const present = names.filter((name) => given(values[name]) !== undefined);
  if (present.length > 0 && present.length < names.length) {
    throw new AppError('CONFIG', `${what} needs ${names.join(', ')} together: ${names.filter((n) => !present.includes(n)).join(', ')} missing`);
  }
  return present.length === names.length;
}

/**
 * A shared key when AZURE_STORAGE_KEY is given, the service principal when CLIENT_ID, TENANT_ID
 * and CLIENT_SECRET are, and otherwise DefaultAzureCredential (environment, workload identity,
 * managed identity, Azure CLI) in the process that runs the step.
 */
export function azureAuth(values: Readonly<Record<string, string>>): AzureAuth {
  const key = given(values['AZURE_STORAGE_KEY']);
  if (key !== undefined) return { kind: 'sharedKey', key };
  if (together(values, ['CLIENT_ID', 'TENANT_ID', 'CLIENT_SECRET'], 'an Azure service principal')) {
    return { kind: 'servicePrincipal', clientId: values['CLIENT_ID'] ?? '', tenantId: values['TENANT_ID'] ?? '', clientSecret: values['CLIENT_SECRET'] ?? '', authorityHost: given(values['AZURE_AUTHORITY_HOST']) };
  }
  return { kind: 'default' };
}

export const AMBIENT_ENDPOINT =
  "AZURE_BLOB_ENDPOINT without AZURE_STORAGE_KEY or a service principal would send this agent's own Azure token there: give credentials, or declare the endpoint in a location of the service";

/** Credential parameters of a group given in part (an access key id without its secret). */
function partialGroups(groups: ReadonlyArray<readonly string[]>, has: (name: string) => boolean): Array<{ parameter: string; message: string }> {
  return groups.flatMap((group) => {
    const present = group.filter(has);
    if (present.length === 0 || present.length === group.length) return [];
    return group.filter((name) => !has(name)).map((parameter) => ({ parameter, message: `is needed with ${present.join(', ')}: give ${group.join(', ')} together, or none of them for the default credential chain` }));
  });
}

/** The parameters that name a location: with `LOCATION`, the service's name for it and nothing else. */
function naming(location: Location, explicit: Record<string, string>): Record<string, string> {
  return location.locationName === undefined ? explicit : { LOCATION: location.locationName };
}

const s3: StorageDriver = {
  kind: 's3',
  whereParameters: ['S3_BUCKET_NAME', 'AWS_REGION', 'S3_ENDPOINT_URL', 'S3_PREFIX'],
  credentialProblems: (has) => partialGroups([['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']], has),
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
    // Without keys, the AWS SDK's default chain of this process: environment, shared config and
    // credentials files, web identity, container and instance metadata.
    const keys = together(values, ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'], 'an AWS access key')
      ? { accessKeyId: values['AWS_ACCESS_KEY_ID'] ?? '', secretAccessKey: values['AWS_SECRET_ACCESS_KEY'] ?? '', sessionToken: given(values['AWS_SESSION_TOKEN']) }
      : undefined;
    return createS3Store({
      bucket: location.name,
      region: location.region ?? '',
      endpoint: location.endpoint ?? undefined,
      credentials: keys,
      partSizeMb: settings.s3PartSizeMb,
      queueSize: settings.s3QueueSize,
      timeoutMs: settings.timeoutMs,
    });
  },
  parameters: (location) =>
    naming(location, {
      S3_BUCKET_NAME: location.name,
      AWS_REGION: location.region ?? '',
      ...(location.endpoint === null ? {} : { S3_ENDPOINT_URL: location.endpoint }),
      ...(location.prefix === '' ? {} : { S3_PREFIX: location.prefix }),
    }),
};

const azure: StorageDriver = {
  kind: 'azure',
  whereParameters: ['AZURE_STORAGE_ACCOUNT', 'CONTAINER_NAME', 'AZURE_BLOB_ENDPOINT', 'AZURE_PREFIX', 'AZURE_BLOB_PREFIX'],
  credentialProblems: (has) =>
    !has('LOCATION') && has('AZURE_BLOB_ENDPOINT') && ['AZURE_STORAGE_KEY', 'CLIENT_ID', 'TENANT_ID', 'CLIENT_SECRET'].every((name) => !has(name))
      ? [{ parameter: 'AZURE_BLOB_ENDPOINT', message: AMBIENT_ENDPOINT }]
      : partialGroups([['CLIENT_ID', 'TENANT_ID', 'CLIENT_SECRET']], has),
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
    const auth = azureAuth(values);
    // DefaultAzureCredential's tokens are good for every account the identity may reach: they go
    // only to the cloud's own endpoint, or to one the service's YAML declares, never to one a
    // start request names.
    if (auth.kind === 'default' && location.endpoint !== null && location.locationName === undefined) throw new AppError('CONFIG', AMBIENT_ENDPOINT);
    return createAzureStore({
      account: location.account ?? '',
      container: location.name,
      endpoint: location.endpoint ?? undefined,
      auth,
      blockSizeMb: settings.azureBlockSizeMb,
      concurrency: settings.azureConcurrency,
      timeoutMs: settings.timeoutMs,
    });
  },
  parameters: (location) =>
    naming(location, {
      AZURE_STORAGE_ACCOUNT: location.account ?? '',
      CONTAINER_NAME: location.name,
      ...(location.endpoint === null ? {} : { AZURE_BLOB_ENDPOINT: location.endpoint }),
      ...(location.prefix === '' ? {} : { AZURE_PREFIX: location.prefix }),
    }),
};

const fs: StorageDriver = {
  kind: 'fs',
  whereParameters: ['FS_ROOT', 'FS_PREFIX'],
  credentialProblems: () => [],
  locate(values) {
    need(values, ['FS_ROOT']);
    return { storage: 'fs', name: values['FS_ROOT'] ?? '', prefix: prefixOf(values['FS_PREFIX']), endpoint: null };
  },
  open: (location) => createFsStore(location.name),
  parameters: (location) => naming(location, { FS_ROOT: location.name, ...(location.prefix === '' ? {} : { FS_PREFIX: location.prefix }) }),
};

/** Every kind of storage drplan can use, by kind: nothing outside storage/ names one. */
export const STORAGE_DRIVERS: Readonly<Record<StorageKind, StorageDriver>> = { s3, azure, fs };

export function storageDriver(kind: string): StorageDriver {
  const driver = (STORAGE_DRIVERS as Record<string, StorageDriver | undefined>)[kind];
  if (driver === undefined) throw new AppError('CONFIG', `no storage of kind '${kind}' (known: ${Object.keys(STORAGE_DRIVERS).join(', ')})`);
  return driver;
}
