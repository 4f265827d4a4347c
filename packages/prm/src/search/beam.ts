// PRM-guided step-level beam search (docs/DESIGN.md §5).
//
// Per problem we keep `beams` partial responses, starting from one empty response. Each round every
// unfinished beam is extended by `expansions` sampled next steps (StepTree.expand: a step ends at
// the codec's step rule, an end-of-sequence id, a completed answer line or a budget). Every
// candidate partial response is scored by the PRM (scoreSamples: step scores = sums of token
// rewards per step) and ranked by an aggregation of its step scores ('last', the newest step's
// score, by default); the top `beams` of the candidates and the already finished beams are kept
// (ties → the earliest, in beam order then expansion order). A beam is finished when its response
// holds a complete answer line, ended in an end-of-sequence id, used maxNewTokens tokens, took
// maxSteps steps or ran out of the problem's budget of generated tokens. When every kept beam is
// finished the best one is the answer.
//
// All beams of all problems share one batched decode per round over the StepTree's KV prefix tree
// (a beam's prefix is never prefilled again), seeded by deriveSeed(seed, 'step-tree', round), so a
// search is a function of its seed and problems. `generatedTokens` counts the tokens sampled into
// candidates — the compute budget to compare with best-of-N's summed response lengths.
import type { DecoderLM } from '@repirl/autograd';
import { finalAnswer, type Problem, type TaskCodec, type Verifier } from '@repirl/rl';
import { aggregateSteps, aggregationModes, type Aggregation } from '../eval/aggregate.js';
import { scoreSamples, type ProcessRewardModel } from '../models/prm.js';
import { StepTree, isTerminal, type StepFinish, type StepNode, type StepTreeStats } from './step-tree.js';

export interface BeamSearchOptions {
  prm: ProcessRewardModel;
  codec: TaskCodec;
  /** Partial responses kept per problem (≥ 1). */
  beams: number;
  /** Sampled next steps per unfinished beam and round (≥ 1). */
  expansions: number;
  /** Token budget of one response. */
  maxNewTokens: number;
  /** Most steps of one response, counted as generated lines (default: no limit beyond maxNewTokens). */
  maxSteps?: number;
  /** Sampling temperature (> 0, default 1). */
  temperature?: number;
  /** Key of the search: the same seed, problems and options give the same result. */
  seed: number;
  /** How a candidate's step scores rank it (default 'last'). */
  aggregation?: Aggregation;
  /** Sequences per PRM forward pass (default 32; 0 = all at once). */
  prmBatchSize?: number;
  /** Generated tokens per problem (default: unlimited): a round that would pass it cuts the steps short. */
  budget?: number;
  /** Reuse the KV prefix tree (default true; false re-prefills every beam, for comparison). */
  reuse?: boolean;
}

export interface BeamSearchResult {
  /** The best finished beam. */
  response: string;
  responseIds: number[];
  /** Its final answer (null when it has none). */
  answer: string | null;
  /** Its aggregated score (−∞ when it has no step to score). */
  score: number;
  stepScores: number[];
  /** Tokens sampled for this problem over all rounds and beams. */
  generatedTokens: number;
  /** Rounds until every kept beam of this problem was finished. */
  rounds: number;
  /** The finished beams kept at the end, best first (the chosen one first). */
  finals: { response: string; answer: string | null; score: number; stepScores: number[]; finish: StepFinish; tokens: number }[];
}

export interface BeamSearchOutput {
  results: BeamSearchResult[];
  /** Σ over problems of their generatedTokens. */
  generatedTokens: number;
  /** The prefix tree's accounting: tokens prefilled, generated and copied. */
  stats: StepTreeStats;
}

interface Beam {
  node: StepNode;
  stepScores: number[];
  score: number;
}

function check(options: BeamSearchOptions, policy: DecoderLM, problems: readonly Problem[]) {
  const positive = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 1) throw new Error(`beamSearch: ${name} must be a positive integer, got ${value}`);
  };
  if (problems.length === 0) throw new Error('beamSearch: no problems');
  positive('beams', options.beams);
  positive('expansions', options.expansions);
  positive('maxNewTokens', options.maxNewTokens);
  if (options.maxSteps !== undefined) positive('maxSteps', options.maxSteps);
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new Error(`beamSearch: temperature must be a finite number > 0 (the expansions are sampled), got ${temperature}`);
  }
  if (!Number.isSafeInteger(options.seed) || options.seed < 0) throw new Error(`beamSearch: seed must be a non-negative integer, got ${options.seed}`);
  const aggregation = options.aggregation ?? 'last';
  if (!(aggregationModes as readonly string[]).includes(aggregation)) {
    throw new Error(`beamSearch: unknown aggregation "${String(aggregation)}"; use one of ${aggregationModes.join(', ')}`);
  }
  const longest = problems.reduce((m, p) => Math.max(m, options.codec.encodePrompt(p.prompt).length), -Infinity);
  if (longest + options.maxNewTokens > policy.config.maxSeqLen) {
    throw new Error(`beamSearch: the longest prompt (${longest} tokens) + maxNewTokens (${options.maxNewTokens}) exceeds the policy's maxSeqLen (${policy.config.maxSeqLen})`);
  }
  return { temperature, aggregation, maxSteps: options.maxSteps ?? Infinity };
}

