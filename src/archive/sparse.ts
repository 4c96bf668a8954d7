import type { FileHandle } from 'node:fs/promises';

/** The granularity of holes: a filesystem block, as GNU tar uses. */
export const HOLE_BLOCK = 4096;
const ZERO = Buffer.alloc(HOLE_BLOCK);
const SCAN_CHUNK = 1024 * 1024;

/** A data region of a sparse file: offset and length. */
export type Region = readonly [number, number];

/** Whether a file has fewer blocks allocated than its size needs: it has holes. */
export function looksSparse(size: bigint, blocks: bigint): boolean {
  return size > BigInt(HOLE_BLOCK) && blocks * 512n < size;
}

/**
 * The data regions of a file: every run of blocks that are not all zero. Node has no SEEK_DATA,
 * so the file is read once (reading a hole costs no disk I/O); zero blocks become holes on
 * restore. The last region is the empty one at the end of the file, as GNU tar writes it.
 */
export async function scanRegions(handle: FileHandle, size: number, signal?: AbortSignal): Promise<Region[]> {
  const regions: Array<[number, number]> = [];
  const buffer = Buffer.allocUnsafe(SCAN_CHUNK);
  let offset = 0;
  while (offset < size) {
    signal?.throwIfAborted();
    const { bytesRead } = await handle.read(buffer, 0, Math.min(SCAN_CHUNK, size - offset), offset);
    if (bytesRead === 0) break;
    for (let at = 0; at < bytesRead; at += HOLE_BLOCK) {
      const end = Math.min(at + HOLE_BLOCK, bytesRead);
      const zero = buffer.compare(ZERO, 0, end - at, at, end) === 0;
      if (zero) continue;
      const start = offset + at;
      const last = regions.at(-1);
      if (last !== undefined && last[0] + last[1] === start) last[1] += end - at;
      else regions.push([start, end - at]);
    }
    offset += bytesRead;
  }
  regions.push([size, 0]);
  return regions;
}

/** Bytes of data in the regions. */
export const regionBytes = (regions: readonly Region[]): number => regions.reduce((sum, [, length]) => sum + length, 0);
