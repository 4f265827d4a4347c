// matmul: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import type { CpuTensor } from '../../reference.js';

export interface MatmulOptions {
  /** A is stored transposed: [K, M] or [B, K, M]. */
  transposeA?: boolean;
  /** B is stored transposed: [N, K] or [B, N, K]. */
  transposeB?: boolean;
}

/** The logical problem behind a pair of shapes (no validation; the launchers validate). */
export interface MatmulDims {
  M: number;
  N: number;
  K: number;
  /** Output batch count (1 when both operands are rank 2). */
  batch: number;
  /** Whether each operand has its own slice per output batch (false: broadcast). */
  aBatched: boolean;
  bBatched: boolean;
  outShape: number[];
}

export function matmulDims(aShape: readonly number[], bShape: readonly number[], opts: MatmulOptions = {}): MatmulDims {
  const ar = aShape.length;
  const br = bShape.length;
  const [a0, a1] = [aShape[ar - 2]!, aShape[ar - 1]!];
  const [b0, b1] = [bShape[br - 2]!, bShape[br - 1]!];
  const M = opts.transposeA ? a1 : a0;
  const K = opts.transposeA ? a0 : a1;
  const N = opts.transposeB ? b0 : b1;
  const aB = ar === 3 ? aShape[0]! : 1;
  const bB = br === 3 ? bShape[0]! : 1;
  // Batches must match unless one is 1 (broadcast); a batch of 0 gives an empty output.
  const batch = aB === 1 ? bB : aB;
  const rank3 = ar === 3 || br === 3;
  return {
    M,
    N,
    K,
    batch,
    aBatched: aB !== 1,
    bBatched: bB !== 1,
    outShape: rank3 ? [batch, M, N] : [M, N],
  };
}

function opIndex(transposed: boolean, rows: number, cols: number): (r: number, c: number) => number {
  // Element (r, c) of op(X), where op(X) is rows × cols and X is stored cols × rows when transposed.
  return transposed ? (r, c) => c * rows + r : (r, c) => r * cols + c;
}

/** C = op(A) · op(B) in float64, batched with broadcasting of a batch of 1. */
export function matmulReference(a: CpuTensor, b: CpuTensor, opts: MatmulOptions = {}): CpuTensor {
  const d = matmulDims(a.shape, b.shape, opts);
  const { M, N, K } = d;
  const out = new Float64Array(d.batch * M * N);
  const ai = opIndex(!!opts.transposeA, M, K);
  const bi = opIndex(!!opts.transposeB, K, N);
  for (let s = 0; s < d.batch; s++) {
    const ao = d.aBatched ? s * M * K : 0;
    const bo = d.bBatched ? s * K * N : 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += a.data[ao + ai(m, k)]! * b.data[bo + bi(k, n)]!;
        out[s * M * N + m * N + n] = acc;
      }
    }
  }
  return { shape: d.outShape, data: out };
}

/**
 * Gradients of C = op(A) · op(B) given dC, in float64: dA and dB have A's and B's shapes (and
 * layouts); an operand broadcast over the batch receives the sum over the batch.
 */
export function matmulBackwardReference(a: CpuTensor, b: CpuTensor, dC: CpuTensor, opts: MatmulOptions = {}): { dA: CpuTensor; dB: CpuTensor } {
  const d = matmulDims(a.shape, b.shape, opts);
  const { M, N, K } = d;
  const dA = new Float64Array(a.data.length);
  const dB = new Float64Array(b.data.length);
  const ai = opIndex(!!opts.transposeA, M, K);
  const bi = opIndex(!!opts.transposeB, K, N);
  for (let s = 0; s < d.batch; s++) {
    const ao = d.aBatched ? s * M * K : 0;
    const bo = d.bBatched ? s * K * N : 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const g = dC.data[s * M * N + m * N + n]!;
        for (let k = 0; k < K; k++) {
          dA[ao + ai(m, k)] += g * b.data[bo + bi(k, n)]!;
          dB[bo + bi(k, n)] += g * a.data[ao + ai(m, k)]!;
        }
      }
    }
  }
  return { dA: { shape: [...a.shape], data: dA }, dB: { shape: [...b.shape], data: dB } };
}
