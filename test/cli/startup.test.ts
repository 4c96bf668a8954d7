import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';

const SRC = join(import.meta.dirname, '../../src');

/** Modules loaded at once when `file` is imported: its static value imports, followed (type-only and dynamic imports left out). */
function staticGraph(file: string, seen = new Set<string>(), packages = new Set<string>()): { files: Set<string>; packages: Set<string> } {
  if (seen.has(file)) return { files: seen, packages };
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(/^(?:import|export)\s+(?!type\b)(?:[^'";]*?\sfrom\s+)?'([^']+)';/gm)) {
    const spec = match[1] ?? '';
    if (spec.startsWith('.')) {
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      if (existsSync(target)) staticGraph(target, seen, packages);
    } else {
      packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] ?? spec));
    }
  }
  return { files: seen, packages };
}

describe('the CLI starts light', () => {
  it('loads no server, queue, Redis client, storage SDK or YAML parser for its HTTP commands', () => {
    const { packages } = staticGraph(join(SRC, 'main/cli.ts'));
    for (const heavy of ['@aws-sdk/client-s3', '@aws-sdk/lib-storage', '@azure/storage-blob', '@azure/identity', 'bullmq', 'ioredis', 'fastify', 'yaml', 'tar']) {
      assert.ok(!packages.has(heavy), `src/main/cli.ts loads ${heavy} before any command runs`);
    }
    assert.ok(packages.has('commander'), 'the graph is read (commander is there)');
  });

  it('loads them for the long-running commands, from server-commands', () => {
    const { packages } = staticGraph(join(SRC, 'main/server-commands.ts'));
    for (const needed of ['@aws-sdk/client-s3', 'bullmq', 'fastify']) assert.ok(packages.has(needed), needed);
  });
});
