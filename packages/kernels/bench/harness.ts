// Benchmark harness: every case runs our kernel and its peers one after another in the same
// process (tinybench, median latency), prints throughput and the ratio peer time / our time, and
// writes machine-readable records to bench-results/<suite>.json so later runs can be compared
// with a stored baseline (the previous file's medians are printed beside the new ones).
import { Bench } from 'tinybench';
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getRuntime, type Runtime } from '../src/index.js';
import { tfWasm, tfWebgpu } from './peers.js';

type MaybePromise<T> = T | Promise<T>;
export type Runner = (() => MaybePromise<unknown>) | { before?: () => MaybePromise<unknown>; run: () => MaybePromise<unknown>; after?: () => MaybePromise<unknown> };

/**
 * A peer that times itself in another process (PyTorch in scripts/bench/torch-decoder.py) and
 * reports its median; null when it cannot run here (it prints why), and the case goes on without it.
 */
export interface ExternalPeer {
  external: () => Promise<{ median_ms: number; samples: number } | null>;
}

export interface BenchCase {
  name: string;
  params: Record<string, number | string | boolean>;
  /** Work per run in the unit's base quantity: FLOPs for GFLOP/s, bytes for GB/s, elements or tokens otherwise. */
  work: number;
  unit: 'GFLOP/s' | 'GB/s' | 'Melem/s' | 'tokens/s';
  ours: Runner;
  peers: Record<string, Runner | ExternalPeer>;
  extra?: () => Record<string, number | string>;
  dispose?: () => unknown;
  /** Minimum timed iterations for this case (default: the run's); lower it for cases that take seconds. */
  minIterations?: number;
  /**
   * Run each runner once untimed first (default true). Cases that take minutes turn it off and
   * compile their pipelines in `before` with a small run instead.
   */
  warmup?: boolean;
}

export interface BenchContext {
  rt: Runtime;
  quick: boolean;
  tfWebgpu(): Promise<typeof import('@tensorflow/tfjs-core')>;
  tfWasm(): Promise<typeof import('@tensorflow/tfjs-core')>;
}

export type Suite = (ctx: BenchContext) => Promise<BenchCase[]>;
export type SuiteModules = Record<string, () => Promise<{ default: Suite }>>;

export interface PeerRecord {
  peer: string;
  median_ms: number;
  throughput: number;
  /** peer time / our time: above 1 means ours is faster. */
  ratio: number;
}

export interface CaseRecord {
  suite: string;
  case: string;
  params: Record<string, number | string | boolean>;
  median_ms: number;
  throughput: number;
  unit: string;
  samples: number;
  peers: PeerRecord[];
  baseline_median_ms?: number;
  [extra: string]: unknown;
}

export interface SuiteReport {
  suite: string;
  date: string;
  command: string;
  machine: { cpu: string; cores: number; memory_gib: number; node: string; lp_num_threads: string | null };
  adapter: ReturnType<Runtime['describe']>;
  results: CaseRecord[];
}

export interface HarnessOptions {
  /** Time budget per runner in ms (tinybench keeps going until both this and minIterations are met). */
  timeMs: number;
  minIterations: number;
  resultsDir: URL;
  /** The nx project whose bench target runs the suite (for the recorded command line). */
  project: string;
}

const SCALE: Record<BenchCase['unit'], number> = { 'GFLOP/s': 1e9, 'GB/s': 1e9, 'Melem/s': 1e6, 'tokens/s': 1 };

function asHooks(r: Runner) {
  return typeof r === 'function' ? { run: r } : r;
}

async function measure(label: string, runner: Runner, options: HarnessOptions, warmup = true): Promise<{ median: number; samples: number }> {
  const { before, run, after } = asHooks(runner);
  await before?.();
  try {
    if (warmup) await run(); // warm-up: compiles pipelines, fills pools and caches
    const bench = new Bench({ time: options.timeMs, iterations: options.minIterations, warmup: false, retainSamples: false });
    bench.add(label, async () => {
      await run();
    });
    await bench.run();
    const result = bench.tasks[0]!.result;
    if (result.state === 'errored') throw result.error;
    if (result.state !== 'completed') throw new Error(`${label}: benchmark ended in state ${result.state}`);
    return { median: result.latency.p50, samples: result.latency.samplesCount };
  } finally {
    await after?.();
  }
}

function throughputOf(c: BenchCase, ms: number): number {
  return c.work / (ms / 1000) / SCALE[c.unit];
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toPrecision(3);
}

