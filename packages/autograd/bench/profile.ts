// Where a training step and a decode step of the model bench's model spend their time (issue 17
// item 1): GPU time per kernel (timestamp queries; host-timed per dispatch where the device has
// none), host time inside the runtime (encoding, submitting, waiting) and outside it (autograd,
// sampling: the rest of the wall time), and the counts of dispatches, submits, array allocations,
// new GPU buffers, read-backs and uploads per step. Printed as tables and written to
// bench-results/profile/model.json (quick: bench-results/quick/profile/; REPIRL_BENCH_RESULTS
// moves both). Runs from the model suite with REPIRL_PROFILE=1, or alone:
//   cd packages/autograd && LP_NUM_THREADS=8 npx tsx --conditions=source bench/profile.ts
// One train step = forward + backward + AdamW (the bench's step, gradient-norm read-back
// included), the mean of `steps` steps after one untimed step. One decode step = (generate 128
// tokens − generate 1 token) / 127 with the KV cache, batch 8: the per-token cost of the bench's
// generation case, the final read-back of all tokens amortised.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { getRuntime, type KernelTiming, type Profile, type RuntimeCounters } from '@repirl/kernels';
import { benchResultsDir, machineInfo } from '@repirl/kernels/bench';
import { DecoderLM, GpuBackend, generate } from '../src/index.js';
import { BENCH_MODEL, BENCH_PROMPTS, trainer } from './model.bench.js';

export interface KernelShare {
  name: string;
  count: number;
  ms: number;
  /** Share of the step's summed GPU time. */
  share: number;
  variants: Record<string, { count: number; ms: number }>;
}

export interface StepProfile {
  step: string;
  /** Steps the figures are the mean of (decode: the difference of two runs, divided). */
  averaged_over: number;
  wall_ms: number;
  gpu_ms: number;
  gpu_source: Profile['source'];
  host: { encode_ms: number; submit_ms: number; wait_ms: number; other_ms: number };
  counts: RuntimeCounters;
  kernels: KernelShare[];
}

export interface ProfileReport {
  suite: 'profile';
  date: string;
  command: string;
  machine: ReturnType<typeof machineInfo>;
  adapter: ReturnType<Awaited<ReturnType<typeof getRuntime>>['describe']>;
  note: string;
  steps: StepProfile[];
}

const COUNT_KEYS = ['dispatches', 'submits', 'arrays', 'buffersCreated', 'readbacks', 'readbackBytes', 'uploads', 'uploadBytes', 'syncs'] as const;

/** (a − b) / n for every figure of two profiles (b may be null: a / n). */
function perStep(name: string, a: Profile, b: Profile | null, n: number): StepProfile {
  const sub = (x: number, y: number | undefined) => (x - (y ?? 0)) / n;
  const counts = {} as RuntimeCounters;
  for (const k of COUNT_KEYS) counts[k] = sub(a.counts[k], b?.counts[k]);
  const before = new Map<string, KernelTiming>((b?.kernels ?? []).map((k) => [k.name, k]));
  const kernels: KernelShare[] = a.kernels.map((k) => {
    const o = before.get(k.name);
    const variants: KernelShare['variants'] = {};
    for (const [v, t] of Object.entries(k.variants ?? {})) {
      const ov = o?.variants?.[v];
      variants[v] = { count: sub(t.count, ov?.count), ms: sub(t.ms, ov?.ms) };
    }
    return { name: k.name, count: sub(k.count, o?.count), ms: sub(k.ms, o?.ms), share: 0, variants };
  });
  const gpuMs = sub(a.gpuMs, b?.gpuMs);
  for (const k of kernels) k.share = gpuMs > 0 ? k.ms / gpuMs : 0;
  kernels.sort((x, y) => y.ms - x.ms);
  const wall = sub(a.wallMs, b?.wallMs);
  const host = {
    encode_ms: sub(a.host.encodeMs, b?.host.encodeMs),
    submit_ms: sub(a.host.submitMs, b?.host.submitMs),
    wait_ms: sub(a.host.waitMs, b?.host.waitMs),
    other_ms: 0,
  };
  host.other_ms = wall - host.encode_ms - host.submit_ms - host.wait_ms;
  return { step: name, averaged_over: n, wall_ms: wall, gpu_ms: gpuMs, gpu_source: a.source, host, counts, kernels };
}

