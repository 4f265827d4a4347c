// logprob: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import { ArgumentError } from '../../runtime/errors.js';
import type { CpuTensor } from '../../reference.js';

export interface TokenLogProbsReferenceResult {
  logp: Float64Array;
  lse: Float64Array;
  entropy?: Float64Array;
}

/**
 * Host-side check of target ids, for ids that come from the host: throws an ArgumentError naming
 * the kernel, 'targets', the first bad row and its value unless every id is in [0, vocab).
 */
export function validateTargets(targets: ArrayLike<number>, vocab: number, kernel = 'tokenLogProbs'): void {
  for (let r = 0; r < targets.length; r++) {
    const t = targets[r]!;
    if (!Number.isInteger(t) || t < 0 || t >= vocab) {
      throw new ArgumentError(kernel, 'targets', `row ${r} has target id ${t}, outside the vocabulary [0, ${vocab})`);
    }
  }
}

function checkReferenceArgs(kernel: string, logits: CpuTensor, targets: ArrayLike<number>, temperature: number): [number, number] {
  if (logits.shape.length !== 2) throw new ArgumentError(kernel, 'logits', `expected shape [N, V], got [${logits.shape.join(', ')}]`);
  const [n, v] = logits.shape as [number, number];
  if (targets.length !== n) throw new ArgumentError(kernel, 'targets', `expected shape [${n}], got [${targets.length}]`);
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new ArgumentError(kernel, 'temperature', `must be a finite number > 0, got ${temperature}`);
  validateTargets(targets, v, kernel);
  return [n, v];
}

interface RowStats {
  /** Row maximum of z and log Σ exp(z − max): log p_j = (z_j − max) − logSum, precise even where lse is huge. */
  max: number;
  logSum: number;
  lse: number;
  entropy: number;
  /** No finite logit: the masked-row convention applies. */
  masked: boolean;
}

function rowStats(x: Float64Array, start: number, v: number, invT: number): RowStats {
  let max = -Infinity;
  for (let j = 0; j < v; j++) max = Math.max(max, x[start + j]! * invT);
  if (max === -Infinity) return { max, logSum: 0, lse: -Infinity, entropy: 0, masked: true };
  let s = 0;
  for (let j = 0; j < v; j++) s += Math.exp(x[start + j]! * invT - max);
  const logSum = Math.log(s);
  let entropy = 0;
  for (let j = 0; j < v; j++) {
    const logp = x[start + j]! * invT - max - logSum;
    const p = Math.exp(logp);
    if (p > 0) entropy -= p * logp;
  }
  return { max, logSum, lse: max + logSum, entropy, masked: false };
}

function logProbOf(x: number, invT: number, st: RowStats): number {
  return x * invT - st.max - st.logSum;
}

/** logp, lse (and entropy) per row of logits [N, V] at the given temperature, in float64. */
export function tokenLogProbsReference(
  logits: CpuTensor,
  targets: ArrayLike<number>,
  options: { temperature?: number; entropy?: boolean } = {},
): TokenLogProbsReferenceResult {
  const temperature = options.temperature ?? 1;
  const [n, v] = checkReferenceArgs('tokenLogProbsReference', logits, targets, temperature);
  const invT = 1 / temperature;
  const logp = new Float64Array(n);
  const lse = new Float64Array(n);
  const entropy = options.entropy ? new Float64Array(n) : undefined;
  for (let r = 0; r < n; r++) {
    const st = rowStats(logits.data, r * v, v, invT);
    lse[r] = st.lse;
    logp[r] = st.masked ? -Infinity : logProbOf(logits.data[r * v + targets[r]!]!, invT, st);
    if (entropy) entropy[r] = st.entropy;
  }
  return entropy ? { logp, lse, entropy } : { logp, lse };
}

/** d(Σ gLogp·logp + Σ gEntropy·entropy) / d logits, [N, V], in float64. */
export function tokenLogProbsBackwardReference(
  logits: CpuTensor,
  targets: ArrayLike<number>,
  gLogp: ArrayLike<number>,
  options: { temperature?: number; gEntropy?: ArrayLike<number> } = {},
): CpuTensor {
  const temperature = options.temperature ?? 1;
  const kernel = 'tokenLogProbsBackwardReference';
  const [n, v] = checkReferenceArgs(kernel, logits, targets, temperature);
  if (gLogp.length !== n) throw new ArgumentError(kernel, 'gLogp', `expected shape [${n}], got [${gLogp.length}]`);
  const gEntropy = options.gEntropy;
  if (gEntropy && gEntropy.length !== n) throw new ArgumentError(kernel, 'gEntropy', `expected shape [${n}], got [${gEntropy.length}]`);
  const invT = 1 / temperature;
  const out = new Float64Array(n * v);
  for (let r = 0; r < n; r++) {
    const st = rowStats(logits.data, r * v, v, invT);
    if (st.masked) continue;
    const gl = gLogp[r]!;
    const ge = gEntropy ? gEntropy[r]! : 0;
    for (let j = 0; j < v; j++) {
      const logp = logProbOf(logits.data[r * v + j]!, invT, st);
      const p = Math.exp(logp);
      let g = gl * ((j === targets[r] ? 1 : 0) - p);
      if (ge !== 0 && p > 0) g -= ge * p * (logp + st.entropy);
      out[r * v + j] = g * invT;
    }
  }
  return { shape: [n, v], data: out };
}
