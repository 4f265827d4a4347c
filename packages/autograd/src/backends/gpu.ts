// The GPU backend: every method is one or two launches of a @repirl/kernels kernel.
//
// Out-of-range token ids. The CPU backend throws on them; the log-prob kernel only writes NaN and
// records the first bad row in a status word that the host must read. So that the GPU path throws
// too without a read-back per step, i32 arrays uploaded from the host keep a host copy (ids are
// small), carried through views, slices and permutes; tokenLogProbs checks targets that have one on
// the host. Targets computed on the GPU have none: their status is kept and read together with the
// next read() of this backend (all pending status words copied into one array, one read-back),
// which throws if a row was bad.
import * as K from '@repirl/kernels';
import type { GpuArray, Runtime } from '@repirl/kernels';
import type { AdamWOptions, AttentionFlags, Backend, BinaryOp, DType, MatmulFlags, ReductionOp, UnaryOp, UnaryParams } from '../core/backend.js';

export class GpuBackend implements Backend<GpuArray> {
  readonly name = 'gpu' as const;
  /** Host copies of i32 arrays whose values came from the host. */
  private readonly hostCopies = new WeakMap<GpuArray, ArrayLike<number>>();
  /**
   * Target checks of tokenLogProbs launches whose targets had no host copy: their status words,
   * read together at the next read(), and the check that names the bad row when one is set.
   */
  private pendingTargetChecks: { status: GpuArray; check: () => Promise<void> }[] = [];
  constructor(readonly rt: Runtime) {}

  upload(data: ArrayLike<number>, shape: readonly number[], dtype: DType): GpuArray {
    const array = this.rt.upload(data, shape, dtype);
    if (dtype === 'i32') this.hostCopies.set(array, Int32Array.from(data));
    return array;
  }
  async read(s: GpuArray) {
    const checks = this.pendingTargetChecks;
    if (checks.length === 0) return this.rt.read(s);
    this.pendingTargetChecks = [];
    // All the status words in one read-back (generation leaves one per step), not one read each.
    const words = this.rt.empty([checks.length], 'u32');
    try {
      checks.forEach(({ status }, i) => this.rt.copy(status, words, 4 * i));
      const [values, status] = await Promise.all([this.rt.read(s), this.rt.read(words)]);
      for (let i = 0; i < checks.length; i++) if (status[i] !== 0) await checks[i]!.check(); // throws, naming the row and id
      return values;
    } finally {
      words.dispose();
      for (const { status } of checks) status.dispose();
    }
  }
  hostInts(s: GpuArray) {
    return this.hostCopies.get(s);
  }
  /** Records the host copy of `derived`, a layout op of `source`, when `source` has one. */
  private deriveHostCopy(source: GpuArray, derived: GpuArray, view: () => K.View): GpuArray {
    const values = this.hostCopies.get(source);
    if (values) this.hostCopies.set(derived, K.viewReference({ shape: source.shape, data: Float64Array.from(values) }, view()).data);
    return derived;
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
    const view = s.reshape(shape); // a view: the autograd StorageRef of the base owns the memory
    const values = this.hostCopies.get(s);
    if (values) this.hostCopies.set(view, values);
    return view;
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
  matmulAdd(a: GpuArray, b: GpuArray, addend: GpuArray, flags: MatmulFlags) {
    // A buffer copy (no compute pass) then the product added in the matmul's store.
    const out = this.rt.empty(addend.shape);
    this.rt.copy(addend, out);
    return K.matmul(this.rt, a, b, { ...flags, out, accumulate: true });
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
    const hostTargets = this.hostCopies.get(targets);
    if (hostTargets) K.validateTargets(hostTargets, logits.shape[1]!);
    const r = K.tokenLogProbs(this.rt, logits, targets, { temperature, entropy });
    if (hostTargets) r.targetStatus.dispose();
    else this.pendingTargetChecks.push({ status: r.targetStatus, check: r.check });
    return { logp: r.logp, lse: r.lse, ...(r.entropy ? { entropy: r.entropy } : {}) };
  }
  tokenLogProbsBackward(logits: GpuArray, targets: GpuArray, lse: GpuArray, gLogp: GpuArray | null, gEntropy: GpuArray | null, temperature: number) {
    const zeros = gLogp ? null : this.rt.zeros(lse.shape);
    const d = K.tokenLogProbsBackward(this.rt, logits, targets, lse, gLogp ?? zeros!, { temperature, ...(gEntropy ? { gEntropy } : {}) });
    zeros?.dispose();
    return d;
  }

  adamw(tensors: readonly K.AdamWTensors[], options: AdamWOptions): void {
    K.adamwUpdateMany(this.rt, tensors, options);
  }
  sumOfSquares(arrays: readonly GpuArray[]): GpuArray {
    return K.sumOfSquares(this.rt, arrays);
  }

  permute(x: GpuArray, axes: readonly number[]) {
    return this.deriveHostCopy(x, K.permute(this.rt, x, axes), () => K.permutedView(x.shape, axes));
  }
  slice(x: GpuArray, axis: number, start: number, length: number) {
    return this.deriveHostCopy(x, K.slice(this.rt, x, axis, start, length), () => K.sliceView(x.shape, axis, start, length));
  }
  concat(xs: readonly GpuArray[], axis: number) {
    return K.concat(this.rt, xs, axis);
  }
  dropout(x: GpuArray, p: number, stream: { seed: number; offset: number }) {
    return K.dropout(this.rt, x, p, stream);
  }
  dropoutBackward(dy: GpuArray, mask: GpuArray, p: number) {
    return K.dropoutBackward(this.rt, dy, mask, p);
  }
}
