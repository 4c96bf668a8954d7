import { createS3Store } from '../../src/storage/index.js';
import { restoreSuite } from '../helpers/restore-suite.js';
import { roundTripSuite, type StorageUnderTest } from '../helpers/roundtrip-suite.js';
import { startS3 } from '../helpers/s3.js';

const s3: StorageUnderTest = {
  name: 's3',
  prefixParameter: 'S3_PREFIX',
  endpointParameter: 'S3_ENDPOINT_URL',
  async start() {
    const server = await startS3(['backups']);
    const secret = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYzzzSECRET';
    return {
      parameters: server.parameters,
      store: () => createS3Store({ bucket: server.bucket, region: 'us-east-1', endpoint: server.endpoint, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } }),
      url: 's3://backups',
      locationParameters: { S3_BUCKET_NAME: 'backups', AWS_REGION: 'us-east-1', S3_ENDPOINT_URL: server.endpoint },
      // s3rver checks the access key id only; both are secret parameters and must never show.
      wrongCredentials: {
        parameters: { AWS_ACCESS_KEY_ID: 'AKIAWRONGKEY', AWS_SECRET_ACCESS_KEY: secret },
        secrets: ['AKIAWRONGKEY', secret],
        message: /^S3 refused the credentials for backups\/svc\/denied\/manifest\.json \(InvalidAccessKeyId\): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket policy$/,
      },
      missingLocation: { parameters: { S3_BUCKET_NAME: 'no-such-bucket' }, message: `bucket no-such-bucket does not exist at ${server.endpoint}` },
      pending: () => server.pendingUploads(),
      stop: () => server.stop(),
    };
  },
};

roundTripSuite(s3);
restoreSuite(s3);
