import { describe, expect, it } from 'vitest';
import { arithChain, createRng, finalAnswer } from '@repirl/rl';
import { bestOfN, bestOfNAccuracy, majorityVote, selectAnswer, weightedVote, type BestOfNProblem } from '../src/search/index.js';

describe('majorityVote', () => {
  it('groups equal answers, skips nulls and breaks ties towards the group seen first', () => {
    const r = majorityVote(['7', '1,000', '1000', null, '7', '8']);
    // '7' ×2 and '1,000'/'1000' ×2 tie; '7' appeared first.
    expect(r.answer).toBe('7');
    expect(r.total).toBe(2);
    expect(r.groups.map((g) => [g.answer, g.total])).toEqual([['7', 2], ['1,000', 2], ['8', 1]]);
    expect(majorityVote(['1000', '7', '1,000']).answer).toBe('1000');
    expect(majorityVote(['8', '7', '7']).answer).toBe('7');
    expect(majorityVote([null, null])).toMatchObject({ answer: null, total: 0 });
    expect(majorityVote([]).answer).toBeNull();
  });
});

describe('weightedVote', () => {
  const answers = ['a', 'b', 'b', null];
  const weights = [2, 1, 1.5, 100]; // the null answer's weight must not count

  it('raw: a = 2, b = 1 + 1.5 = 2.5 → b, best member 2', () => {
    const r = weightedVote(answers, weights, { transform: 'raw' });
    expect(r).toMatchObject({ answer: 'b', bestMember: 2 });
    expect(r.total).toBeCloseTo(2.5, 12);
  });

  it('exp: a = e² ≈ 7.389 beats b = e + e^1.5 ≈ 7.200 → a, best member 0 (totals scaled by e^−2)', () => {
    const r = weightedVote(answers, weights, { transform: 'exp' });
    expect(r).toMatchObject({ answer: 'a', bestMember: 0 });
    expect(r.total).toBeCloseTo(1, 12);
    expect(r.groups[1]!.total).toBeCloseTo(Math.exp(-1) + Math.exp(-0.5), 12);
    // Huge weights do not overflow.
    expect(weightedVote(['x', 'y'], [1000, 999], { transform: 'exp' }).answer).toBe('x');
  });

  it('sigmoid: a = σ(2) ≈ 0.881, b = σ(1) + σ(1.5) ≈ 1.549 → b', () => {
    const r = weightedVote(answers, weights, { transform: 'sigmoid' });
    expect(r.answer).toBe('b');
    expect(r.total).toBeCloseTo(1 / (1 + Math.exp(-1)) + 1 / (1 + Math.exp(-1.5)), 12);
  });

  it('breaks exact ties towards the group seen first and rejects bad input', () => {
    expect(weightedVote(['b', 'a'], [1, 1], { transform: 'raw' }).answer).toBe('b');
    expect(weightedVote([null], [1], { transform: 'raw' })).toMatchObject({ answer: null, bestMember: -1 });
    expect(() => weightedVote(['a'], [1, 2], { transform: 'raw' })).toThrow(/1 answers but 2 weights/);
    expect(() => weightedVote(['a'], [NaN], { transform: 'raw' })).toThrow(/weights\[0\] must be a finite number/);
    expect(() => weightedVote(['a'], [1], { transform: 'log' as never })).toThrow(/unknown transform "log"/);
  });
});

describe('bestOfN', () => {
  const candidates = [
    { answer: '1', stepScores: [0.9, 0.1] }, // min 0.1, last 0.1, mean 0.5, sum 1.0
    { answer: '2', stepScores: [0.6, 0.6] }, // min 0.6, last 0.6, mean 0.6, sum 1.2
    { answer: '3', stepScores: [0.3, 0.3, 0.95] }, // min 0.3, last 0.95, mean 0.5167, sum 1.55
    { answer: null, stepScores: [] }, // cannot be scored: ranks last
  ];

  it('picks the top candidate under each aggregation', () => {
    expect(bestOfN(candidates, 'min')).toMatchObject({ index: 1, answer: '2' });
    expect(bestOfN(candidates, 'last')).toMatchObject({ index: 2, answer: '3' });
    expect(bestOfN(candidates, 'mean')).toMatchObject({ index: 1, answer: '2' });
    expect(bestOfN(candidates, 'sum')).toMatchObject({ index: 2, answer: '3' });
    // product: 0.09, 0.36, 0.0855 → candidate 1.
    expect(bestOfN(candidates, 'product').score).toBeCloseTo(0.36, 12);
    expect(bestOfN([{ answer: 'x', stepScores: [] }], 'min')).toMatchObject({ index: 0, score: -Infinity });
    expect(() => bestOfN([], 'min')).toThrow(/no candidates/);
  });

  it('selectAnswer dispatches to voting and to best-of-N', () => {
    const pool = [
      { answer: '5', stepScores: [-1] },
      { answer: '5', stepScores: [-1] },
      { answer: '6', stepScores: [3] },
    ];
    expect(selectAnswer(pool, 'majority')).toBe('5');
    expect(selectAnswer(pool, 'min')).toBe('6');
    expect(selectAnswer(pool, 'weighted-raw')).toBe('6'); // −2 vs 3
    expect(selectAnswer(pool, 'weighted-exp')).toBe('6'); // 2e^−1 ≈ 0.74 vs e³
    expect(selectAnswer(pool, 'weighted-sigmoid')).toBe('6'); // 2σ(−1) ≈ 0.54 vs σ(3) ≈ 0.95
  });
});

/** P(at least one of c correct among a uniform N-subset of M) = 1 − C(M−c, N)/C(M, N). */
function atLeastOneCorrect(m: number, c: number, n: number): number {
  let noneCorrect = 1;
  for (let i = 0; i < n; i++) noneCorrect *= Math.max(0, m - c - i) / (m - i);
  return 1 - noneCorrect;
}

