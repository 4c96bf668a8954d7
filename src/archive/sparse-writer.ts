import { writeSync } from 'node:fs';
import { AppError } from '../shared/index.js';
import { BLOCK } from './tar-format.js';

/** A map longer than this is not one drplan wrote: refused rather than buffered. */
const MAX_MAP_BYTES = 16 * 1024 * 1024;

/**
 * Writes the data of a PAX sparse 1.0 entry: the map (a count, then offset and length of each
 * data region, one decimal number a line, padded to a block), then the regions' bytes, each
 * written at its offset so that the holes between them stay holes.
 */
export class SparseWriter {
  private mapText = '';
  private mapBytes = 0;
  private regions: Array<[number, number]> | null = null;
  private skip = 0;
  private region = 0;
  private into = 0;

  constructor(
    private readonly fd: number,
    private readonly realSize: number,
    private readonly label: string,
    private readonly path: string,
  ) {}

  private bad(what: string): AppError {
    return new AppError('CHECKSUM', `${this.label} is not a valid archive: the sparse file '${this.path}' ${what}`);
  }

  write(input: Buffer): void {
    let chunk = input;
    if (this.regions === null) {
      this.mapText += chunk.toString('latin1');
      this.mapBytes += chunk.length;
      const parsed = this.parseMap();
      if (parsed === null) {
        if (this.mapBytes > MAX_MAP_BYTES) throw this.bad('has a map of more than 16 MiB');
        return;
      }
      // What followed the map's last line in this chunk: padding, then region data.
      const consumed = parsed.textBytes + ((BLOCK - (parsed.textBytes % BLOCK)) % BLOCK);
      const rest = Buffer.from(this.mapText, 'latin1').subarray(parsed.textBytes);
      this.regions = parsed.regions;
      this.skip = consumed - parsed.textBytes;
      this.mapText = '';
      chunk = rest;
    }
    if (this.skip > 0) {
      const drop = Math.min(this.skip, chunk.length);
      this.skip -= drop;
      chunk = chunk.subarray(drop);
    }
    const regions = this.regions;
    while (chunk.length > 0) {
      const current = regions[this.region];
      if (current === undefined) throw this.bad('has more data than its map describes');
      const [offset, length] = current;
      const take = Math.min(length - this.into, chunk.length);
      if (take > 0) writeSync(this.fd, chunk, 0, take, offset + this.into);
      this.into += take;
      chunk = chunk.subarray(take);
      if (this.into === length) {
        this.region += 1;
        this.into = 0;
      }
    }
  }

  /** The regions and the bytes of map text, once every line of the map is in. */
  private parseMap(): { regions: Array<[number, number]>; textBytes: number } | null {
    const lines = this.mapText.split('\n');
    if (lines.length < 2) return null;
    const decimal = (text: string | undefined): number => (text !== undefined && /^\d{1,16}$/.test(text) ? Number(text) : NaN);
    const count = decimal(lines[0]);
    if (!Number.isSafeInteger(count)) throw this.bad(`has a map with a bad region count '${lines[0]?.slice(0, 20) ?? ''}'`);
    if (lines.length - 1 < 1 + 2 * count) return null;
    const regions: Array<[number, number]> = [];
    let end = 0;
    for (let i = 0; i < count; i += 1) {
      const offset = decimal(lines[1 + 2 * i]);
      const length = decimal(lines[2 + 2 * i]);
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < end || length < 0 || offset + length > this.realSize) {
        throw this.bad('has a map whose regions overlap, go backwards or pass its end');
      }
      regions.push([offset, length]);
      end = offset + length;
    }
    const textBytes = lines.slice(0, 1 + 2 * count).reduce((sum, line) => sum + line.length + 1, 0);
    return { regions, textBytes };
  }

  /** The entry ended: every region must have come. */
  finish(): void {
    const regions = this.regions;
    if (regions === null) throw this.bad('ends inside its map');
    const left = regions.slice(this.region).some(([, length], i) => (i === 0 ? length - this.into : length) > 0);
    if (left) throw this.bad('ends before all its regions');
  }
}
