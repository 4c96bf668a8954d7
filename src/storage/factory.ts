import { AppError } from '../shared/index.js';
import { createFsStore } from './fs-store.js';
import { createAzureStore, type AzureAuth } from './azure-store.js';
import { createS3Store } from './s3-store.js';
import type { BlobStore, StorageKind } from './types.js';

/** Agent-level tuning of transfers (environment, not plan parameters). */
export interface TransferSettings {
  s3PartSizeMb: number;
  s3QueueSize: number;
  azureBlockSizeMb: number;
  azureConcurrency: number;
}

export const DEFAULT_TRANSFER_SETTINGS: TransferSettings = { s3PartSizeMb: 5, s3QueueSize: 4, azureBlockSizeMb: 4, azureConcurrency: 4 };

/** The plan parameter that holds the key prefix for each kind of storage. */
export const PREFIX_PARAMETER: Record<StorageKind, string> = { s3: 'S3_PREFIX', azure: 'AZURE_BLOB_PREFIX', fs: 'FS_PREFIX' };

const given = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

/** A shared key when AZURE_STORAGE_KEY is given, otherwise the service principal (CLIENT_ID, TENANT_ID, CLIENT_SECRET). */
export function azureAuth(values: Record<string, string>): AzureAuth {
  const key = given(values['AZURE_STORAGE_KEY']);
  if (key !== undefined) return { kind: 'sharedKey', key };
  const [clientId, tenantId, clientSecret] = [given(values['CLIENT_ID']), given(values['TENANT_ID']), given(values['CLIENT_SECRET'])];
  if (clientId === undefined || tenantId === undefined || clientSecret === undefined) {
    throw new AppError('CONFIG', 'Azure needs AZURE_STORAGE_KEY, or CLIENT_ID, TENANT_ID and CLIENT_SECRET');
  }
  return { kind: 'servicePrincipal', clientId, tenantId, clientSecret, authorityHost: given(values['AZURE_AUTHORITY_HOST']) };
}

function need(values: Record<string, string>, names: string[]): void {
  const missing = names.filter((name) => values[name] === undefined || values[name] === '');
  if (missing.length > 0) throw new AppError('CONFIG', `missing parameters for storage: ${missing.join(', ')}`);
}

/** Builds the store a plan's parameters describe. `values` holds parameters and secrets together. */
export function createBlobStore(kind: StorageKind, values: Record<string, string>, settings: TransferSettings = DEFAULT_TRANSFER_SETTINGS): BlobStore {
  switch (kind) {
    case 's3':
      need(values, ['AWS_REGION', 'S3_BUCKET_NAME', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
      return createS3Store({
        bucket: values['S3_BUCKET_NAME'] ?? '',
        region: values['AWS_REGION'] ?? '',
        endpoint: values['S3_ENDPOINT_URL'] === '' ? undefined : values['S3_ENDPOINT_URL'],
        accessKeyId: values['AWS_ACCESS_KEY_ID'] ?? '',
        secretAccessKey: values['AWS_SECRET_ACCESS_KEY'] ?? '',
        sessionToken: values['AWS_SESSION_TOKEN'] === '' ? undefined : values['AWS_SESSION_TOKEN'],
        partSizeMb: settings.s3PartSizeMb,
        queueSize: settings.s3QueueSize,
      });
    case 'fs':
      need(values, ['FS_ROOT']);
      return createFsStore(values['FS_ROOT'] ?? '');
    case 'azure': {
      need(values, ['AZURE_STORAGE_ACCOUNT', 'CONTAINER_NAME']);
      const account = values['AZURE_STORAGE_ACCOUNT'] ?? '';
      return createAzureStore({
        account,
        container: values['CONTAINER_NAME'] ?? '',
        endpoint: given(values['AZURE_BLOB_ENDPOINT']),
        auth: azureAuth(values),
        blockSizeMb: settings.azureBlockSizeMb,
        concurrency: settings.azureConcurrency,
      });
    }
  }
}
