// The differentiable operations: one table of primitives, each with its forward (a backend call)
// and its gradient rule (backend calls too; the hot ops use their hand-written backward kernels).
// Everything else in nn/ is a composition of these.
import type { Backend, BinaryOp, DType, MatmulFlags, ReductionOp, Storage, UnaryOp, UnaryParams } from './backend.js';
import { apply, apply1, type GradContext, type Primitive } from './tape.js';
import { StorageRef, Tensor } from './tensor.js';

const first = (ctx: GradContext<unknown>) => ctx.inputs[0]!.storage;

// ---------------------------------------------------------------- the primitive table

const unaryPrim: Primitive<{ op: UnaryOp; params?: UnaryParams }> = {
  name: 'unary',
  forward: (b, [x], a) => ({ outputs: [b.unary(a.op, x!.storage, a.params)] }),
  backward: (ctx, [dy]) => [ctx.backend.unaryBackward(ctx.attrs.op, first(ctx), dy!, ctx.attrs.params)],
};

const binaryPrim: Primitive<{ op: BinaryOp }> = {
  name: 'binary',
  forward: (b, [x, y], a) => ({ outputs: [b.binary(a.op, x!.storage, y!.storage)] }),
  backward: (ctx, [dy], needs) => {
    const { da, db } = ctx.backend.binaryBackward(ctx.attrs.op, ctx.inputs[0]!.storage, ctx.inputs[1]!.storage, dy!);
    return [keepIf(ctx.backend, da, needs[0]!), keepIf(ctx.backend, db, needs[1]!)];
  },
};

const reducePrim: Primitive<{ op: ReductionOp; axes: number[]; keepdims: boolean }> = {
  name: 'reduce',
  forward: (b, [x], a) => ({ outputs: [b.reduce(a.op, x!.storage, a.axes, a.keepdims)] }),
  backward: (ctx, [dy]) => [ctx.backend.reduceBackward(ctx.attrs.op, first(ctx), ctx.outputs[0]!.storage, dy!, ctx.attrs.axes, ctx.attrs.keepdims)],
};

const softmaxPrim: Primitive<{ log: boolean }> = {
  name: 'softmax',
  forward: (b, [x], a) => ({ outputs: [b.softmax(x!.storage, a.log)] }),
  backward: (ctx, [dy]) => [ctx.backend.softmaxBackward(ctx.outputs[0]!.storage, dy!, ctx.attrs.log)],
};

/** dA, dB of C = op(A)·op(B) (null where not needed): the rule shared by matmul and matmulAdd. */
function matmulGrads(ctx: GradContext<MatmulFlags>, dC: Storage, needs: readonly boolean[]): (Storage | null)[] {
  const [x, y] = ctx.inputs as [Tensor, Tensor];
  if (!needs[0] && !needs[1]) return [null, null];
  // One side frozen (a Linear under LoRA, a frozen LM head) with plain 2-D operands: only the
  // other side's gradient is computed, as one matmul of the same shapes the full rule would run.
  if (x.rank === 2 && y.rank === 2 && needs[0] !== needs[1]) {
    const b = ctx.backend;
    const tA = !!ctx.attrs.transposeA;
    const tB = !!ctx.attrs.transposeB;
    if (needs[0]) {
      // dA [M, K] = dC · op(B)ᵀ; with transposeA, dA [K, M] = op(B) · dCᵀ.
      return [tA ? b.matmul(y.storage, dC!, { transposeA: tB, transposeB: true }) : b.matmul(dC!, y.storage, { transposeB: !tB }), null];
    }
    // dB [K, N] = op(A)ᵀ · dC; with transposeB, dB [N, K] = dCᵀ · op(A).
    return [null, tB ? b.matmul(dC!, x.storage, { transposeA: true, transposeB: tA }) : b.matmul(x.storage, dC!, { transposeA: !tA })];
  }
  const { dA, dB } = ctx.backend.matmulBackward(x.storage, y.storage, dC!, ctx.attrs);
  return [keepIf(ctx.backend, dA, needs[0]!), keepIf(ctx.backend, dB, needs[1]!)];
}

