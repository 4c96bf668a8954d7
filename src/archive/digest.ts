import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export interface DigestOptions {
  /** Called with the running byte count. */
  onBytes?: (bytes: number) => void;
  /** Fail with this error as soon as more than `limit` bytes pass. */
  limit?: { bytes: number; error: () => Error };
  /** Count only, without hashing. @defaultValue true */
  hash?: boolean;
}

/** A pass-through that counts bytes and hashes them with sha256 as they flow. */
export class Digest extends Transform {
  /** Bytes that passed through (hashed and counted). */
  bytes = 0;
  /** Bytes written in, including those still waiting in the buffer. */
  received = 0;
  private readonly hash;
  private hex: string | null = null;

  constructor(private readonly options: DigestOptions = {}) {
    super({ highWaterMark: 256 * 1024 });
    this.hash = options.hash === false ? null : createHash('sha256');
  }

  override write(chunk: string | Uint8Array, callback?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: string | Uint8Array, encoding: BufferEncoding, callback?: (error: Error | null | undefined) => void): boolean;
  override write(chunk: string | Uint8Array, ...rest: unknown[]): boolean {
    this.received += chunk.length;
    return (super.write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.options.limit !== undefined && this.bytes > this.options.limit.bytes) {
      done(this.options.limit.error());
      return;
    }
    this.hash?.update(chunk);
    this.options.onBytes?.(this.bytes);
    done(null, chunk);
  }

  /** The sha256 of everything that passed, once the stream has ended. */
  get sha256(): string {
    this.hex ??= this.hash?.digest('hex') ?? '';
    return this.hex;
  }
}
