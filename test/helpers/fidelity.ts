import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, lchownSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** A long path: nested directories whose joined length passes 255 characters. */
export const LONG_DIR = Array.from({ length: 6 }, (_, i) => `deeply-nested-directory-level-${i}-${'x'.repeat(20)}`).join('/');

/**
 * Fills `dir` with everything a data directory may hold that a naive archiver gets wrong:
 * absolute, outward, relative and dangling symlinks, modes 0600/0755/0777 (and setuid as root),
 * a sparse file, hard links, a FIFO, unicode names, a path over 255 characters, an empty
 * directory with mode 0700, and nanosecond mtimes.
 */
export function writeHardTree(dir: string, options: { sparseBytes?: number } = {}): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o750);
  writeFileSync(join(dir, 'private.key'), 'secret-ish', { mode: 0o600 });
  writeFileSync(join(dir, 'script.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  writeFileSync(join(dir, 'shared.txt'), 'everyone', { mode: 0o777 });
  chmodSync(join(dir, 'private.key'), 0o600);
  chmodSync(join(dir, 'script.sh'), 0o755);
  chmodSync(join(dir, 'shared.txt'), 0o777);
  if (process.getuid?.() === 0) {
    writeFileSync(join(dir, 'setuid-tool'), 'tool');
    chmodSync(join(dir, 'setuid-tool'), 0o4755);
    writeFileSync(join(dir, 'owned-by-service'), 'the service owns this');
    chownSync(join(dir, 'owned-by-service'), 1234, 5678);
    symlinkSync('owned-by-service', join(dir, 'owned-link'));
    lchownSync(join(dir, 'owned-link'), 1234, 5678);
  }
  mkdirSync(join(dir, 'sub', 'inner'), { recursive: true });
  writeFileSync(join(dir, 'sub', 'inner', 'data.bin'), randomBytes(70_000));
  symlinkSync('/etc/hostname', join(dir, 'abs-link'));
  symlinkSync('../../outside/target', join(dir, 'sub', 'outward-link'));
  symlinkSync('inner/data.bin', join(dir, 'sub', 'relative-link'));
  symlinkSync('does-not-exist', join(dir, 'dangling-link'));
  symlinkSync('sub', join(dir, 'dir-link'));
  // Hard links: three names, one inode.
  writeFileSync(join(dir, 'hard-a'), randomBytes(10_000));
  linkSync(join(dir, 'hard-a'), join(dir, 'hard-b'));
  linkSync(join(dir, 'hard-a'), join(dir, 'sub', 'hard-c'));
  execFileSync('mkfifo', ['-m', '640', join(dir, 'queue.fifo')]);
  writeFileSync(join(dir, 'ünïcödé-名前-🙂.txt'), 'unicode');
  mkdirSync(join(dir, LONG_DIR), { recursive: true });
  writeFileSync(join(dir, LONG_DIR, 'at-the-end-of-a-long-path.txt'), 'long');
  mkdirSync(join(dir, 'empty-private'), { mode: 0o700 });
  chmodSync(join(dir, 'empty-private'), 0o700);
  // Sparse: a hole, some data, a hole, a little data, a hole to the end.
  const sparseBytes = options.sparseBytes ?? 64 * 1024 * 1024;
  const fd = openSync(join(dir, 'sparse.img'), 'w');
  writeSync(fd, randomBytes(8192), 0, 8192, 1024 * 1024);
  writeSync(fd, Buffer.from('tail'), 0, 4, Math.floor(sparseBytes / 2));
  closeSync(fd);
  execFileSync('truncate', ['-s', String(sparseBytes), join(dir, 'sparse.img')]);
  utimesSync(join(dir, 'private.key'), 1_600_000_000.123456, 1_600_000_000.123456);
  writeFileSync(join(dir, 'before-1970.txt'), 'old');
  utimesSync(join(dir, 'before-1970.txt'), -1.5, -1.5);
}

export interface EntryFacts {
  type: string;
  mode: string;
  mtimeMs: number;
  size?: number;
  target?: string;
  nlink?: number;
  /** Allocated 512-byte blocks. */
  blocks?: number;
  uid: number;
  gid: number;
  sha256?: string;
}

/** Every path under `dir` with what a restore must bring back: type, mode, mtime, owner, size, target, link count, allocation, content. */
export function treeFacts(dir: string): Record<string, EntryFacts> {
  const out: Record<string, EntryFacts> = {};
  const walk = (path: string, rel: string): void => {
    const info = lstatSync(path);
    const base = { mode: (info.mode & 0o7777).toString(8), mtimeMs: Math.round(info.mtimeMs), uid: info.uid, gid: info.gid };
    if (info.isSymbolicLink()) out[rel] = { ...base, type: 'symlink', target: readlinkSync(path) };
    else if (info.isDirectory()) {
      // A directory's mtime is checked too: restores set it after writing into it.
      out[rel || '.'] = { ...base, type: 'dir' };
      for (const name of readdirSync(path).sort()) walk(join(path, name), rel === '' ? name : `${rel}/${name}`);
    } else if (info.isFile()) {
      out[rel] = { ...base, type: 'file', size: info.size, nlink: info.nlink, blocks: info.blocks, sha256: createHash('sha256').update(readFileSync(path)).digest('hex') };
    } else if (info.isFIFO()) out[rel] = { ...base, type: 'fifo' };
    else out[rel] = { ...base, type: 'other' };
  };
  walk(dir, '');
  return out;
}

/** The facts with allocation rounded, so that a few blocks of difference compare equal. */
export function comparable(facts: Record<string, EntryFacts>, slackBlocks = 64): Record<string, EntryFacts> {
  return Object.fromEntries(
    Object.entries(facts).map(([path, f]) => [path, f.blocks === undefined ? f : { ...f, blocks: Math.round(f.blocks / slackBlocks) }]),
  );
}
