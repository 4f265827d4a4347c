// Next-token log-probabilities of whole sequences and the language-modelling loss, on the fused
// log-prob kernel: no [B·T, V] softmax is ever stored. Trainers (SFT, RL) and the rollout/trainer
// log-prob comparison use these.
import type { Tensor } from '../core/tensor.js';
import { div, mul, reshape, scale, slice, sum, tensor, tokenLogProbs } from '../core/ops.js';
import type { DecoderLM } from './transformer.js';

export interface SequenceLogProbs {
  /** log p(ids[b, t+1] | ids[b, ≤t]) for t in [0, T−1): [B, T−1]. */
  logp: Tensor;
  /** Entropy of each next-token distribution, [B, T−1], when asked. */
  entropy?: Tensor;
}

/** Log-probability of each next token of `ids` (i32 [B, T]) under the model, at `temperature`. */
export function sequenceLogProbs(
  model: DecoderLM,
  ids: Tensor,
  options: { lengths?: readonly number[]; temperature?: number; entropy?: boolean } = {},
): SequenceLogProbs {
  const [B, T] = ids.shape as [number, number];
  if (ids.rank !== 2 || T < 2) throw new Error(`sequenceLogProbs: ids must be [B, T] with T ≥ 2, got [${ids.shape.join(', ')}]`);
  checkTokenIds('sequenceLogProbs', ids, model.config.vocabSize);
  // The head runs on the T − 1 predicting positions only: slicing the hidden states [B, T, d]
  // instead of the logits [B, T, V] skips one position of the head and a copy of all the logits
  // (at a 152k vocabulary, [1, 512, V] is 311 MB: over one storage binding on lavapipe).
  const hidden = model.hidden(ids, options.lengths ? { lengths: options.lengths } : {}); // [B, T, d]
  const logits = model.logits(slice(hidden, 1, 0, T - 1)); // [B, T − 1, V]
  const V = logits.shape[2]!;
  const predicting = reshape(logits, [B * (T - 1), V]);
  const targets = reshape(slice(ids, 1, 1, T - 1), [B * (T - 1)]);
  const r = tokenLogProbs(predicting, targets, { temperature: options.temperature ?? 1, entropy: options.entropy ?? false });
  return {
    logp: reshape(r.logp, [B, T - 1]),
    ...(r.entropy ? { entropy: reshape(r.entropy, [B, T - 1]) } : {}),
  };
}

/**
 * Throws a RangeError naming the first id of `ids` [B, T] outside [0, vocab), its (row, column)
 * and the vocabulary size. Both backends check here, on the host, when the host holds the ids
 * (`Backend.hostInts`: always on the CPU, for ids uploaded from the host on the GPU); other GPU ids
 * are still reported by the GPU backend at its next read, by their flattened target row.
 */
function checkTokenIds(caller: string, ids: Tensor, vocab: number): void {
  const values = ids.backend.hostInts(ids.storage);
  if (!values) return;
  const T = ids.shape[1]!;
  for (let i = 0; i < values.length; i++) {
    const id = values[i]!;
    if (!(id >= 0 && id < vocab)) {
      throw new RangeError(`${caller}: token id ${id} at (row ${Math.floor(i / T)}, column ${i % T}) is outside the vocabulary [0, ${vocab})`);
    }
  }
}

/**
 * Mean negative log-likelihood of the next tokens where `mask` ([B, T−1], 1 = count this target)
 * is set: −Σ mask·logp / Σ mask. Pass `normaliser` to divide by a global token count instead
 * (gradient accumulation over micro-batches stays exact).
 */
export function languageModelLoss(model: DecoderLM, ids: Tensor, mask: Tensor, options: { normaliser?: number } = {}): Tensor {
  checkTokenIds('languageModelLoss', ids, model.config.vocabSize);
  const { logp } = sequenceLogProbs(model, ids);
  const total = sum(mul(logp, mask));
  if (options.normaliser !== undefined) return scale(total, -1 / options.normaliser);
  return scale(div(total, sum(mask)), -1);
}

/** A [B, T−1] mask that counts targets at positions ≥ start[b] (the response) and < end[b]. */
export function targetMask(model: DecoderLM, starts: readonly number[], ends: readonly number[], T: number): Tensor {
  const data = new Float32Array(starts.length * (T - 1));
  starts.forEach((s, b) => {
    for (let t = Math.max(1, s); t < Math.min(ends[b]!, T); t++) data[b * (T - 1) + t - 1] = 1;
  });
  return tensor(model.backend, data, [starts.length, T - 1]);
}
