// Best-of-N selection with a PRM, and an unbiased estimate of best-of-N accuracy.
import { answersMatch, createRng } from '@repirl/rl';
import { aggregateSteps, aggregationModes, type Aggregation } from '../eval/aggregate.js';
import { majorityVote, weightedVote, type WeightTransform } from './vote.js';

/** One sampled response: its final answer (null when it has none) and its PRM step scores. */
export interface Candidate {
  answer: string | null;
  stepScores: readonly number[];
}

/**
 * The candidate with the highest aggregated score (ties → the earliest). A candidate with no steps
 * cannot be scored and ranks below every scored one. Throws when there are no candidates.
 */
export function bestOfN(
  candidates: readonly Candidate[],
  aggregation: Aggregation,
): { index: number; answer: string | null; score: number } {
  if (candidates.length === 0) throw new Error('bestOfN: no candidates to choose from');
  let index = -1;
  let score = -Infinity;
  candidates.forEach((c, i) => {
    const s = c.stepScores.length === 0 ? -Infinity : aggregateSteps(c.stepScores, aggregation);
    if (index === -1 || s > score) {
      index = i;
      score = s;
    }
  });
  return { index, answer: candidates[index]!.answer, score };
}

/** How an answer is chosen from N candidates. */
export type SelectionMethod = Aggregation | 'majority' | 'weighted-raw' | 'weighted-exp' | 'weighted-sigmoid';

export const selectionMethods: readonly SelectionMethod[] = [
  ...aggregationModes,
  'majority',
  'weighted-raw',
  'weighted-exp',
  'weighted-sigmoid',
];

/**
 * The answer `method` picks: an aggregation name → bestOfN; 'majority' → majorityVote (scores
 * unused); 'weighted-<transform>' → weightedVote with weight = aggregateSteps(stepScores,
 * weightAggregation) per candidate (rePIRL: 'weighted-exp' with 'mean').
 */
export function selectAnswer(
  candidates: readonly Candidate[],
  method: SelectionMethod,
  weightAggregation: Aggregation = 'mean',
): string | null {
  if (method === 'majority') return majorityVote(candidates.map((c) => c.answer)).answer;
  if (method.startsWith('weighted-')) {
    const transform = method.slice('weighted-'.length) as WeightTransform;
    const voters = candidates.filter((c) => c.answer !== null);
    const weights = voters.map((c) => aggregateSteps(c.stepScores, weightAggregation));
    return weightedVote(voters.map((c) => c.answer), weights, { transform }).answer;
  }
  return bestOfN(candidates, method as Aggregation).answer;
}

export interface BestOfNProblem {
  correctAnswer: string;
  /** A pool of M ≥ N sampled candidates for this problem. */
  candidates: readonly Candidate[];
}

export interface BestOfNOptions {
  n: number;
  method: SelectionMethod;
  /** Random N-subsets drawn per problem (default 512). */
  subsets?: number;
  /** PRNG seed, an integer in [0, 2^32) (default 0). */
  seed?: number;
  /** Step aggregation giving the weights of 'weighted-*' methods (default 'mean'). */
  weightAggregation?: Aggregation;
}

export interface BestOfNAccuracy {
  /** Mean over problems of the per-problem accuracy. */
  accuracy: number;
  /** Per problem: the fraction of the drawn N-subsets whose selected answer is correct. */
  perProblem: number[];
  n: number;
  subsets: number;
}

/**
 * Best-of-N accuracy from a pool of M ≥ N candidates per problem, estimated without bias: for each
 * problem we draw `subsets` uniformly random N-subsets (without replacement within a subset, in
 * random order: a partial Fisher–Yates shuffle with the seeded PRNG), apply `method` to each and
 * average correctness. Each subset is a fair draw of "N samples from the policy", so the average
 * is an unbiased Monte-Carlo estimate of E[correct | N] (standard error ≤ 0.5/√subsets per
 * problem); the random order also averages out order-dependent tie-breaking. We use Monte Carlo for
 * every method (majority included) so all methods are estimated the same way; the exact
 * combinatorial value is only used in tests, as a check.
 */
export function bestOfNAccuracy(problems: readonly BestOfNProblem[], options: BestOfNOptions): BestOfNAccuracy {
  const { n, method, subsets = 512, seed = 0, weightAggregation = 'mean' } = options;
  if (!Number.isInteger(n) || n < 1) throw new Error(`bestOfNAccuracy: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(subsets) || subsets < 1) throw new Error(`bestOfNAccuracy: subsets must be a positive integer, got ${subsets}`);
  if (!selectionMethods.includes(method)) {
    throw new Error(`bestOfNAccuracy: unknown method "${String(method)}"; use one of ${selectionMethods.join(', ')}`);
  }
  if (problems.length === 0) throw new Error('bestOfNAccuracy: no problems');
  const rng = createRng(seed);
  const perProblem = problems.map((p, pi) => {
    const m = p.candidates.length;
    if (m < n) throw new Error(`bestOfNAccuracy: problem ${pi} has ${m} candidates, fewer than n = ${n}`);
    const pool = p.candidates.map((_, i) => i);
    let hits = 0;
    for (let s = 0; s < subsets; s++) {
      // Partial Fisher–Yates: pool[0..n) becomes a uniform random ordered N-subset.
      for (let i = 0; i < n; i++) {
        const j = i + Math.floor(rng.next() * (m - i));
        [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      }
      const chosen = selectAnswer(pool.slice(0, n).map((i) => p.candidates[i]!), method, weightAggregation);
      if (chosen !== null && answersMatch(p.correctAnswer, chosen)) hits++;
    }
    return hits / subsets;
  });
  const accuracy = perProblem.reduce((a, b) => a + b, 0) / perProblem.length;
  return { accuracy, perProblem, n, subsets };
}
