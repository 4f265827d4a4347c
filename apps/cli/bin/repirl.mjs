#!/usr/bin/env node
// The `repirl` that npm links into node_modules/.bin (so `npx repirl …` works in a checkout).
// In a checkout it runs the TypeScript source through tsx, a devDependency of the workspace, with
// the 'source' export condition so the @repirl/* packages resolve to their src/ as well: a fresh
// clone needs no build, and an edit never runs against a stale one. Where there is no source or
// no tsx (the published package, installed without devDependencies), it runs the build in dist/.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const source = new URL('../src/bin.ts', import.meta.url);
const build = new URL('../dist/bin.js', import.meta.url);
const tsx = existsSync(source) ? await import('tsx/esm/api').catch(() => null) : null;

if (tsx !== null) {
  register('./source-condition.mjs', import.meta.url);
  tsx.register();
  await import(source.href);
} else if (existsSync(build)) {
  await import(build.href);
} else {
  console.error('repirl: neither tsx (to run src/, `npm ci` in the checkout installs it) nor a build in dist/ (`npm run build`) was found');
  process.exitCode = 1;
}
