// Rollouts: K sampled responses per prompt with the rollout policy's log-probs and the verifier's
// verdicts, plus the hook through which a reward model adds dense (per-token) rewards.
//
// Log-probs come from generate(), which computes them with the trainer's own kernel (tokenLogProbs)
// at the sampling temperature over the full vocabulary (verl's convention), so they serve directly
// as the "old" log-probs of the PPO ratio.
import { checkTemperature, generate, type DecoderLM } from '@repirl/autograd';
import { verifyFinalAnswer, type Verdict } from '../tasks/format.js';
import type { Problem, Task } from '../tasks/task.js';
import { TaskCodec } from './codec.js';
import { deriveSeed } from './seeds.js';

/** Outcome check of one response (a task's verify, or the generic final-answer check). */
export type Verifier = (problem: Problem, response: string) => Verdict;

/** The verifier of a task, or — for problems loaded from JSONL without one — the generic `#### answer` check. */
export function verifierFor(task?: Task): Verifier {
  return task ? (problem, response) => task.verify(problem, response) : (problem, response) => verifyFinalAnswer(problem.answer, response);
}

export interface RolloutSample {
  problem: Problem;
  /** Which prompt of the batch it answers: the K samples of one prompt share it (advantage groups). */
  group: number;
  promptIds: number[];
  /** Sampled token ids, the stop token included. */
  responseIds: number[];
  /** log π_old of each response token (the rollout policy at the sampling temperature). */
  logprobs: number[];
  /** The decoded response (special tokens left out). */
  response: string;
  /** 'stop': an answer line or <eos> ended it; 'length': it hit maxNewTokens (truncated). */
  finishReason: 'stop' | 'length';
  verdict: Verdict;
  /** Outcome reward: 1 when the verifier says correct, else 0. */
  score: number;
  /** Dense rewards, one per response token, once a DenseRewardFn has scored the batch. */
  dense?: number[];
}

export interface RolloutBatch {
  /** Group-major: the K samples of prompt 0, then of prompt 1, … */
  samples: RolloutSample[];
  /** Sampling temperature: trainers recompute log-probs at the same temperature. */
  temperature: number;
  /** The generation budget (Dr.GRPO's constant normaliser uses it). */
  maxNewTokens: number;
}

export interface RolloutOptions {
  /** Samples per prompt (the group size). */
  k: number;
  maxNewTokens: number;
  /** Philox key of this rollout; derive it from (run seed, step) — see deriveSeed. */
  seed: number;
  /** Default 1. */
  temperature?: number;
  /** 0 = off (default). */
  topK?: number;
  /** 1 = off (default). */
  topP?: number;
  /** Default: a TaskCodec over the byte tokenizer. */
  codec?: TaskCodec;
  /** Default: verifierFor() (the generic final-answer check). */
  verify?: Verifier;
  /** Most sequences per generate() call (memory bound); 0 = all at once (default). */
  batchSize?: number;
  /** First group id (default 0): groups are groupOffset, groupOffset + 1, … */
  groupOffset?: number;
}

