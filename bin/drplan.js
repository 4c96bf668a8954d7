#!/usr/bin/env -S node --max-semi-space-size=2
// The runtime flags above are the ones drplan is run with everywhere (the Docker image, npm start,
// the demo, the bench): V8 would otherwise grow its young generation to a hundred megabytes and
// more in a transferring agent, where a few megabytes collect the short-lived buffers as soon.
// Runs the compiled build when there is one at least as new as the sources (npm run build; the
// Docker image always has one): it starts faster and needs less memory. Otherwise it runs the
// TypeScript sources through tsx, so `npx drplan` works right after `npm ci`.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Backups compress on the thread pool alongside file reads: give it room before it first starts.
process.env.UV_THREADPOOL_SIZE ??= '8';

const root = fileURLToPath(new URL('..', import.meta.url));
const compiled = join(root, 'dist', 'src', 'main', 'cli.js');

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

const sources = join(root, 'src');
const fresh = existsSync(compiled) && (!existsSync(sources) || statSync(compiled).mtimeMs >= newest(sources));
let main;
if (fresh && process.env.DRPLAN_FROM_SOURCE === undefined) {
  ({ main } = await import(compiled));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/main/cli.ts'));
}
await main(process.argv);
