// Runs the kernel benchmark suites (bench/<suite>.bench.ts): all, or those named on the command line.
import { runBenchmarks } from './harness.js';

await runBenchmarks('kernels', new URL('./', import.meta.url), process.argv.slice(2));
