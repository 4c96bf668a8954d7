import { createS3Store } from '../../src/storage/index.js';
import { roundTripSuite } from '../helpers/roundtrip-suite.js';
import { startS3 } from '../helpers/s3.js';

roundTripSuite({
  name: 's3',
  prefixParameter: 'S3_PREFIX',
  async start() {
    const s3 = await startS3(['backups']);
    const secret = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYzzzSECRET';
    return {
      parameters: s3.parameters,
      store: () => createS3Store({ bucket: s3.bucket, region: 'us-east-1', endpoint: s3.endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }),
      url: 's3://backups',
      // s3rver checks the access key id only; both are secret parameters and must never show.
      wrongCredentials: {
        parameters: { AWS_ACCESS_KEY_ID: 'AKIAWRONGKEY', AWS_SECRET_ACCESS_KEY: secret },
        secrets: ['AKIAWRONGKEY', secret],
        message: /^S3 refused the credentials for backups\/svc\/denied\/manifest\.json \(InvalidAccessKeyId\): check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket policy$/,
      },
      missingLocation: { parameters: { S3_BUCKET_NAME: 'no-such-bucket' }, message: `bucket no-such-bucket does not exist at ${s3.endpoint}` },
      pending: () => s3.pendingUploads(),
      stop: () => s3.stop(),
    };
  },
});
