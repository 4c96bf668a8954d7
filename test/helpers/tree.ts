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
