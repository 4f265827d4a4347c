// ProcessBench (Zheng et al. 2024, "ProcessBench: Identifying Process Errors in Mathematical
// Reasoning") for a PRM: each sample is a problem, a solution cut into steps and the index of its
// first wrong step (-1: every step correct). The PRM scores every step; its prediction is the
// first step whose score falls below a threshold, or -1 when none does (eval/first-error.ts
// predictFirstError). The benchmark's metrics, per subset:
//
//   error accuracy    share of erroneous samples (label ≥ 0) whose predicted index is the label
//   correct accuracy  share of correct samples (label = -1) predicted -1
//   F1                their harmonic mean 2·a_err·a_cor / (a_err + a_cor)
//
// and the average of the subsets' F1 (the paper's "Avg." column). Intervals are percentile
// bootstraps over problems (eval/bootstrap.ts), each subset resampled on its own (its samples
// grouped by problem text), the average taken replicate by replicate.
//
// Threshold: the released evaluation scripts read a PRM's step as wrong when its two-way head
// says P(correct) < 0.5 (argmax), so the default is 0.5 on a step probability — right for the
// step-end logit heads of this package (supervised, Math-Shepherd, ORM read at every step), whose
// step scores are σ(logit). PRMs with other score scales (rePIRL's token sums, AIRL-S's f, the
// implicit PRM's log-ratios) need a threshold chosen on a validation set: `calibration` picks the
// F1-maximising one there (first-error.ts bestThreshold) and applies it to every subset.
//
// Steps are written in the codec's step layout (data/render.ts) after the problem as the prompt;
// samples longer than the PRM's context are left out of the metrics and counted (`tooLong`).
import { TaskCodec, deriveSeed, normalisePrompt } from '@repirl/rl';
import { encodeSteps } from '../data/render.js';
import type { ProcessBenchSample } from '../data/processbench.js';
import { scoreSamples, type ProcessRewardModel } from '../models/prm.js';
import { intervalOver, percentileInterval, resampleProblems, unitWeights, type BootstrapInterval, type BootstrapOptions } from './bootstrap.js';
import { WeightedFirstError, bestThreshold, predictFirstError } from './first-error.js';

/** The default threshold on a step probability (see the file comment). */
export const PROCESSBENCH_THRESHOLD = 0.5;

/** One ProcessBench sample with the PRM's step scores. */
export interface ProcessBenchScored {
  id: string;
  subset: string;
  problem: string;
  /** Index of the first wrong step, or -1. */
  label: number;
  stepScores: number[];
}

export interface ProcessBenchSubsetResult {
  samples: number;
  erroneous: number;
  correct: number;
  errorAccuracy: BootstrapInterval;
  correctAccuracy: BootstrapInterval;
  f1: BootstrapInterval;
}

export interface ProcessBenchReport {
  threshold: number;
  /** 'given' (the option or the default) or 'calibrated' on a validation set. */
  thresholdSource: 'given' | 'calibrated';
  subsets: Record<string, ProcessBenchSubsetResult>;
  /** Mean of the subsets' F1 (NaN when a subset's F1 is undefined). */
  averageF1: BootstrapInterval;
  /** Flat metrics for logs and summaries: processbench/<subset>/{error_acc,correct_acc,f1}{,_lo,_hi}, processbench/avg_f1… */
  metrics: Record<string, number>;
  /** Each sample's predicted first error. */
  predictions: { id: string; subset: string; label: number; prediction: number; stepScores: number[] }[];
}

/**
 * ProcessBench's metrics of scored samples at `threshold`, per subset, with bootstrap intervals
 * (default 1000 resamples at 0.95, seed 0).
 */
