import { describe, expect, it } from 'vitest';
import { arithChain, createRng } from '@repirl/rl';
import {
  aggregateSteps, auroc, averageRanks, bestThreshold, firstErrorF1, pearson, predictFirstError, responseAuroc, spearman, stepAuroc,
  type FirstErrorSample,
} from '../src/eval/index.js';

/** P(pos > neg) + ½·P(tie) by counting every pair. */
function bruteAuroc(scores: number[], labels: boolean[]): number {
  let wins = 0;
  let pairs = 0;
  scores.forEach((sp, i) => {
    if (!labels[i]) return;
    scores.forEach((sn, j) => {
      if (labels[j]) return;
      pairs++;
      wins += sp > sn ? 1 : sp === sn ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

describe('auroc', () => {
  it('is 1 when separated, 0 when inverted, 0.5 when all tied', () => {
    expect(auroc([0.9, 0.8, 0.2, 0.1], [true, true, false, false]).value).toBe(1);
    expect(auroc([0.1, 0.2, 0.8, 0.9], [true, true, false, false]).value).toBe(0);
    expect(auroc([0.5, 0.5, 0.5, 0.5], [true, false, true, false]).value).toBe(0.5);
  });

  it('matches a 3×3 case counted by hand', () => {
    // positives 0.9, 0.6, 0.4; negatives 0.6, 0.3, 0.1.
    // 0.9 beats all three → 3; 0.6 ties 0.6 (½) and beats 0.3, 0.1 → 2.5; 0.4 beats 0.3, 0.1 → 2.
    // AUROC = 7.5 / 9. (Ranks: 0.1→1, 0.3→2, 0.4→3, 0.6,0.6→4.5, 0.9→6; U = 13.5 − 6 = 7.5.)
    const r = auroc([0.9, 0.6, 0.4, 0.6, 0.3, 0.1], [true, true, true, false, false, false]);
    expect(r.value).toBeCloseTo(7.5 / 9, 12);
    expect(r).toMatchObject({ positives: 3, negatives: 3 });
    expect(r.reason).toBeUndefined();
  });

  it('agrees with a brute-force pair count on random data with ties', () => {
    const rng = createRng(11);
    for (let trial = 0; trial < 20; trial++) {
      const n = 5 + Math.floor(rng.next() * 60);
      const scores = Array.from({ length: n }, () => Math.round(rng.next() * 10) / 10); // many ties
      const labels = Array.from({ length: n }, () => rng.next() < 0.4);
      if (!labels.includes(true) || !labels.includes(false)) continue;
      expect(auroc(scores, labels).value).toBeCloseTo(bruteAuroc(scores, labels), 12);
    }
  });

  it('is NaN with a reason when a class is empty, and rejects malformed input', () => {
    const r = auroc([0.1, 0.2], [true, true]);
    expect(r.value).toBeNaN();
    expect(r.reason).toMatch(/no negative/);
    expect(auroc([], []).reason).toMatch(/no positive/);
    expect(() => auroc([0.1], [true, false])).toThrow(/1 scores but 2 labels/);
    expect(() => auroc([NaN, 1], [true, false])).toThrow(/scores\[0\] must be a finite number/);
  });

  it('pools steps for step AUROC and takes one score per response for response AUROC', () => {
    const r = stepAuroc([
      { stepScores: [0.9, 0.2], stepLabels: [true, false] },
      { stepScores: [0.8], stepLabels: [false] },
      { stepScores: [0.7, 0.95], stepLabels: [true, true] },
    ]);
    // positives 0.9, 0.7, 0.95; negatives 0.2, 0.8 → wins: 2 + 1 + 2 = 5 of 6.
    expect(r.value).toBeCloseTo(5 / 6, 12);
    expect(() => stepAuroc([{ stepScores: [1, 2], stepLabels: [true] }])).toThrow(/sample 0 has 2 step scores but 1 step labels/);
    expect(responseAuroc([{ score: 3, correct: true }, { score: 1, correct: false }, { score: 2, correct: false }]).value).toBe(1);
  });

  it('averages tied ranks', () => {
    expect(averageRanks([10, 20, 20, 30])).toEqual([1, 2.5, 2.5, 4]);
    expect(averageRanks([3, 1, 3, 3])).toEqual([3, 1, 3, 3]);
  });
});

describe('first-error F1', () => {
  const samples: FirstErrorSample[] = [
    { stepScores: [0.9, 0.8, 0.7], firstError: -1 }, // all correct, accepted
    { stepScores: [0.9, 0.2, 0.8], firstError: -1 }, // all correct, wrongly rejected at step 1
    { stepScores: [0.6, 0.7], firstError: -1 }, // all correct, accepted
    { stepScores: [0.1, 0.9, 0.9], firstError: 0 }, // error found early
    { stepScores: [0.9, 0.9, 0.3], firstError: 2 }, // error found late
    { stepScores: [0.9, 0.9, 0.9], firstError: 1 }, // error missed (predicted -1)
    { stepScores: [0.3, 0.2, 0.9], firstError: 1 }, // flagged too early (predicted 0)
  ];

  it('scores hand cases at threshold 0.5', () => {
    expect(samples.map((s) => predictFirstError(s.stepScores, 0.5))).toEqual([-1, 1, -1, 0, 2, -1, 0]);
    const r = firstErrorF1(samples, 0.5);
    // errors: 2 of 4 located; all-correct: 2 of 3 accepted; F1 = 2·½·⅔ / (½ + ⅔) = 4/7.
    expect(r.errorAccuracy).toBe(0.5);
    expect(r.correctAccuracy).toBeCloseTo(2 / 3, 12);
    expect(r.f1).toBeCloseTo(4 / 7, 12);
    expect(r).toMatchObject({ erroneous: 4, correct: 3 });
  });

  it('is 0 when nothing is right and NaN when a class is missing', () => {
    expect(firstErrorF1([{ stepScores: [0.1], firstError: -1 }, { stepScores: [0.9], firstError: 0 }], 0.5).f1).toBe(0);
    const onlyCorrect = firstErrorF1([{ stepScores: [0.9], firstError: -1 }], 0.5);
    expect(onlyCorrect.correctAccuracy).toBe(1);
    expect(onlyCorrect.f1).toBeNaN();
  });

  it('rejects a first error outside the steps', () => {
    expect(() => firstErrorF1([{ stepScores: [0.1, 0.2], firstError: 2 }], 0.5)).toThrow(/firstError must be -1 or a step index in \[0, 1\], got 2/);
    expect(() => firstErrorF1([{ stepScores: [0.1], firstError: 0.5 }], 0.5)).toThrow(/firstError/);
  });

  it('bestThreshold finds the F1 maximum that a brute-force sweep finds', () => {
    expect(bestThreshold(samples).f1).toBeGreaterThanOrEqual(4 / 7);
    const rng = createRng(5);
    for (let trial = 0; trial < 15; trial++) {
      const data: FirstErrorSample[] = Array.from({ length: 25 }, () => {
        const k = 1 + Math.floor(rng.next() * 5);
        const stepScores = Array.from({ length: k }, () => Math.round(rng.next() * 20) / 20);
        const firstError = rng.next() < 0.5 ? -1 : Math.floor(rng.next() * k);
        return { stepScores, firstError };
      });
      if (!data.some((d) => d.firstError === -1) || !data.some((d) => d.firstError >= 0)) continue;
      const best = bestThreshold(data);
      expect(firstErrorF1(data, best.threshold).f1).toBeCloseTo(best.f1, 12);
      expect(firstErrorF1(data, best.threshold).errorAccuracy).toBeCloseTo(best.errorAccuracy, 12);
      let bruteMax = -1;
      for (let t = -0.5; t <= 1.5; t += 0.0125) bruteMax = Math.max(bruteMax, firstErrorF1(data, t).f1);
      expect(best.f1).toBeCloseTo(bruteMax, 12);
    }
    expect(() => bestThreshold([{ stepScores: [0.2], firstError: -1 }])).toThrow(/needs both erroneous and all-correct/);
  });
});

describe('correlation', () => {
  it('matches hand values', () => {
    expect(pearson([1, 2, 3, 4], [2, 4, 6, 8])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3, 4], [8, 6, 4, 2])).toBeCloseTo(-1, 12);
    // dx = dy-permuted (−1.5, −.5, .5, 1.5): Σdxdy = 2.25 − .25 − .25 + 2.25 = 4, Σdx² = Σdy² = 5 → 0.8.
    expect(pearson([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 12);
    // ranks of [1, 100, 10, 1000] are [1, 3, 2, 4] → same 0.8; Pearson on the raw values differs.
    expect(spearman([1, 2, 3, 4], [1, 100, 10, 1000])).toBeCloseTo(0.8, 12);
    expect(pearson([1, 2, 3, 4], [1, 100, 10, 1000])).not.toBeCloseTo(0.8, 2);
  });

  it('is NaN for a constant series and throws on malformed input', () => {
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(() => spearman([1, 2], [1])).toThrow(/x has 2 values but y has 1/);
    expect(() => pearson([1], [1])).toThrow(/at least 2 pairs/);
  });
});

describe('aggregateSteps', () => {
  it('computes each mode on a hand example', () => {
    const s = [0.5, 0.8, 0.2];
    expect(aggregateSteps(s, 'min')).toBe(0.2);
    expect(aggregateSteps(s, 'product')).toBeCloseTo(0.08, 12);
    expect(aggregateSteps(s, 'last')).toBe(0.2);
    expect(aggregateSteps(s, 'mean')).toBeCloseTo(0.5, 12);
    expect(aggregateSteps(s, 'sum')).toBeCloseTo(1.5, 12);
    // σ(0) = ½, σ(ln 3) = ¾ → 3/8.
    expect(aggregateSteps([0, Math.log(3)], 'product-sigmoid')).toBeCloseTo(0.375, 12);
    expect(aggregateSteps([-800, 5], 'product-sigmoid')).toBe(0); // underflows cleanly, no NaN
  });

  it('rejects raw rewards for product, empty steps and unknown modes', () => {
    expect(() => aggregateSteps([0.5, 1.5], 'product')).toThrow(/step 1 scores 1.5; use "product-sigmoid"/);
    expect(() => aggregateSteps([], 'min')).toThrow(/no step scores/);
    expect(() => aggregateSteps([1], 'median' as never)).toThrow(/unknown mode "median"/);
  });
});

describe('end to end with arith-chain labels', () => {
  it('an oracle PRM scoring each step by its true global label gets step AUROC 1 and first-error F1 1', () => {
    const problems = arithChain.generate(3, 40);
    const rng = createRng(4);
    const texts = problems.flatMap((p) => [
      { p, text: p.solution },
      { p, text: arithChain.noisySolution(p, rng, 0.3).text },
    ]);
    const scored = texts.map(({ p, text }) => {
      const labels = arithChain.stepLabels(p, text);
      return { stepScores: labels.global.map((g) => (g ? 1 : 0)), stepLabels: labels.global, firstError: labels.firstError };
    });
    expect(scored.some((s) => s.firstError === -1)).toBe(true);
    expect(scored.some((s) => s.firstError >= 0)).toBe(true);
    const a = stepAuroc(scored);
    expect(a.value).toBe(1);
    expect(a.negatives).toBeGreaterThan(0);
    const f = firstErrorF1(scored, 0.5);
    expect(f).toMatchObject({ f1: 1, errorAccuracy: 1, correctAccuracy: 1 });
    expect(bestThreshold(scored).f1).toBe(1);
    // A PRM that scores every step 1 accepts everything: it never localises an error.
    expect(firstErrorF1(scored.map((s) => ({ ...s, stepScores: s.stepScores.map(() => 1) })), 0.5).f1).toBe(0);
  });
});