const matmulPrim: Primitive<MatmulFlags> = {
  name: 'matmul',
  forward: (b, [x, y], a) => ({ outputs: [b.matmul(x!.storage, y!.storage, a)] }),
  backward: (ctx, [dC], needs) => matmulGrads(ctx, dC!, needs),
};

/** R + op(A)·op(B) (a residual added in the matmul): R's gradient is dC itself, handed over. */
const matmulAddPrim: Primitive<MatmulFlags> = {
  name: 'matmulAdd',
  forward: (b, [x, y, r], a) => ({ outputs: [b.matmulAdd(x!.storage, y!.storage, r!.storage, a)] }),
  backward: (ctx, [dC], needs) => {
    const grads = matmulGrads(ctx, dC!, needs);
    if (needs[2]) return [...grads, dC!];
    ctx.backend.dispose(dC!);
    return grads;
  },
  ownsGrads: true,
};

const layerNormPrim: Primitive<{ eps: number }> = {
  name: 'layerNorm',
  forward: (b, [x, g, be], a) => {
    const r = b.layerNorm(x!.storage, g!.storage, be!.storage, a.eps);
    return { outputs: [r.y], saved: [r.mean, r.rstd] };
  },
  backward: (ctx, [dy], needs) => {
    const [x, g] = ctx.inputs;
    const r = ctx.backend.layerNormBackward(dy!, x!.storage, g!.storage, ctx.saved[0]!.storage, ctx.saved[1]!.storage);
    return [keepIf(ctx.backend, r.dx, needs[0]!), keepIf(ctx.backend, r.dgamma, needs[1]!), keepIf(ctx.backend, r.dbeta, needs[2]!)];
  },
};

const rmsNormPrim: Primitive<{ eps: number }> = {
  name: 'rmsNorm',
  forward: (b, [x, g], a) => {
    const r = b.rmsNorm(x!.storage, g!.storage, a.eps);
    return { outputs: [r.y], saved: [r.rstd] };
  },
  backward: (ctx, [dy], needs) => {
    const [x, g] = ctx.inputs;
    const r = ctx.backend.rmsNormBackward(dy!, x!.storage, g!.storage, ctx.saved[0]!.storage);
    return [keepIf(ctx.backend, r.dx, needs[0]!), keepIf(ctx.backend, r.dgamma, needs[1]!)];
  },
};

const embeddingPrim: Primitive<undefined> = {
  name: 'embedding',
  forward: (b, [table, ids]) => ({ outputs: [b.embedding(table!.storage, ids!.storage)] }),
  backward: (ctx, [dy]) => [ctx.backend.embeddingBackward(dy!, ctx.inputs[1]!.storage, ctx.inputs[0]!.shape[0]!), null],
};

const attentionPrim: Primitive<{ lengths?: Storage; scale?: number }> = {
  name: 'attention',
  forward: (b, [q, k, v], a) => {
    const r = b.attention(q!.storage, k!.storage, v!.storage, a);
    return { outputs: [r.out], saved: [r.lse] };
  },
  backward: (ctx, [dOut], needs) => {
    const [q, k, v] = ctx.inputs;
    const r = ctx.backend.attentionBackward(q!.storage, k!.storage, v!.storage, ctx.outputs[0]!.storage, ctx.saved[0]!.storage, dOut!, ctx.attrs);
    return [keepIf(ctx.backend, r.dq, needs[0]!), keepIf(ctx.backend, r.dk, needs[1]!), keepIf(ctx.backend, r.dv, needs[2]!)];
  },
};

