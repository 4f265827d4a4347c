// The Math-Shepherd baseline (docs/research/papers.md "Baselines"): step labels by Monte-Carlo completion, then a
// scalar logit head read at each step's end token, trained with BCE (losses/baselines.ts).
//
// For each step k of a rollout, the prefix y_{≤k} (the response up to and including step k's end)
// is completed N times by a completer (the policy); with c_k of the N completions reaching the
// correct answer,
//   hard label y_k = 1[c_k > 0]      soft label y_k = c_k / N
// (shepherdLabels). Their expectations are E[hard] = 1 − (1 − p_k)^N and E[soft] = p_k, p_k the
// completer's success probability from y_{≤k}. A prefix that already holds a complete answer line
// (the last step) is not completed: it is verified as it is.
//
// monteCarloStepLabels takes the completer as a function (CompletionSampler), so the estimator is
// tested against known success probabilities; policyCompletionSampler is the real one.
import { generate, type DecoderLM } from '@repirl/autograd';
import {
  TaskCodec, resolveConfig, s, type DeepPartial, type Infer, deriveSeed, hasCompleteAnswerLine, stepEnds, verifierFor, type Problem, type StepRule, type RolloutSample, type Verifier,
} from '@repirl/rl';
import { SHEPHERD_LABEL_MODES, shepherdBceLoss, shepherdLabels, type ShepherdLabelMode } from '../losses/index.js';
import { OutcomeHeadPrm } from '../models/outcome-head.js';
import { freezeBackboneSchema, offlineLoopFields, trainOffline } from './offline.js';
import type { OfflineResult } from './orm.js';

/** A step prefix to complete: the problem and the response text so far. */
export interface PrefixQuery {
  problem: Problem;
  prefix: string;
}

/** N completions of each prefix; entry [q][j] says whether completion j of query q reached the correct answer. */
export type CompletionSampler = (queries: readonly PrefixQuery[], n: number, seed: number) => Promise<boolean[][]>;

/** Monte-Carlo labels of one response's steps. */
export interface McStepLabels {
  /** c_k: completions of step k's prefix that reached the correct answer. */
  correct: number[];
  completions: number;
  hard: number[];
  soft: number[];
}

/** The prefix of each step of `response` (steps by `rule`, default lines): the text up to and including the step's end. */
export function stepPrefixes(response: string, rule: StepRule = 'lines'): string[] {
  return stepEnds(response, 'char', rule).map((end) => response.slice(0, end + 1));
}

/** Math-Shepherd's Monte-Carlo step labels (see the file comment), one McStepLabels per sample. */
export async function monteCarloStepLabels(
  samples: readonly { problem: Problem; response: string }[],
  sampler: CompletionSampler,
  options: { completions: number; seed: number; stepRule?: StepRule },
): Promise<McStepLabels[]> {
  const n = options.completions;
  if (!Number.isInteger(n) || n < 1) throw new Error(`monteCarloStepLabels: completions must be a positive integer, got ${n}`);
  const queries: PrefixQuery[] = [];
  const owner: number[] = [];
  samples.forEach((s, i) => stepPrefixes(s.response, options.stepRule).forEach((prefix) => (queries.push({ problem: s.problem, prefix }), owner.push(i))));
  const outcomes = queries.length > 0 ? await sampler(queries, n, options.seed) : [];
  if (outcomes.length !== queries.length) throw new Error(`monteCarloStepLabels: the sampler answered ${outcomes.length} of ${queries.length} queries`);
  const counts: number[][] = samples.map(() => []);
  outcomes.forEach((row, q) => {
    if (row.length !== n) throw new Error(`monteCarloStepLabels: the sampler gave ${row.length} completions for query ${q}, expected ${n}`);
    counts[owner[q]!]!.push(row.filter(Boolean).length);
  });
  return counts.map((correct) => ({ correct, completions: n, hard: shepherdLabels(correct, n, 'hard'), soft: shepherdLabels(correct, n, 'soft') }));
}

export interface PolicySamplerOptions {
  codec?: TaskCodec;
  verify?: Verifier;
  /** Budget of each completion (capped by the policy's context). */
  maxNewTokens: number;
  /** Default 1. */
  temperature?: number;
  /**
   * Most sequences per generate() call (default SAMPLER_BATCH_SIZE); 0 = all at once. All at once
   * fails for a long rollout set: 768 rollouts of a 5-step task ask for ~6k completions, whose
   * attention buffers exceed a storage binding (128 MiB on lavapipe).
   */
  batchSize?: number;
}

/** Sequences per generate() call of the default completion sampler (as the CLI's rollouts use). */
export const SAMPLER_BATCH_SIZE = 256;

