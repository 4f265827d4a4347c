// PRM-guided step-level beam search (docs/DESIGN.md §5).
//
// Per problem we keep `beams` partial responses, starting from one empty response. Each round every
// unfinished beam is extended by `expansions` sampled next steps — a step is one line: the policy
// generates from prompt + partial response until the next '\n', an <eos>, a completed answer line
// (TaskCodec's stops) or the beam's token budget. Every candidate partial response is scored by
// the PRM (scoreSamples: step scores = sums of token rewards per line) and ranked by an aggregation
// of its step scores ('last', the newest step's score, by default); the top `beams` of the
// candidates and the already finished beams are kept (ties → the earliest, in beam order then
// expansion order). A beam is finished when its response holds a complete answer line, ended in
// <eos>, used maxNewTokens tokens or took maxSteps steps. When every kept beam is finished the
// best one is the answer.
//
// One generate() call per round serves all beams of all problems (split only when the rows'
// prompt + budget would pass the model's maxSeqLen), seeded by deriveSeed(seed, 'beam', round,
// call), so a search is a function of its seed and problems. `generatedTokens` counts the tokens
// sampled into candidates — the compute budget to compare with best-of-N's summed response
// lengths (tokens a shared call samples past one beam's own budget are dropped and not counted).
import { generate, type DecoderLM } from '@repirl/autograd';
import { deriveSeed, finalAnswer, hasCompleteAnswerLine, type Problem, type TaskCodec, type Verifier } from '@repirl/rl';
import { aggregateSteps, aggregationModes, type Aggregation } from '../eval/aggregate.js';
import { scoreSamples, type ProcessRewardModel } from '../models/prm.js';

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
}

export interface BeamSearchOutput {
  results: BeamSearchResult[];
  /** Σ over problems of their generatedTokens. */
  generatedTokens: number;
}

interface Beam {
  responseIds: number[];
  steps: number;
  finished: boolean;
  stepScores: number[];
  score: number;
}

const STEP_STOP = '\n';

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
  const { maxSeqLen } = policy.config;
  const stops = codec.generateStops();
  const eos = codec.tokenizer.specialTokens.eos;
  const prompts = problems.map((p) => codec.encodePrompt(p.prompt));
  const kept: Beam[][] = problems.map(() => [{ responseIds: [], steps: 0, finished: false, stepScores: [], score: -Infinity }]);
  const tokens = problems.map(() => 0);
  const rounds = problems.map(() => 0);

  for (let round = 0; kept.some((bs) => bs.some((b) => !b.finished)); round++) {
    // Rows to extend: `expansions` copies of every unfinished beam, problem by problem.
    const rows = kept.flatMap((bs, problem) =>
      bs.flatMap((beam) => (beam.finished ? [] : Array.from({ length: expansions }, () => ({ problem, beam, ids: [...prompts[problem]!, ...beam.responseIds] })))),
    );
    kept.forEach((bs, problem) => {
      if (bs.some((b) => !b.finished)) rounds[problem]!++;
    });
    // Consecutive rows share a call while its longest row + largest remaining budget fits maxSeqLen.
    const remaining = (r: (typeof rows)[number]) => maxNewTokens - r.beam.responseIds.length;
    const calls: (typeof rows)[] = [];
    for (const row of rows) {
      const call = calls.at(-1);
      const fits = call && Math.max(row.ids.length, maxOf(call, (r) => r.ids.length)) + Math.max(remaining(row), maxOf(call, remaining)) <= maxSeqLen;
      if (fits) call.push(row);
      else calls.push([row]);
    }
    const candidates: { problem: number; beam: Beam }[] = [];
    const children = new Map<Beam, Beam[]>();
    for (const [c, call] of calls.entries()) {
      const outputs = await generate(policy, call.map((r) => r.ids), {
        maxNewTokens: maxOf(call, remaining),
        temperature,
        seed: deriveSeed(options.seed, 'beam', round, c),
        stop: [...stops.stop, STEP_STOP],
        tokenizer: stops.tokenizer,
      });
      outputs.forEach((out, i) => {
        const { problem, beam: parent } = call[i]!;
        const step = out.tokens.slice(0, remaining(call[i]!));
        tokens[problem]! += step.length;
        const responseIds = [...parent.responseIds, ...step];
        const steps = parent.steps + 1;
        const finished =
          step.at(-1) === eos || hasCompleteAnswerLine(codec.decodeResponse(responseIds)) || responseIds.length >= maxNewTokens || steps >= maxSteps;
        const beam: Beam = { responseIds, steps, finished, stepScores: [], score: -Infinity };
        candidates.push({ problem, beam });
        children.set(parent, [...(children.get(parent) ?? []), beam]);
      });
    }
    const scored = await scoreSamples(prm, candidates.map((c) => ({ promptIds: prompts[c.problem]!, responseIds: c.beam.responseIds })), codec, options.prmBatchSize ?? 32);
    candidates.forEach(({ beam }, i) => {
      beam.stepScores = scored[i]!.steps;
      beam.score = beam.stepScores.length === 0 ? -Infinity : aggregateSteps(beam.stepScores, aggregation);
    });
    // Per problem: finished beams stay in place, unfinished ones give way to their expansions; a
    // stable sort keeps the earliest on ties.
    kept.forEach((bs, problem) => {
      const pool = bs.flatMap((b) => (b.finished ? [b] : children.get(b)!));
      kept[problem] = pool.sort((a, b) => (a.score === b.score ? 0 : b.score - a.score)).slice(0, width);
    });
  }

  const results = kept.map((bs, problem): BeamSearchResult => {
    const best = bs[0]!;
    const response = codec.decodeResponse(best.responseIds);
    return {
      response,
      responseIds: best.responseIds,
      answer: finalAnswer(response).answer,
      score: best.score,
      stepScores: best.stepScores,
      generatedTokens: tokens[problem]!,
      rounds: rounds[problem]!,
    };
  });
  return { results, generatedTokens: tokens.reduce((a, b) => a + b, 0) };
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

/** The largest f(x) over xs (−∞ for none), without spreading a call's rows into Math.max's arguments. */
function maxOf<T>(xs: readonly T[], f: (x: T) => number): number {
  let m = -Infinity;
  for (const x of xs) m = Math.max(m, f(x));
  return m;
}
