import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  ftruncateSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { AppError, fromSystemError } from '../shared/index.js';
import { emptyStats, type TreeStats } from './tar-pack.js';
import { timeSeconds, type EntryHeader } from './tar-format.js';
import type { TarSink } from './tar-read.js';
import { SparseWriter } from './sparse-writer.js';

const MAX_PATH_BYTES = 4095;

export interface FsSinkOptions {
  /** Names the archive in messages. */
  label: string;
  /** Restore owners (uid, gid) and setuid/setgid bits: what tar does when run as root. @defaultValue process.getuid() === 0 */
  asRoot?: boolean;
}

interface DirMeta {
  abs: string;
  header: EntryHeader | null;
}

type Open = { fd: number; rel: string; header: EntryHeader; sparse: SparseWriter | null; written: number };

/**
 * Writes a tar's entries into `root`, a fresh, empty staging directory, under one rule: nothing
 * is ever created, written or changed through a symlink. Every directory the extraction writes
 * into is one it made itself (or checked with lstat), files are opened O_EXCL|O_NOFOLLOW, and
 * hard links may only name files this archive already wrote. Symlinks themselves are restored
 * exactly as they were, wherever they point. Modes are exact (no umask), owners and setuid bits
 * only as root; directory modes and times are applied at the end, deepest first.
 */
export class FsSink implements TarSink {
  readonly stats: TreeStats = emptyStats();
  private readonly dirs = new Set<string>(['']);
  private readonly dirMeta: DirMeta[] = [];
  private rootHeader: EntryHeader | null = null;
  private current: Open | null = null;
  private readonly asRoot: boolean;
  private readonly now = Date.now() / 1000;
  finished = false;

  constructor(
    private readonly root: string,
    private readonly options: FsSinkOptions,
  ) {
    this.asRoot = options.asRoot ?? process.getuid?.() === 0;
  }

  private refuse(path: string, problem: string): AppError {
    return new AppError('UNSAFE_ARCHIVE', `${this.options.label}: entry '${path}' ${problem}; nothing was restored`);
  }

  /** `./a//b/` → `a/b`; absolute paths and `..` are refused. */
  private normalize(path: string, entry = path, what = 'has'): string {
    if (path.startsWith('/')) throw this.refuse(entry, `${what} an absolute path`);
    if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw this.refuse(entry.slice(0, 80), `${what} a path of ${Buffer.byteLength(path)} bytes`);
    const parts = path.split('/').filter((part) => part !== '' && part !== '.');
    if (parts.includes('..')) throw this.refuse(entry, `${what} a '..' component`);
    return parts.join('/');
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /** Every ancestor of `rel` is a real directory: one this extraction made, or made now. */
  private ensureParents(rel: string, path: string, create: boolean): void {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const dir = parts.slice(0, i).join('/');
      if (this.dirs.has(dir)) continue;
      const abs = this.abs(dir);
      let info;
      try {
        info = lstatSync(abs);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fromSystemError(error, `restoring ${dir}`);
        if (!create) throw this.refuse(path, `names '${dir}', which the archive did not create`);
        this.mkdir(abs, dir);
        this.dirMeta.push({ abs, header: null });
        continue;
      }
      if (info.isSymbolicLink()) throw this.refuse(path, `would be written through the symlink '${dir}'`);
      if (!info.isDirectory()) throw this.refuse(path, `would be written below '${dir}', which is not a directory`);
      this.dirs.add(dir);
    }
  }

  private mkdir(abs: string, rel: string): void {
    try {
      mkdirSync(abs, { mode: 0o700 });
    } catch (error) {
      throw fromSystemError(error, `restoring ${rel}`);
    }
    this.dirs.add(rel);
  }

  /** Runs `create`; a previous non-directory entry at the same path is replaced, as tar does. */
  private replacing(abs: string, rel: string, path: string, create: () => void): void {
    try {
      create();
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(error, `restoring ${rel}`);
    }
    if (this.dirs.has(rel) || lstatSync(abs).isDirectory()) throw this.refuse(path, 'would replace a directory the archive already has');
    try {
      unlinkSync(abs);
      create();
    } catch (error) {
      throw fromSystemError(error, `restoring ${rel}`);
    }
  }

  /** An earlier non-directory entry of the same name goes, as tar replaces it. */
  private removeEarlier(abs: string, rel: string, path: string): void {
    let info;
    try {
      info = lstatSync(abs);
    } catch {
      return;
    }
    if (this.dirs.has(rel) || info.isDirectory()) throw this.refuse(path, 'would replace a directory the archive already has');
    unlinkSync(abs);
  }

  private mode(header: EntryHeader): number {
    return header.mode & (this.asRoot ? 0o7777 : 0o1777);
  }

