import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const deflate = promisify(gzip);

export interface ParallelGzipOptions {
  /** gzip level, 1 to 9. */
  level: number;
  /** Bytes per gzip member. @defaultValue 1 MiB */
  blockBytes?: number;
  /** Members compressed at once on the thread pool. @defaultValue 2 */
  parallel?: number;
}

/**
 * gzip on several cores, the way pigz does: the input is cut into blocks, each compressed as its
 * own gzip member on the thread pool, and the members are written in order. Concatenated members
 * are one valid gzip stream (RFC 1952) that any gunzip reads. Memory stays at about
 * blockBytes × (parallel + 1), and a full pipeline pushes back on the writer.
 */
export function parallelGzip(options: ParallelGzipOptions): Transform {
  const block = options.blockBytes ?? 1024 * 1024;
  const parallel = Math.max(1, options.parallel ?? 2);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let members = 0;
  const inflight: Array<Promise<Buffer>> = [];

  const drainTo = async (stream: Transform, limit: number): Promise<void> => {
    while (inflight.length > limit) {
      const next = inflight.shift();
      if (next !== undefined) stream.push(await next);
    }
  };
  const compress = (data: Buffer): void => {
    members += 1;
    const job = deflate(data, { level: options.level });
    job.catch(() => undefined); // awaited in order by drainTo; this only keeps an early failure from being unhandled
    inflight.push(job);
  };

  return new Transform({
    // One block queued on each side, whatever the runtime's default (Node 22 raised it to 64 KiB).
    highWaterMark: block,
    transform(this: Transform, chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      const work = async (): Promise<void> => {
        if (pendingBytes < block) return;
        let all = Buffer.concat(pending, pendingBytes);
        while (all.length >= block) {
          compress(all.subarray(0, block));
          all = all.subarray(block);
          await drainTo(this, parallel - 1);
        }
        pending = all.length > 0 ? [all] : [];
        pendingBytes = all.length;
      };
      work().then(() => done(), done);
    },
    flush(this: Transform, done: TransformCallback) {
      // No input still makes one (empty) member: zero bytes are not a gzip stream.
      if (pendingBytes > 0 || members === 0) compress(Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
      drainTo(this, 0).then(() => done(), done);
    },
  });
}