const f = (x: number, d = 1) => (Number.isInteger(x) ? String(x) : x.toFixed(d));
const bytes = (n: number) => (n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${f(n)} B`);

export function formatStep(s: StepProfile): string {
  const c = s.counts;
  const lines = [
    `### ${s.step} (per step, mean of ${s.averaged_over}; GPU times: ${s.gpu_source === 'timestamp' ? 'timestamp queries' : 'host-timed per dispatch'})`,
    `wall ${f(s.wall_ms)} ms · GPU busy ${f(s.gpu_ms)} ms (${f((100 * s.gpu_ms) / s.wall_ms)}% of wall) · host in runtime: encode ${f(s.host.encode_ms)}, submit ${f(s.host.submit_ms)}, wait ${f(s.host.wait_ms)} ms · host outside the runtime ${f(s.host.other_ms)} ms`,
    `dispatches ${f(c.dispatches)} · submits ${f(c.submits)} · arrays allocated ${f(c.arrays)} · new GPU buffers ${f(c.buffersCreated)} · read-backs ${f(c.readbacks)} (${bytes(c.readbackBytes)}) · uploads ${f(c.uploads)} (${bytes(c.uploadBytes)}) · syncs ${f(c.syncs)}`,
    '',
    '| kernel | count | GPU ms | share | µs / dispatch |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...s.kernels.map((k) => `| ${k.name} | ${f(k.count)} | ${k.ms.toFixed(2)} | ${(100 * k.share).toFixed(1)}% | ${k.count > 0 ? ((1000 * k.ms) / k.count).toFixed(0) : '-'} |`),
  ];
  return lines.join('\n');
}

/** Profiles one training step and one decode step of the bench model; prints and writes the report. */
export async function profileModel(ctx: { quick: boolean }): Promise<ProfileReport> {
  const rt = await getRuntime();
  const gpu = new GpuBackend(rt);
  const T = ctx.quick ? 32 : 128;
  const batch = 4;
  const trainSteps = ctx.quick ? 1 : 3;
  const steps: StepProfile[] = [];

  const t = trainer(gpu, BENCH_MODEL, batch, T);
  try {
    await t.step(); // compiles the pipelines, fills the pool
    const p = await rt.profile(async () => {
      for (let i = 0; i < trainSteps; i++) await t.step();
    });
    steps.push(perStep(`train step d128 L4 H4 T${T} B${batch}`, p, null, trainSteps));
  } finally {
    t.dispose();
  }

  const newTokens = ctx.quick ? 16 : 128;
  const model = new DecoderLM(gpu, { ...BENCH_MODEL, maxSeqLen: 16 + newTokens }, { seed: 2 });
  try {
    const run = (n: number) => async () => {
      await generate(model, BENCH_PROMPTS, { maxNewTokens: n, seed: 0, cache: true });
    };
    await run(newTokens)(); // warm-up of both runs: pipelines and pool as in the timed ones
    await run(1)();
    const one = await rt.profile(run(1));
    const all = await rt.profile(run(newTokens));
    steps.push(perStep(`decode step d128 L4 H4 B${BENCH_PROMPTS.length} (KV cache, ${newTokens} tokens)`, all, one, newTokens - 1));
  } finally {
    model.dispose();
  }

  const source = steps[0]!.gpu_source;
  const note =
    source === 'timestamp'
      ? 'GPU times are per-pass timestamp queries (Dawn, timestamp quantization off).'
      : 'This device has no timestamp-query: each dispatch was submitted alone and timed on the host from its submit to its completion callback — upper bounds that include the callback latency, and submits are counted per dispatch.';
  const report: ProfileReport = {
    suite: 'profile',
    date: new Date().toISOString(),
    command: `LP_NUM_THREADS=${process.env.LP_NUM_THREADS ?? ''} REPIRL_PROFILE=1 npx nx run autograd:bench -- model`,
    machine: machineInfo(),
    adapter: rt.describe(),
    note,
    steps,
  };
  const info = report.adapter;
  console.log(`\n## profile — ${info.description || info.device} (${info.backend})${ctx.quick ? ', quick sizes' : ''}`);
  if (source !== 'timestamp') console.log(`note: ${note}`);
  for (const s of steps) console.log(`\n${formatStep(s)}`);
  const dir = new URL('profile/', benchResultsDir(ctx.quick));
  mkdirSync(dir, { recursive: true });
  const file = new URL('model.json', dir);
  const tmp = new URL('model.json.tmp', dir);
  writeFileSync(tmp, JSON.stringify(report, null, 2) + '\n');
  renameSync(tmp, file);
  console.log(`\nwritten: ${file.pathname}`);
  return report;
}

if (process.argv[1]?.endsWith('profile.ts')) await profileModel({ quick: process.env.REPIRL_BENCH_QUICK === '1' });
