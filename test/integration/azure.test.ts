import { createAzureStore } from '../../src/storage/index.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite } from '../helpers/azure.js';
import { restoreSuite } from '../helpers/restore-suite.js';
import { roundTripSuite, type StorageUnderTest } from '../helpers/roundtrip-suite.js';

const azure: StorageUnderTest = {
  name: 'azure',
  prefixParameter: 'AZURE_PREFIX',
  endpointParameter: 'AZURE_BLOB_ENDPOINT',
  async start() {
    const server = await startAzurite(['backups']);
    const wrongKey = Buffer.from('a wrong key that is long enough to look real').toString('base64');
    return {
      parameters: server.parameters,
      store: () => createAzureStore({ account: AZURITE_ACCOUNT, container: server.container, endpoint: server.endpoint, auth: { kind: 'sharedKey', key: AZURITE_KEY } }),
      url: 'azure://backups',
      locationParameters: { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, CONTAINER_NAME: 'backups', AZURE_BLOB_ENDPOINT: server.endpoint },
      wrongCredentials: {
        parameters: { AZURE_STORAGE_KEY: wrongKey },
        secrets: [wrongKey],
        message: /^Azure refused the credentials for backups\/svc\/denied\/manifest\.json \(\w+\): check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY$/,
      },
      missingLocation: {
        parameters: { CONTAINER_NAME: 'no-such-container' },
        message: `container no-such-container does not exist in account ${AZURITE_ACCOUNT} at ${server.endpoint}`,
      },
      stop: () => server.stop(),
    };
  },
};

roundTripSuite(azure);
restoreSuite(azure);
