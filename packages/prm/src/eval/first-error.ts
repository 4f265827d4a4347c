// First-error localisation, ProcessBench-style.
//
// The PRM's predicted first error is the first step whose score is below `threshold`, or -1 when
// no step is (the PRM "accepts" the solution). Against the exact first error (-1 = every step is
// correct) we measure two accuracies:
//
//   errorAccuracy   = fraction of erroneous samples whose predicted index equals the true one;
//   correctAccuracy = fraction of all-correct samples predicted -1;
//   F1              = 2·a_err·a_cor / (a_err + a_cor)   (their harmonic mean; 0 when both are 0).
//
// An accuracy over an empty class is NaN, and then so is F1 (the metric needs both kinds).
import { checkFinite } from './ranks.js';

export interface FirstErrorSample {
  stepScores: readonly number[];
  /** Index of the first wrong step, or -1 when every step is correct. */
  firstError: number;
}

export interface FirstErrorResult {
  f1: number;
  errorAccuracy: number;
  correctAccuracy: number;
  /** Number of samples with an error (firstError ≥ 0) and without (firstError = -1). */
  erroneous: number;
  correct: number;
}

/** The first step with score < threshold, or -1. */
export function predictFirstError(stepScores: readonly number[], threshold: number): number {
  return stepScores.findIndex((s) => s < threshold);
}

function checkSamples(fn: string, samples: readonly FirstErrorSample[]): void {
  samples.forEach((s, i) => {
    checkFinite(fn, `samples[${i}].stepScores`, s.stepScores);
    const e = s.firstError;
    if (!Number.isInteger(e) || e < -1 || e >= s.stepScores.length) {
      throw new Error(`${fn}: samples[${i}].firstError must be -1 or a step index in [0, ${s.stepScores.length - 1}], got ${e}`);
    }
  });
}

function harmonicMean(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  return a + b === 0 ? 0 : (2 * a * b) / (a + b);
}

function result(hitsError: number, erroneous: number, hitsCorrect: number, correct: number): FirstErrorResult {
  const errorAccuracy = erroneous === 0 ? NaN : hitsError / erroneous;
  const correctAccuracy = correct === 0 ? NaN : hitsCorrect / correct;
  return { f1: harmonicMean(errorAccuracy, correctAccuracy), errorAccuracy, correctAccuracy, erroneous, correct };
}

export function firstErrorF1(samples: readonly FirstErrorSample[], threshold: number): FirstErrorResult {
  if (Number.isNaN(threshold)) throw new Error('firstErrorF1: threshold must be a number, got NaN');
  checkSamples('firstErrorF1', samples);
  let erroneous = 0;
  let correct = 0;
  let hitsError = 0;
  let hitsCorrect = 0;
  for (const s of samples) {
    const predicted = predictFirstError(s.stepScores, threshold);
    if (s.firstError === -1) {
      correct++;
      if (predicted === -1) hitsCorrect++;
    } else {
      erroneous++;
      if (predicted === s.firstError) hitsError++;
    }
  }
  return result(hitsError, erroneous, hitsCorrect, correct);
}

/**
 * The threshold maximising first-error F1 on a calibration split, and the F1 there.
 *
 * Only the order of threshold and scores matters, so the candidates are: one below the lowest
 * score, the midpoints between consecutive distinct scores, and one above the highest score.
 * For each sample the set of thresholds where it is judged right is an interval, with
 * m_k = min(s_0 … s_k) the running minimum of its step scores:
 *   all-correct sample:        t ≤ m_last               (no step flagged);
 *   first error at e:          m_e < t ≤ m_{e-1}        (step e flagged, none before; m_{-1} = +∞);
 * so all candidates are scored in one pass over the intervals. Ties go to the lowest threshold.
 * Throws if the split lacks erroneous or all-correct samples (F1 would be undefined everywhere).
 */
