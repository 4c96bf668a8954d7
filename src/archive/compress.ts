import { Duplex, pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { constants, createGunzip, createGzip, createZstdCompress, createZstdDecompress, type Gunzip, type Gzip, type ZstdCompress, type ZstdDecompress } from 'node:zlib';

/** How an archive is compressed: gzip (the DC/OS format, the default) or zstd. */
export type Compression = 'gzip' | 'zstd';

export const COMPRESSIONS: readonly Compression[] = ['gzip', 'zstd'];

const MiB = 1024 * 1024;

/** Output of the streaming decompressors: large, so each chunk is one thread-pool round trip. */
const STREAM_CHUNK = MiB;

/**
 * A block larger than this is not one this module wrote: its recorded sizes are not trusted with
 * an allocation, and the archive is refused as corrupt.
 */
const MAX_BLOCK = 64 * MiB;

/** zstd's blocks: a frame starts without history, so larger than gzip's (whose window is 32 KiB); 4 MiB gave no better ratio and more memory. */
const ZSTD_BLOCK = 2 * MiB;

/** Chunks smaller than this are copied together; larger ones go to the compressor as they are. */
const COPY_BELOW = 64 * 1024;

/** A zlib stream that is flushed after each block; the streams kept between blocks keep their state warm. */
type ZlibStream = Gzip | Gunzip | ZstdCompress | ZstdDecompress;

/**
 * One compressor or decompressor, reused for block after block: a block is written, the stream
 * flushed (`end`: Z_FINISH ends a gzip member, ZSTD_e_end a zstd frame) and, for gzip, reset
 * for the next member. Creating a context per block costs more than the work on a small block,
 * and keeping at most as many engines busy as there are cores keeps them from evicting each
 * other's tables from the caches.
 */
class Engine {
  private out: Buffer[] = [];
  private failure: Error | undefined;
  private reject: ((error: Error) => void) | undefined;

  constructor(
    private readonly stream: ZlibStream,
    private readonly end: number,
    private readonly resets: boolean,
  ) {
    stream.on('data', (chunk: Buffer) => this.out.push(chunk));
    stream.on('error', (error: Error) => {
      this.failure = error;
      this.reject?.(error);
    });
  }

  /** Runs the parts, as one block, through the stream. */
  run(input: Buffer[]): Promise<Buffer[]> {
    return new Promise((resolve, reject) => {
      if (this.failure !== undefined) return reject(this.failure);
      this.reject = reject;
      for (const part of input) this.stream.write(part);
      this.stream.flush(this.end, () => {
        this.reject = undefined;
        // Also called when the stream was destroyed meanwhile (an error, or the pipeline gave up).
        if (this.stream.destroyed) return reject(this.failure ?? new Error('the compression stream was closed'));
        const out = this.out;
        this.out = [];
        // Gzip and Gunzip have reset() (deflateReset, inflateReset); the typings list it for others only.
        if (this.resets) (this.stream as unknown as { reset(): void }).reset();
        resolve(out);
      });
    });
  }

  destroy(): void {
    this.stream.destroy();
  }
}

/** Engines handed out one block at a time: as many exist as blocks were ever in flight at once. */
class Engines {
  private readonly idle: Engine[] = [];
  private readonly all: Engine[] = [];

  constructor(private readonly make: () => Engine) {}

  async run(input: Buffer[]): Promise<Buffer[]> {
    const engine = this.idle.pop() ?? this.create();
    const out = await engine.run(input);
    this.idle.push(engine);
    return out;
  }

  private create(): Engine {
    const engine = this.make();
    this.all.push(engine);
    return engine;
  }

  destroy(): void {
    for (const engine of this.all) engine.destroy();
  }
}

export interface CompressOptions {
  compression: Compression;
  /** gzip 1 (fast) to 9 (small); zstd 1 to 19. */
  level: number;
  /** Blocks compressed at once on the thread pool. @defaultValue 2 */
  parallel?: number;
  /** Uncompressed bytes per block. @defaultValue 1 MiB for gzip, 2 MiB for zstd */
  blockBytes?: number;
}

/*
 * Block framing. The input is cut into blocks, each compressed on its own (pigz's and zstd -T's
 * way of using every core), and every block records its compressed and uncompressed size, so
 * that a reader can cut the stream apart again and decompress blocks in parallel too:
 *
 * - gzip: each block is one gzip member (RFC 1952; concatenated members are one gzip stream that
 *   any gunzip reads). Its header carries an extra field (FEXTRA, as BGZF does) with the
 *   subfield 'DP', 4 bytes: the member's total length, little-endian. Readers that do not know
 *   the subfield skip it, as the RFC says they must. The member's own trailer holds the size.
 * - zstd: each block is one zstd frame, preceded by a skippable frame (magic 0x184D2A5D) whose
 *   8 bytes are the frame's compressed and uncompressed sizes, little-endian. `zstd -d` and
 *   `tar --zstd` skip it, as the format says they must.
 */
const GZIP_HEADER = 10;
const GZIP_EXTRA = 10; // XLEN (2) + SI1 SI2 (2) + LEN (2) + member length (4)
const GZIP_FRAMED_HEADER = GZIP_HEADER + GZIP_EXTRA;
const ZSTD_SKIPPABLE = 0x184d2a5d;
const ZSTD_SKIPPABLE_BYTES = 16;

const total = (parts: Buffer[]): number => parts.reduce((sum, part) => sum + part.length, 0);

function gzipFramed(member: Buffer[]): Buffer[] {
  const parts = (member[0]?.length ?? 0) >= GZIP_HEADER ? member : [Buffer.concat(member)];
  const first = parts[0] as Buffer;
  const header = Buffer.alloc(GZIP_FRAMED_HEADER);
  first.copy(header, 0, 0, GZIP_HEADER);
  header[3] = (first[3] ?? 0) | 0x04; // FEXTRA
  header.writeUInt16LE(8, 10);
  header.write('DP', 12, 'latin1');
  header.writeUInt16LE(4, 14);
  header.writeUInt32LE(total(parts) + GZIP_EXTRA, 16);
  return [header, first.subarray(GZIP_HEADER), ...parts.slice(1)];
}

function zstdFramed(frame: Buffer[], rawBytes: number): Buffer[] {
  const header = Buffer.alloc(ZSTD_SKIPPABLE_BYTES);
  header.writeUInt32LE(ZSTD_SKIPPABLE, 0);
  header.writeUInt32LE(8, 4);
  header.writeUInt32LE(total(frame), 8);
  header.writeUInt32LE(rawBytes, 12);
  return [header, ...frame];
}

function compressEngines(options: CompressOptions, blockBytes: number): Engines {
  // Room for a block's whole output in one chunk: one round trip to the thread pool per block.
  const chunkSize = blockBytes + (blockBytes >> 3) + 64 * 1024;
  if (options.compression === 'gzip') return new Engines(() => new Engine(createGzip({ level: options.level, chunkSize }), constants.Z_FINISH, true));
  const params = { [constants.ZSTD_c_compressionLevel]: options.level, [constants.ZSTD_c_checksumFlag]: 1 };
  return new Engines(() => new Engine(createZstdCompress({ chunkSize, params }), constants.ZSTD_e_end, false));
}

/**
 * Compresses on several cores: blocks are filled in place (no copying of what is pending),
 * `parallel + 1` of them are compressed at once on the thread pool, and their output is written in
 * order. Memory stays at a few blocks whatever the size of the data, and a slow reader pushes
 * back on the writer.
 */
export function compressor(options: CompressOptions): Transform {
  const blockBytes = options.blockBytes ?? (options.compression === 'zstd' ? ZSTD_BLOCK : MiB);
  const parallel = Math.max(1, options.parallel ?? 2);
  const engines = compressEngines(options, blockBytes);
  // A block is a list of parts: large chunks by reference, runs of small ones (tar headers,
  // small files) copied together into the block's staging buffer, which is reused once the
  // block is compressed (fresh memory for every block costs page faults and collections).
  const spare: Buffer[] = [];
  let staging: Buffer = Buffer.allocUnsafeSlow(blockBytes);
  let stagedFrom = 0;
  let stagedTo = 0;
  let parts: Buffer[] = [];
  let filled = 0;
  let blocks = 0;
  const inflight: Array<Promise<Buffer[]>> = [];

  const closeRun = (): void => {
    if (stagedTo > stagedFrom) parts.push(staging.subarray(stagedFrom, stagedTo));
    stagedFrom = stagedTo;
  };
  const submit = (): void => {
    closeRun();
    blocks += 1;
    const input = parts;
    const buffer = staging;
    const bytes = filled;
    const job = engines.run(input).then((out) => {
      spare.push(buffer);
      return options.compression === 'gzip' ? gzipFramed(out) : zstdFramed(out, bytes);
    });
    job.catch(() => undefined); // awaited in order below; this only keeps an early failure from being unhandled
    inflight.push(job);
    parts = [];
    filled = 0;
    staging = spare.pop() ?? Buffer.allocUnsafeSlow(blockBytes);
    stagedFrom = 0;
    stagedTo = 0;
  };
  const drainTo = async (stream: Transform, limit: number): Promise<void> => {
    while (inflight.length > limit) {
      const next = inflight.shift();
      if (next !== undefined) for (const part of await next) stream.push(part);
    }
  };

  return new Transform({
    // One block queued on each side, whatever the runtime's default.
    highWaterMark: blockBytes,
    transform(this: Transform, chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      let at = 0;
      const work = async (): Promise<void> => {
        while (at < chunk.length) {
          const n = Math.min(chunk.length - at, blockBytes - filled);
          if (n < COPY_BELOW) {
            chunk.copy(staging, stagedTo, at, at + n);
            stagedTo += n;
          } else {
            closeRun();
            parts.push(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n));
          }
          filled += n;
          at += n;
          if (filled === blockBytes) {
            // `parallel + 1` blocks compressing (one more than there are threads keeps them busy while
            // the main thread hands over output and input) and the next one filling meanwhile.
            await drainTo(this, parallel);
            submit();
          }
        }
      };
      work().then(() => done(), done);
    },
    flush(this: Transform, done: TransformCallback) {
      // No input still makes one (empty) block: zero bytes are not a gzip stream.
      if (filled > 0 || blocks === 0) submit();
      drainTo(this, 0).then(() => done(), done);
    },
    destroy(error, done) {
      engines.destroy();
      done(error);
    },
  });
}