const tokenLogProbsPrim: Primitive<{ temperature: number; entropy: boolean }> = {
  name: 'tokenLogProbs',
  forward: (b, [logits, targets], a) => {
    const r = b.tokenLogProbs(logits!.storage, targets!.storage, a.temperature, a.entropy);
    return { outputs: r.entropy ? [r.logp, r.entropy] : [r.logp], saved: [r.lse] };
  },
  backward: (ctx, [gLogp, gEntropy]) => [
    ctx.backend.tokenLogProbsBackward(first(ctx), ctx.inputs[1]!.storage, ctx.saved[0]!.storage, gLogp ?? null, gEntropy ?? null, ctx.attrs.temperature),
    null,
  ],
};

const reshapePrim: Primitive<{ shape: readonly number[] }> = {
  name: 'reshape',
  forward: (b, [x], a) => ({ outputs: [b.view(x!.storage, a.shape)], viewOf: [0] }),
  // The gradient is dy seen with the input's shape: a view that takes over dy's memory.
  backward: (ctx, [dy]) => [ctx.backend.view(dy!, ctx.inputs[0]!.shape)],
  ownsGrads: true,
};

const permutePrim: Primitive<{ axes: readonly number[] }> = {
  name: 'permute',
  forward: (b, [x], a) => ({ outputs: [b.permute(x!.storage, a.axes)] }),
  backward: (ctx, [dy]) => {
    const inverse = new Array<number>(ctx.attrs.axes.length);
    ctx.attrs.axes.forEach((axis, k) => (inverse[axis] = k));
    return [ctx.backend.permute(dy!, inverse)];
  },
};

const slicePrim: Primitive<{ axis: number; start: number; length: number }> = {
  name: 'slice',
  forward: (b, [x], a) => ({ outputs: [b.slice(x!.storage, a.axis, a.start, a.length)] }),
  backward: (ctx, [dy]) => {
    // The gradient is dy padded with zeros back to the input's extent along the axis.
    const b = ctx.backend;
    const { axis, start, length } = ctx.attrs;
    const shape = ctx.inputs[0]!.shape;
    const parts: Storage[] = [];
    const pads: Storage[] = [];
    const pad = (n: number) => {
      const z = b.fill(shape.map((d, k) => (k === axis ? n : d)), 0);
      pads.push(z);
      parts.push(z);
    };
    if (start > 0) pad(start);
    parts.push(dy!);
    if (start + length < shape[axis]!) pad(shape[axis]! - start - length);
    const out = b.concat(parts, axis);
    for (const z of pads) b.dispose(z);
    return [out];
  },
};

const concatPrim: Primitive<{ axis: number }> = {
  name: 'concat',
  forward: (b, xs, a) => ({ outputs: [b.concat(xs.map((x) => x.storage), a.axis)] }),
  backward: (ctx, [dy], needs) => {
    let start = 0;
    return ctx.inputs.map((x, k) => {
      const n = x.shape[ctx.attrs.axis]!;
      const g = needs[k] ? ctx.backend.slice(dy!, ctx.attrs.axis, start, n) : null;
      start += n;
      return g;
    });
  },
};

const dropoutPrim: Primitive<{ p: number; seed: number; offset: number }> = {
  name: 'dropout',
  forward: (b, [x], a) => {
    const { y, mask } = b.dropout(x!.storage, a.p, { seed: a.seed, offset: a.offset });
    return { outputs: [y], saved: [mask] };
  },
  backward: (ctx, [dy]) => [ctx.backend.dropoutBackward(dy!, ctx.saved[0]!.storage, ctx.attrs.p)],
};

/** The gradient rule table, by primitive name (what tinygrad calls pm_gradient). */
export const PRIMITIVES = {
  unary: unaryPrim,
  binary: binaryPrim,
  reduce: reducePrim,
  softmax: softmaxPrim,
  matmul: matmulPrim,
  matmulAdd: matmulAddPrim,
  layerNorm: layerNormPrim,
  rmsNorm: rmsNormPrim,
  embedding: embeddingPrim,
  attention: attentionPrim,
  tokenLogProbs: tokenLogProbsPrim,
  reshape: reshapePrim,
  permute: permutePrim,
  slice: slicePrim,
  concat: concatPrim,
  dropout: dropoutPrim,
} as const;