export function processBenchMetrics(samples: readonly ProcessBenchScored[], threshold: number, options: BootstrapOptions & { thresholdSource?: 'given' | 'calibrated' } = {}): ProcessBenchReport {
  if (!Number.isFinite(threshold)) throw new Error(`processBenchMetrics: threshold must be a finite number, got ${threshold}`);
  if (samples.length === 0) throw new Error('processBenchMetrics: no samples');
  const subsets = [...new Set(samples.map((x) => x.subset))];
  const resamples = options.resamples ?? 1000;
  const level = options.level ?? 0.95;
  const seed = options.seed ?? 0;
  const out: Record<string, ProcessBenchSubsetResult> = {};
  const metrics: Record<string, number> = { 'processbench/threshold': threshold, 'processbench/samples': samples.length };
  const f1Replicates: number[][] = [];
  for (const subset of subsets) {
    const part = samples.filter((x) => x.subset === subset);
    const problems = new Map<string, number>();
    const groups = part.map((x) => {
      const key = normalisePrompt(x.problem);
      if (!problems.has(key)) problems.set(key, problems.size);
      return problems.get(key)!;
    });
    const weighted = new WeightedFirstError(part.map((x) => ({ stepScores: x.stepScores, firstError: x.label })), groups);
    const replicates = resampleProblems(problems.size, { resamples, seed: deriveSeed(seed, 'processbench', subset) });
    const at = (w: Float64Array) => weighted.f1At(threshold, w);
    const errorAccuracy = intervalOver((w) => at(w).errorAccuracy, replicates, level);
    const correctAccuracy = intervalOver((w) => at(w).correctAccuracy, replicates, level);
    const f1 = intervalOver((w) => at(w).f1, replicates, level);
    f1Replicates.push(replicates.map((w) => at(w).f1));
    const whole = at(unitWeights(problems.size));
    out[subset] = { samples: part.length, erroneous: whole.erroneous, correct: whole.correct, errorAccuracy, correctAccuracy, f1 };
    for (const [name, r] of [['error_acc', errorAccuracy], ['correct_acc', correctAccuracy], ['f1', f1]] as const) {
      metrics[`processbench/${subset}/${name}`] = r.value;
      metrics[`processbench/${subset}/${name}_lo`] = r.lo;
      metrics[`processbench/${subset}/${name}_hi`] = r.hi;
    }
    metrics[`processbench/${subset}/samples`] = part.length;
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const averageValue = mean(subsets.map((s) => out[s]!.f1.value));
  const averageReplicates = Array.from({ length: resamples }, (_, b) => mean(f1Replicates.map((r) => r[b]!)));
  const { lo, hi, defined } = percentileInterval(averageReplicates, level);
  const averageF1: BootstrapInterval = { value: averageValue, lo, hi, defined, resamples, level };
  metrics['processbench/avg_f1'] = averageValue;
  metrics['processbench/avg_f1_lo'] = lo;
  metrics['processbench/avg_f1_hi'] = hi;
  const predictions = samples.map((x) => ({ id: x.id, subset: x.subset, label: x.label, prediction: predictFirstError(x.stepScores, threshold), stepScores: x.stepScores }));
  return { threshold, thresholdSource: options.thresholdSource ?? 'given', subsets: out, averageF1, metrics, predictions };
}

/** The longest sequence a PRM of this package reads (its decoder's context). */
export function prmContextLength(prm: ProcessRewardModel): number {
  const config = (prm as { config?: { decoder?: { maxSeqLen?: unknown } } }).config;
  const n = config?.decoder?.maxSeqLen;
  if (typeof n !== 'number') throw new Error(`prmContextLength: the ${prm.kind} PRM has no decoder config with a maxSeqLen`);
  return n;
}

/** Step scores of ProcessBench samples; those longer than the PRM's context are returned apart. */
export async function scoreProcessBench(
  prm: ProcessRewardModel, samples: readonly ProcessBenchSample[], codec: TaskCodec, batchSize = 32,
): Promise<{ scored: ProcessBenchScored[]; tooLong: ProcessBenchSample[] }> {
  const maxLen = prmContextLength(prm);
  const kept: ProcessBenchSample[] = [];
  const tooLong: ProcessBenchSample[] = [];
  const sequences = samples.flatMap((x) => {
    const seq = encodeSteps(x.problem, x.steps, codec, maxLen);
    (seq === null ? tooLong : kept).push(x);
    return seq === null ? [] : [seq];
  });
  const scored = sequences.length === 0 ? [] : await scoreSamples(prm, sequences, codec, batchSize);
  return {
    scored: scored.map((r, i) => {
      const x = kept[i]!;
      if (r.steps.length !== x.steps.length) throw new Error(`scoreProcessBench: ${x.id} has ${x.steps.length} steps but the PRM scored ${r.steps.length}`);
      return { id: x.id, subset: x.subset, problem: x.problem, label: x.label, stepScores: r.steps };
    }),
    tooLong,
  };
}

export interface EvaluateProcessBenchOptions extends BootstrapOptions {
  codec?: TaskCodec;
  /** The threshold (default PROCESSBENCH_THRESHOLD); ignored when `calibration` is given. */
  threshold?: number;
  /** A validation set: the threshold is the F1-maximising one on it. */
  calibration?: readonly ProcessBenchSample[];
  batchSize?: number;
}

/** Scores `samples` with `prm` and reports ProcessBench's metrics (see the file comment). */
export async function evaluateProcessBench(
  prm: ProcessRewardModel, samples: readonly ProcessBenchSample[], options: EvaluateProcessBenchOptions = {},
): Promise<ProcessBenchReport & { tooLong: number; calibrationTooLong: number }> {
  const codec = options.codec ?? new TaskCodec();
  let threshold = options.threshold ?? PROCESSBENCH_THRESHOLD;
  let calibrationTooLong = 0;
  if (options.calibration !== undefined) {
    const { scored, tooLong } = await scoreProcessBench(prm, options.calibration, codec, options.batchSize);
    calibrationTooLong = tooLong.length;
    if (scored.length === 0) throw new Error(`evaluateProcessBench: every calibration sample (${options.calibration.length}) is longer than the PRM's context`);
    threshold = bestThreshold(scored.map((x) => ({ stepScores: x.stepScores, firstError: x.label }))).threshold;
  }
  const { scored, tooLong } = await scoreProcessBench(prm, samples, codec, options.batchSize);
  if (scored.length === 0) throw new Error(`evaluateProcessBench: every sample (${samples.length}) is longer than the PRM's context of ${prmContextLength(prm)} tokens`);
  const report = processBenchMetrics(scored, threshold, { ...options, thresholdSource: options.calibration !== undefined ? 'calibrated' : 'given' });
  report.metrics['processbench/too_long'] = tooLong.length;
  return { ...report, tooLong: tooLong.length, calibrationTooLong };
}

/** One line per subset and the average, accuracies and F1 in percent with their intervals. */
export function processBenchText(report: ProcessBenchReport): string {
  const pct = (v: number) => (Number.isNaN(v) ? 'n/a' : (100 * v).toFixed(1));
  const iv = (r: BootstrapInterval) => `${pct(r.value)} [${pct(r.lo)}, ${pct(r.hi)}]`;
  const lines = Object.entries(report.subsets).map(([name, r]) =>
    `${name} (${r.erroneous} erroneous, ${r.correct} correct): error acc ${iv(r.errorAccuracy)}, correct acc ${iv(r.correctAccuracy)}, F1 ${iv(r.f1)}`);
  lines.push(`average F1 ${iv(report.averageF1)} (threshold ${report.threshold.toPrecision(4)}, ${report.thresholdSource}; ${Math.round(100 * report.averageF1.level)}% bootstrap intervals over problems)`);
  return lines.join('\n');
}
