#!/usr/bin/env node
// Runs the TypeScript sources directly so `npx drplan` works right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main/cli.ts');
await main(process.argv);
