// Bootstrap intervals over problems (issue 15) on synthetic scores and labels with known answers.
import { describe, expect, it } from 'vitest';
import { createRng } from '@repirl/rl';
import { auroc } from '../src/eval/auroc.js';
import {
  bootstrapInterval, pairedBootstrapDifference, percentileInterval, problemMean, problemRatio, resampleProblems, separated, unitWeights,
} from '../src/eval/bootstrap.js';
import { GroupedAuroc } from '../src/eval/step-metrics.js';
import { WeightedFirstError, bestThreshold, firstErrorF1, type FirstErrorSample } from '../src/eval/first-error.js';

/** Points of P problems, `k` per problem: label from `label(p, j)`, score from `score(label, rng)`. */
function points(P: number, k: number, seed: number, score: (label: boolean, rng: { next(): number }) => number, pPos = 0.5) {
  const rng = createRng(seed);
  const out = { scores: [] as number[], labels: [] as boolean[], groups: [] as number[] };
  for (let p = 0; p < P; p++) {
    for (let j = 0; j < k; j++) {
      const label = rng.next() < pPos;
      out.scores.push(score(label, rng));
      out.labels.push(label);
      out.groups.push(p);
    }
  }
  return out;
}

describe('resampleProblems', () => {
  it('draws P problems with replacement per replicate, deterministically per seed', () => {
    const a = resampleProblems(20, { resamples: 50, seed: 7 });
    expect(a).toHaveLength(50);
    for (const w of a) expect(w.reduce((s, v) => s + v, 0)).toBe(20);
    expect(resampleProblems(20, { resamples: 50, seed: 7 })).toEqual(a);
    expect(resampleProblems(20, { resamples: 50, seed: 8 })).not.toEqual(a);
    // Each problem is left out of a replicate with probability (1 − 1/P)^P ≈ 0.358.
    const zeros = a.flatMap((w) => Array.from(w)).filter((v) => v === 0).length / (50 * 20);
    expect(zeros).toBeGreaterThan(0.28);
    expect(zeros).toBeLessThan(0.44);
    expect(() => resampleProblems(0)).toThrow(/positive integer/);
  });
});

describe('percentileInterval', () => {
  it('gives the type-7 quantiles and drops NaN replicates', () => {
    const xs = Array.from({ length: 101 }, (_, i) => i);
    const close = (r: { lo: number; hi: number; defined: number }, lo: number, hi: number, defined: number) => {
      expect(r.lo).toBeCloseTo(lo, 10);
      expect(r.hi).toBeCloseTo(hi, 10);
      expect(r.defined).toBe(defined);
    };
    close(percentileInterval(xs, 0.9), 5, 95, 101);
    close(percentileInterval([...xs, NaN, NaN], 0.9), 5, 95, 101);
    close(percentileInterval([2, 1], 0.5), 1.25, 1.75, 2);
    expect(percentileInterval([NaN]).lo).toBeNaN();
    expect(() => percentileInterval(xs, 1)).toThrow(/level/);
  });
});

describe('GroupedAuroc', () => {
  it('equals auroc() on the multiset with problem p repeated w_p times (ties count ½)', () => {
    const d = points(12, 6, 1, (l, rng) => Math.round((l ? 1 : 0) + 2 * rng.next())); // integer scores: many ties
    const a = new GroupedAuroc(d.scores, d.labels, d.groups);
    expect(a.value()).toBeCloseTo(auroc(d.scores, d.labels).value, 12);
    for (const w of resampleProblems(12, { resamples: 20, seed: 3 })) {
      const s: number[] = [];
      const l: boolean[] = [];
      d.groups.forEach((g, i) => {
        for (let r = 0; r < w[g]!; r++) {
          s.push(d.scores[i]!);
          l.push(d.labels[i]!);
        }
      });
      expect(a.value(w)).toBeCloseTo(auroc(s, l).value, 12);
    }
    expect(new GroupedAuroc([1, 2], [true, true], [0, 1]).value()).toBeNaN();
  });
});