function keepIf(b: Backend, s: Storage, needed: boolean): Storage | null {
  if (needed) return s;
  b.dispose(s);
  return null;
}

// ---------------------------------------------------------------- creating tensors

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export function tensor(backend: Backend, data: ArrayLike<number>, shape: readonly number[] = [data.length], options: TensorOptions = {}): Tensor {
  const storage = backend.upload(data, shape, options.dtype ?? 'f32');
  return new Tensor(new StorageRef(backend, storage), shape, options.dtype ?? 'f32', options.requiresGrad ?? false);
}

export function full(backend: Backend, shape: readonly number[], value: number): Tensor {
  const storage = backend.fill(shape, value);
  return new Tensor(new StorageRef(backend, storage), shape, 'f32');
}

/** A trainable parameter: requires grad and is never disposed by a scope. */
export function parameter(backend: Backend, data: ArrayLike<number>, shape: readonly number[]): Tensor {
  const storage = backend.upload(data, shape, 'f32');
  return new Tensor(new StorageRef(backend, storage), shape, 'f32', true, true);
}

// ---------------------------------------------------------------- the differentiable API

export const unary = (op: UnaryOp, x: Tensor, params?: UnaryParams): Tensor => apply1(unaryPrim, [x], params ? { op, params } : { op });
export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const gelu = (x: Tensor) => unary('gelu', x);
export const silu = (x: Tensor) => unary('silu', x);
export const relu = (x: Tensor) => unary('relu', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const scale = (x: Tensor, factor: number, shift = 0) => unary('affine', x, { scale: factor, shift });

export const binary = (op: BinaryOp, a: Tensor, b: Tensor): Tensor => apply1(binaryPrim, [a, b], { op });
export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
/** silu(gate)·up (SwiGLU) in one launch, forward and backward. */
export const swiglu = (gate: Tensor, up: Tensor) => binary('swiglu', gate, up);
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);

function axesOf(x: Tensor, axis?: number | readonly number[]): number[] {
  if (axis === undefined) return x.shape.map((_, k) => k);
  const list = typeof axis === 'number' ? [axis] : [...axis];
  return list.map((a) => (a < 0 ? a + x.rank : a));
}
export const sum = (x: Tensor, axis?: number | readonly number[], keepdims = false) => apply1(reducePrim, [x], { op: 'sum', axes: axesOf(x, axis), keepdims });
export const mean = (x: Tensor, axis?: number | readonly number[], keepdims = false) => apply1(reducePrim, [x], { op: 'mean', axes: axesOf(x, axis), keepdims });
export const max = (x: Tensor, axis?: number | readonly number[], keepdims = false) => apply1(reducePrim, [x], { op: 'max', axes: axesOf(x, axis), keepdims });

export const softmax = (x: Tensor) => apply1(softmaxPrim, [x], { log: false });
export const logSoftmax = (x: Tensor) => apply1(softmaxPrim, [x], { log: true });
export const matmul = (a: Tensor, b: Tensor, flags: MatmulFlags = {}) => apply1(matmulPrim, [a, b], flags);
/** residual + op(a)·op(b) in one launch on the GPU (residual of the product's shape). */
export const matmulAdd = (a: Tensor, b: Tensor, residual: Tensor, flags: MatmulFlags = {}) => apply1(matmulAddPrim, [a, b, residual], flags);
export const layerNorm = (x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5) => apply1(layerNormPrim, [x, gamma, beta], { eps });
export const rmsNorm = (x: Tensor, gamma: Tensor, eps = 1e-6) => apply1(rmsNormPrim, [x, gamma], { eps });
export const embedding = (table: Tensor, ids: Tensor) => apply1(embeddingPrim, [table, ids], undefined);
/**
 * Causal attention: q [B, H, T, D], k and v [B, Hkv, T, D] with Hkv dividing H (grouped-query
 * attention: query head h reads kv head ⌊h / (H/Hkv)⌋, Hugging Face's repeat_kv grouping, without
 * copying K/V; Hkv = H is multi-head). The gradients of k and v are [B, Hkv, T, D], summed over each
 * group's query heads. `lengths` (i32 [B]) masks right padding.
 */
