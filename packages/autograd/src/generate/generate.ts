// Batched, seeded generation from a DecoderLM, with a KV cache (default) or without one
// (recomputing the whole prefix every step, for comparison and benchmarks).
//
// Layout: prompts of different lengths are right-padded. With the cache, the prefill writes every
// prompt's keys/values at positions 0.. and reads the logits at each prompt's last token; from then
// on each sequence b appends one token per step at its own position past_b (the fused head-split
// kernel rotates by and writes at per-sequence positions; attentionDecode reads per-sequence
// windows), so no left padding or position shifting exists anywhere and every token sits at the
// position a training forward over prompt + response gives it.
//
// Each step: logits [B, V] → (top-k / top-p mask) → Gumbel-max sample with Philox stream
// (seed, offset = step) → log p(token) by the tokenLogProbs primitive, the very kernel trainers use.
//
// Log-probs (verl's convention for rollout log-probs): log softmax(logits / temperature)[token] over
// the full vocabulary, i.e. under the policy at the sampling temperature, before top-k / top-p
// truncation — exactly what a trainer recomputes with tokenLogProbs(logits, tokens, { temperature })
// on a forward pass over prompt + response, so the two agree to float rounding. Greedy decoding
// (greedy: true or temperature 0) reports them at temperature 1 unless a positive temperature is
// given.
//
// Stops: a token id in `stop` or a stop string appearing in the decoded response ends that
// sequence; the token that completes the stop is kept in `tokens` (it was sampled and has a
// log-prob). Finished sequences keep riding along in the batch until all are done or maxNewTokens
// is reached; their extra tokens are discarded. Without stops and with the cache, the token ids stay
// on the device for the whole run (no per-step read-back).
import { ArgumentError } from '@repirl/kernels';
import type { Tensor } from '../core/tensor.js';
import { checkTemperature, concat, reshape, tensor, tokenLogProbs } from '../core/ops.js';
import { noGrad } from '../core/tape.js';
import { tidy } from '../core/scope.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { DecoderLM } from '../nn/transformer.js';
import { gatherRows } from '../nn/heads.js';
import { sampleTokens, topKTopPMask } from './sampling.js';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Sampling temperature (> 0, default 1); 0 means greedy. */
  temperature?: number;
  /** Sample among the k most likely tokens only (0 = off). */
  topK?: number;
  /** Sample within the smallest set of probability ≥ p (1 = off). */
  topP?: number;
  /** Philox key; the same seed, prompts and options give the same tokens (default 0). */
  seed?: number;
  /** Argmax decoding. */
  greedy?: boolean;
  /** Stop token ids and/or stop strings (strings need `tokenizer`). */
  stop?: readonly (number | string)[];
  /** Decodes responses for stop strings; also fills `text`. */
  tokenizer?: Tokenizer;
  /** Use the KV cache (default true); false recomputes the whole prefix every step. */
  cache?: boolean;
  /** Also return each step's raw logits (tests and debugging). */
  returnLogits?: boolean;
}

export type FinishReason = 'stop' | 'length';

export interface GeneratedSequence {
  /** Generated token ids (the prompt excluded). */
  tokens: number[];
  /** log p(token) of each generated token (see the header for the distribution). */
  logprobs: number[];
  finishReason: FinishReason;
  /** The stop id or string that ended the sequence. */
  stop?: number | string;
  /** The decoded response, when a tokenizer was given. */
  text?: string;
  /** Raw logits [V] of each generated token's step, with returnLogits. */
  logits?: Float32Array[];
}

// A type alias, not an interface, so that tidy() accepts it as a result.
type StepOutput = {
  ids: Tensor;
  logp: Tensor;
  logits?: Tensor;
};

