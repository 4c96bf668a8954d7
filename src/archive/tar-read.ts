import { Writable } from 'node:stream';
import { Header } from 'tar';
import { AppError } from '../shared/index.js';
import { BLOCK, padding, parsePax, parsePaxTime, type EntryHeader, type EntryType } from './tar-format.js';

/** Where parsed entries go, called synchronously as bytes arrive. Throwing refuses the archive. */
export interface TarSink {
  begin(header: EntryHeader): void;
  data(chunk: Buffer): void;
  end(): void;
  /** The end-of-archive marker was read. */
  finish(): void;
}

/** Extended headers and long names larger than this are refused rather than buffered. */
export const MAX_META_BYTES = 1024 * 1024;

const ENTRY_TYPES: Record<string, EntryType> = {
  '0': 'file',
  '': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'chardev',
  '4': 'blockdev',
  '5': 'dir',
  '6': 'fifo',
};
const META_TYPES = new Set(['x', 'g', 'L', 'K']);

type State =
  | { kind: 'header' }
  | { kind: 'meta'; type: string; size: number; parts: Buffer[]; got: number }
  | { kind: 'data'; remaining: number }
  | { kind: 'skip'; remaining: number }
  | { kind: 'done' };

function corrupt(label: string, what: string): AppError {
  return new AppError('CHECKSUM', `${label} is not a valid archive: ${what}`);
}

/**
 * Reads a tar stream (ustar, pax, GNU long names, PAX sparse 1.0) and hands each entry to a sink
 * synchronously, so the sink's writes keep pace with the stream. Bad header checksums, an archive
 * that ends before its end-of-archive marker, oversized extended headers and entry types drplan
 * does not restore are refused with a message naming where.
 */
export class TarReader extends Writable {
  private state: State = { kind: 'header' };
  private pending: Buffer | null = null;
  private position = 0;
  private zeroBlocks = 0;
  private pax = new Map<string, string>();
  private longName: string | null = null;
  private longLink: string | null = null;
  /** Data bytes of the entry being read (its padding follows). */
  private dataSize = 0;