/** K samples for each problem, verified. */
export async function rollout(policy: DecoderLM, problems: readonly Problem[], options: RolloutOptions): Promise<RolloutBatch> {
  const { k, maxNewTokens } = options;
  if (!Number.isInteger(k) || k < 1) throw new Error(`rollout: k (samples per prompt) must be a positive integer, got ${k}`);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new Error(`rollout: maxNewTokens must be a positive integer, got ${maxNewTokens}`);
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new Error(`rollout: temperature must be a finite number > 0 (sampling; use evaluate() for greedy decoding), got ${temperature}`);
  }
  checkTemperature('rollout', temperature);
  const codec = options.codec ?? new TaskCodec();
  const verify = options.verify ?? verifierFor();
  const groupOffset = options.groupOffset ?? 0;
  const rows = problems.flatMap((problem, i) => Array.from({ length: k }, () => ({ problem, group: groupOffset + i, promptIds: codec.encodePrompt(problem.prompt) })));
  const samples: RolloutSample[] = [];
  if (rows.length === 0) return { samples, temperature, maxNewTokens };

  const chunk = options.batchSize && options.batchSize > 0 ? options.batchSize : rows.length;
  for (let start = 0, call = 0; start < rows.length; start += chunk, call++) {
    const part = rows.slice(start, start + chunk);
    const outputs = await generate(
      policy,
      part.map((r) => r.promptIds),
      {
        maxNewTokens,
        temperature,
        topK: options.topK ?? 0,
        topP: options.topP ?? 1,
        // One Philox key per generate call, derived, so a chunked rollout is still a function of the seed.
        seed: deriveSeed(options.seed, 'generate', call),
        ...codec.generateStops(),
      },
    );
    outputs.forEach((out, i) => {
      const row = part[i]!;
      const response = codec.decodeResponse(out.tokens);
      const verdict = verify(row.problem, response);
      samples.push({
        problem: row.problem,
        group: row.group,
        promptIds: row.promptIds,
        responseIds: out.tokens,
        logprobs: out.logprobs,
        response,
        finishReason: out.finishReason,
        verdict,
        score: verdict.correct ? 1 : 0,
      });
    });
  }
  return { samples, temperature, maxNewTokens };
}

/**
 * Dense rewards for a batch, e.g. a process reward model's: one row per sample, either exactly as
 * long as its response or as long as the longest response of the batch (the tail past the
 * sample's own length is ignored). May be async (a PRM forward pass).
 */
export type DenseRewardFn = (batch: RolloutBatch) => Promise<readonly (readonly number[])[]> | readonly (readonly number[])[];

/** Calls `fn` and stores its rewards on each sample (`sample.dense`), checking their shape. */
export async function attachDenseRewards(batch: RolloutBatch, fn: DenseRewardFn): Promise<void> {
  const rows = await fn(batch);
  const { samples } = batch;
  if (!Array.isArray(rows) || rows.length !== samples.length) {
    throw new Error(`dense rewards: the DenseRewardFn returned ${Array.isArray(rows) ? rows.length : typeof rows} rows for ${samples.length} samples; return one row per sample`);
  }
  const longest = samples.reduce((m, s) => Math.max(m, s.responseIds.length), -Infinity);
  samples.forEach((sample, b) => {
    const row: readonly number[] = rows[b]!;
    const n = sample.responseIds.length;
    if (row.length !== n && row.length !== longest) {
      throw new Error(`dense rewards: row ${b} has ${row.length} rewards; sample ${b} has ${n} response tokens (the longest has ${longest}): give one reward per token`);
    }
    const dense = Array.from(row.slice(0, n));
    dense.forEach((r, t) => {
      if (!Number.isFinite(r)) throw new Error(`dense rewards: row ${b}, token ${t} is ${r}; rewards must be finite numbers`);
    });
    sample.dense = dense;
  });
}

/** Fraction of correct samples in each group, by group id. */
export function groupAccuracy(samples: readonly RolloutSample[]): Map<number, number> {
  const totals = new Map<number, { correct: number; count: number }>();
  for (const s of samples) {
    const t = totals.get(s.group) ?? { correct: 0, count: 0 };
    t.correct += s.score > 0 ? 1 : 0;
    t.count++;
    totals.set(s.group, t);
  }
  return new Map([...totals].map(([g, t]) => [g, t.correct / t.count]));
}

/** Samples split into their groups, in order of first appearance. */
export function splitGroups(samples: readonly RolloutSample[]): RolloutSample[][] {
  const groups = new Map<number, RolloutSample[]>();
  for (const s of samples) {
    const list = groups.get(s.group);
    if (list) list.push(s);
    else groups.set(s.group, [s]);
  }
  return [...groups.values()];
}
