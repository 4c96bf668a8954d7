export type { BlobStore, BlobInfo, PutOptions, StorageKind } from './types.js';
export { createFsStore } from './fs-store.js';
export { createS3Store, mapS3Error, type S3StoreOptions } from './s3-store.js';
export { createBlobStore, azureAuth, DEFAULT_TRANSFER_SETTINGS, PREFIX_PARAMETER, type TransferSettings } from './factory.js';
export { createAzureStore, mapAzureError, type AzureStoreOptions, type AzureAuth } from './azure-store.js';
