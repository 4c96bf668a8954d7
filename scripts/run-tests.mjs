// Runs every test/**/*.test.ts with node:test through tsx. Node 20's --test took no globs,
// so the files are listed here. Extra arguments go to node (e.g. --test-name-pattern=...).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? find(join(dir, entry.name)) : entry.name.endsWith('.test.ts') ? [join(dir, entry.name)] : []))
    .sort();
}

if (Number(process.versions.node.split('.')[0]) < 24) {
  process.stderr.write(
    `drplan needs Node.js 24 or newer; this is ${process.version} (${process.execPath}). On Linux (x64, arm64) npm ci installs it into node_modules/.bin, which npm scripts run first; elsewhere install Node 24.\n`,
  );
  process.exit(1);
}

const args = process.argv.slice(2);
const files = args.some((a) => a.endsWith('.test.ts')) ? args.filter((a) => a.endsWith('.test.ts')) : find('test');
const options = args.filter((a) => !a.endsWith('.test.ts'));
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...options, ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
