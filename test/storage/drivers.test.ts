import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/shared/index.js';
import { storageDriver } from '../../src/storage/index.js';

describe('storage drivers', () => {
  it('name a location from plan parameters, and give back the parameters that name it', () => {
    const s3 = storageDriver('s3');
    const location = s3.locate({ S3_BUCKET_NAME: 'backups', AWS_REGION: 'eu-west-1', S3_PREFIX: '/prod/db/', S3_ENDPOINT_URL: 'http://127.0.0.1:9000' });
    assert.deepEqual(location, { storage: 's3', name: 'backups', prefix: 'prod/db', endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1' });
    assert.deepEqual(s3.parameters(location), { S3_BUCKET_NAME: 'backups', AWS_REGION: 'eu-west-1', S3_ENDPOINT_URL: 'http://127.0.0.1:9000', S3_PREFIX: 'prod/db' });
  });

  it('take the Azure prefix as AZURE_PREFIX, or by its former name AZURE_BLOB_PREFIX', () => {
    const azure = storageDriver('azure');
    const base = { AZURE_STORAGE_ACCOUNT: 'acct', CONTAINER_NAME: 'c' };
    assert.equal(azure.locate({ ...base, AZURE_PREFIX: 'new' }).prefix, 'new');
    assert.equal(azure.locate({ ...base, AZURE_BLOB_PREFIX: 'old' }).prefix, 'old');
    assert.equal(azure.locate({ ...base, AZURE_PREFIX: 'new', AZURE_BLOB_PREFIX: 'old' }).prefix, 'new');
    assert.deepEqual(azure.parameters(azure.locate({ ...base, AZURE_BLOB_PREFIX: 'old' })), { ...base, AZURE_PREFIX: 'old' });
  });

  it('say which parameters are missing, and which kinds exist', () => {
    assert.throws(() => storageDriver('s3').locate({ S3_BUCKET_NAME: 'b' }), /^AppError: missing parameters for storage: AWS_REGION$/);
    const error = (() => {
      try {
        storageDriver('gcs');
      } catch (e) {
        return e;
      }
      return null;
    })();
    assert.ok(error instanceof AppError);
    assert.equal(error.message, "no storage of kind 'gcs' (known: s3, azure, fs)");
  });
});
