import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

/** Every path under `dir` with its type, mode and content hash (or link target): equal trees compare equal. */
export function describeTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (path: string, rel: string): void => {
    const info = lstatSync(path);
    const mode = (info.mode & 0o7777).toString(8);
    if (info.isSymbolicLink()) out[rel] = `link -> ${readlinkSync(path)}`;
    else if (info.isDirectory()) {
      out[rel || '.'] = `dir ${rel === '' ? '' : mode}`.trimEnd();
      for (const name of readdirSync(path).sort()) walk(join(path, name), rel === '' ? name : `${rel}/${name}`);
    } else if (info.isFile()) {
      out[rel] = `file ${mode} ${info.size} ${createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16)}`;
    } else out[rel] = 'other';
  };
  walk(dir, '');
  return out;
}

/**
 * The file list a backup of `dir` must write, worked out independently of the packer: every entry
 * in archive order (names sorted, depth first), each file's sha256 from reading it, later names
 * of an inode as hard links to the first.
 */
export function expectedFileList(dir: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const inodes = new Map<string, { path: string; sha256: string }>();
  const time = (ns: bigint): string => `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
  const walk = (path: string, rel: string): void => {
    const info = lstatSync(path, { bigint: true });
    const base = { path: rel, mode: Number(info.mode & 0o7777n), mtime: time(info.mtimeNs) };
    if (info.isDirectory()) {
      out.push({ ...base, type: 'dir', size: 0 });
      for (const name of readdirSync(path).sort()) walk(join(path, name), rel === '.' ? name : `${rel}/${name}`);
    } else if (info.isSymbolicLink()) {
      out.push({ ...base, type: 'symlink', size: 0, target: readlinkSync(path) });
    } else if (info.isFile()) {
      const inode = `${info.dev}:${info.ino}`;
      const first = info.nlink > 1n ? inodes.get(inode) : undefined;
      if (first !== undefined) {
        out.push({ ...base, type: 'hardlink', size: Number(info.size), target: first.path, sha256: first.sha256 });
        return;
      }
      const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
      if (info.nlink > 1n) inodes.set(inode, { path: rel, sha256 });
      out.push({ ...base, type: 'file', size: Number(info.size), sha256 });
    } else if (info.isFIFO()) {
      out.push({ ...base, type: 'fifo', size: 0 });
    }
  };
  walk(dir, '.');
  return out;
}

export interface RawEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO';
  body?: string;
  linkpath?: string;
}

/** A tar.gz built header by header, so tests can craft entries no honest writer makes. */
export function craftTarGz(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    const header = new Header({
      path: entry.path,
      type: entry.type ?? 'File',
      size: entry.type === undefined || entry.type === 'File' ? body.length : 0,
      mode: entry.type === 'Directory' ? 0o755 : 0o644,
      mtime: new Date('2024-01-01T00:00:00Z'),
      linkpath: entry.linkpath ?? '',
      uid: 0,
      gid: 0,
    });
    const block = Buffer.alloc(512);
    header.encode(block);
    blocks.push(block);
    if (header.size !== undefined && header.size > 0) {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}
