// Test-time search with a PRM, every method on the same step-level generation (StepTree, a prefix
// tree of KV caches) and one budget of generated tokens per problem:
//
//   majority        n responses sampled step by step (the root expanded n times, then each open
//                   response once per round), the most frequent answer (vote.ts; no PRM)
//   bon             the same n responses, the one whose aggregated PRM step scores are highest
//                   (aggregation, 'min' by default)
//   weighted-vote   the same n responses, answers weighted by g(w / τ) of each response's PRM weight
//                   (vote.transform, default exp; vote.source: the mean step score or rePIRL's mean
//                   token reward), the best-weighted member of the winning answer chosen
//   beam            beam.ts: `width` partial responses kept per problem, `expansions` steps each
//   mcts            mcts.ts: `simulations` simulations with `expansions` steps per expansion
//
// A response is cut off when the problem's budget runs out; it is then a candidate like any other
// (usually without an answer). The result lists each problem's candidates (every response for the
// sampling methods, the final beams, MCTS's finished responses), their PRM scores, the chosen one
// and the tokens spent; with `verify`, whether each candidate and the choice are right.
import type { DecoderLM } from '@repirl/autograd';
import { finalAnswer, type Problem, type TaskCodec, type Verifier } from '@repirl/rl';
import { aggregateSteps, aggregationModes, type Aggregation } from '../eval/aggregate.js';
import { scoreSamples, type ProcessRewardModel } from '../models/prm.js';
import { beamSearch } from './beam.js';
import { bestOfN, type WeightSource } from './best-of-n.js';
import { mcts, type MctsFinal, type MctsSelection } from './mcts.js';
import { StepTree, isTerminal, leaves, type StepFinish, type StepNode, type StepTreeStats } from './step-tree.js';
import { majorityVote, weightedVote, type WeightTransform } from './vote.js';

export const SEARCH_METHODS = ['majority', 'bon', 'weighted-vote', 'beam', 'mcts'] as const;
export type SearchMethod = (typeof SEARCH_METHODS)[number];

export interface StepSearchOptions {
  method: SearchMethod;
  codec: TaskCodec;
  /** The PRM (every method but majority needs one). */
  prm: ProcessRewardModel | null;
  /** Token budget of one response. */
  maxNewTokens: number;
  maxSteps?: number;
  /** Sampling temperature (> 0, default 1). */
  temperature?: number;
  seed: number;
  /** Generated tokens per problem (default: unlimited). */
  budget?: number;
  /** Reuse the KV prefix tree (default true). */
  reuse?: boolean;
  prmBatchSize?: number;
  /** Responses per problem of majority, bon and weighted-vote (default 8). */
  n?: number;
  /** bon: how a response's step scores rank it (default 'min'); beam, mcts: a node's value (default 'last'). */
  aggregation?: Aggregation;
  vote?: { transform?: WeightTransform; temperature?: number; source?: WeightSource; aggregation?: Aggregation };
  beam?: { width: number; expansions: number };
  mcts?: { simulations: number; expansions: number; exploration?: number; selection?: MctsSelection; final?: MctsFinal };
  /** Judges candidates and choices (their `correct`). */
  verify?: Verifier;
}

export interface SearchCandidate {
  response: string;
  answer: string | null;
  /** Why its generation ended (StepTree's finish; 'step' for a response the budget left open). */
  finish: StepFinish;
  /** Response tokens. */
  tokens: number;
  /** PRM step scores (null without a PRM). */
  stepScores: number[] | null;
  /** What the method ranked it by (aggregated score, vote weight, MCTS value; null for majority). */
  score: number | null;
  /** MCTS: visits of the node. */
  visits?: number;
  correct?: boolean;
}

export interface ProblemSearch {
  candidates: SearchCandidate[];
  /** Index of the chosen candidate (null when none could be chosen). */
  chosen: number | null;
  answer: string | null;
  /** Generated tokens spent on this problem. */
  generatedTokens: number;
  correct?: boolean;
}

export interface StepSearchOutput {
  results: ProblemSearch[];
  stats: StepTreeStats;
}

function positive(name: string, value: number | undefined): number {
  if (value === undefined || !Number.isInteger(value) || value < 1) throw new Error(`stepSearch: ${name} must be a positive integer, got ${value}`);
  return value;
}

function checkOptions(options: StepSearchOptions): void {
  if (!(SEARCH_METHODS as readonly string[]).includes(options.method)) throw new Error(`stepSearch: unknown method "${String(options.method)}"; use one of ${SEARCH_METHODS.join(', ')}`);
  if (options.method !== 'majority' && options.prm === null) throw new Error(`stepSearch: method ${options.method} needs a PRM (only majority runs without one)`);
  if (options.aggregation !== undefined && !(aggregationModes as readonly string[]).includes(options.aggregation)) {
    throw new Error(`stepSearch: unknown aggregation "${String(options.aggregation)}"; use one of ${aggregationModes.join(', ')}`);
  }
  if (options.method === 'beam' && options.beam === undefined) throw new Error('stepSearch: method beam needs beam.width and beam.expansions');
  if (options.method === 'mcts' && options.mcts === undefined) throw new Error('stepSearch: method mcts needs mcts.simulations and mcts.expansions');
  if (options.n !== undefined) positive('n', options.n);
}