export function bestThreshold(samples: readonly FirstErrorSample[]): FirstErrorResult & { threshold: number } {
  checkSamples('bestThreshold', samples);
  const erroneous = samples.filter((s) => s.firstError >= 0).length;
  const correct = samples.length - erroneous;
  if (erroneous === 0 || correct === 0) {
    throw new Error(
      `bestThreshold: the calibration split needs both erroneous and all-correct samples, got ${erroneous} erroneous and ${correct} all-correct`,
    );
  }
  const distinct = [...new Set(samples.flatMap((s) => s.stepScores))].sort((a, b) => a - b);
  if (distinct.length === 0) throw new Error('bestThreshold: the samples have no step scores at all');
  const candidates = [distinct[0]! - 1];
  for (let i = 1; i < distinct.length; i++) candidates.push((distinct[i - 1]! + distinct[i]!) / 2);
  candidates.push(distinct.at(-1)! + 1);

  // Difference arrays over candidate indices: +1 where a sample's interval starts, -1 past its end.
  const deltaError = new Array<number>(candidates.length + 1).fill(0);
  const deltaCorrect = new Array<number>(candidates.length + 1).fill(0);
  /** First candidate index whose value is > x (candidates are sorted and never equal a score). */
  const firstAbove = (x: number): number => {
    let lo = 0;
    let hi = candidates.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (candidates[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  for (const s of samples) {
    const runningMin: number[] = [];
    s.stepScores.forEach((v, k) => runningMin.push(k === 0 ? v : Math.min(runningMin[k - 1]!, v)));
    if (s.firstError === -1) {
      // t ≤ m_last: candidates [0, firstAbove(m_last)); an empty response is always accepted.
      const end = s.stepScores.length === 0 ? candidates.length : firstAbove(runningMin.at(-1)!);
      deltaCorrect[0]! += 1;
      deltaCorrect[end]! -= 1;
    } else {
      const e = s.firstError;
      const start = firstAbove(runningMin[e]!);
      const end = e === 0 ? candidates.length : firstAbove(runningMin[e - 1]!);
      if (start < end) {
        deltaError[start]! += 1;
        deltaError[end]! -= 1;
      }
    }
  }
  let best: (FirstErrorResult & { threshold: number }) | null = null;
  let hitsError = 0;
  let hitsCorrect = 0;
  for (let i = 0; i < candidates.length; i++) {
    hitsError += deltaError[i]!;
    hitsCorrect += deltaCorrect[i]!;
    const r = result(hitsError, erroneous, hitsCorrect, correct);
    if (best === null || r.f1 > best.f1) best = { ...r, threshold: candidates[i]! };
  }
  return best!;
}

/**
 * bestThreshold and firstErrorF1 for samples that belong to groups (problems), as functions of
 * per-group multiplicities (eval/bootstrap.ts): each sample counts weights[group] times. Each
 * sample's set of correct thresholds is computed once (the intervals of bestThreshold), so a
 * bootstrap replicate costs O(samples + candidates) instead of a sort. The candidates are those of
 * the unweighted samples; a replicate's samples are a sub-multiset, so every partition its own
 * candidates realise is realised here too (same best F1), and the lowest best candidate is taken.
 * With all weights 1 it equals bestThreshold / firstErrorF1 exactly.
 */
export class WeightedFirstError {
  private readonly groups: Int32Array;
  private readonly erroneousMask: Uint8Array;
  /** Correct-threshold interval per sample, as candidate indices [start, end), and as scores (lo, hi]. */
  private readonly start: Int32Array;
  private readonly end: Int32Array;
  private readonly lo: Float64Array;
  private readonly hi: Float64Array;
  private readonly candidates: number[];

  constructor(samples: readonly FirstErrorSample[], groups: readonly number[]) {
    if (samples.length !== groups.length) throw new Error(`WeightedFirstError: ${samples.length} samples but ${groups.length} groups`);
    checkSamples('WeightedFirstError', samples);
    this.groups = Int32Array.from(groups);
    this.erroneousMask = Uint8Array.from(samples, (s) => (s.firstError >= 0 ? 1 : 0));
    const distinct = [...new Set(samples.flatMap((s) => s.stepScores))].sort((a, b) => a - b);
    const candidates = distinct.length === 0 ? [] : [distinct[0]! - 1];
    for (let i = 1; i < distinct.length; i++) candidates.push((distinct[i - 1]! + distinct[i]!) / 2);
    if (distinct.length > 0) candidates.push(distinct.at(-1)! + 1);
    this.candidates = candidates;
    const firstAbove = (x: number): number => {
      let a = 0;
      let b = candidates.length;
      while (a < b) {
        const mid = (a + b) >> 1;
        if (candidates[mid]! > x) b = mid;
        else a = mid + 1;
      }
      return a;
    };
    const n = samples.length;
    this.start = new Int32Array(n);
    this.end = new Int32Array(n);
    this.lo = new Float64Array(n);
    this.hi = new Float64Array(n);
    samples.forEach((s, i) => {
      const runningMin: number[] = [];
      s.stepScores.forEach((v, k) => runningMin.push(k === 0 ? v : Math.min(runningMin[k - 1]!, v)));
      if (s.firstError === -1) {
        this.lo[i] = -Infinity;
        this.hi[i] = s.stepScores.length === 0 ? Infinity : runningMin.at(-1)!;
        this.start[i] = 0;
        this.end[i] = s.stepScores.length === 0 ? candidates.length : firstAbove(this.hi[i]!);
      } else {
        const e = s.firstError;
        this.lo[i] = runningMin[e]!;
        this.hi[i] = e === 0 ? Infinity : runningMin[e - 1]!;
        this.start[i] = firstAbove(this.lo[i]!);
        this.end[i] = e === 0 ? candidates.length : firstAbove(this.hi[i]!);
      }
    });
  }

  private counts(weights: ArrayLike<number> | undefined): { erroneous: number; correct: number } {
    let erroneous = 0;
    let correct = 0;
    for (let i = 0; i < this.groups.length; i++) {
      const w = weights === undefined ? 1 : weights[this.groups[i]!]!;
      if (this.erroneousMask[i] === 1) erroneous += w;
      else correct += w;
    }
    return { erroneous, correct };
  }

  /** Whether both classes are present under these weights (else F1 is undefined). */
  calibratable(weights?: ArrayLike<number>): boolean {
    const { erroneous, correct } = this.counts(weights);
    return erroneous > 0 && correct > 0;
  }

  /** Weighted firstErrorF1 at `threshold`. */
  f1At(threshold: number, weights?: ArrayLike<number>): FirstErrorResult {
    if (Number.isNaN(threshold)) throw new Error('WeightedFirstError.f1At: threshold must be a number, got NaN');
    let hitsError = 0;
    let hitsCorrect = 0;
    for (let i = 0; i < this.groups.length; i++) {
      const w = weights === undefined ? 1 : weights[this.groups[i]!]!;
      if (w === 0 || !(this.lo[i]! < threshold && threshold <= this.hi[i]!)) continue;
      if (this.erroneousMask[i] === 1) hitsError += w;
      else hitsCorrect += w;
    }
    const { erroneous, correct } = this.counts(weights);
    return result(hitsError, erroneous, hitsCorrect, correct);
  }

  /** Weighted bestThreshold (ties → the lowest candidate); throws without both classes, as bestThreshold. */
  best(weights?: ArrayLike<number>): FirstErrorResult & { threshold: number } {
    const { erroneous, correct } = this.counts(weights);
    if (!(erroneous > 0 && correct > 0)) {
      throw new Error(`WeightedFirstError.best: the calibration split needs both erroneous and all-correct samples, got ${erroneous} erroneous and ${correct} all-correct`);
    }
    if (this.candidates.length === 0) throw new Error('WeightedFirstError.best: the samples have no step scores at all');
    const deltaError = new Float64Array(this.candidates.length + 1);
    const deltaCorrect = new Float64Array(this.candidates.length + 1);
    for (let i = 0; i < this.groups.length; i++) {
      const w = weights === undefined ? 1 : weights[this.groups[i]!]!;
      if (w === 0 || this.start[i]! >= this.end[i]!) continue;
      const d = this.erroneousMask[i] === 1 ? deltaError : deltaCorrect;
      d[this.start[i]!]! += w;
      d[this.end[i]!]! -= w;
    }
    let best: (FirstErrorResult & { threshold: number }) | null = null;
    let hitsError = 0;
    let hitsCorrect = 0;
    for (let i = 0; i < this.candidates.length; i++) {
      hitsError += deltaError[i]!;
      hitsCorrect += deltaCorrect[i]!;
      const r = result(hitsError, erroneous, hitsCorrect, correct);
      if (best === null || r.f1 > best.f1) best = { ...r, threshold: this.candidates[i]! };
    }
    return best!;
  }
}
