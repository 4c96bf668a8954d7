import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, it } from 'node:test';
import { compareListPaths, packDirectory, type FileListEntry, type PackOptions } from '../../src/archive/index.js';

import { comparable, treeFacts, writeHardTree } from '../helpers/fidelity.js';
import { tempDir } from '../helpers/tmp.js';
import { expectedFileList } from '../helpers/tree.js';

/** Packs `dir` (against `parent`, for an incremental): the archive, its entries as a file list records them, the deleted paths. */
async function pack(dir: string, snapshot: string, options: PackOptions = {}) {
  const entries: FileListEntry[] = [];
  const deleted: string[] = [];
  const packed = packDirectory(dir, { level: 1, settleMs: 0, onEntry: (e) => entries.push(e.sha256 === undefined || e.in !== undefined ? e : { ...e, in: snapshot }), onDeleted: (p) => deleted.push(p), ...options });
  const bytes = await buffer(packed.stream);
  return { bytes, entries, deleted, stats: (await packed.done).stats };
}

const listOf = (entries: FileListEntry[]): AsyncIterable<FileListEntry> => Readable.from(entries);

const members = (bytes: Buffer): string[] => execFileSync('tar', ['-tzf', '-'], { input: bytes, encoding: 'utf8' }).split('\n').filter((l) => l !== '');

/** What GNU tar alone does with an incremental: remove what its .deleted list names, then extract. */
function applyWithGnuTar(target: string, archive: Buffer, deleted: string[]): void {
  execFileSync('sh', ['-c', 'cd "$1" && xargs -0 -r rm -rf --', 'sh', target], { input: deleted.map((p) => `${p}\0`).join('') });
  execFileSync('tar', ['-xzpf', '-', '-C', target], { input: archive });
}

