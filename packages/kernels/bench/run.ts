// Runs the kernel benchmark suites: every bench/<suite>.bench.ts, or those named on the command
// line. `REPIRL_BENCH_QUICK=1` runs the smallest sizes only (a smoke run); results go to
// bench-results/<suite>.json at the repository root and a table to stdout.
import { readdirSync } from 'node:fs';
import { getRuntime } from '../src/index.js';
import { makeContext, runSuite, type Suite } from './harness.js';

const here = new URL('./', import.meta.url);
const available = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
  .sort();
const requested = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of requested) {
  if (!available.includes(name)) {
    console.error(`unknown suite "${name}"; available: ${available.join(', ')}`);
    process.exit(2);
  }
}
const suites = requested.length > 0 ? requested : available;
const quick = process.env.REPIRL_BENCH_QUICK === '1';
const rt = await getRuntime();
const info = rt.describe();
console.log(`# kernel benchmarks — ${info.description || info.device} (${info.backend}), LP_NUM_THREADS=${process.env.LP_NUM_THREADS ?? 'default'}${quick ? ', quick' : ''}`);
console.log('# columns: our median, our throughput, then each peer: throughput (×ratio = peer time / our time; >1 = we are faster)');
const ctx = makeContext(rt, quick);
const options = {
  timeMs: quick ? 200 : 1500,
  minIterations: quick ? 2 : 5,
  // Quick (smoke) runs are not baselines: they go to an ignored folder.
  resultsDir: new URL(quick ? '../../../bench-results/quick/' : '../../../bench-results/', import.meta.url),
};
for (const name of suites) {
  const mod = (await import(`./${name}.bench.ts`)) as { default: Suite };
  await runSuite(name, mod.default, ctx, options);
}
