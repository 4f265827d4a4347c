// Prints the WebGPU adapter the benchmarks would use, as JSON (scripts/gpu-bench.sh checks that
// Dawn found the GPU, not a software rasteriser, before it spends its time budget).
import { getRuntime } from '../src/index.js';

const rt = await getRuntime();
console.log(JSON.stringify({ ...rt.describe(), limits: rt.limits }));
rt.destroy();