/** A decompression failure, with a zlib-style code so that callers treat it as zlib's own. */
function corrupt(message: string, code = 'Z_DATA_ERROR'): Error {
  return Object.assign(new Error(message), { code });
}

/** Bytes received and not yet consumed, taken from the front without copying where possible. */
class Pending {
  private parts: Buffer[] = [];
  length = 0;

  add(chunk: Buffer): void {
    this.parts.push(chunk);
    this.length += chunk.length;
  }

  /** The first `n` bytes (a few: a header), left in place. */
  peek(n: number): Buffer {
    const first = this.parts[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const joined = Buffer.concat(this.parts, this.length);
    this.parts = [joined];
    return joined.subarray(0, n);
  }

  /** The first `n` bytes, as the parts they arrived in: nothing is copied. */
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    let wanted = n;
    while (wanted > 0) {
      const first = this.parts[0] as Buffer;
      if (first.length <= wanted) {
        out.push(first);
        this.parts.shift();
        wanted -= first.length;
      } else {
        out.push(first.subarray(0, wanted));
        this.parts[0] = first.subarray(wanted);
        wanted = 0;
      }
    }
    this.length -= n;
    return out;
  }

  drain(): Buffer[] {
    const out = this.parts;
    this.parts = [];
    this.length = 0;
    return out;
  }
}