function checkOptions(model: DecoderLM, prompts: readonly (readonly number[])[], options: GenerateOptions) {
  const { vocabSize, maxSeqLen } = model.config;
  if (!(model instanceof DecoderLM)) throw new Error('generate: model must be a DecoderLM');
  if (!Array.isArray(prompts) || prompts.length === 0) throw new Error('generate: promptIds must be a non-empty array of token-id arrays');
  prompts.forEach((p, b) => {
    if (!Array.isArray(p) || p.length === 0) throw new Error(`generate: promptIds[${b}] must be a non-empty array of token ids`);
    p.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`generate: promptIds[${b}][${i}] = ${id} is not a token id in [0, ${vocabSize})`);
    });
  });
  const maxNew = options.maxNewTokens;
  if (!Number.isInteger(maxNew) || maxNew < 1) throw new Error(`generate: maxNewTokens must be a positive integer, got ${maxNew}`);
  const longest = prompts.reduce((m, p) => Math.max(m, p.length), -Infinity);
  if (longest + maxNew > maxSeqLen) {
    throw new Error(`generate: the longest prompt (${longest} tokens) + maxNewTokens (${maxNew}) exceeds the model's maxSeqLen (${maxSeqLen})`);
  }
  const temperature = options.temperature ?? 1;
  checkTemperature('generate', temperature, { greedy: true });
  const greedy = options.greedy === true || temperature === 0;
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`generate: seed must be a non-negative integer, got ${seed}`);
  const stopIds = new Set<number>();
  const stopStrings: string[] = [];
  for (const s of options.stop ?? []) {
    if (typeof s === 'number') {
      if (!Number.isInteger(s) || s < 0 || s >= vocabSize) throw new Error(`generate: stop id ${s} is not a token id in [0, ${vocabSize})`);
      stopIds.add(s);
    } else if (typeof s === 'string' && s.length > 0) stopStrings.push(s);
    else throw new Error(`generate: stop entries must be token ids or non-empty strings, got ${JSON.stringify(s)}`);
  }
  if (stopStrings.length > 0 && !options.tokenizer) throw new Error('generate: stop strings need options.tokenizer to decode the responses');
  const masking = !greedy && ((options.topK ?? 0) > 0 || (options.topP ?? 1) < 1);
  return {
    maxNew,
    longest,
    greedy,
    seed,
    stopIds,
    stopStrings,
    masking,
    sampleTemperature: greedy ? 0 : temperature,
    logprobTemperature: temperature > 0 ? temperature : 1,
  };
}

const NO_FINITE_LOGIT =
  'had no finite logit to sample (NaN or −∞ logits: weights that are NaN or so large that the forward pass overflows float32)';

/**
 * A row with no finite logit samples the id −1, which the log-prob kernel of the same step reports
 * as an out-of-range target when its status is read: say what it means instead.
 */
async function sampled<T>(read: Promise<T>): Promise<T> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof ArgumentError && err.argument === 'targets' && /target id -1,/.test(err.message)) throw new Error(`generate: a sequence ${NO_FINITE_LOGIT}`);
    throw err;
  }
}

/**
 * Generates up to maxNewTokens tokens after each prompt (a batch of token-id arrays, any lengths),
 * returning per sequence its tokens, their log-probs and why it finished.
 */
