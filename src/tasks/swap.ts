import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { removeTree } from './remove.js';

/**
 * Puts `staging` where `dataDir` is with two renames on one filesystem: the old data moves aside to
 * `previous` first and comes back if the second rename fails. Only then is the old data deleted.
 */
export async function swapIn(dataDir: string, staging: string, previous: string): Promise<void> {
  await removeTree(previous);
  await mkdir(dirname(dataDir), { recursive: true });
  const moved = existsSync(dataDir);
  if (moved) await rename(dataDir, previous);
  try {
    await rename(staging, dataDir);
  } catch (error) {
    if (moved) await rename(previous, dataDir);
    throw error;
  }
  if (moved) await removeTree(previous);
}
