import { createGunzip, createGzip } from 'node:zlib';
import { pipeline, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { AppError } from '../shared/index.js';
import { Digest } from './digest.js';

export const FILE_LIST_TYPES = ['file', 'dir', 'symlink', 'hardlink', 'fifo'] as const;

/**
 * One entry of a node as it was at a snapshot: a line of `<pod>-<i>.files.gz`. Paths are relative
 * to the data dir (`.` is the data dir itself); `mtime` is a pax time (`seconds.nanoseconds`), as
 * exact as the file system keeps it; `mode` the permission bits.
 */
export const FileListEntrySchema = Type.Object({
  path: Type.String({ minLength: 1 }),
  type: Type.Union(FILE_LIST_TYPES.map((t) => Type.Literal(t))),
  /** A file's logical size (holes of a sparse file included); 0 for the others. */
  size: Type.Integer({ minimum: 0 }),
  mode: Type.Integer({ minimum: 0, maximum: 0o7777 }),
  mtime: Type.String({ pattern: '^-?[0-9]+(\\.[0-9]{1,9})?$' }),
  /** A symlink's target as stored, or the earlier path a hard link names. */
  target: Type.Optional(Type.String()),
  /** The sha256 of a file's content (and of a hard link's, which is its first name's). */
  sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
  /** The snapshot whose archive holds that content. */
  in: Type.Optional(Type.String({ minLength: 1 })),
});
export type FileListEntry = Static<typeof FileListEntrySchema>;

/** What the archive packer reports of each entry; the writer adds where its content is, unless it is held by a parent. */
export type TreeEntry = FileListEntry;

export interface FileListResult {
  /** Bytes of the gzipped list. */
  bytes: number;
  sha256: string;
  entries: number;
}

const FLUSH_AT = 64 * 1024;

/**
 * Writes a file list as gzipped JSON lines while the archive is packed: `add` each entry as it is
 * packed, `end` when packing is done. `stream` is what to store; `done` settles with its size and
 * sha256 once `stream` has been read to its end. Memory is a few buffers whatever the entry count.
 */
export class FileListWriter {
  readonly stream: Readable;
  readonly done: Promise<FileListResult>;
  private readonly gzip = createGzip({ level: 6 });
  private pending = '';
  private count = 0;

  /** `snapshot` is recorded as where the content of every file added is. */
  constructor(private readonly snapshot: string) {
    const digest = new Digest();
    let settle: { resolve: (result: FileListResult) => void; reject: (error: Error) => void } | undefined;
    this.done = new Promise<FileListResult>((resolve, reject) => (settle = { resolve, reject }));
    this.done.catch(() => undefined); // also reported through `stream`
    this.stream = pipeline(this.gzip, digest, (error) => {
      if (error) settle?.reject(error);
      else settle?.resolve({ bytes: digest.bytes, sha256: digest.sha256, entries: this.count });
    });
    this.stream.on('error', () => undefined);
  }

  add(entry: TreeEntry): void {
    const line: FileListEntry = entry.sha256 === undefined || entry.in !== undefined ? entry : { ...entry, in: this.snapshot };
    this.pending += `${JSON.stringify(line)}\n`;
    this.count += 1;
    if (this.pending.length >= FLUSH_AT) this.flush();
  }

  end(): void {
    this.flush();
    this.gzip.end();
  }

  /** Stops the list (its store write with it) when the backup fails. */
  destroy(reason: unknown): void {
    const error = reason instanceof Error ? reason : new Error(String(reason));
    this.gzip.destroy(error);
    this.stream.destroy(error);
  }

  private flush(): void {
    if (this.pending === '') return;
    this.gzip.write(this.pending);
    this.pending = '';
  }
}

/**
 * The entries of a stored file list, in order, each checked; `where` names the list in errors.
 * @throws AppError CHECKSUM for a list that is not gzip or holds a line that is not an entry.
 */
export async function* readFileList(body: Readable, where: string): AsyncGenerator<FileListEntry> {
  const gunzip = createGunzip();
  const lines = pipeline(body, gunzip, () => undefined);
  let rest = '';
  let number = 0;
  const parse = (line: string): FileListEntry => {
    number += 1;
    let data: unknown;
    try {
      data = JSON.parse(line);
    } catch (error) {
      throw new AppError('CHECKSUM', `line ${number} of ${where} is not JSON: ${(error as Error).message}`);
    }
    if (Value.Check(FileListEntrySchema, data)) return data;
    const first = [...Value.Errors(FileListEntrySchema, data)][0];
    throw new AppError('CHECKSUM', `line ${number} of ${where} is not a file list entry: ${first?.path || '/'} ${first?.message ?? 'is invalid'}`);
  };
  const decoder = new StringDecoder('utf8');
  try {
    for await (const chunk of lines) {
      const parts = (rest + decoder.write(chunk as Buffer)).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) yield parse(line);
    }
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError('CHECKSUM', `${where} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  rest += decoder.end();
  if (rest !== '') yield parse(rest);
}
