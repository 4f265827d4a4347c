// From per-sample results to the [B, T] token tensors the estimators and losses take. Responses
// are right-padded: sample b's response tokens are positions 0 … lengths[b] − 1 of its row.
import { tensor, type Backend, type Tensor } from '@repirl/autograd';

export interface TokenRewardSpec {
  /** Response length of every sample (valid tokens of its row). */
  lengths: readonly number[];
  /** Row width T; default the longest response. */
  maxLength?: number;
  /** Outcome score per sample (the verifier's reward), placed on the row's last valid token. */
  scores?: readonly number[];
  /** Dense rewards per sample (a process reward model's per-token or per-step rewards), one per valid token. */
  dense?: readonly (readonly number[])[];
}

function checkLengths(context: string, lengths: readonly number[], maxLength: number | undefined): number {
  for (const [b, n] of lengths.entries()) {
    if (!Number.isInteger(n) || n < 0) throw new Error(`${context}: lengths[${b}] must be a non-negative integer, got ${n}`);
  }
  const longest = lengths.reduce((a, b) => Math.max(a, b), 0);
  const cols = maxLength ?? longest;
  if (!Number.isInteger(cols) || cols < longest) throw new Error(`${context}: maxLength ${cols} is shorter than the longest response (${longest})`);
  return cols;
}

/** f32 [B, T] mask: 1 on each row's first lengths[b] positions, 0 after. */
export function responseMask(backend: Backend, lengths: readonly number[], maxLength?: number): Tensor {
  const cols = checkLengths('responseMask', lengths, maxLength);
  const data = new Float32Array(lengths.length * cols);
  lengths.forEach((n, b) => data.fill(1, b * cols, b * cols + n));
  return tensor(backend, data, [lengths.length, cols]);
}

/**
 * Token rewards and the response mask: rewards[b, t] = dense[b][t] on valid tokens, plus
 * scores[b] on the last valid token (the convention of the sequence-level estimators, which sum a
 * row's rewards). A sample of length 0 has no token to carry its score: its row stays 0.
 */
export function buildTokenRewards(backend: Backend, spec: TokenRewardSpec): { rewards: Tensor; mask: Tensor } {
  const { lengths, scores, dense } = spec;
  const cols = checkLengths('buildTokenRewards', lengths, spec.maxLength);
  const rows = lengths.length;
  if (scores && scores.length !== rows) throw new Error(`buildTokenRewards: ${scores.length} scores for ${rows} samples`);
  if (dense && dense.length !== rows) throw new Error(`buildTokenRewards: ${dense.length} dense reward rows for ${rows} samples`);
  const data = new Float64Array(rows * cols);
  for (let b = 0; b < rows; b++) {
    const n = lengths[b]!;
    if (dense) {
      const row = dense[b]!;
      if (row.length !== n) throw new Error(`buildTokenRewards: dense[${b}] has ${row.length} rewards for a response of ${n} tokens`);
      for (let t = 0; t < n; t++) data[b * cols + t] = row[t]!;
    }
    if (scores && n > 0) data[b * cols + n - 1] = data[b * cols + n - 1]! + scores[b]!;
  }
  for (const [i, v] of data.entries()) {
    if (!Number.isFinite(v)) throw new Error(`buildTokenRewards: reward at row ${Math.floor(i / cols)}, token ${i % cols} is ${v}`);
  }
  return { rewards: tensor(backend, data, [rows, cols]), mask: responseMask(backend, lengths, cols) };
}