  begin(header: EntryHeader): void {
    const path = header.path;
    const rel = this.normalize(path);
    if (rel === '') {
      if (header.type !== 'dir') throw this.refuse(path, 'is the archive root but not a directory');
      this.rootHeader = header;
      return;
    }
    if (header.type === 'chardev' || header.type === 'blockdev') {
      throw this.refuse(path, `is a ${header.type === 'chardev' ? 'character' : 'block'} device: devices are not restored`);
    }
    this.ensureParents(rel, path, true);
    const abs = this.abs(rel);
    try {
      switch (header.type) {
        case 'dir':
          if (!this.dirs.has(rel)) {
            this.replacing(abs, rel, path, () => mkdirSync(abs, { mode: 0o700 }));
            this.dirs.add(rel);
          }
          this.dirMeta.push({ abs, header });
          this.stats.dirs += 1;
          return;
        case 'file': {
          let fd = -1;
          this.replacing(abs, rel, path, () => {
            fd = openSync(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          });
          this.current = { fd, rel, header, sparse: header.sparse === undefined ? null : new SparseWriter(fd, header.sparse.realSize, this.options.label, path), written: 0 };
          return;
        }
        case 'symlink':
          this.replacing(abs, rel, path, () => symlinkSync(header.linkpath, abs));
          if (this.asRoot) lchownSync(abs, header.uid, header.gid);
          lutimesSync(abs, this.now, timeSeconds(header.mtime));
          this.stats.symlinks += 1;
          return;
        case 'hardlink': {
          const target = this.normalize(header.linkpath, path, 'is a hard link with');
          this.ensureParents(target, path, false);
          let info;
          try {
            info = lstatSync(this.abs(target));
          } catch {
            throw this.refuse(path, `is a hard link to '${header.linkpath}', which the archive did not create`);
          }
          if (!info.isFile()) throw this.refuse(path, `is a hard link to '${header.linkpath}', which is not a regular file`);
          this.replacing(abs, rel, path, () => linkSync(this.abs(target), abs));
          this.stats.hardlinks += 1;
          return;
        }
        case 'fifo':
          // Node cannot make a FIFO: mkfifo does, after any earlier entry of the name is gone.
          this.removeEarlier(abs, rel, path);
          try {
            execFileSync('mkfifo', ['-m', '600', '--', abs], { stdio: ['ignore', 'ignore', 'pipe'] });
          } catch (error) {
            const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
            throw new AppError('INTERNAL', `cannot restore the FIFO ${rel}: mkfifo failed: ${stderr || (error as Error).message}`);
          }
          if (this.asRoot) chownSync(abs, header.uid, header.gid);
          chmodSync(abs, this.mode(header));
          utimesSync(abs, this.now, timeSeconds(header.mtime));
          this.stats.fifos += 1;
          return;
      }
    } catch (error) {
      throw fromSystemError(error, `restoring ${rel}`);
    }
  }

  data(chunk: Buffer): void {
    const open = this.current;
    if (open === null) return;
    try {
      if (open.sparse !== null) open.sparse.write(chunk);
      else writeSync(open.fd, chunk);
      open.written += chunk.length;
    } catch (error) {
      throw fromSystemError(error, `restoring ${open.rel}`);
    }
  }

  end(): void {
    const open = this.current;
    if (open === null) return;
    this.current = null;
    try {
      open.sparse?.finish();
      if (open.sparse !== null) ftruncateSync(open.fd, open.header.sparse?.realSize ?? 0);
      // Owner first: chown clears setuid and setgid, which the mode then puts back.
      if (this.asRoot) fchownSync(open.fd, open.header.uid, open.header.gid);
      fchmodSync(open.fd, this.mode(open.header));
      futimesSync(open.fd, this.now, timeSeconds(open.header.mtime));
      this.stats.files += 1;
      this.stats.dataBytes += open.sparse === null ? open.written : (open.header.sparse?.realSize ?? 0);
      if (open.sparse !== null) this.stats.sparse += 1;
    } catch (error) {
      throw fromSystemError(error, `restoring ${open.rel}`);
    } finally {
      closeSync(open.fd);
    }
  }

  finish(): void {
    try {
      // Deepest first: writing into a directory changes its times, and a read-only mode would stop the writes.
      const dirs = [...this.dirMeta].sort((a, b) => b.abs.length - a.abs.length);
      for (const { abs, header } of [...dirs, { abs: this.root, header: this.rootHeader }]) {
        if (header === null) {
          if (abs !== this.root) chmodSync(abs, 0o755);
          continue;
        }
        if (this.asRoot) chownSync(abs, header.uid, header.gid);
        chmodSync(abs, this.mode(header));
        utimesSync(abs, this.now, timeSeconds(header.mtime));
      }
    } catch (error) {
      throw fromSystemError(error, 'restoring directory modes and times');
    }
    this.finished = true;
  }

  /** Closes a file left open by an archive that failed mid-entry. */
  abort(): void {
    if (this.current !== null) {
      closeSync(this.current.fd);
      this.current = null;
    }
  }
}
