import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, opendir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, fromSystemError } from '../shared/index.js';
import type { BlobInfo, BlobStore } from './types.js';
import { counted } from './watch.js';

const etagOf = (info: { ino: number; size: number; mtimeMs: number }): string => `${info.ino}-${info.size}-${info.mtimeMs}`;
/** An object's metadata sits beside it, under this suffix (never listed as an object). */
const META = '.drplan-meta';

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
    url: `file://${base}`,
    async put(key, body, options = {}) {
      const path = pathOf(key);
      await mkdir(dirname(path), { recursive: true });
      const partial = `${path}.${randomUUID()}.partial`;
      let bytes = 0;
      const source = counted(Buffer.isBuffer(body) ? Readable.from([body]) : body, (n) => {
        bytes = n;
        options.onProgress?.(n);
      });
      try {
        if (options.signal === undefined) await pipeline(source, createWriteStream(partial));
        else await pipeline(source, createWriteStream(partial), { signal: options.signal });
        if (options.create === true) {
          // link() never replaces: the conditional create of a filesystem.
          await link(partial, path).catch((error: unknown) => {
            if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new AppError('CONFLICT', `${key} already exists in ${base}`);
            throw error;
          });
          await unlink(partial);
        } else {
          await rename(partial, path);
        }
        if (options.metadata !== undefined) await writeFile(`${path}${META}`, JSON.stringify(options.metadata));
        else await rm(`${path}${META}`, { force: true });
      } catch (error) {
        await rm(partial, { force: true });
        if (options.signal?.aborted === true) throw new AppError('CANCELLED', `writing ${key} cancelled`, { cause: error });
        throw fromSystemError(error, `writing ${key} in ${base}`);
      }
      return { bytes, etag: etagOf(await stat(path)) };
    },
    async get(key) {
      const path = pathOf(key);
      try {
        const info = await stat(path);
        return { body: createReadStream(path), bytes: info.size, etag: etagOf(info) };
      } catch (error) {
        if (missing(error)) throw new AppError('NOT_FOUND', `${key} does not exist in ${base}`);
        throw fromSystemError(error, `reading ${key} in ${base}`);
      }
    },
    async head(key) {
      try {
        const info = await stat(pathOf(key));
        const metadata = await readFile(`${pathOf(key)}${META}`, 'utf8').then(
          (text) => JSON.parse(text) as Record<string, string>,
          () => ({}),
        );
        return { key, bytes: info.size, etag: etagOf(info), metadata };
      } catch (error) {
        if (missing(error)) return null;
        throw fromSystemError(error, `reading ${key} in ${base}`);
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
          else if (!entry.name.endsWith('.partial') && !entry.name.endsWith(META)) {
            const key = relative(base, path).split(sep).join('/');
            if (key.startsWith(prefix)) {
              const info = await stat(path);
              out.push({ key, bytes: info.size, etag: etagOf(info) });
            }
          }
        }
      };
      await walk(base);
      return out.sort((a, b) => a.key.localeCompare(b.key));
    },
    async delete(key) {
      await rm(pathOf(key), { force: true });
      await rm(`${pathOf(key)}${META}`, { force: true });
    },
    close() {},
  };
}