/** Step-level search of every problem at once; one result per problem, in order. */
export async function stepSearch(policy: DecoderLM, problems: readonly Problem[], options: StepSearchOptions): Promise<StepSearchOutput> {
  checkOptions(options);
  const { codec, verify } = options;
  const judge = (out: StepSearchOutput): StepSearchOutput => {
    if (verify === undefined) return out;
    out.results.forEach((r, p) => {
      for (const c of r.candidates) c.correct = verify(problems[p]!, c.response).correct;
      r.correct = r.chosen === null ? false : r.candidates[r.chosen]!.correct!;
    });
    return out;
  };
  const common = {
    codec, maxNewTokens: options.maxNewTokens, seed: options.seed, temperature: options.temperature ?? 1,
    ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}), ...(options.budget !== undefined ? { budget: options.budget } : {}), reuse: options.reuse ?? true,
  };
  if (options.method === 'beam') {
    const b = options.beam!;
    const out = await beamSearch(policy, problems, {
      ...common, prm: options.prm!, beams: b.width, expansions: b.expansions, aggregation: options.aggregation ?? 'last', prmBatchSize: options.prmBatchSize,
    });
    return judge({
      stats: out.stats,
      results: out.results.map((r) => ({
        candidates: r.finals.map((f) => ({ response: f.response, answer: f.answer, finish: f.finish, tokens: f.tokens, stepScores: f.stepScores, score: f.score })),
        chosen: r.finals.length > 0 ? 0 : null,
        answer: r.answer,
        generatedTokens: r.generatedTokens,
      })),
    });
  }
  const tree = await StepTree.create(policy, problems.map((p) => codec.encodePrompt(p.prompt)), common);
  try {
    if (options.method === 'mcts') {
      const m = options.mcts!;
      const results = await mcts(tree, {
        prm: options.prm!, simulations: m.simulations, expansions: m.expansions, aggregation: options.aggregation ?? 'last', prmBatchSize: options.prmBatchSize,
        ...(m.exploration !== undefined ? { exploration: m.exploration } : {}), ...(m.selection !== undefined ? { selection: m.selection } : {}), ...(m.final !== undefined ? { final: m.final } : {}),
      });
      return judge({
        stats: tree.stats,
        results: results.map((r, p) => {
          const candidates = r.finished.map(({ node, stats }) => ({ ...candidate(tree, node), stepScores: stats.stepScores, score: stats.value, visits: stats.visits }));
          const chosen = r.chosen === null ? null : r.finished.findIndex((f) => f.node === r.chosen);
          return { candidates, chosen, answer: chosen === null ? null : candidates[chosen]!.answer, generatedTokens: tree.stats.generatedTokens[p]! };
        }),
      });
    }
    // majority, bon, weighted-vote: n responses per problem, grown step by step.
    const n = options.n ?? 8;
    await tree.expand(tree.roots.map((node) => ({ node, k: n })));
    for (;;) {
      const open = tree.roots.flatMap((r) => (tree.left(r.problem) > 0 ? leaves(r) : [])).filter((l) => l.parent !== null && !isTerminal(l));
      if (open.length === 0) break;
      await tree.expand(open.map((node) => ({ node, k: 1 })));
    }
    const responses = tree.roots.map((r) => leaves(r).filter((l) => l.parent !== null));
    const flat = responses.flat();
    const scored = options.prm === null ? null : await scoreSamples(options.prm, flat.map((l) => ({ promptIds: tree.roots[l.problem]!.ids, responseIds: l.responseIds })), codec, options.prmBatchSize ?? 32);
    let at = 0;
    const results = responses.map((nodes, p): ProblemSearch => {
      const scores = nodes.map(() => scored?.[at++]);
      const candidates: SearchCandidate[] = nodes.map((node, i) => ({ ...candidate(tree, node), stepScores: scores[i]?.steps ?? null }));
      const chosen = choose(options, candidates, scores.map((s) => (s === undefined ? undefined : mean(s.tokens))));
      return { candidates, chosen, answer: chosen === null ? null : candidates[chosen]!.answer, generatedTokens: tree.stats.generatedTokens[p]! };
    });
    return judge({ results, stats: tree.stats });
  } finally {
    tree.dispose();
  }
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

function candidate(tree: StepTree, node: StepNode): SearchCandidate {
  const response = tree.text(node);
  return { response, answer: finalAnswer(response).answer, finish: node.finish!, tokens: node.responseIds.length, stepScores: null, score: null };
}

/** The index of the candidate a sampling method chooses (sets each candidate's score), or null; `meanTokenRewards` feeds vote.source 'token-mean'. */
function choose(options: StepSearchOptions, candidates: SearchCandidate[], meanTokenRewards: (number | undefined)[]): number | null {
  if (candidates.length === 0) return null;
  const answers = candidates.map((c) => c.answer);
  if (options.method === 'majority') {
    const vote = majorityVote(answers);
    return vote.answer === null ? null : vote.groups.find((g) => g.answer === vote.answer)!.members[0]!;
  }
  if (options.method === 'bon') {
    const aggregation = options.aggregation ?? 'min';
    for (const c of candidates) c.score = c.stepScores!.length === 0 ? -Infinity : aggregateSteps(c.stepScores!, aggregation);
    return bestOfN(candidates.map((c) => ({ answer: c.answer, stepScores: c.stepScores! })), aggregation).index;
  }
  // weighted-vote
  const v = options.vote ?? {};
  const source = v.source ?? 'steps';
  const voters = candidates.map((c, i) => ({ c, i })).filter(({ c }) => c.answer !== null);
  if (voters.length === 0) return null;
  const weights = voters.map(({ c, i }) => {
    const w = source === 'token-mean' ? meanTokenRewards[i]! : c.stepScores!.length === 0 ? 0 : aggregateSteps(c.stepScores!, v.aggregation ?? 'mean');
    c.score = w;
    return w;
  });
  const vote = weightedVote(voters.map(({ c }) => c.answer), weights, { transform: v.transform ?? 'exp', temperature: v.temperature ?? 1 });
  return vote.bestMember < 0 ? null : voters[vote.bestMember]!.i;
}
