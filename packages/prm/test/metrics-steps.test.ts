// Step AUROC without the confounds (issue 15) on synthetic labels and scores with known answers.
import { describe, expect, it } from 'vitest';
import { arithChain, createRng } from '@repirl/rl';
import {
  GroupedAuroc, baselineScores, isAnswerLine, positionControlled, stepAurocStatistics, stepSumsAndMeans, type StepMetricSample,
} from '../src/eval/step-metrics.js';
import { resampleProblems, unitWeights } from '../src/eval/bootstrap.js';

const ones = (p: number) => unitWeights(p);

/** Noisy arith-chain solutions with exact labels: errors carry forward (global), slips are local. */
function chainSamples(problems: number, perProblem: number, errorRate: number, seed: number): StepMetricSample[] {
  const rng = createRng(seed);
  const out: StepMetricSample[] = [];
  arithChain.generate(seed, problems, { steps: 4, range: 20 }).forEach((problem, p) => {
    for (let j = 0; j < perProblem; j++) {
      const { text } = arithChain.noisySolution(problem, rng, errorRate);
      const labels = arithChain.stepLabels(problem, text);
      out.push({ problem: p, labels, stepTokens: labels.steps.map((s) => s.length + 1) });
    }
  });
  return out;
}

const evalAll = (stats: Record<string, (w: Float64Array) => number>, p: number) =>
  Object.fromEntries(Object.entries(stats).map(([k, f]) => [k, f(ones(p))]));

describe('stepSumsAndMeans', () => {
  it('sums and averages token rewards over each step span (previous end + 1 … end)', () => {
    const r = stepSumsAndMeans([1, 2, 3, 0, 4, 4, 4, 9], [2, 3, 6]);
    expect(r.sum).toEqual([6, 0, 12]);
    expect(r.mean).toEqual([2, 0, 4]);
    expect(r.tokens).toEqual([3, 1, 3]);
  });
});

describe('isAnswerLine', () => {
  it('marks `####` lines, answered or not', () => {
    expect(['=7', '#### 14', '  ####', '## 3'].map(isAnswerLine)).toEqual([false, true, true, false]);
  });
});

describe('stepAurocStatistics', () => {
  const samples = chainSamples(30, 8, 0.2, 3);
  const P = 30;

  it('an oracle of the global labels scores 1 in every global variant, and the labels it does not see reveal it', () => {
    const oracle = samples.map((s) => s.labels.global.map((g) => (g ? 1 : 0)));
    const m = evalAll(stepAurocStatistics(samples, oracle, 'sum'), P);
    expect(m['step_auroc/sum']).toBe(1);
    expect(m['step_auroc_no_answer/sum']).toBe(1);
    expect(m['step_auroc_position_controlled/sum']).toBe(1);
    expect(m['step_auroc_pos1/sum']).toBe(1); // step 1: a slip is both a local and a global error
    // Locally, steps after a slip are right: a global oracle calls them wrong.
    expect(m['step_auroc_local/sum']).toBeLessThan(0.95);
    const local = evalAll(stepAurocStatistics(samples, samples.map((s) => s.labels.local.map((l) => (l ? 1 : 0))), 'local-oracle'), P);
    expect(local['step_auroc_local/local-oracle']).toBe(1);
    expect(local['step_auroc/local-oracle']).toBeLessThan(0.95);
  });

  it('a position-only scorer looks good pooled but is exactly 0.5 once position is controlled', () => {
    const base = baselineScores(samples);
    const m = evalAll(stepAurocStatistics(samples, base.position, 'baseline-position'), P);
    // Errors carry forward: later steps are wrong more often.
    expect(m['step_auroc/baseline-position']).toBeGreaterThan(0.6);
    expect(m['step_auroc_position_controlled/baseline-position']).toBe(0.5);
    for (let k = 1; k <= 5; k++) expect(m[`step_auroc_pos${k}/baseline-position`]).toBe(0.5);
  });

  it('an answer-only scorer (right about the answer line, constant elsewhere) is at chance without the answer line', () => {
    const scores = samples.map((s) => s.labels.global.map((g, k) => (isAnswerLine(s.labels.steps[k]!) ? (g ? 1 : -1) : 0)));
    const m = evalAll(stepAurocStatistics(samples, scores, 'orm-like'), P);
    expect(m['step_auroc/orm-like']).toBeGreaterThan(0.6);
    expect(m['step_auroc_no_answer/orm-like']).toBe(0.5);
    expect(m['step_auroc_pos5/orm-like']).toBe(1); // the answer line is step 5 of 4-step chains
  });

  it('positions with one class are undefined and left out of position_controlled', () => {
    // Two samples of one problem: step 1 always right, step 2 right once and wrong once.
    const two: StepMetricSample[] = [true, false].map((ok) => ({
      problem: 0, labels: { steps: ['=1', '=2'], global: [true, ok], local: [true, ok] }, stepTokens: [3, 3],
    }));
    const stats = stepAurocStatistics(two, [[0, 1], [5, 0]], 's');
    expect(stats['step_auroc_pos1/s']!(ones(1))).toBeNaN();
    expect(stats['step_auroc_pos2/s']!(ones(1))).toBe(1);
    expect(stats['step_auroc_position_controlled/s']!(ones(1))).toBe(1);
    expect(positionControlled([new GroupedAuroc([1], [true], [0])])).toBeNaN();
    expect(stepAurocStatistics(two, [[0, 1], [5, 0]], 's', { perPosition: false })['step_auroc_pos1/s']).toBeUndefined();
    expect(() => stepAurocStatistics(two, [[0, 1], [5]], 's')).toThrow(/sample 1 has 1 scores of "s" but 2 steps/);
  });

  it('every variant is a weighted statistic: bootstrap replicates are defined and near the value', () => {
    const noisy = samples.map((s) => s.labels.global.map((g, k) => (g ? 0.5 : 0) - 0.1 * k + ((s.problem * 7 + k * 3) % 5) / 10));
    const stats = stepAurocStatistics(samples, noisy, 'sum');
    const reps = resampleProblems(P, { resamples: 50, seed: 1 });
    for (const key of ['step_auroc/sum', 'step_auroc_local/sum', 'step_auroc_no_answer/sum', 'step_auroc_position_controlled/sum']) {
      const f = stats[key]!;
      const v = f(ones(P));
      expect(v).toBeGreaterThan(0.5);
      for (const w of reps) expect(Math.abs(f(w) - v)).toBeLessThan(0.2);
    }
  });
});

describe('baselineScores', () => {
  it('position = −index; length keeps the better orientation and says which', () => {
    // Correct steps are short (2 tokens), wrong ones long (5): shorter-is-better (sign −1) separates perfectly.
    const s: StepMetricSample[] = [0, 1, 2, 3].map((i) => ({
      problem: i, labels: { steps: ['a', 'b'], global: [true, i % 2 === 0], local: [true, i % 2 === 0] }, stepTokens: [2, i % 2 === 0 ? 2 : 5],
    }));
    const b = baselineScores(s);
    expect(b.position).toEqual([[-0, -1], [-0, -1], [-0, -1], [-0, -1]]);
    expect(b.lengthSign).toBe(-1);
    expect(b.length[1]).toEqual([-2, -5]);
    expect(stepAurocStatistics(s, b.length, 'len')['step_auroc/len']!(ones(4))).toBe(1);
    // Longer is better: sign +1.
    const flipped = s.map((x) => ({ ...x, stepTokens: x.stepTokens.map((t) => 10 - t) }));
    expect(baselineScores(flipped).lengthSign).toBe(1);
  });
});
