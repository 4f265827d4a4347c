// Prints the headline figures of a GPU benchmark run (scripts/gpu-bench.sh) from the records in one
// folder: matmul GFLOP/s and its fraction of the fp32 peak, attention and log-prob throughput, train
// and decode tokens/s, PyTorch CUDA beside each where torch-cuda.json holds the same case, and the
// profile's top kernels. The peak: REPIRL_FP32_PEAK_TFLOPS, default 67 (NVIDIA H100 SXM5, 66.9 TFLOP/s
// fp32 without tensor cores).
//   node scripts/bench/gpu-summary.mjs bench-results/gpu
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node scripts/bench/gpu-summary.mjs <records folder>');
const peak = Number(process.env.REPIRL_FP32_PEAK_TFLOPS ?? 67);
const load = (f) => (existsSync(join(dir, f)) ? JSON.parse(readFileSync(join(dir, f), 'utf8')) : null);
const fmt = (x) => (!Number.isFinite(x) ? String(x) : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(3));
const torch = load('torch-cuda.json');
const torchCase = (name) => torch?.results?.find((r) => r.case === name);
const rows = [];
const row = (what, rec, extra = '') => {
  if (!rec) return;
  const t = torchCase(rec.case);
  const peer = t ? ` · PyTorch ${torch.suite === 'torch-cuda' ? 'CUDA' : 'CPU'} ${fmt(t.throughput)} ${t.unit} (ours ×${fmt(rec.throughput / t.throughput)})` : '';
  rows.push(`${what.padEnd(44)} ${fmt(rec.throughput).padStart(9)} ${rec.unit}${extra}${peer}`);
};

const adapter = load('adapter.json');
if (adapter) console.log(`adapter: ${adapter.description || adapter.device} (${adapter.vendor}, ${adapter.backend}; ${adapter.features.join(', ')})`);
const matmul = load('matmul.json');
for (const r of matmul?.results ?? []) row(r.case, r, ` = ${((100 * r.throughput) / (peak * 1000)).toFixed(2)}% of ${peak} TFLOP/s fp32`);
for (const r of load('attention.json')?.results ?? []) if (/^attention fwd\+bwd B/.test(r.case)) row(r.case, r);
for (const r of load('logprob.json')?.results ?? []) if (/^logprob fwd\+bwd/.test(r.case)) row(r.case, r);
for (const r of load('model.json')?.results ?? []) row(r.case, r);
if (rows.length === 0) console.log('no records found in ' + dir);
for (const r of rows) console.log('  ' + r);
if (torch?.skipped) console.log(`  PyTorch: skipped (${torch.skipped})`);
if (torch?.results) {
  const tf32 = torch.results.filter((r) => r.params?.tf32);
  for (const r of tf32) console.log(`  PyTorch ${r.case}: ${fmt(r.throughput)} GFLOP/s (tensor cores; for reference)`);
}
const profile = load('profile/model.json');
for (const s of profile?.steps ?? []) {
  const top = s.kernels.slice(0, 3).map((k) => `${k.name} ${(100 * k.share).toFixed(0)}%`).join(', ');
  console.log(`  profile ${s.step}: wall ${fmt(s.wall_ms)} ms, GPU busy ${fmt(s.gpu_ms)} ms, ${fmt(s.counts.dispatches)} dispatches, ${fmt(s.counts.submits)} submits, ${fmt(s.counts.readbacks)} read-backs; top: ${top}`);
}
