// Loss aggregation: how a [B, T] matrix of per-token losses becomes one scalar (verl's agg_loss).
//
// The bug these functions are built against (docs/research/anchors.md C.3: trl#3021, open-instruct#1161,
// ms-swift#10117): a trainer splits a mini-batch into micro-batches, computes each micro-batch's
// loss with its OWN token or sequence count, scales by 1/(number of micro-batches) and accumulates
// gradients. When micro-batches hold different numbers of tokens, the accumulated gradient is not
// the gradient of the mini-batch loss, so results change with the micro-batch size.
//
// The fix (verl's global counts): every normaliser is a number computed ONCE for the whole
// mini-batch (lossNormalisers / lossNormalisersFromMask) and passed to each micro-batch's call.
// Then each mode is a sum of per-token or per-sequence terms divided by a constant, so the
// micro-batch losses add up to the mini-batch loss exactly and so do their gradients — provided a
// sequence is never split across micro-batches (seq-mean-token-mean divides by the row's own
// token count).
import { div, mul, noGrad, scale, sum, type Tensor } from '@repirl/autograd';
import { checkTokenShapes, clamp } from './ops.js';

export type LossAggregation = 'token-mean' | 'seq-mean-token-sum' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';

/** Normalisers of one mini-batch, shared by all of its micro-batches. */
export interface LossNormalisers {
  /** Valid tokens in the whole mini-batch (token-mean). At least 1. */
  readonly tokens: number;
  /** Sequences with at least one valid token in the whole mini-batch (seq-mean-*); empty rows are excluded, as in verl. At least 1. */
  readonly sequences: number;
  /** The constant divisor of seq-mean-token-sum-norm (Dr.GRPO): by default rows × maxLength. */
  readonly constant: number;
}

export interface NormaliserOptions {
  /** The longest allowed response (Dr.GRPO's generation budget); the constant is rows × maxLength. */
  maxLength: number;
  /** Overrides the constant of seq-mean-token-sum-norm. */
  constant?: number;
}

/**
 * Normalisers from the valid-token count of every sequence of the mini-batch (all micro-batches
 * together). The Dr.GRPO constant counts every row, empty ones included (TRL's
 * `batch_size × max_completion_length`). Counts of zero are raised to 1 so an empty mini-batch
 * gives a loss of 0 instead of NaN.
 */
export function lossNormalisers(tokenCounts: readonly number[], options: NormaliserOptions): LossNormalisers {
  for (const [k, n] of tokenCounts.entries()) {
    if (!Number.isInteger(n) || n < 0) throw new Error(`lossNormalisers: tokenCounts[${k}] must be a non-negative integer, got ${n}`);
  }
  if (!Number.isFinite(options.maxLength) || options.maxLength <= 0) throw new Error(`lossNormalisers: maxLength must be > 0, got ${options.maxLength}`);
  const tokens = tokenCounts.reduce((a, b) => a + b, 0);
  const sequences = tokenCounts.filter((n) => n > 0).length;
  const constant = options.constant ?? tokenCounts.length * options.maxLength;
  if (!Number.isFinite(constant) || constant <= 0) throw new Error(`lossNormalisers: constant must be > 0, got ${constant}`);
  return { tokens: Math.max(tokens, 1), sequences: Math.max(sequences, 1), constant };
}

/**
 * Normalisers read from the mini-batch's [B, T] mask (non-zero = valid). maxLength defaults to T,
 * which is right only when T is the generation budget rather than the longest response.
 */
export async function lossNormalisersFromMask(mask: Tensor, options: Partial<NormaliserOptions> = {}): Promise<LossNormalisers> {
  if (mask.rank !== 2) throw new Error(`lossNormalisersFromMask: mask must be [B, T], got [${mask.shape.join(', ')}]`);
  const [rows, cols] = [mask.shape[0]!, mask.shape[1]!];
  const data = await mask.data();
  const counts = Array.from({ length: rows }, (_, b) => {
    let n = 0;
    for (let t = 0; t < cols; t++) if (data[b * cols + t] !== 0) n++;
    return n;
  });
  return lossNormalisers(counts, { maxLength: options.maxLength ?? cols, ...(options.constant !== undefined ? { constant: options.constant } : {}) });
}