export const attention = (q: Tensor, k: Tensor, v: Tensor, options: { lengths?: Tensor; scale?: number } = {}) =>
  apply1(attentionPrim, [q, k, v], { ...(options.lengths ? { lengths: options.lengths.storage } : {}), ...(options.scale !== undefined ? { scale: options.scale } : {}) });

/**
 * The smallest sampling temperature accepted. The kernels compute in float32 with 1 / temperature:
 * below about 1e-38 that is Infinity, and well before, (logit − max) / temperature overflows to
 * −Infinity for every token but the argmax, so log-probs and PPO ratios become NaN and every
 * training step is skipped. Use temperature 0 (greedy) for argmax decoding instead.
 */
export const MIN_TEMPERATURE = 1e-6;

/**
 * Throws unless `temperature` is finite and ≥ MIN_TEMPERATURE (or exactly 0 where `greedy` says 0
 * means argmax). `where` starts the message: a function or config key.
 */
export function checkTemperature(where: string, temperature: number, options: { greedy?: boolean } = {}): void {
  const zero = options.greedy ? 'temperature 0 (greedy) or ' : '';
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw new Error(`${where}: temperature must be a finite number ≥ ${MIN_TEMPERATURE}${options.greedy ? ' (or 0 for greedy)' : ''}, got ${temperature}`);
  }
  if (temperature === 0 && options.greedy) return;
  if (temperature < MIN_TEMPERATURE) {
    throw new Error(`${where}: temperature ${temperature} is below ${MIN_TEMPERATURE}, where logits / temperature overflow float32 and ` +
      `the log-probs become NaN; use ${zero}a temperature ≥ ${MIN_TEMPERATURE}`);
  }
}

/** log p(target) of each row of logits [N, V] (and the entropy when asked), fused over the vocabulary. */
export function tokenLogProbs(logits: Tensor, targets: Tensor, options: { temperature?: number; entropy?: boolean } = {}): { logp: Tensor; entropy?: Tensor } {
  checkTemperature('tokenLogProbs', options.temperature ?? 1);
  const [logp, entropy] = apply(tokenLogProbsPrim, [logits, targets], { temperature: options.temperature ?? 1, entropy: options.entropy ?? false });
  return entropy ? { logp: logp!, entropy } : { logp: logp! };
}

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const resolved = shape.map((d) => (d === -1 ? x.size / known : d));
  if (resolved.reduce((a, b) => a * b, 1) !== x.size || resolved.some((d) => !Number.isInteger(d))) {
    throw new Error(`reshape: cannot view [${x.shape.join(', ')}] as [${shape.join(', ')}]`);
  }
  return apply1(reshapePrim, [x], { shape: resolved });
}
export const permute = (x: Tensor, axes: readonly number[]) => apply1(permutePrim, [x], { axes });
export const slice = (x: Tensor, axis: number, start: number, length: number) => apply1(slicePrim, [x], { axis: axis < 0 ? axis + x.rank : axis, start, length });
/**
 * Inverted dropout: each element kept with probability 1 − p (scaled by 1/(1 − p)) or zeroed, by
 * the Philox stream (seed, offset) of @repirl/kernels, so the same (seed, offset) drops the same
 * elements on both backends. p = 0 returns x itself.
 */
export function dropout(x: Tensor, p: number, stream: { seed: number; offset?: number }): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (p === 0) return x;
  return apply1(dropoutPrim, [x], { p, seed: stream.seed, offset: stream.offset ?? 0 });
}
export const concat = (xs: readonly Tensor[], axis: number) => apply1(concatPrim, xs, { axis: axis < 0 ? axis + xs[0]!.rank : axis });
