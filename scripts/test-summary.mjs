// Adds up the vitest JSON reports in .reports/ and prints the closing line CI reads:
// "N passed, N failed, N skipped". A package whose report is missing or that failed without a
// failed test (a crash, an import error) counts as one failure.
import { readFileSync, readdirSync, existsSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const workspaces = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')).workspaces;
const projects = [];
for (const pattern of workspaces) {
  const dir = pattern.replace(/\/\*$/, '');
  for (const name of readdirSync(new URL(`${dir}/`, root))) {
    const pkg = new URL(`${dir}/${name}/package.json`, root);
    if (!existsSync(pkg)) continue;
    const json = JSON.parse(readFileSync(pkg, 'utf8'));
    if (json.scripts?.test) projects.push(json.nx?.name ?? name);
  }
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const project of projects) {
  const file = new URL(`.reports/vitest-${project}.json`, root);
  if (!existsSync(file)) {
    console.log(`[summary] ${project}: no test report (did its test run crash?)`);
    failed++;
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + r.numTodoTests;
  if (!r.success && r.numFailedTests === 0) {
    console.log(`[summary] ${project}: the run failed outside any test (import error or crash)`);
    failed++;
  }
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
