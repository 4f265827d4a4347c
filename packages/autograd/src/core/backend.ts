// A backend executes primitives on its own storage: the GPU backend calls the WGSL kernels of
// @repirl/kernels, the CPU backend calls their float64 references. The tape and the gradient
// rules are written once against this interface, so a whole model's forward and backward can run
// on both and be compared (docs/DESIGN.md §3).
import type { AdamWOptions, BinaryOp, ReductionOp, UnaryOp, UnaryParams } from '@repirl/kernels';

export type DType = 'f32' | 'i32';
/** Backend-specific storage (a GpuArray on the GPU, a float64 host tensor on the CPU). */
export type Storage = object;
export type { AdamWOptions, BinaryOp, ReductionOp, UnaryOp, UnaryParams };

export interface MatmulFlags {
  transposeA?: boolean;
  transposeB?: boolean;
}

export interface AttentionFlags {
  /** i32 [B] valid lengths (padding on the right). */
  lengths?: Storage;
  scale?: number;
}

export interface Backend<S extends Storage = Storage> {
  readonly name: 'gpu' | 'cpu';

  // data
  upload(data: ArrayLike<number>, shape: readonly number[], dtype: DType): S;
  read(s: S): Promise<Float64Array | Float32Array | Int32Array | Uint32Array>;
  dispose(s: S): void;
  shapeOf(s: S): readonly number[];
  dtypeOf(s: S): DType;
  /** The same memory seen with another shape (same element count). */
  view(s: S, shape: readonly number[]): S;
  copy(s: S): S;
  fill(shape: readonly number[], value: number): S;
  /**
   * The values of an i32 storage when the host holds them without a read-back (the CPU backend
   * always; the GPU backend for ids uploaded from the host and their views, slices and permutes),
   * else undefined. Lets token ids be range-checked on the host.
   */
  hostInts(s: S): ArrayLike<number> | undefined;

  // elementwise (broadcasting)
  unary(op: UnaryOp, x: S, params?: UnaryParams): S;
  unaryBackward(op: UnaryOp, x: S, dy: S, params?: UnaryParams): S;
  binary(op: BinaryOp, a: S, b: S): S;
  binaryBackward(op: BinaryOp, a: S, b: S, dy: S): { da: S; db: S };

  // reductions
  reduce(op: ReductionOp, x: S, axes: readonly number[], keepdims: boolean): S;
  reduceBackward(op: ReductionOp, x: S, y: S, dy: S, axes: readonly number[], keepdims: boolean): S;

  // rows
  softmax(x: S, log: boolean): S;
  softmaxBackward(y: S, dy: S, log: boolean): S;
  matmul(a: S, b: S, flags: MatmulFlags): S;
  matmulBackward(a: S, b: S, dC: S, flags: MatmulFlags): { dA: S; dB: S };
  /** addend + op(a)·op(b), addend of the product's shape (a residual): the add inside the matmul where the backend can. */
  matmulAdd(a: S, b: S, addend: S, flags: MatmulFlags): S;
  layerNorm(x: S, gamma: S, beta: S, eps: number): { y: S; mean: S; rstd: S };
  layerNormBackward(dy: S, x: S, gamma: S, mean: S, rstd: S): { dx: S; dgamma: S; dbeta: S };
  rmsNorm(x: S, gamma: S, eps: number): { y: S; rstd: S };
  rmsNormBackward(dy: S, x: S, gamma: S, rstd: S): { dx: S; dgamma: S };
  embedding(table: S, ids: S): S;
  embeddingBackward(dOut: S, ids: S, vocab: number): S;
  attention(q: S, k: S, v: S, flags: AttentionFlags): { out: S; lse: S };
  attentionBackward(q: S, k: S, v: S, out: S, lse: S, dOut: S, flags: AttentionFlags): { dq: S; dk: S; dv: S };
  tokenLogProbs(logits: S, targets: S, temperature: number, entropy: boolean): { logp: S; lse: S; entropy?: S };
  tokenLogProbsBackward(logits: S, targets: S, lse: S, gLogp: S | null, gEntropy: S | null, temperature: number): S;

  // optimizer: updates each tensor's param, m and v in place (all of them in few launches); a
  // tensor's weightDecay replaces the options' one
  adamw(tensors: readonly { param: S; grad: S; m: S; v: S; weightDecay?: number }[], options: AdamWOptions): void;
  /** Σ over the arrays of Σᵢ xᵢ² as a [1] storage (the squared global norm of a set of gradients). */
  sumOfSquares(arrays: readonly S[]): S;

  // dropout (Philox stream of @repirl/kernels): y = x·mask/(1 − p), mask 1 where kept
  dropout(x: S, p: number, stream: { seed: number; offset: number }): { y: S; mask: S };
  dropoutBackward(dy: S, mask: S, p: number): S;

  // layout
  permute(x: S, axes: readonly number[]): S;
  slice(x: S, axis: number, start: number, length: number): S;
  concat(xs: readonly S[], axis: number): S;
}