/** Completions by `policy` from prompt + prefix (the rollout's stop rules), verified on prefix + completion. */
export function policyCompletionSampler(policy: DecoderLM, options: PolicySamplerOptions): CompletionSampler {
  const codec = options.codec ?? new TaskCodec();
  const verify = options.verify ?? verifierFor();
  return async (queries, n, seed) => {
    const out: boolean[][] = queries.map((q) => (hasCompleteAnswerLine(q.prefix) ? new Array<boolean>(n).fill(verify(q.problem, q.prefix).correct) : []));
    const rows = queries.flatMap((q, i) => (hasCompleteAnswerLine(q.prefix) ? [] : Array.from({ length: n }, () => ({ i, ids: [...codec.encodePrompt(q.problem.prompt), ...codec.tokenizer.encode(q.prefix)] }))));
    const size = options.batchSize ?? SAMPLER_BATCH_SIZE;
    const chunk = size > 0 ? size : Math.max(1, rows.length);
    for (let start = 0, call = 0; start < rows.length; start += chunk, call++) {
      const part = rows.slice(start, start + chunk);
      const room = policy.config.maxSeqLen - part.reduce((m, r) => Math.max(m, r.ids.length), -Infinity);
      if (room < 1) throw new Error(`policyCompletionSampler: a prompt + prefix fills the policy's context (maxSeqLen ${policy.config.maxSeqLen})`);
      const generated = await generate(policy, part.map((r) => r.ids), {
        maxNewTokens: Math.min(options.maxNewTokens, room),
        temperature: options.temperature ?? 1,
        seed: deriveSeed(seed, 'completions', call),
        ...codec.generateStops(),
      });
      generated.forEach((g, j) => {
        const { i } = part[j]!;
        out[i]!.push(verify(queries[i]!.problem, queries[i]!.prefix + codec.decodeResponse(g.tokens)).correct);
      });
    }
    return out;
  };
}

export const shepherdConfigSchema = s.object('Math-Shepherd: step labels from Monte-Carlo completions of each step prefix, BCE on a step head', {
  ...offlineLoopFields,
  freezeBackbone: freezeBackboneSchema(),
  completions: s.integer('N: completions per step prefix', { default: 8, min: 1, max: 256 }),
  labelMode: s.enum("the label the BCE trains on: 'hard' 1[c > 0] or 'soft' c / N", SHEPHERD_LABEL_MODES, { default: 'hard' }),
  maxNewTokens: s.integer('budget of each completion in tokens', { default: 32, min: 1 }),
  temperature: s.number('completion sampling temperature', { default: 1, min: 0, max: 10, minExclusive: true }),
});
export type ShepherdConfig = Infer<typeof shepherdConfigSchema>;
export type ShepherdConfigInput = DeepPartial<ShepherdConfig>;

/** Checks a Math-Shepherd config (errors name the key). */
export function resolveShepherdConfig(input: ShepherdConfigInput | Record<string, unknown> = {}): ShepherdConfig {
  return resolveConfig<ShepherdConfig>(shepherdConfigSchema, { file: { value: input, name: 'the Math-Shepherd config' } });
}

export interface ShepherdTrainOptions {
  /** The backbone starts as a copy of this policy; it is also the default completer. */
  policy: DecoderLM;
  /** Rollouts to label and train on (their problem, response text and ids). */
  samples: readonly RolloutSample[];
  config?: ShepherdConfigInput;
  codec?: TaskCodec;
  verify?: Verifier;
  /** Precomputed labels (one per sample); default: monteCarloStepLabels with `sampler`. */
  labels?: readonly McStepLabels[];
  /** Default: policyCompletionSampler(policy, …) with the config's budget and temperature. */
  sampler?: CompletionSampler;
}

/**
 * `completions`: the sequences the Monte-Carlo labelling sampled (N per step prefix that holds no
 * complete answer line yet; 0 with precomputed labels) — the compute to count beside the rollouts.
 */
export async function trainShepherd(options: ShepherdTrainOptions): Promise<OfflineResult<OutcomeHeadPrm> & { config: ShepherdConfig; labels: McStepLabels[]; completions: number }> {
  const config = resolveShepherdConfig(options.config ?? {});
  const codec = options.codec ?? new TaskCodec();
  const base = options.sampler
    ?? policyCompletionSampler(options.policy, { codec, ...(options.verify ? { verify: options.verify } : {}), maxNewTokens: config.maxNewTokens, temperature: config.temperature });
  let completions = 0;
  const sampler: CompletionSampler = (queries, n, seed) => {
    completions += queries.filter((q) => !hasCompleteAnswerLine(q.prefix)).length * n;
    return base(queries, n, seed);
  };
  const labels = options.labels ? [...options.labels] : await monteCarloStepLabels(options.samples, sampler, { completions: config.completions, seed: deriveSeed(config.seed, 'shepherd-labels'), stepRule: codec.stepRule });
  if (labels.length !== options.samples.length) throw new Error(`trainShepherd: ${labels.length} label sets for ${options.samples.length} samples`);
  const prm = OutcomeHeadPrm.fromPolicy(options.policy, { read: 'step-ends', freezeBackbone: config.freezeBackbone, seed: config.seed });
  prm.codec = codec;
  const examples = options.samples.map((s, i) => ({ promptIds: s.promptIds, responseIds: s.responseIds, labels: labels[i]![config.labelMode] }));
  const metrics = await trainOffline(prm, examples, (packed, part) => {
    const positions = prm.readPositions(packed);
    positions.forEach((ts, b) => {
      if (ts.length !== part[b]!.labels.length) throw new Error(`trainShepherd: a response has ${ts.length} step ends but ${part[b]!.labels.length} step labels`);
    });
    return shepherdBceLoss({ stepScores: prm.logits(packed, positions), labels: part.flatMap((e) => e.labels) }).loss;
  }, config, codec.padId);
  return { prm, metrics, config, labels, completions };
}
