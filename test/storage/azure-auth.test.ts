import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { azureAuth } from '../../src/storage/index.js';

describe('Azure authentication from plan parameters', () => {
  it('uses the shared key when there is one', () => {
    assert.deepEqual(azureAuth({ AZURE_STORAGE_KEY: 'k', CLIENT_ID: 'c' }), { kind: 'sharedKey', key: 'k' });
  });

  it('otherwise builds the service principal, with the authority host when given', () => {
    assert.deepEqual(azureAuth({ CLIENT_ID: 'c', TENANT_ID: 't', CLIENT_SECRET: 's', AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.us' }), {
      kind: 'servicePrincipal',
      clientId: 'c',
      tenantId: 't',
      clientSecret: 's',
      authorityHost: 'https://login.microsoftonline.us',
    });
    assert.equal(azureAuth({ CLIENT_ID: 'c', TENANT_ID: 't', CLIENT_SECRET: 's', AZURE_STORAGE_KEY: '' }).kind, 'servicePrincipal', 'an empty key is no key');
  });

  it('says what is missing from a service principal given in part', () => {
    assert.throws(() => azureAuth({ CLIENT_ID: 'c', TENANT_ID: 't' }), /^AppError: an Azure service principal needs CLIENT_ID, TENANT_ID, CLIENT_SECRET together: CLIENT_SECRET missing$/);
  });

  it('without a key or a service principal, uses DefaultAzureCredential', () => {
    assert.deepEqual(azureAuth({}), { kind: 'default' });
    assert.deepEqual(azureAuth({ AZURE_STORAGE_KEY: '', CLIENT_ID: '' }), { kind: 'default' });
  });
});