function syntheticPool(seed: number, m: number, correctCounts: number[], score: 'oracle' | 'random'): BestOfNProblem[] {
  const rng = createRng(seed);
  return correctCounts.map((c) => ({
    correctAnswer: '42',
    candidates: Array.from({ length: m }, (_, i) => {
      const correct = i < c;
      const answer = correct ? '42' : String(1 + Math.floor(rng.next() * 5)); // wrong answers spread over 1..5
      const stepScores = score === 'oracle' ? [correct ? 1 : 0] : [rng.next(), rng.next()];
      return { answer, stepScores };
    }),
  }));
}

describe('bestOfNAccuracy', () => {
  const m = 64;
  const counts = [0, 1, 3, 8, 20, 40];

  it('with an oracle score equals P(a correct candidate is among N) and is ≥ majority vote', () => {
    const problems = syntheticPool(1, m, counts, 'oracle');
    for (const n of [4, 16, 64]) {
      const oracle = bestOfNAccuracy(problems, { n, method: 'min', subsets: 2000, seed: 9 });
      const exact = counts.map((c) => atLeastOneCorrect(m, c, n));
      const exactMean = exact.reduce((a, b) => a + b, 0) / exact.length;
      // Monte-Carlo standard error of the mean ≤ 0.5/√(6·2000) ≈ 0.0046.
      expect(Math.abs(oracle.accuracy - exactMean)).toBeLessThan(0.02);
      oracle.perProblem.forEach((acc, i) => expect(Math.abs(acc - exact[i]!)).toBeLessThan(0.05));
      // Same seed → the same subsets, so the comparison holds subset by subset.
      const majority = bestOfNAccuracy(problems, { n, method: 'majority', subsets: 2000, seed: 9 });
      majority.perProblem.forEach((acc, i) => expect(acc).toBeLessThanOrEqual(oracle.perProblem[i]!));
    }
    // c = 40 of 64 at N = 64: every subset is the whole pool → both exactly 1; c = 0 → 0.
    const full = bestOfNAccuracy(problems, { n: 64, method: 'majority', subsets: 50 });
    expect(full.perProblem[5]).toBe(1);
    expect(full.perProblem[0]).toBe(0);
  });

  it('with random scores equals the base rate', () => {
    // Scores independent of correctness: over random pools, the chosen candidate is correct with
    // probability c/M. One pool's fixed scores favour some candidates, so we average many pools
    // and allow 4 standard errors of that pool-to-pool spread (plus Monte-Carlo slack).
    const many = Array.from({ length: 50 }, () => counts).flat();
    const problems = syntheticPool(2, m, many, 'random');
    const baseRate = many.reduce((a, c) => a + c / m, 0) / many.length;
    for (const method of ['min', 'mean', 'last'] as const) {
      const r = bestOfNAccuracy(problems, { n: 16, method, subsets: 200, seed: 3 });
      const excess = r.perProblem.map((acc, i) => acc - many[i]! / m);
      const sd = Math.sqrt(excess.reduce((a, e) => a + e * e, 0) / excess.length);
      expect(Math.abs(r.accuracy - baseRate)).toBeLessThan((4 * sd) / Math.sqrt(excess.length) + 0.01);
      expect(sd).toBeLessThan(0.3); // the bound stays meaningful
    }
    // An oracle score on the same pools is far above the base rate (the test can fail).
    const oracle = bestOfNAccuracy(syntheticPool(2, m, many, 'oracle'), { n: 16, method: 'min', subsets: 200, seed: 3 });
    expect(oracle.accuracy - baseRate).toBeGreaterThan(0.3);
  });

  it('is reproducible for a seed and rejects bad options', () => {
    const problems = syntheticPool(3, 8, [2, 5], 'random');
    const a = bestOfNAccuracy(problems, { n: 4, method: 'weighted-exp', subsets: 100, seed: 7 });
    const b = bestOfNAccuracy(problems, { n: 4, method: 'weighted-exp', subsets: 100, seed: 7 });
    expect(a).toEqual(b);
    expect(() => bestOfNAccuracy(problems, { n: 16, method: 'min' })).toThrow(/problem 0 has 8 candidates, fewer than n = 16/);
    expect(() => bestOfNAccuracy(problems, { n: 0, method: 'min' })).toThrow(/n must be a positive integer/);
    expect(() => bestOfNAccuracy(problems, { n: 2, method: 'best' as never })).toThrow(/unknown method "best"/);
    expect(() => bestOfNAccuracy([], { n: 2, method: 'min' })).toThrow(/no problems/);
  });

  it('runs on arith-chain samples with an oracle PRM built from the exact step labels', () => {
    const rng = createRng(8);
    const problems: BestOfNProblem[] = arithChain.generate(6, 10).map((p) => ({
      correctAnswer: p.answer,
      candidates: Array.from({ length: 16 }, () => {
        const text = arithChain.noisySolution(p, rng, 0.25).text;
        const labels = arithChain.stepLabels(p, text);
        return { answer: finalAnswer(text).answer, stepScores: labels.global.map((g) => (g ? 1 : 0)) };
      }),
    }));
    const oracle = bestOfNAccuracy(problems, { n: 4, method: 'min', subsets: 400, seed: 1 });
    const majority = bestOfNAccuracy(problems, { n: 4, method: 'majority', subsets: 400, seed: 1 });
    expect(oracle.accuracy).toBeGreaterThan(majority.accuracy);
    oracle.perProblem.forEach((acc, i) => expect(acc).toBeGreaterThanOrEqual(majority.perProblem[i]!));
  });
});
