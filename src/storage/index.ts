export type { BlobStore, BlobInfo, PutOptions, RequestOptions, StorageKind } from './types.js';
export { createFsStore } from './fs-store.js';
export { createS3Store, mapS3Error, type S3StoreOptions } from './s3-store.js';
export { createAzureStore, mapAzureError, type AzureStoreOptions, type AzureAuth } from './azure-store.js';
export { STORAGE_DRIVERS, storageDriver, azureAuth, DEFAULT_TRANSFER_SETTINGS, type Location, type StorageDriver, type TransferSettings } from './drivers.js';
export { DEFAULT_TIMEOUT_MS } from './watch.js';