interface Unit {
  /** Header bytes needed to read a block's length. */
  headerBytes: number;
  /** Total bytes of the block that `header` begins, or undefined if it is not a framed block. */
  length(header: Buffer): number | undefined;
  /** The block's recorded uncompressed size. */
  rawBytes(header: Buffer, block: Buffer[]): number;
  /** Bytes at the start of a block that the decompressor is not given (zstd's skippable frame). */
  skip: number;
  engines(): Engines;
}

const units: Record<Compression, Unit> = {
  gzip: {
    headerBytes: GZIP_FRAMED_HEADER,
    length: (h) => {
      if (h[0] !== 0x1f || h[1] !== 0x8b || h[2] !== 8 || ((h[3] ?? 0) & 0x04) === 0) return undefined;
      if (h.readUInt16LE(10) !== 8 || h.toString('latin1', 12, 14) !== 'DP' || h.readUInt16LE(14) !== 4) return undefined;
      return h.readUInt32LE(16);
    },
    rawBytes: (_header, member) => lastFour(member).readUInt32LE(0),
    skip: 0,
    engines: () => new Engines(() => new Engine(createGunzip({ chunkSize: MiB }), constants.Z_SYNC_FLUSH, true)),
  },
  zstd: {
    headerBytes: ZSTD_SKIPPABLE_BYTES,
    length: (h) => (h.readUInt32LE(0) === ZSTD_SKIPPABLE && h.readUInt32LE(4) === 8 ? ZSTD_SKIPPABLE_BYTES + h.readUInt32LE(8) : undefined),
    rawBytes: (header) => header.readUInt32LE(12),
    skip: ZSTD_SKIPPABLE_BYTES,
    engines: () => new Engines(() => new Engine(createZstdDecompress({ chunkSize: ZSTD_BLOCK }), constants.ZSTD_e_flush, false)),
  },
};

