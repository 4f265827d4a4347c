// The CPU reference backend: the same primitives in float64, through the references that sit
// beside every kernel in @repirl/kernels. Tests run a whole model on both backends and compare.
import * as K from '@repirl/kernels';
import type { CpuTensor } from '@repirl/kernels';
import type { AdamWOptions, AttentionFlags, Backend, BinaryOp, DType, MatmulFlags, ReductionOp, UnaryOp, UnaryParams } from '../core/backend.js';

export interface CpuStorage extends CpuTensor {
  readonly dtype: DType;
}

const of = (t: CpuTensor, dtype: DType = 'f32'): CpuStorage => ({ shape: [...t.shape], data: t.data, dtype });
const vec = (data: Float64Array, dtype: DType = 'f32'): CpuStorage => ({ shape: [data.length], data, dtype });
const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export class CpuBackend implements Backend<CpuStorage> {
  readonly name = 'cpu' as const;

  upload(data: ArrayLike<number>, shape: readonly number[], dtype: DType): CpuStorage {
    if (sizeOf(shape) !== data.length) throw new Error(`upload: ${data.length} values do not fill shape [${shape.join(', ')}]`);
    const values = Float64Array.from(data);
    if (dtype === 'i32') for (let i = 0; i < values.length; i++) values[i] = Math.trunc(values[i]!);
    return { shape: [...shape], data: values, dtype };
  }
  async read(s: CpuStorage) {
    return s.dtype === 'i32' ? Int32Array.from(s.data) : Float64Array.from(s.data);
  }
  dispose(): void {}
  shapeOf(s: CpuStorage) {
    return s.shape;
  }
  dtypeOf(s: CpuStorage) {
    return s.dtype;
  }
  view(s: CpuStorage, shape: readonly number[]): CpuStorage {
    if (sizeOf(shape) !== s.data.length) throw new Error(`view: cannot view [${s.shape.join(', ')}] as [${shape.join(', ')}]`);
    return { shape: [...shape], data: s.data, dtype: s.dtype };
  }
  copy(s: CpuStorage): CpuStorage {
    return { shape: [...s.shape], data: Float64Array.from(s.data), dtype: s.dtype };
  }
  fill(shape: readonly number[], value: number): CpuStorage {
    return { shape: [...shape], data: new Float64Array(sizeOf(shape)).fill(value), dtype: 'f32' };
  }
  hostInts(s: CpuStorage) {
    return s.dtype === 'i32' ? s.data : undefined;
  }

  unary(op: UnaryOp, x: CpuStorage, params?: UnaryParams) {
    return of(K.unaryReference(op, x, params));
  }
  unaryBackward(op: UnaryOp, x: CpuStorage, dy: CpuStorage, params?: UnaryParams) {
    return of(K.unaryBackwardReference(op, x, dy, params));
  }
  binary(op: BinaryOp, a: CpuStorage, b: CpuStorage) {
    return of(K.binaryReference(op, a, b));
  }
  binaryBackward(op: BinaryOp, a: CpuStorage, b: CpuStorage, dy: CpuStorage) {
    const { da, db } = K.binaryBackwardReference(op, a, b, dy);
    return { da: of(da), db: of(db) };
  }

  reduce(op: ReductionOp, x: CpuStorage, axes: readonly number[], keepdims: boolean) {
    return of(K.reduceReference(op, x, { axis: axes, keepdims }));
  }
  reduceBackward(op: ReductionOp, x: CpuStorage, _y: CpuStorage, dy: CpuStorage, axes: readonly number[], keepdims: boolean) {
    return of(K.reduceBackwardReference(op, x, dy, { axis: axes, keepdims }));
  }

  softmax(x: CpuStorage, log: boolean) {
    return of(log ? K.logSoftmaxReference(x) : K.softmaxReference(x));
  }
  softmaxBackward(y: CpuStorage, dy: CpuStorage, log: boolean) {
    return of(log ? K.logSoftmaxBackwardReference(y, dy) : K.softmaxBackwardReference(y, dy));
  }
  matmul(a: CpuStorage, b: CpuStorage, flags: MatmulFlags) {
    return of(K.matmulReference(a, b, flags));
  }
  matmulBackward(a: CpuStorage, b: CpuStorage, dC: CpuStorage, flags: MatmulFlags) {
    const { dA, dB } = K.matmulBackwardReference(a, b, dC, flags);
    return { dA: of(dA), dB: of(dB) };
  }
  matmulAdd(a: CpuStorage, b: CpuStorage, addend: CpuStorage, flags: MatmulFlags) {
    const product = K.matmulReference(a, b, flags);
    if (product.shape.length !== addend.shape.length || product.shape.some((d, k) => d !== addend.shape[k])) {
      throw new Error(`matmulAdd: addend has shape [${addend.shape.join(', ')}], the product [${product.shape.join(', ')}]`);
    }
    return of({ shape: product.shape, data: product.data.map((v, k) => v + addend.data[k]!) });
  }
  layerNorm(x: CpuStorage, gamma: CpuStorage, beta: CpuStorage, eps: number) {
    const r = K.layerNormReference(x, gamma, beta, { eps });
    return { y: of(r.y), mean: of(r.mean), rstd: of(r.rstd) };
  }
  layerNormBackward(dy: CpuStorage, x: CpuStorage, gamma: CpuStorage, mean: CpuStorage, rstd: CpuStorage) {
    const r = K.layerNormBackwardReference(dy, x, gamma, mean, rstd);
    return { dx: of(r.dx), dgamma: of(r.dgamma), dbeta: of(r.dbeta) };
  }
  rmsNorm(x: CpuStorage, gamma: CpuStorage, eps: number) {
    const r = K.rmsNormReference(x, gamma, { eps });
    return { y: of(r.y), rstd: of(r.rstd) };
  }
  rmsNormBackward(dy: CpuStorage, x: CpuStorage, gamma: CpuStorage, rstd: CpuStorage) {
    const r = K.rmsNormBackwardReference(dy, x, gamma, rstd);
    return { dx: of(r.dx), dgamma: of(r.dgamma) };
  }
  embedding(table: CpuStorage, ids: CpuStorage) {
    return of(K.embeddingReference(table, ids.data, ids.shape));
  }
  embeddingBackward(dOut: CpuStorage, ids: CpuStorage, vocab: number) {
    return of(K.embeddingBackwardReference(dOut, ids.data, vocab));
  }
  attention(q: CpuStorage, k: CpuStorage, v: CpuStorage, flags: AttentionFlags) {
    const lengths = (flags.lengths as CpuStorage | undefined)?.data;
    const r = K.attentionReference(q, k, v, { ...(lengths ? { lengths } : {}), ...(flags.scale !== undefined ? { scale: flags.scale } : {}) });
    return { out: of(r.out), lse: of(r.lse) };
  }
  attentionBackward(q: CpuStorage, k: CpuStorage, v: CpuStorage, _out: CpuStorage, _lse: CpuStorage, dOut: CpuStorage, flags: AttentionFlags) {
    const lengths = (flags.lengths as CpuStorage | undefined)?.data;
    const r = K.attentionBackwardReference(q, k, v, dOut, { ...(lengths ? { lengths } : {}), ...(flags.scale !== undefined ? { scale: flags.scale } : {}) });
    return { dq: of(r.dq), dk: of(r.dk), dv: of(r.dv) };
  }
  tokenLogProbs(logits: CpuStorage, targets: CpuStorage, temperature: number, entropy: boolean) {
    const r = K.tokenLogProbsReference(logits, targets.data, { temperature, entropy });
    return { logp: vec(r.logp), lse: vec(r.lse), ...(r.entropy ? { entropy: vec(r.entropy) } : {}) };
  }
  tokenLogProbsBackward(logits: CpuStorage, targets: CpuStorage, _lse: CpuStorage, gLogp: CpuStorage | null, gEntropy: CpuStorage | null, temperature: number) {
    const n = targets.data.length;
    return of(
      K.tokenLogProbsBackwardReference(logits, targets.data, gLogp?.data ?? new Float64Array(n), {
        temperature,
        ...(gEntropy ? { gEntropy: gEntropy.data } : {}),
      }),
    );
  }

  adamw(tensors: readonly { param: CpuStorage; grad: CpuStorage; m: CpuStorage; v: CpuStorage; weightDecay?: number }[], options: AdamWOptions): void {
    for (const t of tensors) K.adamwReference(t.param.data, t.grad.data, t.m.data, t.v.data, t.weightDecay === undefined ? options : { ...options, weightDecay: t.weightDecay });
  }
  sumOfSquares(arrays: readonly CpuStorage[]): CpuStorage {
    return vec(Float64Array.of(K.sumOfSquaresReference(arrays.map((a) => a.data))));
  }

  permute(x: CpuStorage, axes: readonly number[]) {
    return of(K.viewReference(x, K.permutedView(x.shape, axes)), x.dtype);
  }
  slice(x: CpuStorage, axis: number, start: number, length: number) {
    return of(K.viewReference(x, K.sliceView(x.shape, axis, start, length)), x.dtype);
  }
  dropout(x: CpuStorage, p: number, stream: { seed: number; offset: number }) {
    const r = K.dropoutReference(x, p, stream);
    return { y: of(r.y), mask: of(r.mask) };
  }
  dropoutBackward(dy: CpuStorage, mask: CpuStorage, p: number) {
    return of(K.dropoutBackwardReference(dy, mask, p));
  }
  concat(xs: readonly CpuStorage[], axis: number) {
    const first = xs[0]!;
    const total = xs.reduce((s, x) => s + x.shape[axis]!, 0);
    const shape = first.shape.map((d, k) => (k === axis ? total : d));
    const out = new Float64Array(sizeOf(shape));
    let start = 0;
    for (const x of xs) {
      K.stridedCopyReference(x.data, K.contiguousView(x.shape), out, K.sliceView(shape, axis, start, x.shape[axis]!));
      start += x.shape[axis]!;
    }
    return { shape, data: out, dtype: first.dtype };
  }
}