/** Beam search over every problem at once; one result per problem, in order. */
export async function beamSearch(policy: DecoderLM, problems: readonly Problem[], options: BeamSearchOptions): Promise<BeamSearchOutput> {
  const { temperature, aggregation, maxSteps } = check(options, policy, problems);
  const { codec, prm, beams: width, expansions, maxNewTokens } = options;
  const tree = await StepTree.create(policy, problems.map((p) => codec.encodePrompt(p.prompt)), {
    codec, maxNewTokens, temperature, seed: options.seed, ...(Number.isFinite(maxSteps) ? { maxSteps } : {}),
    ...(options.budget !== undefined ? { budget: options.budget } : {}), reuse: options.reuse ?? true,
  });
  try {
    const finished = (b: Beam) => isTerminal(b.node);
    const kept: Beam[][] = tree.roots.map((node) => [{ node, stepScores: [], score: -Infinity }]);
    const rounds = problems.map(() => 0);
    while (kept.some((bs, p) => tree.left(p) > 0 && bs.some((b) => !finished(b)))) {
      const open = kept.flatMap((bs, p) => (tree.left(p) > 0 ? bs.filter((b) => !finished(b)) : []));
      kept.forEach((bs, p) => {
        if (tree.left(p) > 0 && bs.some((b) => !finished(b))) rounds[p]!++;
      });
      const grown = await tree.expand(open.map((b) => ({ node: b.node, k: expansions })));
      if (grown.every((g) => g.length === 0)) break; // every open beam's problem ran out of budget
      const candidates = grown.flat().map((node): Beam => ({ node, stepScores: [], score: -Infinity }));
      const scored = await scoreSamples(prm, candidates.map((c) => ({ promptIds: tree.roots[c.node.problem]!.ids, responseIds: c.node.responseIds })), codec, options.prmBatchSize ?? 32);
      candidates.forEach((c, i) => {
        c.stepScores = scored[i]!.steps;
        c.score = c.stepScores.length === 0 ? -Infinity : aggregateSteps(c.stepScores, aggregation);
      });
      const byNode = new Map(candidates.map((c) => [c.node, c]));
      // Per problem: finished beams stay in place, unfinished ones give way to their expansions (a
      // beam the budget left without children stays as it is); a stable sort keeps the earliest on ties.
      kept.forEach((bs, p) => {
        if (!bs.some((b) => !finished(b))) return;
        const pool = bs.flatMap((b) => (finished(b) ? [b] : b.node.children.length > 0 ? b.node.children.map((c) => byNode.get(c)!) : [b]));
        kept[p] = pool.sort((a, b) => (a.score === b.score ? 0 : b.score - a.score)).slice(0, width);
      });
    }
    const results = kept.map((bs, problem): BeamSearchResult => {
      const finals = bs.map((b) => {
        const response = codec.decodeResponse(b.node.responseIds);
        return { response, answer: finalAnswer(response).answer, score: b.score, stepScores: b.stepScores, finish: b.node.finish ?? 'step', tokens: b.node.responseIds.length };
      });
      const best = bs[0];
      const first = finals[0];
      return {
        response: first?.response ?? '',
        responseIds: best === undefined ? [] : [...best.node.responseIds],
        answer: first?.answer ?? null,
        score: best?.score ?? -Infinity,
        stepScores: best?.stepScores ?? [],
        generatedTokens: tree.stats.generatedTokens[problem]!,
        rounds: rounds[problem]!,
        finals,
      };
    });
    return { results, generatedTokens: tree.stats.generatedTokens.reduce((a, b) => a + b, 0), stats: tree.stats };
  } finally {
    tree.dispose();
  }
}

export interface BeamSearchAccuracy extends BeamSearchOutput {
  /** Fraction of problems whose best beam the verifier accepts. */
  accuracy: number;
  correct: boolean[];
}

/** Accuracy of beam search over `problems` under the task's verifier, with its generated-token count. */
export async function beamSearchAccuracy(
  policy: DecoderLM,
  problems: readonly Problem[],
  options: BeamSearchOptions & { verify: Verifier },
): Promise<BeamSearchAccuracy> {
  const output = await beamSearch(policy, problems, options);
  const correct = output.results.map((r, i) => options.verify(problems[i]!, r.response).correct);
  return { ...output, accuracy: correct.filter(Boolean).length / correct.length, correct };
}