export interface LossAggregationDef {
  readonly name: LossAggregation;
  /** The formula, with L the [B, T] token losses, M the mask and the mini-batch normalisers. */
  readonly doc: string;
  /** The scalar loss of one micro-batch (or of the whole mini-batch); differentiable in lossMat. */
  readonly fn: (lossMat: Tensor, mask: Tensor, normalisers: LossNormalisers) => Tensor;
}

function checkNormaliser(mode: LossAggregation, key: keyof LossNormalisers, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${mode}: normalisers.${key} must be a positive number, got ${value}`);
  return value;
}

function checkShapes(mode: LossAggregation, lossMat: Tensor, mask: Tensor): void {
  checkTokenShapes(mode, { 'token losses': lossMat, mask });
}

/** Σ L∘M over the whole tensor, divided by a constant. Masked entries must be finite (0·inf = NaN). */
const maskedSumOver =
  (mode: LossAggregation, key: keyof LossNormalisers): LossAggregationDef['fn'] =>
  (lossMat, mask, normalisers) => {
    checkShapes(mode, lossMat, mask);
    return scale(sum(mul(lossMat, mask)), 1 / checkNormaliser(mode, key, normalisers[key]));
  };

export const LOSS_AGGREGATIONS: Readonly<Record<LossAggregation, LossAggregationDef>> = Object.freeze({
  'token-mean': {
    name: 'token-mean',
    doc: 'Σ_{b,t} L·M / N_tokens: every valid token of the mini-batch weighs the same (DAPO; TRL "dapo", verl default).',
    fn: maskedSumOver('token-mean', 'tokens'),
  },
  'seq-mean-token-sum': {
    name: 'seq-mean-token-sum',
    doc: 'Σ_b (Σ_t L·M) / N_sequences: each sequence contributes its token sum; longer sequences weigh more.',
    fn: maskedSumOver('seq-mean-token-sum', 'sequences'),
  },
  'seq-mean-token-mean': {
    name: 'seq-mean-token-mean',
    doc: 'Σ_b [(Σ_t L·M) / max(1, Σ_t M)] / N_sequences: mean over sequences of each sequence\'s token mean (original GRPO); empty rows add 0.',
    fn: (lossMat, mask, normalisers) => {
      const mode = 'seq-mean-token-mean';
      checkShapes(mode, lossMat, mask);
      const n = checkNormaliser(mode, 'sequences', normalisers.sequences);
      // The row's own count is exact under micro-batching as long as a row is never split.
      const rowCounts = noGrad(() => clamp(sum(mask, 1), { min: 1 }));
      return scale(sum(div(sum(mul(lossMat, mask), 1), rowCounts)), 1 / n);
    },
  },
  'seq-mean-token-sum-norm': {
    name: 'seq-mean-token-sum-norm',
    doc: 'Σ_{b,t} L·M / C with C a constant (Dr.GRPO: rows × max response length), so no length or count bias.',
    fn: maskedSumOver('seq-mean-token-sum-norm', 'constant'),
  },
});

export const LOSS_AGGREGATION_NAMES = Object.keys(LOSS_AGGREGATIONS) as LossAggregation[];

/** The aggregation called `name`; an unknown name throws, listing the known ones. */
export function getLossAggregation(name: string): LossAggregationDef {
  if (!Object.prototype.hasOwnProperty.call(LOSS_AGGREGATIONS, name)) {
    throw new Error(`unknown loss aggregation "${name}" (known: ${LOSS_AGGREGATION_NAMES.join(', ')})`);
  }
  return LOSS_AGGREGATIONS[name as LossAggregation];
}

/** Aggregates [B, T] token losses with the mini-batch's global normalisers. */
export function aggregateLoss(lossMat: Tensor, mask: Tensor, mode: LossAggregation, normalisers: LossNormalisers): Tensor {
  return getLossAggregation(mode).fn(lossMat, mask, normalisers);
}

/** Σ x·M / N_tokens without gradient: a token-mean diagnostic that adds up over micro-batches. */
export function tokenMeanNoGrad(x: Tensor, mask: Tensor, normalisers: LossNormalisers): Tensor {
  return noGrad(() => scale(sum(mul(x, mask)), 1 / normalisers.tokens));
}