describe('archive: incrementals against a parent file list', () => {
  it('hold only what changed, list what is gone, and rebuild each tree exactly with GNU tar alone', async () => {
    const dir = join(tempDir(), 'data');
    writeHardTree(dir, { sparseBytes: 4 * 1024 * 1024 });
    mkdirSync(join(dir, 'keep', 'deep'), { recursive: true });
    for (let i = 0; i < 20; i += 1) writeFileSync(join(dir, 'keep', 'deep', `f${i}`), `unchanged ${i}`);
    writeFileSync(join(dir, 'keep', 'big.log'), Buffer.alloc(400_000, 1));
    mkdirSync(join(dir, 'gone', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'gone', 'sub', 'x'), 'x');
    writeFileSync(join(dir, 'to-symlink'), 'a file, then a link');
    mkdirSync(join(dir, 'to-file'));
    writeFileSync(join(dir, 'to-file', 'inside'), 'a directory, then a file');
    writeFileSync(join(dir, 'to-dir'), 'a file, then a directory');
    writeFileSync(join(dir, 'renamed-from'), 'moves');
    const full = await pack(dir, 's0');
    assert.deepEqual(full.deleted, []);
    const restored = join(tempDir(), 'restored');
    mkdirSync(restored);
    applyWithGnuTar(restored, full.bytes, []);

    // Add, change, delete, rename files and directories, change a mode, a file → symlink, a directory → file, a file → directory.
    writeFileSync(join(dir, 'keep', 'new.txt'), 'new');
    mkdirSync(join(dir, 'fresh', 'nested'), { recursive: true });
    writeFileSync(join(dir, 'fresh', 'nested', 'n'), 'n');
    appendFileSync(join(dir, 'keep', 'big.log'), 'appended');
    rmSync(join(dir, 'gone'), { recursive: true });
    rmSync(join(dir, 'private.key'));
    renameSync(join(dir, 'renamed-from'), join(dir, 'renamed-to'));
    renameSync(join(dir, 'sub', 'inner'), join(dir, 'sub', 'inner-moved'));
    chmodSync(join(dir, 'script.sh'), 0o700);
    rmSync(join(dir, 'to-symlink'));
    symlinkSync('keep/new.txt', join(dir, 'to-symlink'));
    rmSync(join(dir, 'to-file'), { recursive: true });
    writeFileSync(join(dir, 'to-file'), 'now a file');
    rmSync(join(dir, 'to-dir'));
    mkdirSync(join(dir, 'to-dir'));
    writeFileSync(join(dir, 'to-dir', 'child'), 'under the new directory');
    const first = await pack(dir, 's1', { parent: listOf(full.entries) });
    assert.deepEqual(first.entries, expectedFileList(dir).map((e) => first.entries.find((f) => f.path === e['path'])?.in === 's0' ? { ...e, in: 's0' } : e['sha256'] === undefined ? e : { ...e, in: 's1' }));
    // Unchanged content stays in the full; everything else is in the incremental.
    const holder = new Map(first.entries.map((e) => [e.path, e.in]));
    assert.equal(holder.get('keep/deep/f7'), 's0');
    assert.equal(holder.get('shared.txt'), 's0');
    for (const path of ['keep/new.txt', 'keep/big.log', 'renamed-to', 'to-file', 'to-dir/child', 'fresh/nested/n', 'script.sh', 'sub/inner-moved/data.bin']) assert.equal(holder.get(path), 's1', path);
    assert.deepEqual(first.deleted, ['gone', 'private.key', 'renamed-from', 'sub/inner', 'to-dir', 'to-file', 'to-symlink']);
    const inside = members(first.bytes);
    assert.ok(!inside.some((m) => m.startsWith('./keep/deep/')), `unchanged files and the directory that holds only them stay out: ${inside.join(' ')}`);
    assert.ok(inside.includes('./keep/big.log') && inside.includes('./keep/') && inside.includes('./to-symlink'), inside.join(' '));
    // Sent again: the appended log, the file whose mode changed, and the hard-linked inode (always sent whole, so its links resolve within the archive).
    assert.deepEqual([first.stats.unchangedFiles > 20, first.stats.changedFiles, first.stats.changedBytes, first.stats.deleted], [true, 3, 400_008 + statSync(join(dir, 'script.sh')).size + 10_000, 7]);
    applyWithGnuTar(restored, first.bytes, first.deleted);
    assert.deepEqual(comparable(treeFacts(restored)), comparable(treeFacts(dir)));

    // A second incremental builds on the first.
    writeFileSync(join(dir, 'keep', 'new.txt'), 'changed again');
    rmSync(join(dir, 'fresh'), { recursive: true });
    const second = await pack(dir, 's2', { parent: listOf(first.entries) });
    assert.deepEqual(second.deleted, ['fresh']);
    assert.equal(new Map(second.entries.map((e) => [e.path, e.in])).get('renamed-to'), 's1');
    applyWithGnuTar(restored, second.bytes, second.deleted);
    assert.deepEqual(comparable(treeFacts(restored)), comparable(treeFacts(dir)));

    // Nothing changed: nothing gone, and nothing in the archive but the hard-linked inode and the directories on its paths.
    const none = await pack(dir, 's3', { parent: listOf(second.entries) });
    assert.deepEqual([members(none.bytes), none.deleted, none.stats.changedFiles], [['./', './hard-a', './hard-b', './sub/', './sub/hard-c'], [], 1]);
    rmSync(join(dir, 'hard-b'));
    rmSync(join(dir, 'sub', 'hard-c'));
    const unlinked = await pack(dir, 's4', { parent: listOf(none.entries) });
    const quiet = await pack(dir, 's5', { parent: listOf(unlinked.entries) });
    assert.deepEqual([members(quiet.bytes), quiet.deleted, quiet.stats.changedFiles], [[], [], 0]);
  });

  it('CHANGE_DETECTION=checksum catches content rewritten under the same size and mtime, which metadata cannot', async () => {
    const dir = join(tempDir(), 'data');
    mkdirSync(dir);
    writeFileSync(join(dir, 'page'), 'AAAA');
    const full = await pack(dir, 's0');
    writeFileSync(join(dir, 'page'), 'BBBB');
    // Back to the exact times the list recorded (utimes keeps only microseconds; touch takes nanoseconds).
    for (const entry of full.entries) execFileSync('touch', ['-m', '-h', '-d', `@${entry.mtime}`, join(dir, entry.path)]);
    const byMetadata = await pack(dir, 's1', { parent: listOf(full.entries) });
    assert.equal(byMetadata.entries.find((e) => e.path === 'page')?.in, 's0', 'size and mtime agree: metadata detection keeps the old content');
    const byChecksum = await pack(dir, 's1', { parent: listOf(full.entries), changeDetection: 'checksum' });
    assert.equal(byChecksum.entries.find((e) => e.path === 'page')?.in, 's1');
    assert.ok(members(byChecksum.bytes).includes('./page'));
  });

  it('orders paths as the archive does, and refuses a parent list out of that order', async () => {
    const paths = ['.', 'a', 'a/b', 'a/b/c', 'a-b', 'a.b', 'b', 'ü'];
    assert.deepEqual([...paths].reverse().sort(compareListPaths), paths);
    const dir = join(tempDir(), 'data');
    mkdirSync(dir);
    writeFileSync(join(dir, 'z'), 'z');
    const list: FileListEntry[] = [
      { path: '.', type: 'dir', size: 0, mode: 0o755, mtime: '1.000000000' },
      { path: 'b', type: 'dir', size: 0, mode: 0o755, mtime: '1.000000000' },
      { path: 'a', type: 'dir', size: 0, mode: 0o755, mtime: '1.000000000' },
    ];
    const packed = packDirectory(dir, { settleMs: 0, parent: listOf(list) });
    await assert.rejects(buffer(packed.stream), /file list is out of order at a \(after b\)/);
    await assert.rejects(packed.done, (error: Error & { code?: string }) => error.code === 'CHECKSUM');
  });
});