export async function generate(model: DecoderLM, promptIds: readonly (readonly number[])[], options: GenerateOptions): Promise<GeneratedSequence[]> {
  const o = checkOptions(model, promptIds, options);
  const backend = model.backend;
  const { dModel } = model.config;
  const B = promptIds.length;
  const lengths = promptIds.map((p) => p.length);
  const useCache = options.cache ?? true;
  const tokenizer = options.tokenizer;

  // Host-side state: what each sequence has produced so far and whether it has finished.
  const tokens: number[][] = promptIds.map(() => []);
  const finish: ({ reason: FinishReason; stop?: number | string } | null)[] = promptIds.map(() => null);
  const accept = (ids: ArrayLike<number>) => {
    for (let b = 0; b < B; b++) {
      if (finish[b]) continue;
      const id = ids[b]!;
      if (id < 0) throw new Error(`generate: sequence ${b} ${NO_FINITE_LOGIT} at step ${tokens[b]!.length}`);
      tokens[b]!.push(id);
      if (o.stopIds.has(id)) finish[b] = { reason: 'stop', stop: id };
      else if (o.stopStrings.length > 0) {
        const text = tokenizer!.decode(tokens[b]!);
        const hit = o.stopStrings.find((s) => text.includes(s));
        if (hit !== undefined) finish[b] = { reason: 'stop', stop: hit };
      }
    }
  };
  // Token ids are read back every step only when something on the host needs them.
  const readEachStep = o.stopIds.size > 0 || o.stopStrings.length > 0 || !useCache;

  const cache = useCache ? model.createKvCache(B, o.longest + o.maxNew) : null;
  const steps: StepOutput[] = [];
  try {
    for (let step = 0; step < o.maxNew; step++) {
      const previous = steps[steps.length - 1]?.ids;
      const out = noGrad(() =>
        tidy((): StepOutput => {
          // Hidden state [B, d] at each sequence's last position.
          let last: Tensor;
          if (cache && step > 0) {
            last = reshape(model.hidden(reshape(previous!, [B, 1]), { cache }), [B, dModel]);
          } else {
            // Cache prefill, or the no-cache path: the whole (right-padded) sequences so far.
            const seqs = promptIds.map((p, b) => (cache ? p : [...p, ...tokens[b]!]));
            const current = seqs.map((s) => s.length);
            const T = current.reduce((m, n) => Math.max(m, n), -Infinity);
            const ids = tensor(backend, seqs.flatMap((s) => [...s, ...new Array<number>(T - s.length).fill(0)]), [B, T], { dtype: 'i32' });
            const h = cache ? model.hidden(ids, { cache }) : model.hidden(ids, { lengths: current });
            last = gatherRows(reshape(h, [B * T, dModel]), current.map((n, b) => b * T + n - 1));
          }
          const logits = model.logits(last);
          const candidates = o.masking ? topKTopPMask(logits, { topK: options.topK, topP: options.topP, temperature: o.sampleTemperature }) : logits;
          const ids = sampleTokens(candidates, { seed: o.seed, offset: step, temperature: o.sampleTemperature });
          const { logp } = tokenLogProbs(logits, ids, { temperature: o.logprobTemperature });
          return options.returnLogits ? { ids, logp, logits } : { ids, logp };
        }),
      );
      steps.push(out);
      if (cache) cache.setPast(step === 0 ? lengths : cache.positions.map((p) => p + 1));
      if (readEachStep) {
        accept(await sampled(out.ids.data()));
        if (finish.every((f) => f !== null)) break;
      }
    }
    // One read-back of everything the loop left on the device.
    const [allIds, allLogp, allLogits] = await Promise.all(
      [steps.map((s) => s.ids), steps.map((s) => s.logp), options.returnLogits ? steps.map((s) => s.logits!) : []].map(async (list) => {
        if (list.length === 0) return null;
        const joined = noGrad(() => tidy(() => concat(list.map((t) => reshape(t, [1, ...t.shape])), 0))); // tidy frees the views
        const data = await sampled(joined.data()).finally(() => joined.dispose());
        return data;
      }),
    );
    if (!readEachStep) for (let s = 0; s < steps.length; s++) accept(allIds!.subarray(s * B, (s + 1) * B));
    const V = model.config.vocabSize;
    return tokens.map((toks, b) => {
      const f = finish[b] ?? { reason: 'length' as const };
      const result: GeneratedSequence = {
        tokens: toks,
        logprobs: toks.map((_, s) => allLogp![s * B + b]!),
        finishReason: f.reason,
        ...(f.stop !== undefined ? { stop: f.stop } : {}),
      };
      if (tokenizer) result.text = tokenizer.decode(toks);
      if (allLogits) result.logits = toks.map((_, s) => Float32Array.from(allLogits.subarray((s * B + b) * V, (s * B + b + 1) * V)));
      return result;
    });
  } finally {
    for (const s of steps) for (const t of [s.ids, s.logp, s.logits]) t?.dispose();
    cache?.dispose();
  }
}
