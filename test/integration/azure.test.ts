import { createAzureStore } from '../../src/storage/index.js';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite } from '../helpers/azure.js';
import { roundTripSuite } from '../helpers/roundtrip-suite.js';

roundTripSuite({
  name: 'azure',
  prefixParameter: 'AZURE_BLOB_PREFIX',
  async start() {
    const azure = await startAzurite(['backups']);
    const wrongKey = Buffer.from('a wrong key that is long enough to look real').toString('base64');
    return {
      parameters: azure.parameters,
      store: () => createAzureStore({ account: AZURITE_ACCOUNT, container: azure.container, endpoint: azure.endpoint, auth: { kind: 'sharedKey', key: AZURITE_KEY } }),
      url: 'azure://backups',
      wrongCredentials: {
        parameters: { AZURE_STORAGE_KEY: wrongKey },
        secrets: [wrongKey],
        message: /^Azure refused the credentials for backups\/svc\/denied\/manifest\.json \(\w+\): check AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY$/,
      },
      missingLocation: {
        parameters: { CONTAINER_NAME: 'no-such-container' },
        message: `container no-such-container does not exist in account ${AZURITE_ACCOUNT} at ${azure.endpoint}`,
      },
      stop: () => azure.stop(),
    };
  },
});