  constructor(
    private readonly sink: TarSink,
    private readonly label: string,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    try {
      this.consume(chunk);
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _final(done: (error?: Error | null) => void): void {
    if (this.state.kind !== 'done') {
      done(corrupt(this.label, `it ends at byte ${this.position}, before its end-of-archive marker: it is truncated`));
      return;
    }
    done();
  }

  private consume(input: Buffer): void {
    let chunk = input;
    while (chunk.length > 0) {
      const state = this.state;
      if (state.kind === 'done') return;
      if (state.kind === 'data' || state.kind === 'skip') {
        const take = Math.min(state.remaining, chunk.length);
        if (state.kind === 'data') this.sink.data(take === chunk.length ? chunk : chunk.subarray(0, take));
        state.remaining -= take;
        this.position += take;
        chunk = chunk.subarray(take);
        if (state.remaining === 0) this.endOfBody();
        continue;
      }
      if (state.kind === 'meta') {
        const take = Math.min(state.size + padding(state.size) - state.got, chunk.length);
        state.parts.push(chunk.subarray(0, take));
        state.got += take;
        this.position += take;
        chunk = chunk.subarray(take);
        if (state.got === state.size + padding(state.size)) this.endOfMeta(state.type, Buffer.concat(state.parts).subarray(0, state.size));
        continue;
      }
      // A header block, possibly split across chunks.
      if (this.pending !== null) {
        const need = BLOCK - this.pending.length;
        const joined = Buffer.concat([this.pending, chunk.subarray(0, need)]);
        chunk = chunk.subarray(need);
        if (joined.length < BLOCK) {
          this.pending = joined;
          return;
        }
        this.pending = null;
        this.header(joined);
      } else if (chunk.length < BLOCK) {
        this.pending = Buffer.from(chunk);
        return;
      } else {
        this.header(chunk.subarray(0, BLOCK));
        chunk = chunk.subarray(BLOCK);
      }
    }
  }

  private endOfBody(): void {
    const state = this.state;
    if (state.kind === 'data') {
      this.sink.end();
      const pad = padding(this.dataSize);
      this.state = pad > 0 ? { kind: 'skip', remaining: pad } : { kind: 'header' };
    } else {
      this.state = { kind: 'header' };
    }
  }

  private header(block: Buffer): void {
    const at = this.position;
    this.position += BLOCK;
    if (block.every((byte) => byte === 0)) {
      this.zeroBlocks += 1;
      if (this.zeroBlocks === 2) {
        this.state = { kind: 'done' };
        this.sink.finish();
      }
      return;
    }
    if (this.zeroBlocks > 0) throw corrupt(this.label, `a lone zero block before byte ${at}`);
    const header = new Header(block);
    if (!header.cksumValid) throw corrupt(this.label, `the header at byte ${at} has a bad checksum`);
    const flag = header.typeKey;
    const size = header.size ?? 0;
    if (META_TYPES.has(flag)) {
      if (size > MAX_META_BYTES) {
        throw new AppError('UNSAFE_ARCHIVE', `${this.label}: the extended header at byte ${at} claims ${size} bytes, more than the ${MAX_META_BYTES} drplan reads; nothing was restored`);
      }
      this.state = size === 0 ? { kind: 'header' } : { kind: 'meta', type: flag, size, parts: [], got: 0 };
      if (size === 0) this.endOfMeta(flag, Buffer.alloc(0));
      return;
    }
    const type = ENTRY_TYPES[flag];
    const path = this.longName ?? this.pax.get('path') ?? header.path ?? '';
    if (type === undefined) {
      throw new AppError('UNSAFE_ARCHIVE', `${this.label}: entry '${path}' has tar type '${flag}', which drplan does not restore; nothing was restored`);
    }
    const entry = this.entryHeader(header, type, path, at);
    this.pax = new Map();
    this.longName = null;
    this.longLink = null;
    this.sink.begin(entry);
    // Directories carry no data whatever their size field says (as node-tar reads them); any other
    // entry's data follows it, and is read past where the entry has no use for it, as GNU tar does.
    const dataSize = type === 'dir' ? 0 : entry.size;
    this.dataSize = dataSize;
    if (dataSize > 0 && (type === 'file' || type === 'hardlink')) {
      this.state = { kind: 'data', remaining: dataSize };
    } else {
      this.sink.end();
      this.state = dataSize > 0 ? { kind: 'skip', remaining: dataSize + padding(dataSize) } : { kind: 'header' };
    }
  }

  private entryHeader(header: Header, type: EntryType, path: string, at: number): EntryHeader {
    const pax = this.pax;
    const number = (key: string, fallback: number | undefined): number => {
      const text = pax.get(key);
      const value = text === undefined ? fallback : Number(text);
      if (value === undefined || !Number.isSafeInteger(value) || value < 0) throw corrupt(this.label, `entry '${path}' at byte ${at} has no valid ${key}`);
      return value;
    };
    const mtimeText = pax.get('mtime');
    const mtime = mtimeText === undefined ? { sec: Math.floor((header.mtime?.getTime() ?? 0) / 1000), nsec: 0 } : parsePaxTime(mtimeText);
    if (mtime === null) throw corrupt(this.label, `entry '${path}' has an invalid pax mtime '${mtimeText ?? ''}'`);
    const entry: EntryHeader = {
      path,
      type,
      mode: number('mode', header.mode),
      uid: number('uid', header.uid),
      gid: number('gid', header.gid),
      uname: pax.get('uname') ?? header.uname ?? '',
      gname: pax.get('gname') ?? header.gname ?? '',
      mtime,
      size: number('size', header.size),
      linkpath: this.longLink ?? pax.get('linkpath') ?? header.linkpath ?? '',
    };
    const major = pax.get('GNU.sparse.major');
    if (major !== undefined || pax.has('GNU.sparse.map') || pax.has('GNU.sparse.offset')) {
      const name = pax.get('GNU.sparse.name');
      if (major !== '1' || pax.get('GNU.sparse.minor') !== '0' || name === undefined || type !== 'file') {
        throw new AppError('UNSAFE_ARCHIVE', `${this.label}: entry '${name ?? path}' uses a sparse format other than PAX 1.0; nothing was restored`);
      }
      entry.path = name;
      entry.sparse = { realSize: number('GNU.sparse.realsize', undefined) };
    }
    return entry;
  }

  private endOfMeta(type: string, body: Buffer): void {
    this.state = { kind: 'header' };
    if (type === 'x') {
      try {
        for (const [key, value] of parsePax(body)) this.pax.set(key, value);
      } catch (error) {
        throw corrupt(this.label, `an extended header before byte ${this.position}: ${(error as Error).message}`);
      }
    } else if (type === 'L' || type === 'K') {
      const text = body.toString('utf8').replace(/\0.*$/s, '');
      if (type === 'L') this.longName = text;
      else this.longLink = text;
    }
    // 'g' (global) headers carry nothing drplan uses; they are read past.
  }
}
