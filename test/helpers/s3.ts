import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import S3rver from 's3rver';
import { freePort } from './redis.js';
import { tempDir } from './tmp.js';

export interface S3Server {
  endpoint: string;
  bucket: string;
  directory: string;
  /** Parameters a plan needs to use this server (s3rver's fixed credentials). */
  parameters: Record<string, string>;
  /** Multipart uploads started and neither completed nor aborted. */
  pendingUploads(bucket?: string): string[];
  /** The file s3rver keeps an object's bytes in. */
  objectPath(key: string, bucket?: string): string;
  stop(): Promise<void>;
}

const uploadsDir = (directory: string, bucket: string): string => join(directory, bucket, '._S3rver_uploads');

/**
 * s3rver lacks AbortMultipartUpload and ListMultipartUploads. This adds both on top of its own
 * filesystem layout, so the client's abort really removes the parts, as on S3, and tests can
 * list what is left.
 */
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}

function multipartExtras(directory: string) {
  return async (ctx: KoaContext, next: () => Promise<void>): Promise<void> => {
    const [bucket, ...key] = ctx.path.split('/').filter((part) => part !== '');
    const uploadId = ctx.query['uploadId'];
    if (ctx.method === 'DELETE' && typeof uploadId === 'string' && bucket !== undefined && key.length > 0) {
      const dir = join(uploadsDir(directory, bucket), uploadId);
      if (!existsSync(dir)) {
        ctx.status = 404;
        ctx.type = 'application/xml';
        ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
        return;
      }
      rmSync(dir, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'GET' && 'uploads' in ctx.query && bucket !== undefined && key.length === 0) {
      const dir = uploadsDir(directory, bucket);
      const ids = existsSync(dir) ? readdirSync(dir) : [];
      const uploads = ids.map((id) => `<Upload><Key>${readFileSync(join(dir, id, 'key'), 'utf8')}</Key><UploadId>${id}</UploadId></Upload>`).join('');
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult><Bucket>${bucket}</Bucket>${uploads}</ListMultipartUploadsResult>`;
      return;
    }
    await next();
  };
}

/** A real S3-protocol server (s3rver) on a free loopback port, with buckets made up front. */
export async function startS3(buckets: string[] = ['backups']): Promise<S3Server> {
  const directory = tempDir('drplan-s3-');
  const port = await freePort();
  const server = new S3rver({ port, address: '127.0.0.1', directory, silent: true, configureBuckets: buckets.map((name) => ({ name, configs: [] })) });
  // Koa composes its middleware when it starts listening: insert ours right after s3rver's logger.
  (server as unknown as { middleware: unknown[] }).middleware.splice(1, 0, multipartExtras(directory));
  await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const bucket = buckets[0] ?? 'backups';
  return {
    endpoint,
    bucket,
    directory,
    parameters: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', S3_BUCKET_NAME: bucket, S3_ENDPOINT_URL: endpoint },
    pendingUploads: (name = bucket) => {
      const dir = uploadsDir(directory, name);
      return existsSync(dir) ? readdirSync(dir) : [];
    },
    objectPath: (key, name = bucket) => {
      const parts = key.split('/');
      const last = parts.pop() ?? '';
      return join(directory, name, ...parts, `${last}._S3rver_object`);
    },
    stop: () => server.close(),
  };
}