/** The last 4 bytes of a block given as parts (a gzip member's ISIZE). */
function lastFour(parts: Buffer[]): Buffer {
  const last = parts[parts.length - 1] as Buffer;
  return last.length >= 4 ? last.subarray(last.length - 4) : Buffer.concat(parts).subarray(-4);
}

async function decompressBlock(compression: Compression, unit: Unit, engines: Engines, header: Buffer, block: Buffer[]): Promise<Buffer[]> {
  const raw = unit.rawBytes(header, block);
  if (raw > MAX_BLOCK) throw corrupt(`a ${compression} block claims ${raw} bytes, more than a block holds`);
  const out = await engines.run(block);
  if (total(out) !== raw) throw corrupt(`a ${compression} block gave ${total(out)} bytes where it records ${raw}`);
  return out;
}

export interface DecompressOptions {
  /** Blocks decompressed at once. @defaultValue 2 */
  parallel?: number;
}

/**
 * The reverse of `compressor`, as a pipeline stage: framed blocks are decompressed in parallel on
 * the thread pool and come out in order, `parallel` at most in flight. Any other stream of
 * the format (an older snapshot, another tool's archive, or whatever follows the last framed
 * block) goes through the ordinary streaming decompressor. Truncated or corrupt input fails with
 * a zlib-style error code (`Z_BUF_ERROR` when it ends early, `Z_DATA_ERROR` otherwise).
 */
export function decompressor(compression: Compression, options: DecompressOptions = {}): Duplex {
  const unit = units[compression];
  const parallel = Math.max(1, options.parallel ?? 2);
  return Duplex.from(async function* decompress(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const input = source[Symbol.asyncIterator]();
    const pending = new Pending();
    const inflight: Array<Promise<Buffer[]>> = [];
    const engines = unit.engines();
    let ended = false;
    const fill = async (n: number): Promise<boolean> => {
      while (pending.length < n && !ended) {
        const next = await input.next();
        if (next.done === true) ended = true;
        else pending.add(next.value);
      }
      return pending.length >= n;
    };
    try {
      for (;;) {
        if (!(await fill(1))) break;
        const header = (await fill(unit.headerBytes)) ? Buffer.from(pending.peek(unit.headerBytes)) : undefined;
        const length = header === undefined ? undefined : unit.length(header);
        if (header === undefined || length === undefined) break;
        if (length > MAX_BLOCK + MiB || length < unit.headerBytes + 4) throw corrupt(`a ${compression} block claims ${length} bytes, which no block has`);
        if (!(await fill(length))) throw corrupt('unexpected end of file', 'Z_BUF_ERROR');
        pending.take(unit.skip);
        const job = decompressBlock(compression, unit, engines, header, pending.take(length - unit.skip));
        job.catch(() => undefined); // awaited in order; this only keeps an early failure from being unhandled
        inflight.push(job);
        while (inflight.length >= parallel) yield* await (inflight.shift() as Promise<Buffer[]>);
      }
      while (inflight.length > 0) yield* await (inflight.shift() as Promise<Buffer[]>);
      if (pending.length === 0 && ended) return;
      // Not (or no longer) framed: the rest goes through the streaming decompressor.
      const rest = pending.drain();
      const remaining = async function* (): AsyncGenerator<Buffer> {
        yield* rest;
        for (;;) {
          const next = await input.next();
          if (next.done === true) return;
          yield next.value;
        }
      };
      const inflater = compression === 'gzip' ? createGunzip({ chunkSize: STREAM_CHUNK }) : createZstdDecompress({ chunkSize: STREAM_CHUNK });
      const stream = pipeline(Readable.from(remaining()), inflater, () => undefined);
      try {
        for await (const chunk of stream) yield chunk as Buffer;
      } finally {
        stream.destroy();
      }
    } finally {
      engines.destroy();
      await input.return?.();
    }
  });
}
