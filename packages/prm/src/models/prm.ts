// What every process reward model in this package is, and how step scores come from token scores.
//
// A PRM here gives one reward per response token, r(s_t, a_t), in the response layout [B, T] of
// @repirl/rl's PackedBatch (padding entries finite, to be masked). r(s_t, a_t) is read from the
// hidden state *at* token a_t (sequence position P + t), i.e. after the model has read the token
// it scores — unlike a value V(s_t), which is read before the token is chosen (P − 1 + t).
//
// Step scores are sums of token rewards within each step (a step = one line of the response,
// docs/DESIGN.md §4): the span from the token after the previous step's end up to and including this
// step's end ('\n', or the last token). Models that read one number per step (AIRL-S's f, the ORM,
// Math-Shepherd) put it on the step-end token and zero elsewhere, so the same sum returns it.
import { ByteTokenizer, gatherRows, noGrad, reshape, tensor, tidy, type Backend, type DecoderLM, type Tensor } from '@repirl/autograd';
import { packSequences, stepEnds, unpadRows, type PackedBatch, type SequencePart, type TaskCodec } from '@repirl/rl';

export interface ProcessRewardModel {
  /** Registry-style name of the parameterisation, e.g. 'token-mlp', 'step-head', 'implicit'. */
  readonly kind: string;
  readonly backend: Backend;
  /** Per-token rewards [B, T] in the response layout (differentiable through the trainable parameters). */
  tokenRewards(packed: PackedBatch): Tensor;
  /** The parameters an optimizer updates (a frozen reference or an unused LM head left out). */
  trainableParameters(): Map<string, Tensor>;
  dispose(): void;
}

/** Hidden states [B·T, d] *at* each response token (position P + t): what a token reward reads. */
export function tokenStateHidden(model: DecoderLM, packed: PackedBatch): Tensor {
  const ids = tensor(model.backend, packed.ids, [packed.B, packed.L], { dtype: 'i32' });
  const hidden = model.hidden(ids, { lengths: packed.seqLengths });
  // packed.positions points at P − 1 + t; padding entries point at P − 1, which +1 keeps inside the row.
  return gatherRows(reshape(hidden, [packed.B * packed.L, model.config.dModel]), packed.positions.map((p) => p + 1));
}

/**
 * Token index (into the response) at which each step of a response ends, the steps being the
 * codec's `stepRule` (default 'lines': the same steps as splitSteps / task.stepLabels, non-blank
 * lines): the '\n' token that ends the step, or the step's last token when the response ends
 * without one (other rules: stepEnds of tasks/format.ts). With the byte tokenizer and 'lines' this
 * works on the tokens themselves: byte 10 is always a whole character, so lines of the decoded
 * text are exactly the token segments between '\n' tokens, even where invalid UTF-8 decodes to
 * replacement characters (which is why character or byte offsets of the text cannot be used). With
 * the byte tokenizer and another rule, the byte offsets of the decoded text are the token indices
 * when the response is valid UTF-8 (it re-encodes to itself). Otherwise each step's end character
 * is mapped to the first token whose decoded prefix covers it.
 */
export function stepEndTokens(responseIds: readonly number[], codec: TaskCodec): number[] {
  const tokenizer = codec.tokenizer;
  const rule = codec.stepRule;
  if (tokenizer instanceof ByteTokenizer && rule !== 'lines') {
    const text = codec.decodeResponse(responseIds);
    const bytes = tokenizer.encode(text);
    if (bytes.length === responseIds.length && bytes.every((b, i) => b === responseIds[i])) return stepEnds(text, 'byte', rule);
  }
  if (tokenizer instanceof ByteTokenizer && rule === 'lines') {
    const newline = 10;
    const ends: number[] = [];
    let start = 0;
    for (let t = 0; t <= responseIds.length; t++) {
      const atEnd = t === responseIds.length;
      if (!atEnd && responseIds[t] !== newline) continue;
      const segment = responseIds.slice(start, t);
      if (codec.decodeResponse(segment).trim() !== '') ends.push(atEnd ? t - 1 : t);
      start = t + 1;
    }
    return ends;
  }
  const ends = stepEnds(codec.decodeResponse(responseIds), 'char', rule);
  const out: number[] = [];
  let t = 0;
  for (const end of ends) {
    while (t < responseIds.length - 1 && codec.decodeResponse(responseIds.slice(0, t + 1)).length <= end) t++;
    out.push(t);
  }
  return out;
}

/** stepEndTokens of every response of a packed batch (read from its targets), row by row. */
export function packedStepEnds(packed: PackedBatch, codec: TaskCodec): number[][] {
  return packed.responseLengths.map((n, b) => stepEndTokens(Array.from(packed.targets.subarray(b * packed.T, b * packed.T + n)), codec));
}

/** Step scores: sums of token rewards over each step's span (see the file comment). */
export function stepScores(tokenRewards: readonly number[], ends: readonly number[]): number[] {
  const out: number[] = [];
  let start = 0;
  for (const end of ends) {
    let s = 0;
    for (let t = start; t <= end && t < tokenRewards.length; t++) s += tokenRewards[t]!;
    out.push(s);
    start = end + 1;
  }
  return out;
}

export interface ScoredSample {
  /** One reward per response token. */
  tokens: number[];
  /** One score per step (sums of token rewards within the step). */
  steps: number[];
  /** Token index of each step's end. */
  stepEnds: number[];
}

/** Scores samples without gradient, `batchSize` sequences per forward pass (0 = all at once). */
export async function scoreSamples(prm: ProcessRewardModel, samples: readonly SequencePart[], codec: TaskCodec, batchSize = 32): Promise<ScoredSample[]> {
  const out: ScoredSample[] = [];
  const size = batchSize > 0 ? batchSize : samples.length;
  for (let i = 0; i < samples.length; i += size) {
    const part = samples.slice(i, i + size);
    const packed = packSequences(part, codec.padId);
    const rewards = noGrad(() => tidy(() => prm.tokenRewards(packed)));
    const rows = unpadRows(await rewards.data(), packed);
    rewards.dispose();
    rows.forEach((tokens, b) => {
      const ends = stepEndTokens(part[b]!.responseIds, codec);
      out.push({ tokens, steps: stepScores(tokens, ends), stepEnds: ends });
    });
  }
  return out;
}
