// The GPU backend: every method is one or two launches of a @repirl/kernels kernel.
import * as K from '@repirl/kernels';
import type { GpuArray, Runtime } from '@repirl/kernels';
import type { AdamWOptions, AttentionFlags, Backend, BinaryOp, DType, MatmulFlags, ReductionOp, UnaryOp, UnaryParams } from '../core/backend.js';

export class GpuBackend implements Backend<GpuArray> {
  readonly name = 'gpu' as const;
  constructor(readonly rt: Runtime) {}

  upload(data: ArrayLike<number>, shape: readonly number[], dtype: DType): GpuArray {
    return this.rt.upload(data, shape, dtype);
  }
  read(s: GpuArray) {
    return this.rt.read(s);
  }
  dispose(s: GpuArray): void {
    s.dispose();
  }
  shapeOf(s: GpuArray) {
    return s.shape;
  }
  dtypeOf(s: GpuArray): DType {
    if (s.dtype !== 'f32' && s.dtype !== 'i32') throw new Error(`autograd supports f32 and i32 tensors, got ${s.dtype}`);
    return s.dtype;
  }
  view(s: GpuArray, shape: readonly number[]): GpuArray {
    return s.reshape(shape); // a view: the autograd StorageRef of the base owns the memory
  }
  copy(s: GpuArray): GpuArray {
    const out = this.rt.empty(s.shape, s.dtype);
    this.rt.copy(s, out);
    return out;
  }
  fill(shape: readonly number[], value: number): GpuArray {
    if (value === 0) return this.rt.zeros(shape);
    const zeros = this.rt.zeros(shape);
    const out = K.unary(this.rt, 'affine', zeros, { scale: 0, shift: value });
    zeros.dispose();
    return out;
  }

  unary(op: UnaryOp, x: GpuArray, params?: UnaryParams) {
    return K.unary(this.rt, op, x, params);
  }
  unaryBackward(op: UnaryOp, x: GpuArray, dy: GpuArray, params?: UnaryParams) {
    return K.unaryBackward(this.rt, op, x, dy, params);
  }
  binary(op: BinaryOp, a: GpuArray, b: GpuArray) {
    return K.binary(this.rt, op, a, b);
  }
  binaryBackward(op: BinaryOp, a: GpuArray, b: GpuArray, dy: GpuArray) {
    return K.binaryBackward(this.rt, op, a, b, dy);
  }

  reduce(op: ReductionOp, x: GpuArray, axes: readonly number[], keepdims: boolean) {
    return K.reduce(this.rt, op, x, { axis: axes, keepdims });
  }
  reduceBackward(op: ReductionOp, x: GpuArray, y: GpuArray, dy: GpuArray, axes: readonly number[], keepdims: boolean) {
    return K.reduceBackward(this.rt, op, x, dy, { axis: axes, keepdims, y });
  }

  softmax(x: GpuArray, log: boolean) {
    return log ? K.logSoftmax(this.rt, x) : K.softmax(this.rt, x);
  }
  softmaxBackward(y: GpuArray, dy: GpuArray, log: boolean) {
    return log ? K.logSoftmaxBackward(this.rt, y, dy) : K.softmaxBackward(this.rt, y, dy);
  }
  matmul(a: GpuArray, b: GpuArray, flags: MatmulFlags) {
    return K.matmul(this.rt, a, b, flags);
  }
  matmulBackward(a: GpuArray, b: GpuArray, dC: GpuArray, flags: MatmulFlags) {
    return K.matmulBackward(this.rt, a, b, dC, flags);
  }
  layerNorm(x: GpuArray, gamma: GpuArray, beta: GpuArray, eps: number) {
    return K.layerNorm(this.rt, x, gamma, beta, { eps });
  }
  layerNormBackward(dy: GpuArray, x: GpuArray, gamma: GpuArray, mean: GpuArray, rstd: GpuArray) {
    return K.layerNormBackward(this.rt, dy, x, gamma, mean, rstd);
  }
  rmsNorm(x: GpuArray, gamma: GpuArray, eps: number) {
    return K.rmsNorm(this.rt, x, gamma, { eps });
  }
  rmsNormBackward(dy: GpuArray, x: GpuArray, gamma: GpuArray, rstd: GpuArray) {
    return K.rmsNormBackward(this.rt, dy, x, gamma, rstd);
  }
  embedding(table: GpuArray, ids: GpuArray) {
    return K.embedding(this.rt, table, ids);
  }
  embeddingBackward(dOut: GpuArray, ids: GpuArray, vocab: number) {
    return K.embeddingBackward(this.rt, dOut, ids, vocab);
  }
  attention(q: GpuArray, k: GpuArray, v: GpuArray, flags: AttentionFlags) {
    return K.attention(this.rt, q, k, v, { lengths: flags.lengths as GpuArray | undefined, scale: flags.scale });
  }
  attentionBackward(q: GpuArray, k: GpuArray, v: GpuArray, out: GpuArray, lse: GpuArray, dOut: GpuArray, flags: AttentionFlags) {
    return K.attentionBackward(this.rt, q, k, v, out, lse, dOut, { lengths: flags.lengths as GpuArray | undefined, scale: flags.scale });
  }
  tokenLogProbs(logits: GpuArray, targets: GpuArray, temperature: number, entropy: boolean) {
    const r = K.tokenLogProbs(this.rt, logits, targets, { temperature, entropy });
    // Out-of-range targets come back as NaN rows; the status array is checked by callers that
    // read results (generation, trainers) through r.check(). Here the status is not needed.
    r.targetStatus.dispose();
    return { logp: r.logp, lse: r.lse, ...(r.entropy ? { entropy: r.entropy } : {}) };
  }
  tokenLogProbsBackward(logits: GpuArray, targets: GpuArray, lse: GpuArray, gLogp: GpuArray | null, gEntropy: GpuArray | null, temperature: number) {
    const zeros = gLogp ? null : this.rt.zeros(lse.shape);
    const d = K.tokenLogProbsBackward(this.rt, logits, targets, lse, gLogp ?? zeros!, { temperature, ...(gEntropy ? { gEntropy } : {}) });
    zeros?.dispose();
    return d;
  }

  adamw(param: GpuArray, grad: GpuArray, m: GpuArray, v: GpuArray, options: AdamWOptions): void {
    K.adamwUpdate(this.rt, param, grad, m, v, options);
  }

  permute(x: GpuArray, axes: readonly number[]) {
    return K.permute(this.rt, x, axes);
  }
  slice(x: GpuArray, axis: number, start: number, length: number) {
    return K.slice(this.rt, x, axis, start, length);
  }
  concat(xs: readonly GpuArray[], axis: number) {
    return K.concat(this.rt, xs, axis);
  }
}
