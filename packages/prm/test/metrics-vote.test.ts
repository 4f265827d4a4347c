// The two named weighted votes with a temperature chosen on validation problems (issue 15), on
// synthetic candidates whose best temperature is known.
import { describe, expect, it } from 'vitest';
import { answersMatch } from '@repirl/rl';
import {
  DEFAULT_TEMPERATURES, bestOfNAccuracy, chooseTemperature, crossFittedWeightedVote, selectAnswer, tunedWeightedVoteAccuracy, type BestOfNProblem,
  type Candidate, type SelectionMethod, type Weighting,
} from '../src/search/best-of-n.js';
import { weightedVote } from '../src/search/vote.js';

/** 1 candidate answering `lone` with weight 2, 3 answering `crowd` with weight 0 (both weight forms alike). */
function problem(correct: string, lone: string, crowd: string): BestOfNProblem {
  const c = (answer: string, w: number): Candidate => ({ answer, stepScores: [w, w], meanTokenReward: w });
  return { correctAnswer: correct, candidates: [c(lone, 2), c(crowd, 0), c(crowd, 0), c(crowd, 0)] };
}
/** The confident lone answer is right: needs a low τ (exp(2/τ) > 3 ⇔ τ < 2/ln 3 ≈ 1.82). */
const loneRight = () => problem('1', '1', '2');
/** The crowd is right: needs a high τ (close to majority vote). */
const crowdRight = () => problem('2', '1', '2');

describe('weightedVote temperature', () => {
  const answers = ['a', 'b', 'b', 'b'];
  const weights = [3, 0, 0, 0];
  it('τ → 0 is the argmax, τ → ∞ majority vote; τ = 1 is the old rule', () => {
    expect(weightedVote(answers, weights, { transform: 'exp' }).answer).toBe('a'); // e³ ≈ 20 > 3
    expect(weightedVote(answers, weights, { transform: 'exp', temperature: 1 }).answer).toBe('a');
    expect(weightedVote(answers, weights, { transform: 'exp', temperature: 0.01 }).answer).toBe('a');
    expect(weightedVote(answers, weights, { transform: 'exp', temperature: 100 }).answer).toBe('b'); // e^0.03 ≈ 1.03 < 3
    expect(weightedVote(answers, weights, { transform: 'exp', temperature: Infinity })).toMatchObject({ answer: 'b', total: 3 });
    expect(weightedVote(answers, [3000, 0, 0, 0], { transform: 'exp', temperature: 0.001 }).answer).toBe('a'); // no overflow
    expect(() => weightedVote(answers, weights, { transform: 'exp', temperature: 0 })).toThrow(/temperature must be > 0/);
  });
});

describe('selectAnswer weight sources', () => {
  // 'x' has a high mean token reward but zero step scores; 'y' ×2 the opposite.
  const candidates: Candidate[] = [
    { answer: 'x', stepScores: [0, 0], meanTokenReward: 5 },
    { answer: 'y', stepScores: [3, 3], meanTokenReward: 0 },
    { answer: 'y', stepScores: [3, 3], meanTokenReward: 0 },
  ];
  it("official ('token-mean') weighs by the mean token reward, step-mean by the mean step score", () => {
    expect(selectAnswer(candidates, 'weighted-exp', 'mean', { source: 'token-mean' })).toBe('x'); // e⁵ ≈ 148 > 2
    expect(selectAnswer(candidates, 'weighted-exp', 'mean', { source: 'steps' })).toBe('y'); // 1 < 2e³
    expect(selectAnswer(candidates, 'weighted-exp')).toBe('y'); // the default is unchanged
    expect(selectAnswer(candidates, 'weighted-exp', 'mean', { source: 'token-mean', temperature: 100 })).toBe('y'); // ≈ majority
    expect(() => selectAnswer([{ answer: 'x', stepScores: [1] }], 'weighted-exp', 'mean', { source: 'token-mean' })).toThrow(/meanTokenReward/);
  });
});

