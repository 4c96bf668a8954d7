import { createWriteStream } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

/** mulberry32: a small seeded PRNG, so datasets are the same on every machine. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = 'alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango'.split(' ');

/**
 * Bytes that compress about as well as database files: runs of words and numbers mixed with
 * random bytes. Generated in chunks, so a file of any size streams with constant memory.
 */
export function content(rand: () => number, size: number): Readable {
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const length = Math.min(left, 256 * 1024);
      const chunk = Buffer.allocUnsafe(length);
      let at = 0;
      while (at < length) {
        if (rand() < 0.3) {
          const n = Math.min(length - at, 16 + Math.floor(rand() * 48));
          for (let i = 0; i < n; i += 1) chunk[at + i] = Math.floor(rand() * 256);
          at += n;
        } else {
          const word = `${WORDS[Math.floor(rand() * WORDS.length)] ?? 'x'} ${Math.floor(rand() * 100000)}\n`;
          at += chunk.write(word, at, 'latin1');
        }
      }
      left -= length;
      this.push(chunk);
    },
  });
}

export interface DatasetOptions {
  seed: number;
  /** Total bytes in large files. */
  largeBytes: number;
  largeFiles: number;
  /** Count of small files (1–16 KiB), spread over nested directories. */
  smallFiles: number;
}

/** Fills `dir` with a dataset: large files, many small ones, empty files and directories, odd names, a symlink. */
export async function writeDataset(dir: string, options: DatasetOptions): Promise<{ files: number; bytes: number }> {
  const rand = random(options.seed);
  let files = 0;
  let bytes = 0;
  await mkdir(join(dir, 'large'), { recursive: true });
  for (let i = 0; i < options.largeFiles; i += 1) {
    const size = Math.floor(options.largeBytes / options.largeFiles);
    await pipeline(content(rand, size), createWriteStream(join(dir, 'large', `segment-${String(i).padStart(4, '0')}.dat`)));
    files += 1;
    bytes += size;
  }
  for (let i = 0; i < options.smallFiles; i += 1) {
    const sub = join(dir, 'small', `shard-${i % 16}`, `part-${Math.floor(i / 16) % 8}`);
    await mkdir(sub, { recursive: true });
    const size = 1024 + Math.floor(rand() * 15 * 1024);
    await pipeline(content(rand, size), createWriteStream(join(sub, `record-${i}.json`)));
    files += 1;
    bytes += size;
  }
  await mkdir(join(dir, 'empty-dir', 'nested-empty'), { recursive: true });
  await writeFile(join(dir, 'empty-file'), '');
  await writeFile(join(dir, 'name with spaces.txt'), 'spaces\n');
  await writeFile(join(dir, 'ünïcødé-名前.txt'), 'unicode\n');
  await writeFile(join(dir, 'config.ini'), `[node]\nseed=${options.seed}\n`, { mode: 0o600 });
  await symlink('config.ini', join(dir, 'current-config')).catch(() => undefined);
  files += 4;
  return { files, bytes };
}
