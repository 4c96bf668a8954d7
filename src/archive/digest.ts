import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

/** A pass-through that counts bytes and hashes them with sha256 as they flow. */
export class Digest extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');
  private hex: string | null = null;

  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.onBytes?.(this.bytes);
    done(null, chunk);
  }

  /** The sha256 of everything that passed, once the stream has ended. */
  get sha256(): string {
    this.hex ??= this.hash.digest('hex');
    return this.hex;
  }
}
