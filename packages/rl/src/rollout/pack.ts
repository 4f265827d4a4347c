// From samples to tensors, in the layout every trainer computation shares.
//
// Sequence layout (what the model reads): row b holds prompt + response, right-padded to L with
// <pad>; prompts differ in length, so responses start at different columns.
// Response layout (what losses, advantages, critics and PRMs use): [B, T] with response token t of
// sample b at column t, right-padded to T = the longest response — the layout of
// buildTokenRewards and the advantage estimators.
//
// The bridge is a gather of hidden states: response token t of row b is predicted by the hidden
// state at sequence position P_b − 1 + t (P_b the prompt length), so the LM head (or a value head)
// runs only on those B·T rows, never on prompt positions. Padding entries of the response layout
// point at a valid row of their own sequence and are masked out.
import { gatherRows, reshape, tensor, tokenLogProbs, type DecoderLM, type Tensor } from '@repirl/autograd';

export interface SequencePart {
  promptIds: readonly number[];
  responseIds: readonly number[];
}

export interface PackedBatch {
  /** Rows. */
  B: number;
  /** Sequence-layout width: the longest prompt + response. */
  L: number;
  /** Response-layout width: the longest response (at least 1). */
  T: number;
  /** i32 [B, L] prompt + response + padding, row-major. */
  ids: Int32Array;
  /** Prompt + response length of each row. */
  seqLengths: number[];
  promptLengths: number[];
  responseLengths: number[];
  /** [B·T] flat row of the hidden states [B·L, d] predicting each response token. */
  positions: number[];
  /** i32 [B·T] the response tokens (pad id at padding). */
  targets: Int32Array;
  /** f32 [B·T] 1 on response tokens, 0 on padding. */
  mask: Float32Array;
}

export function packSequences(parts: readonly SequencePart[], padId: number): PackedBatch {
  const B = parts.length;
  if (B === 0) throw new Error('packSequences: no sequences to pack');
  parts.forEach((p, b) => {
    if (p.promptIds.length === 0) throw new Error(`packSequences: sequence ${b} has an empty prompt (prompts start with <bos>)`);
  });
  const promptLengths = parts.map((p) => p.promptIds.length);
  const responseLengths = parts.map((p) => p.responseIds.length);
  const seqLengths = parts.map((_, b) => promptLengths[b]! + responseLengths[b]!);
  // Loops, not Math.max(...xs): spreading a batch of 200,000+ lengths overflows the call stack.
  const L = seqLengths.reduce((m, n) => Math.max(m, n), 0);
  const T = responseLengths.reduce((m, n) => Math.max(m, n), 1);
  const ids = new Int32Array(B * L).fill(padId);
  const positions: number[] = new Array<number>(B * T);
  const targets = new Int32Array(B * T).fill(padId);
  const mask = new Float32Array(B * T);
  parts.forEach((p, b) => {
    ids.set(p.promptIds, b * L);
    ids.set(p.responseIds, b * L + p.promptIds.length);
    const P = p.promptIds.length;
    for (let t = 0; t < T; t++) {
      const valid = t < p.responseIds.length;
      positions[b * T + t] = b * L + (valid ? P - 1 + t : P - 1);
      if (valid) {
        targets[b * T + t] = p.responseIds[t]!;
        mask[b * T + t] = 1;
      }
    }
  });
  return { B, L, T, ids, seqLengths, promptLengths, responseLengths, positions, targets, mask };
}

/** Hidden states [B·T, d] of the positions predicting each response token (differentiable). */
export function responseHidden(model: DecoderLM, packed: PackedBatch): Tensor {
  const ids = tensor(model.backend, packed.ids, [packed.B, packed.L], { dtype: 'i32' });
  const hidden = model.hidden(ids, { lengths: packed.seqLengths });
  return gatherRows(reshape(hidden, [packed.B * packed.L, model.config.dModel]), packed.positions);
}

/**
 * log π(response token) [B, T] under `model` at `temperature` (the sampling temperature, as the
 * rollout log-probs), and the entropy of each next-token distribution when asked. Padding entries
 * are finite and must be masked by the caller.
 */
export function responseLogProbs(model: DecoderLM, packed: PackedBatch, options: { temperature?: number; entropy?: boolean } = {}): { logp: Tensor; entropy?: Tensor } {
  const logits = model.logits(responseHidden(model, packed));
  const targets = tensor(model.backend, packed.targets, [packed.B * packed.T], { dtype: 'i32' });
  const r = tokenLogProbs(logits, targets, { temperature: options.temperature ?? 1, entropy: options.entropy ?? false });
  const shape = [packed.B, packed.T];
  return { logp: reshape(r.logp, shape), ...(r.entropy ? { entropy: reshape(r.entropy, shape) } : {}) };
}

/** The shape of the response layout: enough to pad and unpad per-sample rows. */
export type ResponseLayout = Pick<PackedBatch, 'B' | 'T' | 'responseLengths'>;

/** The response layout of responses with these lengths (T = the longest, at least 1). */
export function responseLayout(responseLengths: readonly number[]): ResponseLayout {
  return { B: responseLengths.length, T: responseLengths.reduce((m, n) => Math.max(m, n), 1), responseLengths: [...responseLengths] };
}

/** Ragged per-sample values (one per response token) in the response layout [B·T], `fill` at padding. */
export function padRows(rows: readonly (ArrayLike<number> | undefined)[], packed: ResponseLayout, fill = 0): Float32Array {
  const out = new Float32Array(packed.B * packed.T).fill(fill);
  rows.forEach((row, b) => {
    const n = packed.responseLengths[b]!;
    if (!row) return;
    if (row.length < n) throw new Error(`padRows: row ${b} has ${row.length} values for ${n} response tokens`);
    for (let t = 0; t < n; t++) out[b * packed.T + t] = row[t]!;
  });
  return out;
}

/** The response-layout [B·T] host data back as ragged per-sample rows. */
export function unpadRows(data: ArrayLike<number>, packed: ResponseLayout): number[][] {
  return packed.responseLengths.map((n, b) => Array.from({ length: n }, (_, t) => data[b * packed.T + t]!));
}
