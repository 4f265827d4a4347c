// Best-of-N selection with a PRM, and an unbiased estimate of best-of-N accuracy.
import { answersMatch, createRng } from '@repirl/rl';
import { aggregateSteps, aggregationModes, type Aggregation } from '../eval/aggregate.js';
import { checkFinite } from '../eval/ranks.js';
import { groupAnswers, majorityVote, weightedVote, type WeightTransform } from './vote.js';

/** One sampled response: its final answer (null when it has none) and its PRM step scores. */
export interface Candidate {
  answer: string | null;
  stepScores: readonly number[];
  /** The mean of the PRM's token rewards over the whole response (rePIRL's vote weight); needed by weight source 'token-mean'. */
  meanTokenReward?: number;
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
 * Where a weighted vote's weights come from: 'steps' = aggregateSteps(stepScores, weightAggregation)
 * ('mean' by default: the mean step score), 'token-mean' = the candidate's meanTokenReward (the mean
 * token reward over the response, rePIRL's released evaluation).
 */
export type WeightSource = 'steps' | 'token-mean';

export interface Weighting {
  /** Default 'steps'. */
  source?: WeightSource;
  /** τ: weights are divided by it before the transform (default 1; see weightedVote). */
  temperature?: number;
}

/** The vote weight of a candidate that has an answer. */
function voteWeight(c: Candidate, weightAggregation: Aggregation, source: WeightSource): number {
  if (source === 'token-mean') {
    if (c.meanTokenReward === undefined) throw new Error("selectAnswer: weight source 'token-mean' needs each candidate's meanTokenReward");
    return c.meanTokenReward;
  }
  return aggregateSteps(c.stepScores, weightAggregation);
}

/**
 * The answer `method` picks: an aggregation name → bestOfN; 'majority' → majorityVote (scores
 * unused); 'weighted-<transform>' → weightedVote with weight = aggregateSteps(stepScores,
 * weightAggregation) per candidate (or its meanTokenReward, `weighting.source` 'token-mean'),
 * divided by `weighting.temperature` (rePIRL: 'weighted-exp' with the mean token reward).
 */
export function selectAnswer(
  candidates: readonly Candidate[],
  method: SelectionMethod,
  weightAggregation: Aggregation = 'mean',
  weighting: Weighting = {},
): string | null {
  if (method === 'majority') return majorityVote(candidates.map((c) => c.answer)).answer;
  if (method.startsWith('weighted-')) {
    const transform = method.slice('weighted-'.length) as WeightTransform;
    const source = weighting.source ?? 'steps';
    if (source !== 'steps' && source !== 'token-mean') throw new Error(`selectAnswer: unknown weight source "${String(source)}"; use steps or token-mean`);
    const voters = candidates.filter((c) => c.answer !== null);
    const weights = voters.map((c) => voteWeight(c, weightAggregation, source));
    return weightedVote(voters.map((c) => c.answer), weights, { transform, temperature: weighting.temperature ?? 1 }).answer;
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
  /** Weight source and temperature of 'weighted-*' methods (default: step weights, τ = 1). */
  weighting?: Weighting;
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
  const { n, method, subsets = 512, seed = 0, weightAggregation = 'mean', weighting = {} } = options;
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
    const isCorrect = poolSelector(p, method, weightAggregation, weighting);
    const pool = p.candidates.map((_, i) => i);
    let hits = 0;
    for (let s = 0; s < subsets; s++) {
      // Partial Fisher–Yates: pool[0..n) becomes a uniform random ordered N-subset.
      for (let i = 0; i < n; i++) {
        const j = i + Math.floor(rng.next() * (m - i));
        [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      }
      if (isCorrect(pool, n)) hits++;
    }
    return hits / subsets;
  });
  const accuracy = perProblem.reduce((a, b) => a + b, 0) / perProblem.length;
  return { accuracy, perProblem, n, subsets };
}

/**
 * Whether selectAnswer(candidates at pool[0..n), …) is right, computed from per-pool precomputation:
 * each candidate's answer group (answersMatch is an equivalence — numbers by value, other text by
 * its trimmed string — so grouping the pool once and restricting it to a subset gives the subset's
 * groups, in the same first-seen order), its vote weight and its aggregated score, so a subset costs
 * O(n). Same arithmetic and tie rules as majorityVote / weightedVote / bestOfN (checked against
 * selectAnswer in the tests).
 */
function poolSelector(
  p: BestOfNProblem, method: SelectionMethod, weightAggregation: Aggregation, weighting: Weighting,
): (pool: readonly number[], n: number) => boolean {
  const cands = p.candidates;
  if (method !== 'majority' && !method.startsWith('weighted-')) {
    const scores = cands.map((c) => (c.stepScores.length === 0 ? -Infinity : aggregateSteps(c.stepScores, method as Aggregation)));
    const right = cands.map((c) => c.answer !== null && answersMatch(p.correctAnswer, c.answer));
    return (pool, n) => {
      let best = pool[0]!;
      for (let k = 1; k < n; k++) if (scores[pool[k]!]! > scores[best]!) best = pool[k]!;
      return right[best]!;
    };
  }
  const groups = groupAnswers(cands.map((c) => c.answer));
  const groupOf = new Int32Array(cands.length).fill(-1);
  groups.forEach((g, gi) => g.members.forEach((i) => (groupOf[i] = gi)));
  const groupRight = groups.map((g) => answersMatch(p.correctAnswer, g.answer));
  const totals = new Float64Array(groups.length);
  const seenAt = new Int32Array(groups.length);
  const order: number[] = [];
  let tally: (pool: readonly number[], n: number) => void;
  if (method === 'majority') {
    tally = (pool, n) => {
      for (let k = 0; k < n; k++) {
        const g = groupOf[pool[k]!]!;
        if (g >= 0) totals[g]! += 1;
      }
    };
  } else {
    const transform = method.slice('weighted-'.length) as WeightTransform;
    const source = weighting.source ?? 'steps';
    const tau = weighting.temperature ?? 1;
    if (!(tau > 0)) throw new Error(`weightedVote: temperature must be > 0, got ${tau}`);
    const weights = cands.map((c) => (c.answer === null ? 0 : voteWeight(c, weightAggregation, source)));
    checkFinite('weightedVote', 'weights', weights);
    tally = (pool, n) => {
      let shift = 0;
      if (transform === 'exp') {
        shift = -Infinity;
        for (let k = 0; k < n; k++) if (groupOf[pool[k]!]! >= 0) shift = Math.max(shift, weights[pool[k]!]! / tau);
      }
      for (let k = 0; k < n; k++) {
        const i = pool[k]!;
        const g = groupOf[i]!;
        if (g < 0) continue;
        const w = weights[i]! / tau;
        totals[g]! += transform === 'raw' ? w : transform === 'exp' ? Math.exp(w - shift) : 1 / (1 + Math.exp(-w));
      }
    };
  }
  return (pool, n) => {
    // First-seen order of the subset's groups, then the strict-max winner (ties → seen first).
    order.length = 0;
    for (let k = 0; k < n; k++) {
      const g = groupOf[pool[k]!]!;
      if (g >= 0 && seenAt[g] === 0) {
        seenAt[g] = 1;
        order.push(g);
      }
    }
    tally(pool, n);
    let winner = -1;
    for (const g of order) if (winner === -1 || totals[g]! > totals[winner]!) winner = g;
    for (const g of order) {
      totals[g] = 0;
      seenAt[g] = 0;
    }
    return winner >= 0 && groupRight[winner]!;
  };
}

// ---------------------------------------------------------------------------------------------
// Temperature-tuned weighted votes (issue 15): the two forms of the PRM-weighted vote, each with
// its temperature τ chosen on validation problems and only then applied to test problems.
//
//   weighted/official   Σ_{i: answer a} exp(mean token reward_i / τ)   (rePIRL's released evaluation)
//   weighted/step-mean  Σ_{i: answer a} exp(mean step score_i / τ)     (ours; step score = sum of its token rewards)

/** The two named weighted-vote forms and where their weights come from. */
export const WEIGHTED_VOTE_FORMS = {
  official: { source: 'token-mean', weightAggregation: 'mean' },
  'step-mean': { source: 'steps', weightAggregation: 'mean' },
} as const satisfies Record<string, { source: WeightSource; weightAggregation: Aggregation }>;
export type WeightedVoteForm = keyof typeof WEIGHTED_VOTE_FORMS;

/**
 * The default τ grid, flattest first (so ties between τs go to the rule closest to majority vote):
 * 100 is all but majority vote for weights of order 1, 0.01 all but the argmax.
 */
export const DEFAULT_TEMPERATURES: readonly number[] = [100, 30, 10, 3, 1, 0.3, 0.1, 0.03, 0.01];

export interface TemperatureOptions {
  n: number;
  form: WeightedVoteForm;
  /** τ candidates (default DEFAULT_TEMPERATURES); ties go to the earliest. */
  temperatures?: readonly number[];
  subsets?: number;
  seed?: number;
}

/** The τ of the grid with the best best-of-N accuracy of the weighted vote on the validation problems. */
export function chooseTemperature(validation: readonly BestOfNProblem[], options: TemperatureOptions): { temperature: number; accuracies: number[] } {
  const grid = options.temperatures ?? DEFAULT_TEMPERATURES;
  if (grid.length === 0) throw new Error('chooseTemperature: no temperatures to choose from');
  grid.forEach((t) => {
    if (!(t > 0)) throw new Error(`chooseTemperature: temperatures must be > 0, got ${t}`);
  });
  const form = WEIGHTED_VOTE_FORMS[options.form];
  if (form === undefined) throw new Error(`chooseTemperature: unknown form "${String(options.form)}"; use ${Object.keys(WEIGHTED_VOTE_FORMS).join(' or ')}`);
  const accuracies = grid.map((temperature) => bestOfNAccuracy(validation, {
    n: options.n, method: 'weighted-exp', subsets: options.subsets, seed: options.seed, weightAggregation: form.weightAggregation,
    weighting: { source: form.source, temperature },
  }).accuracy);
  let best = 0;
  accuracies.forEach((a, i) => {
    if (a > accuracies[best]!) best = i;
  });
  return { temperature: grid[best]!, accuracies };
}

export interface TunedVoteAccuracy extends BestOfNAccuracy {
  /** The τ chosen on the validation problems. */
  temperature: number;
  /** Validation accuracy of each τ of the grid. */
  validationAccuracies: number[];
}

/**
 * The weighted vote of `form` with τ chosen on `validation` (chooseTemperature) and applied to
 * `test`: best-of-N accuracy on the test problems, which are never looked at to choose τ.
 */
export function tunedWeightedVoteAccuracy(
  validation: readonly BestOfNProblem[], test: readonly BestOfNProblem[], options: TemperatureOptions,
): TunedVoteAccuracy {
  const { temperature, accuracies } = chooseTemperature(validation, options);
  const form = WEIGHTED_VOTE_FORMS[options.form];
  const result = bestOfNAccuracy(test, {
    n: options.n, method: 'weighted-exp', subsets: options.subsets, seed: options.seed, weightAggregation: form.weightAggregation,
    weighting: { source: form.source, temperature },
  });
  return { ...result, temperature, validationAccuracies: accuracies };
}

/**
 * Two-fold cross-fitting of tunedWeightedVoteAccuracy: problems with fold 0 are scored with the τ
 * chosen on fold 1 and vice versa, so every problem gets an out-of-fold accuracy. `perProblem` is in
 * the input order; `accuracy` is their mean; `temperatures[f]` is the τ used on fold f.
 */
export function crossFittedWeightedVote(
  problems: readonly BestOfNProblem[], folds: readonly (0 | 1)[], options: TemperatureOptions,
): { accuracy: number; perProblem: number[]; temperatures: [number, number] } {
  if (folds.length !== problems.length) throw new Error(`crossFittedWeightedVote: ${folds.length} folds for ${problems.length} problems`);
  const idx = [0, 1].map((f) => folds.map((x, i) => (x === f ? i : -1)).filter((i) => i >= 0));
  if (idx[0]!.length === 0 || idx[1]!.length === 0) throw new Error('crossFittedWeightedVote: each fold needs at least one problem');
  const perProblem = new Array<number>(problems.length).fill(NaN);
  const temperatures: [number, number] = [NaN, NaN];
  for (const f of [0, 1] as const) {
    const test = idx[f]!.map((i) => problems[i]!);
    const validation = idx[1 - f]!.map((i) => problems[i]!);
    const r = tunedWeightedVoteAccuracy(validation, test, options);
    temperatures[f] = r.temperature;
    r.perProblem.forEach((a, k) => (perProblem[idx[f]![k]!] = a));
  }
  return { accuracy: perProblem.reduce((a, b) => a + b, 0) / perProblem.length, perProblem, temperatures };
}
