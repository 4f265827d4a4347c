// Runs the autograd benchmark suites (bench/<suite>.bench.ts): all, or those named on the command line.
import { runBenchmarks } from '@repirl/kernels/bench';

await runBenchmarks('autograd', new URL('./', import.meta.url), process.argv.slice(2));
