import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, opendir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../shared/index.js';
import type { BlobInfo, BlobStore } from './types.js';

/** A BlobStore in a local directory: for tests, and for backups to a mounted volume. */
export function createFsStore(root: string): BlobStore {
  const base = resolve(root);
  const pathOf = (key: string): string => {
    const path = resolve(base, key);
    if (!path.startsWith(`${base}${sep}`)) throw new AppError('CONFIG', `key '${key}' leaves the store directory`);
    return path;
  };
  const missing = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'ENOENT';
  return {
    kind: 'fs',
    location: base,
    async put(key, body, options = {}) {
      const path = pathOf(key);
      await mkdir(dirname(path), { recursive: true });
      const partial = `${path}.${randomUUID()}.partial`;
      let bytes = 0;
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      source.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        options.onProgress?.(bytes);
      });
      try {
        if (options.signal === undefined) await pipeline(source, createWriteStream(partial));
        else await pipeline(source, createWriteStream(partial), { signal: options.signal });
        await rename(partial, path);
      } catch (error) {
        await rm(partial, { force: true });
        if (options.signal?.aborted === true) throw new AppError('CANCELLED', `writing ${key} cancelled`, { cause: error });
        throw error;
      }
      return { bytes };
    },
    async get(key) {
      const path = pathOf(key);
      try {
        const info = await stat(path);
        return { body: createReadStream(path), bytes: info.size };
      } catch (error) {
        if (missing(error)) throw new AppError('NOT_FOUND', `${key} does not exist in ${base}`);
        throw error;
      }
    },
    async head(key) {
      try {
        return { key, bytes: (await stat(pathOf(key))).size };
      } catch (error) {
        if (missing(error)) return null;
        throw error;
      }
    },
    async list(prefix) {
      const out: BlobInfo[] = [];
      const walk = async (dir: string): Promise<void> => {
        let handle;
        try {
          handle = await opendir(dir);
        } catch (error) {
          if (missing(error)) return;
          throw error;
        }
        for await (const entry of handle) {
          const path = join(dir, entry.name);
          if (entry.isDirectory()) await walk(path);
          else if (!entry.name.endsWith('.partial')) {
            const key = relative(base, path).split(sep).join('/');
            if (key.startsWith(prefix)) out.push({ key, bytes: (await stat(path)).size });
          }
        }
      };
      await walk(base);
      return out.sort((a, b) => a.key.localeCompare(b.key));
    },
    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
    close() {},
  };
}
