// Bootstrap intervals over problems (issue 15, "Honest numbers").
//
// The unit of resampling is the *problem*: the samples of one problem share its difficulty and
// its answer, so they are not independent and resampling them one by one would give intervals
// that are too narrow. One replicate draws P problems with replacement from the P problems of
// the evaluation set; problem p then appears w_p ∈ {0, 1, 2, …} times (Σ w_p = P). Every metric
// here is written as a *weighted statistic* f(w): its value on the multiset in which problem p's
// samples appear w_p times (w = all ones is the data itself). That makes a replicate cheap for
// the metrics that allow it (AUROC: one presorted pass; means over problems: a weighted mean),
// and it lets every metric of a report use the *same* replicates, which is what a paired
// comparison needs.
//
//   interval          percentile bootstrap: the (1−level)/2 and (1+level)/2 quantiles (linear
//                     interpolation, R's type 7) of f over the B replicates; B = 1000 and level
//                     0.95 by default. Replicates where f is undefined (NaN: e.g. a resample with
//                     no negative step) are left out, and `defined` says how many remained.
//   paired difference f_A(w) − f_B(w) on the same replicates (two methods scored on the same
//                     problems), and `separated` = the interval excludes 0.
//
// Replicates are drawn from @repirl/rl's seeded PRNG: the same (P, B, seed) gives the same
// weights, so intervals are deterministic per seed.
import { createRng } from '@repirl/rl';

/** Per-problem multiplicities of one bootstrap replicate (all ones = the original data). */
export type ProblemWeights = Float64Array;

/** A metric as a function of per-problem multiplicities (see the file comment). */
export type WeightedStatistic = (weights: ProblemWeights) => number;

export interface BootstrapOptions {
  /** B: replicates (default 1000). */
  resamples?: number;
  /** PRNG seed, an integer in [0, 2^32) (default 0). */
  seed?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
}

export interface BootstrapInterval {
  /** The statistic on the data itself (weights all ones). */
  value: number;
  lo: number;
  hi: number;
  /** Replicates where the statistic was defined (not NaN). */
  defined: number;
  resamples: number;
  level: number;
}

export interface DifferenceInterval extends BootstrapInterval {
  /** The interval excludes 0: the difference is resolved at this level. */
  separated: boolean;
}

function checkLevel(level: number): void {
  if (!(level > 0 && level < 1)) throw new Error(`bootstrap: level must be in (0, 1), got ${level}`);
}

/** Weights of the original data: every problem once. */
export function unitWeights(problems: number): ProblemWeights {
  return new Float64Array(problems).fill(1);
}

/**
 * B replicates of per-problem multiplicities: each draws `problems` problems uniformly with
 * replacement. Deterministic per (problems, resamples, seed).
 */
export function resampleProblems(problems: number, options: BootstrapOptions = {}): ProblemWeights[] {
  const { resamples = 1000, seed = 0 } = options;
  if (!Number.isInteger(problems) || problems < 1) throw new Error(`resampleProblems: problems must be a positive integer, got ${problems}`);
  if (!Number.isInteger(resamples) || resamples < 1) throw new Error(`resampleProblems: resamples must be a positive integer, got ${resamples}`);
  const rng = createRng(seed);
  const out: ProblemWeights[] = [];
  for (let b = 0; b < resamples; b++) {
    const w = new Float64Array(problems);
    for (let i = 0; i < problems; i++) w[Math.floor(rng.next() * problems)]! += 1;
    out.push(w);
  }
  return out;
}

/** The q-quantile (q ∈ [0, 1]) of sorted values, linear interpolation between order statistics (type 7). */
function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Percentile interval of replicate values; NaN replicates are dropped (NaN bounds when none is left). */
export function percentileInterval(replicates: readonly number[], level = 0.95): { lo: number; hi: number; defined: number } {
  checkLevel(level);
  const sorted = replicates.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const alpha = (1 - level) / 2;
  return { lo: quantileSorted(sorted, alpha), hi: quantileSorted(sorted, 1 - alpha), defined: sorted.length };
}

/** The percentile interval of `statistic` over given replicates (e.g. shared by every metric of a report). */
export function intervalOver(statistic: WeightedStatistic, replicates: readonly ProblemWeights[], level = 0.95): BootstrapInterval {
  if (replicates.length === 0) throw new Error('intervalOver: no replicates');
  const value = statistic(unitWeights(replicates[0]!.length));
  const { lo, hi, defined } = percentileInterval(replicates.map(statistic), level);
  return { value, lo, hi, defined, resamples: replicates.length, level };
}

/** Bootstrap interval of `statistic` over `problems` problems (draws its own seeded replicates). */
export function bootstrapInterval(problems: number, statistic: WeightedStatistic, options: BootstrapOptions = {}): BootstrapInterval {
  const level = options.level ?? 0.95;
  checkLevel(level);
  return intervalOver(statistic, resampleProblems(problems, options), level);
}

/** Whether an interval excludes 0 (a NaN bound never separates). */
export function separated(interval: { lo: number; hi: number }): boolean {
  return interval.lo > 0 || interval.hi < 0;
}

/** Paired bootstrap of a − b over the same replicates: both statistics see the same resampled problems. */
export function pairedDifferenceOver(a: WeightedStatistic, b: WeightedStatistic, replicates: readonly ProblemWeights[], level = 0.95): DifferenceInterval {
  const r = intervalOver((w) => a(w) - b(w), replicates, level);
  return { ...r, separated: separated(r) };
}

/** Paired bootstrap interval of a − b over `problems` problems (e.g. PRM-weighted vote minus majority). */
export function pairedBootstrapDifference(problems: number, a: WeightedStatistic, b: WeightedStatistic, options: BootstrapOptions = {}): DifferenceInterval {
  const level = options.level ?? 0.95;
  checkLevel(level);
  return pairedDifferenceOver(a, b, resampleProblems(problems, options), level);
}

/** Σ_p w_p x_p / Σ_p w_p: a mean over problems as a weighted statistic of per-problem values (NaN values skipped). */
export function problemMean(perProblem: readonly number[]): WeightedStatistic {
  return (w) => {
    if (w.length !== perProblem.length) throw new Error(`problemMean: ${w.length} weights for ${perProblem.length} problems`);
    let num = 0;
    let den = 0;
    perProblem.forEach((x, p) => {
      if (Number.isNaN(x) || w[p] === 0) return;
      num += w[p]! * x;
      den += w[p]!;
    });
    return den === 0 ? NaN : num / den;
  };
}

/**
 * A ratio of per-problem sums, Σ_p w_p a_p / Σ_p w_p b_p (e.g. correct samples / samples, when
 * problems have different sample counts).
 */
export function problemRatio(numerators: readonly number[], denominators: readonly number[]): WeightedStatistic {
  if (numerators.length !== denominators.length) throw new Error(`problemRatio: ${numerators.length} numerators but ${denominators.length} denominators`);
  return (w) => {
    let num = 0;
    let den = 0;
    numerators.forEach((a, p) => {
      num += w[p]! * a;
      den += w[p]! * denominators[p]!;
    });
    return den === 0 ? NaN : num / den;
  };
}