export async function runSuite(suiteName: string, suite: Suite, ctx: BenchContext, options: HarnessOptions): Promise<SuiteReport> {
  const file = new URL(`${suiteName}.json`, options.resultsDir);
  const baseline = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as SuiteReport) : null;
  const cases = await suite(ctx);
  const results: CaseRecord[] = [];
  console.log(`\n## ${suiteName}`);
  for (const c of cases) {
    try {
      const caseOptions = c.minIterations ? { ...options, minIterations: c.minIterations, timeMs: 0 } : options;
      let ours: { median: number; samples: number };
      try {
        ours = await measure(`${c.name} (ours)`, c.ours, caseOptions, c.warmup ?? true);
      } catch (err) {
        // One failing case (a device limit at a real model's shape) must not lose the others' records.
        console.log(`  ${c.name}: FAILED: ${(err as Error).message}`);
        continue;
      }
      const peers: PeerRecord[] = [];
      for (const [peer, runner] of Object.entries(c.peers)) {
        try {
          let median: number;
          if ('external' in runner) {
            const m = await runner.external();
            if (!m) continue;
            median = m.median_ms;
          } else {
            median = (await measure(`${c.name} (${peer})`, runner, caseOptions, c.warmup ?? true)).median;
          }
          peers.push({ peer, median_ms: median, throughput: throughputOf(c, median), ratio: median / ours.median });
        } catch (err) {
          console.log(`  ${c.name}: peer ${peer} failed: ${(err as Error).message}`);
        }
      }
      const base = baseline?.results.find((r) => r.case === c.name);
      const record: CaseRecord = {
        suite: suiteName,
        case: c.name,
        params: c.params,
        median_ms: ours.median,
        throughput: throughputOf(c, ours.median),
        unit: c.unit,
        samples: ours.samples,
        peers,
        ...(base ? { baseline_median_ms: base.median_ms } : {}),
        ...(c.extra?.() ?? {}),
      };
      results.push(record);
      const peerText = peers.map((p) => `${p.peer} ${fmt(p.throughput)} (×${fmt(p.ratio)})`).join(' | ');
      const baseText = base ? ` [baseline ${fmt(base.median_ms)} ms]` : '';
      console.log(`  ${c.name.padEnd(34)} ${fmt(ours.median).padStart(8)} ms ${fmt(record.throughput).padStart(8)} ${c.unit}${baseText}  vs  ${peerText}`);
    } finally {
      await c.dispose?.();
    }
  }
  const report: SuiteReport = {
    suite: suiteName,
    date: new Date().toISOString(),
    command: `LP_NUM_THREADS=${process.env.LP_NUM_THREADS ?? ''} npx nx run ${options.project}:bench -- ${suiteName}`,
    machine: machineInfo(),
    adapter: ctx.rt.describe(),
    results,
  };
  mkdirSync(options.resultsDir, { recursive: true });
  const tmp = new URL(`${suiteName}.json.tmp`, options.resultsDir);
  writeFileSync(tmp, JSON.stringify(report, null, 2) + '\n');
  renameSync(tmp, file);
  return report;
}

/** The machine a record was measured on. */
export function machineInfo(): SuiteReport['machine'] {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    lp_num_threads: process.env.LP_NUM_THREADS ?? null,
  };
}

/**
 * Where records go: the folder REPIRL_BENCH_RESULTS names (scripts/gpu-bench.sh keeps GPU records
 * apart), else bench-results/ at the repository root, or bench-results/quick/ for quick runs.
 */
export function benchResultsDir(quick: boolean): URL {
  const dir = process.env.REPIRL_BENCH_RESULTS;
  if (dir) return pathToFileURL(`${resolve(dir)}/`);
  return new URL(quick ? '../../../bench-results/quick/' : '../../../bench-results/', import.meta.url);
}

export function makeContext(rt: Runtime, quick: boolean): BenchContext {
  return { rt, quick, tfWebgpu: () => tfWebgpu(rt), tfWasm: () => tfWasm() };
}

/**
 * Runs the suites of one package: every `<dir>/<suite>.bench.ts`, or those named in argv.
 * `REPIRL_BENCH_QUICK=1` runs the smallest sizes only (a smoke run) and writes to
 * bench-results/quick/ (ignored by git); otherwise results go to bench-results/<suite>.json.
 */
export async function runBenchmarks(project: string, dir: URL | SuiteModules, argv: readonly string[]): Promise<void> {
  // A folder of <suite>.bench.ts files, or the suites' modules by name (a bundled runner, scripts/gpu-bench.sh).
  const modules: SuiteModules =
    dir instanceof URL
      ? Object.fromEntries(
          readdirSync(dir)
            .filter((f) => f.endsWith('.bench.ts'))
            .map((f) => [f.replace(/\.bench\.ts$/, ''), () => import(new URL(f, dir).href) as Promise<{ default: Suite }>]),
        )
      : dir;
  const available = Object.keys(modules).sort();
  const requested = argv.filter((a) => !a.startsWith('-'));
  for (const name of requested) {
    if (!available.includes(name)) throw new Error(`unknown suite "${name}"; available: ${available.join(', ')}`);
  }
  const quick = process.env.REPIRL_BENCH_QUICK === '1';
  const rt = await getRuntime();
  const info = rt.describe();
  console.log(`# benchmarks — ${info.description || info.device} (${info.backend}), LP_NUM_THREADS=${process.env.LP_NUM_THREADS ?? 'default'}${quick ? ', quick sizes' : ''}`);
  console.log('# columns: our median, our throughput, then each peer: throughput (×ratio = peer time / our time; >1 = we are faster)');
  const ctx = makeContext(rt, quick);
  const timeMs = Number(process.env.REPIRL_BENCH_TIME_MS ?? (quick ? 200 : 1500));
  if (!(timeMs >= 0)) throw new Error(`REPIRL_BENCH_TIME_MS: expected a number of milliseconds, got "${process.env.REPIRL_BENCH_TIME_MS}"`);
  const options: HarnessOptions = {
    timeMs, // per runner (REPIRL_BENCH_TIME_MS: a GPU needs far less than lavapipe)
    minIterations: quick ? 2 : 5,
    resultsDir: benchResultsDir(quick),
    project,
  };
  for (const name of requested.length > 0 ? requested : available) {
    const mod = await modules[name]!();
    await runSuite(name, mod.default, ctx, options);
  }
}