describe('bootstrapInterval over problems', () => {
  it('a perfect scorer gives [1, 1]; a reversed one [0, 0]', () => {
    const d = points(30, 5, 2, (l) => (l ? 1 : 0));
    const a = new GroupedAuroc(d.scores, d.labels, d.groups);
    expect(bootstrapInterval(30, (w) => a.value(w), { resamples: 200 })).toMatchObject({ value: 1, lo: 1, hi: 1, defined: 200 });
    const r = new GroupedAuroc(d.scores.map((s) => -s), d.labels, d.groups);
    expect(bootstrapInterval(30, (w) => r.value(w), { resamples: 200 })).toMatchObject({ value: 0, lo: 0, hi: 0 });
  });

  it("a constant scorer's interval is [0.5, 0.5]; a random scorer's contains 0.5 and its value", () => {
    const d = points(40, 8, 3, () => 3);
    const c = new GroupedAuroc(d.scores, d.labels, d.groups);
    expect(bootstrapInterval(40, (w) => c.value(w), { resamples: 200 })).toMatchObject({ value: 0.5, lo: 0.5, hi: 0.5 });
    const n = points(40, 8, 4, (_, rng) => rng.next());
    const a = new GroupedAuroc(n.scores, n.labels, n.groups);
    const iv = bootstrapInterval(40, (w) => a.value(w), { resamples: 500, seed: 1 });
    expect(iv.lo).toBeLessThan(0.5);
    expect(iv.hi).toBeGreaterThan(0.5);
    expect(iv.lo).toBeLessThan(iv.value);
    expect(iv.hi).toBeGreaterThan(iv.value);
    expect(iv.hi - iv.lo).toBeLessThan(0.2); // 320 points: roughly ±0.06
  });

  it('is deterministic per seed and B is configurable', () => {
    const d = points(25, 6, 5, (l, rng) => (l ? 0.3 : 0) + rng.next());
    const a = new GroupedAuroc(d.scores, d.labels, d.groups);
    const f = (w: Float64Array) => a.value(w);
    expect(bootstrapInterval(25, f, { seed: 9 })).toEqual(bootstrapInterval(25, f, { seed: 9 }));
    expect(bootstrapInterval(25, f, { seed: 9 })).toMatchObject({ resamples: 1000, level: 0.95 });
    expect(bootstrapInterval(25, f, { seed: 9 }).lo).not.toBe(bootstrapInterval(25, f, { seed: 10 }).lo);
    expect(bootstrapInterval(25, f, { resamples: 37 }).resamples).toBe(37);
    const narrow = bootstrapInterval(25, f, { level: 0.5 });
    const wide = bootstrapInterval(25, f, { level: 0.99 });
    expect(wide.lo).toBeLessThan(narrow.lo);
    expect(wide.hi).toBeGreaterThan(narrow.hi);
  });

  it('covers a known mean about 95% of the time (problems as the unit)', () => {
    // Per-problem accuracies ~ Uniform(0, 1): the mean over problems is 0.5.
    let covered = 0;
    const trials = 200;
    for (let t = 0; t < trials; t++) {
      const rng = createRng(100 + t);
      const acc = Array.from({ length: 40 }, () => rng.next());
      const iv = bootstrapInterval(40, problemMean(acc), { resamples: 200, seed: t });
      if (iv.lo <= 0.5 && 0.5 <= iv.hi) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.88);
    expect(covered / trials).toBeLessThan(0.99);
  });
});

describe('problemMean, problemRatio', () => {
  it('weight problems by their multiplicity', () => {
    expect(problemMean([1, 0, 0.5])(unitWeights(3))).toBeCloseTo(0.5, 12);
    expect(problemMean([1, 0, 0.5])(Float64Array.from([2, 0, 1]))).toBeCloseTo(2.5 / 3, 12);
    expect(problemMean([1, NaN])(Float64Array.from([1, 1]))).toBe(1);
    expect(problemRatio([3, 1], [4, 2])(Float64Array.from([1, 2]))).toBeCloseTo(5 / 8, 12);
  });
});

