import { posix } from 'node:path';
import { Header } from 'tar';

/** The tar block size: headers are one block, data is padded to whole blocks. */
export const BLOCK = 512;

/** The entry kinds drplan writes and reads. */
export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'chardev' | 'blockdev';

const TYPE_FLAGS: Record<EntryType, string> = {
  file: 'File',
  hardlink: 'Link',
  symlink: 'SymbolicLink',
  chardev: 'CharacterDevice',
  blockdev: 'BlockDevice',
  dir: 'Directory',
  fifo: 'FIFO',
};

/** An instant with nanoseconds, as pax records it. */
export interface Time {
  sec: number;
  nsec: number;
}

export function timeFromNs(ns: bigint): Time {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    nsec += 1_000_000_000n;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

/** A pax time value: `-1.5` for 1.5 s before the epoch (stored as sec -2, nsec 500000000). */
export function paxTime(time: Time): string {
  const total = BigInt(time.sec) * 1_000_000_000n + BigInt(time.nsec);
  const sign = total < 0n ? '-' : '';
  const abs = total < 0n ? -total : total;
  return `${sign}${abs / 1_000_000_000n}.${String(abs % 1_000_000_000n).padStart(9, '0')}`;
}

/** Reads a pax time value (`1700000000.25`, `-1.5`) into seconds and nanoseconds, or null. */
export function parsePaxTime(text: string): Time | null {
  const match = /^(-?)(\d+)(?:\.(\d{1,9})\d*)?$/.exec(text);
  if (match === null) return null;
  const abs = BigInt(match[2] ?? '0') * 1_000_000_000n + BigInt((match[3] ?? '').padEnd(9, '0'));
  return timeFromNs(match[1] === '-' ? -abs : abs);
}

/** Seconds as a number, for utimes (which keeps about a microsecond). */
export const timeSeconds = (time: Time): number => time.sec + time.nsec / 1e9;

export interface EntryHeader {
  /** Relative to the archive root, `./a/b` style. */
  path: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: Time;
  /** Bytes of data that follow the header in the archive. */
  size: number;
  /** Target of a symlink; for a hard link, the path of the entry it links to. */
  linkpath: string;
  /** PAX sparse 1.0: the data starts with the map and the file is this long. */
  sparse?: { realSize: number } | undefined;
}

/** One pax record: `<length> <key>=<value>\n`, the length counting itself. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(body);
  const digits = String(bytes).length;
  let length = bytes + digits;
  if (String(length).length > digits) length += 1;
  return `${length}${body}`;
}

/** Parses a pax extended header body into its records; malformed records are an error. */
export function parsePax(body: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < body.length) {
    if (body[at] === 0) break;
    const space = body.indexOf(0x20, at);
    const length = Number(body.subarray(at, space).toString('ascii'));
    if (space < 0 || !Number.isInteger(length) || length <= space - at + 1 || at + length > body.length || body[at + length - 1] !== 0x0a) {
      throw new Error(`malformed pax record at byte ${at}`);
    }
    const record = body.subarray(space + 1, at + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals <= 0) throw new Error(`malformed pax record at byte ${at}`);
    records.set(record.slice(0, equals), record.slice(equals + 1));
    at += length;
  }
  return records;
}

const needsPax = (text: string, room: number): boolean => Buffer.byteLength(text) >= room || /[^\x20-\x7e]/.test(text);

function block(fields: ConstructorParameters<typeof Header>[0]): Buffer {
  const buffer = Buffer.alloc(BLOCK);
  new Header(fields).encode(buffer);
  return buffer;
}

/** Data padded to whole blocks: the padding that follows `size` bytes. */
export const padding = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

/**
 * The header blocks of one entry: a pax extended header when anything does not fit ustar
 * (long or non-ASCII names, nanosecond times, large sizes or ids, sparse files), then the
 * ustar header. GNU tar and every pax reader read both.
 */
export function encodeEntry(header: EntryHeader): Buffer {
  const records: string[] = [];
  let name = header.path;
  if (header.sparse !== undefined) {
    // GNU's PAX sparse 1.0: a stand-in name for readers that do not know it, the real one in the records.
    name = posix.join(posix.dirname(header.path), 'GNUSparseFile.0', posix.basename(header.path));
    records.push(
      paxRecord('GNU.sparse.major', '1'),
      paxRecord('GNU.sparse.minor', '0'),
      paxRecord('GNU.sparse.name', header.path),
      paxRecord('GNU.sparse.realsize', String(header.sparse.realSize)),
    );
  } else if (needsPax(header.path, 100)) {
    records.push(paxRecord('path', header.path));
  }
  if (header.linkpath !== '' && needsPax(header.linkpath, 100)) records.push(paxRecord('linkpath', header.linkpath));
  if (header.mtime.nsec !== 0 || header.mtime.sec < 0 || header.mtime.sec > 0o77777777777) {
    records.push(paxRecord('mtime', paxTime(header.mtime)));
  }
  if (header.size > 0o77777777777) records.push(paxRecord('size', String(header.size)));
  if (header.uid > 0o7777777) records.push(paxRecord('uid', String(header.uid)));
  if (header.gid > 0o7777777) records.push(paxRecord('gid', String(header.gid)));
  if (needsPax(header.uname, 32)) records.push(paxRecord('uname', header.uname));
  if (needsPax(header.gname, 32)) records.push(paxRecord('gname', header.gname));

  const ustar = block({
    path: name,
    type: TYPE_FLAGS[header.type] as 'File',
    mode: header.mode & 0o7777,
    uid: Math.min(header.uid, 0o7777777),
    gid: Math.min(header.gid, 0o7777777),
    size: Math.min(header.size, 0o77777777777),
    mtime: new Date(Math.max(0, Math.min(header.mtime.sec, 0o77777777777)) * 1000),
    linkpath: header.linkpath,
    uname: needsPax(header.uname, 32) ? '' : header.uname,
    gname: needsPax(header.gname, 32) ? '' : header.gname,
  });
  if (records.length === 0) return ustar;
  const body = Buffer.from(records.join(''), 'utf8');
  const pax = block({
    path: `PaxHeaders/${posix.basename(header.path)}`.slice(0, 99),
    type: 'ExtendedHeader',
    mode: 0o644,
    size: body.length,
    mtime: new Date(Math.max(0, header.mtime.sec) * 1000),
  });
  return Buffer.concat([pax, body, Buffer.alloc(padding(body.length)), ustar]);
}

/** The end of an archive: two zero blocks, padded to a 10 KiB record as tar does. */
export function endOfArchive(written: number): Buffer {
  const total = written + 2 * BLOCK;
  return Buffer.alloc(2 * BLOCK + ((10240 - (total % 10240)) % 10240));
}

/** A PAX sparse 1.0 map: the number of data regions, then offset and length of each, padded to a block. */
export function encodeSparseMap(regions: ReadonlyArray<readonly [number, number]>): Buffer {
  const text = `${[regions.length, ...regions.flat()].join('\n')}\n`;
  const bytes = Buffer.from(text, 'ascii');
  return Buffer.concat([bytes, Buffer.alloc(padding(bytes.length))]);
}