describe('chooseTemperature / tunedWeightedVoteAccuracy', () => {
  const options = { n: 4, form: 'step-mean' as const, subsets: 8, seed: 1 };

  it('picks the flattest τ of the grid that reaches the best validation accuracy', () => {
    const low = chooseTemperature([loneRight(), loneRight()], options);
    expect(low.temperature).toBe(1); // 100, 30, 10, 3 fail; 1 is the first that works
    expect(low.accuracies).toEqual(DEFAULT_TEMPERATURES.map((t) => (t < 2 / Math.log(3) ? 1 : 0)));
    expect(chooseTemperature([crowdRight()], options).temperature).toBe(100);
    expect(chooseTemperature([loneRight()], { ...options, form: 'official', temperatures: [0.5, 5] }).temperature).toBe(0.5);
    expect(() => chooseTemperature([loneRight()], { ...options, temperatures: [] })).toThrow(/no temperatures/);
    expect(() => chooseTemperature([loneRight()], { ...options, temperatures: [-1] })).toThrow(/> 0/);
  });

  it('applies the validation τ to the test problems, never looking at them', () => {
    // Validation wants τ = 1; on the test problems τ = 1 gets 0, although τ = 100 would get 1.
    const r = tunedWeightedVoteAccuracy([loneRight(), loneRight()], [crowdRight(), crowdRight(), crowdRight()], options);
    expect(r.temperature).toBe(1);
    expect(r.accuracy).toBe(0);
    expect(r.perProblem).toEqual([0, 0, 0]);
    expect(bestOfNAccuracy([crowdRight()], { n: 4, method: 'weighted-exp', subsets: 8, weighting: { temperature: 100 } }).accuracy).toBe(1);
    // Changing the test set does not change τ.
    expect(tunedWeightedVoteAccuracy([loneRight(), loneRight()], [loneRight()], options)).toMatchObject({ temperature: 1, accuracy: 1 });
  });

  it('cross-fitting scores each fold with the other fold’s τ', () => {
    // Fold 0 wants τ ≤ 1, fold 1 wants τ ≥ 3: each is scored with the other's choice, so 0 —
    // an in-sample choice would have scored 1 on both.
    const problems = [loneRight(), crowdRight(), loneRight(), crowdRight()];
    const r = crossFittedWeightedVote(problems, [0, 1, 0, 1], options);
    expect(r.temperatures).toEqual([100, 1]);
    expect(r.perProblem).toEqual([0, 0, 0, 0]);
    expect(r.accuracy).toBe(0);
    // Homogeneous folds: the out-of-fold τ is right.
    expect(crossFittedWeightedVote([loneRight(), loneRight()], [0, 1], options).accuracy).toBe(1);
    expect(() => crossFittedWeightedVote(problems, [0, 0, 0, 0], options)).toThrow(/each fold/);
  });
});

describe('bestOfNAccuracy precomputes per pool', () => {
  it('equals selectAnswer on every subset (random pools with equal-valued answers, nulls, ties, empty responses)', async () => {
    const { createRng } = await import('@repirl/rl');
    const rng = createRng(21);
    const spellings = ['1000', '1,000', '7', ' 7', 'x', 'x ', '8'];
    const problems: BestOfNProblem[] = Array.from({ length: 12 }, (_, p) => ({
      correctAnswer: p % 2 === 0 ? '1000' : '7',
      candidates: Array.from({ length: 9 }, () => {
        const answer = rng.next() < 0.15 ? null : spellings[Math.floor(rng.next() * spellings.length)]!;
        const steps = answer === null && rng.next() < 0.5 ? 0 : 1 + Math.floor(rng.next() * 3);
        const stepScores = Array.from({ length: steps }, () => Math.round(rng.next() * 4) / 4); // ties
        return { answer, stepScores, meanTokenReward: Math.round(rng.next() * 4) / 4 - 0.5 };
      }),
    }));
    const runs: [SelectionMethod, Weighting][] = [
      ['majority', {}], ['min', {}], ['last', {}], ['sum', {}], ['product-sigmoid', {}], ['weighted-exp', {}], ['weighted-raw', {}],
      ['weighted-sigmoid', { temperature: 0.5 }], ['weighted-exp', { source: 'token-mean', temperature: 0.1 }], ['weighted-exp', { temperature: Infinity }],
    ];
    for (const [method, weighting] of runs) {
      for (const n of [1, 4, 9]) {
        // The reference: the same subsets (same PRNG stream) through selectAnswer.
        const ref = createRng(5);
        const expected = problems.map((p) => {
          const pool = p.candidates.map((_, i) => i);
          let hits = 0;
          for (let s = 0; s < 20; s++) {
            for (let i = 0; i < n; i++) {
              const j = i + Math.floor(ref.next() * (pool.length - i));
              [pool[i], pool[j]] = [pool[j]!, pool[i]!];
            }
            const chosen = selectAnswer(pool.slice(0, n).map((i) => p.candidates[i]!), method, 'mean', weighting);
            if (chosen !== null && answersMatch(p.correctAnswer, chosen)) hits++;
          }
          return hits / 20;
        });
        expect(bestOfNAccuracy(problems, { n, method, subsets: 20, seed: 5, weighting }).perProblem, `${method} ${JSON.stringify(weighting)} n=${n}`).toEqual(expected);
      }
    }
  });
});