describe('pairedBootstrapDifference and separated', () => {
  const rng = createRng(11);
  const majority = Array.from({ length: 50 }, () => rng.next());

  it('the same method against itself: [0, 0], not separated', () => {
    const d = pairedBootstrapDifference(50, problemMean(majority), problemMean(majority), { resamples: 200 });
    expect(d).toMatchObject({ value: 0, lo: 0, hi: 0, separated: false });
  });

  it('a method better on every problem by 0.1 is separated, although the two unpaired intervals overlap', () => {
    const better = majority.map((a) => a + 0.1);
    const d = pairedBootstrapDifference(50, problemMean(better), problemMean(majority), { resamples: 300 });
    expect(d.value).toBeCloseTo(0.1, 12);
    expect(d.lo).toBeCloseTo(0.1, 12);
    expect(d.separated).toBe(true);
    const a = bootstrapInterval(50, problemMean(better), { resamples: 300 });
    const b = bootstrapInterval(50, problemMean(majority), { resamples: 300 });
    expect(a.lo).toBeLessThan(b.hi); // unpaired, they would not look resolved
  });

  it('a difference that is noise (±0.1 per problem, mean 0) is not separated', () => {
    const noisy = majority.map((a, p) => a + (p % 2 === 0 ? 0.1 : -0.1));
    const d = pairedBootstrapDifference(50, problemMean(noisy), problemMean(majority), { resamples: 300 });
    expect(d.lo).toBeLessThan(0);
    expect(d.hi).toBeGreaterThan(0);
    expect(d.separated).toBe(false);
  });

  it('separated needs the interval to exclude 0', () => {
    expect(separated({ lo: 0.01, hi: 0.2 })).toBe(true);
    expect(separated({ lo: -0.2, hi: -0.01 })).toBe(true);
    expect(separated({ lo: 0, hi: 0.2 })).toBe(false);
    expect(separated({ lo: NaN, hi: NaN })).toBe(false);
  });
});

describe('WeightedFirstError', () => {
  it('equals bestThreshold / firstErrorF1 on the data, and on each replicate its multiset (same best F1)', () => {
    const rng = createRng(17);
    const samples: (FirstErrorSample & { problem: number })[] = [];
    for (let p = 0; p < 15; p++) {
      for (let j = 0; j < 5; j++) {
        const k = Math.floor(rng.next() * 4); // 0 … 3 steps (an empty, all-correct response included)
        const firstError = k === 0 || rng.next() < 0.5 ? -1 : Math.floor(rng.next() * k);
        const stepScores = Array.from({ length: k }, (_, i) => Math.round(4 * rng.next() + (firstError >= 0 && i >= firstError ? -1 : 1)) / 2);
        samples.push({ stepScores, firstError, problem: p });
      }
    }
    const w = new WeightedFirstError(samples, samples.map((s) => s.problem));
    const plain = bestThreshold(samples);
    expect(w.best()).toEqual(plain);
    for (const t of [-3, 0, 0.25, 1, 2.75, 9]) expect(w.f1At(t)).toEqual(firstErrorF1(samples, t));
    for (const weights of resampleProblems(15, { resamples: 30, seed: 2 })) {
      const multiset = samples.flatMap((s) => Array.from({ length: weights[s.problem]! }, () => s));
      const calibratable = multiset.some((s) => s.firstError >= 0) && multiset.some((s) => s.firstError === -1);
      expect(w.calibratable(weights)).toBe(calibratable);
      if (!calibratable) continue;
      const best = w.best(weights);
      expect(best.f1).toBeCloseTo(bestThreshold(multiset).f1, 12);
      expect(best.f1).toBeCloseTo(firstErrorF1(multiset, best.threshold).f1, 12);
      expect(w.f1At(0.75, weights).f1).toBeCloseTo(firstErrorF1(multiset, 0.75).f1, 12);
    }
    expect(() => new WeightedFirstError(samples.filter((s) => s.firstError === -1), [0]).best()).toThrow();
  });
});
