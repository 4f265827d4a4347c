// elementwise: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import { getFlag } from '../../runtime/flags.js';
import type { GpuArray } from '../../runtime/array.js';
import type { Runtime } from '../../runtime/runtime.js';
import { ArgumentError } from '../../runtime/errors.js';
import { expectDType, expectShape } from '../validate.js';
import { sumToShape } from '../reduce/launcher.js';
import { BINARY_OPS, type BinaryOp, ELEMENTWISE_WORKGROUP, type MapInput, type MapLayout, mapProgram, type MapSpec, UNARY_OPS, type UnaryOp, type UnaryParams } from './program.js';
import { binaryShape, broadcastStrides, sameShape, unaryParamValues, whereShape } from './reference.js';

export interface CoalescedLayout {
  shape: number[];
  /** One stride list per operand, same length as shape. */
  strides: number[][];
}

/**
 * Drops size-1 dimensions and merges neighbours that every operand walks as one (outer stride =
 * inner stride × inner size, which includes both being 0). The element order is unchanged.
 */
export function coalesce(outShape: readonly number[], strides: readonly (readonly number[])[]): CoalescedLayout {
  const keep = outShape.map((d, k) => k).filter((k) => outShape[k] !== 1);
  const shape: number[] = [];
  const out: number[][] = strides.map(() => []);
  for (const k of keep) {
    const d = outShape[k]!;
    const last = shape.length - 1;
    const mergeable =
      last >= 0 && strides.every((s, j) => out[j]![last]! === s[k]! * d);
    if (mergeable) {
      shape[last] = shape[last]! * d;
      strides.forEach((s, j) => (out[j]![last] = s[k]!));
    } else {
      shape.push(d);
      strides.forEach((s, j) => out[j]!.push(s[k]!));
    }
  }
  return { shape, strides: out };
}

/**
 * Elements (or vec4s) per invocation, from a sweep on lavapipe (LP_NUM_THREADS=8, 4M-element add:
 * 2 → 7.6 ms, 4 → 5.5 ms, 8 → 3.3 ms, 16 → 4.0 ms; the strided broadcast path, which divides per
 * element, liked 16); the flag elementwise.perInvocation overrides. The count is a uniform, not a
 * constant: a constant trip count gets the loop unrolled, which made cold pipeline compiles 2–4×
 * slower for no speed.
 */
const PER_INVOCATION = { vec4: 8, scalar: 8, broadcast: 16 } as const;

function perInvocation(layout: MapLayout): number {
  const forced = getFlag<number>('elementwise.perInvocation', 0);
  if (forced > 0) return forced;
  if (layout.kind === 'broadcast') return layout.vec4 ? PER_INVOCATION.vec4 : PER_INVOCATION.broadcast;
  return layout.vec4 ? PER_INVOCATION.vec4 : PER_INVOCATION.scalar;
}

export interface MapOperand {
  readonly array: GpuArray;
  /** Broadcast strides over the (coalesced) output shape; omitted for the contiguous layout. */
  readonly strides?: readonly number[];
}

/**
 * Runs a map kernel. `shape` is the coalesced output shape (ignored by the contiguous layout,
 * which needs only the element count n). Every output must hold n elements.
 */
export function runMap(
  rt: Runtime,
  spec: MapSpec,
  layout: MapLayout,
  n: number,
  inputs: readonly MapOperand[],
  outputs: readonly GpuArray[],
  params: readonly number[] = [],
  shape: readonly number[] = [],
): void {
  if (n === 0) return;
  const perInv = perInvocation(layout);
  const program = mapProgram(spec, layout);
  const items = (layout.kind === 'contiguous' && layout.vec4) || (layout.kind === 'broadcast' && layout.vec4) ? n / 4 : n;
  const uniforms: Record<string, number> = { n: items, per: perInv };
  params.forEach((p, i) => (uniforms[`p${i}`] = p));
  if (layout.kind === 'broadcast') {
    shape.forEach((d, k) => {
      if (k > 0) uniforms[`d${k}`] = d;
    });
    inputs.forEach((input, j) => input.strides!.forEach((s, k) => (uniforms[`s${j}_${k}`] = s)));
  }
  rt.dispatch(program, {
    bindings: [...inputs.map((i) => i.array), ...outputs],
    uniforms,
    workgroups: rt.grid(Math.ceil(items / (ELEMENTWISE_WORKGROUP * perInv))),
  });
}

/** Which kernel layout the flag `elementwise.layout` asks for: auto | scalar | broadcast. */
export type LayoutChoice = 'auto' | 'scalar' | 'broadcast';

export function layoutFlag(): LayoutChoice {
  const v = getFlag<string>('elementwise.layout', 'auto');
  if (v !== 'auto' && v !== 'scalar' && v !== 'broadcast') {
    throw new Error(`flag elementwise.layout must be auto, scalar or broadcast, got "${v}"`);
  }
  return v;
}

/**
 * Runs a map kernel over operands of any broadcast-compatible shapes into outputs of `outShape`
 * (already validated by the caller). Picks the layout: vec4 when every operand has the output's
 * shape, all are f32 and the count is a multiple of 4; scalar contiguous when shapes match
 * otherwise; broadcast (after merging dimensions) when any operand repeats. The flag
 * `elementwise.layout` forces 'scalar' (no vec4) or 'broadcast' (strided indexing even when no
 * operand repeats), so every path is tested on the same cases.
 */
export function runBroadcastMap(
  rt: Runtime,
  spec: MapSpec,
  operands: readonly { array: GpuArray; shape: readonly number[] }[],
  outShape: readonly number[],
  outputs: readonly GpuArray[],
  params: readonly number[] = [],
): void {
  const n = outShape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const choice = layoutFlag();
  const allFull = operands.every((o) => o.array.size === n && sameShape(o.shape, outShape));
  const allF32 = spec.inputs.every((i) => i.dtype === 'f32');
  if (allFull && choice !== 'broadcast') {
    const vec4 = choice === 'auto' && allF32 && n % 4 === 0;
    runMap(rt, spec, { kind: 'contiguous', vec4 }, n, operands.map((o) => ({ array: o.array })), outputs, params);
    return;
  }
  const merged = coalesce(outShape, operands.map((o) => broadcastStrides(o.shape, outShape)));
  if (merged.shape.length === 0) {
    // Every dimension is 1: a single element, read at index 0 of every operand.
    merged.shape.push(1);
    merged.strides.forEach((s) => s.push(0));
  }
  const rank = merged.shape.length;
  const inner = merged.shape[rank - 1]!;
  // vec4 along the innermost dimension: every input walks it with stride 1 (read as vec4, and then
  // its outer strides must keep 16-byte alignment) or stride 0 (read once, splatted).
  const vecOk =
    choice === 'auto' &&
    allF32 &&
    inner % 4 === 0 &&
    merged.strides.every((s) => s[rank - 1] === 0 || (s[rank - 1] === 1 && s.every((v, k) => k === rank - 1 || v % 4 === 0)));
  if (vecOk) {
    const vec4 = merged.strides.map((s) => s[rank - 1] === 1);
    const shape = merged.shape.map((d, k) => (k === rank - 1 ? d / 4 : d));
    const strides = merged.strides.map((s, j) => (vec4[j] ? s.map((v, k) => (k === rank - 1 ? 1 : v / 4)) : s));
    runMap(rt, spec, { kind: 'broadcast', rank, vec4 }, n, operands.map((o, j) => ({ array: o.array, strides: strides[j]! })), outputs, params, shape);
    return;
  }
  runMap(
    rt,
    spec,
    { kind: 'broadcast', rank },
    n,
    operands.map((o, j) => ({ array: o.array, strides: merged.strides[j]! })),
    outputs,
    params,
    merged.shape,
  );
}

// ---------------------------------------------------------------- argument handling

function checkUnaryOp(kernel: string, op: UnaryOp): void {
  if (!Object.hasOwn(UNARY_OPS, op)) throw new ArgumentError(kernel, 'op', `unknown unary op "${op}" (known: ${Object.keys(UNARY_OPS).join(', ')})`);
}

function checkBinaryOp(kernel: string, op: BinaryOp): void {
  if (!Object.hasOwn(BINARY_OPS, op)) throw new ArgumentError(kernel, 'op', `unknown binary op "${op}" (known: ${Object.keys(BINARY_OPS).join(', ')})`);
}

/** `y` is bound only when the expressions use it, so most kernels skip recomputing the forward. */
function usesY(...exprs: string[]): boolean {
  return exprs.some((e) => /\by\b/.test(e));
}

// ---------------------------------------------------------------- unary

function unarySpec(op: UnaryOp): MapSpec {
  const def = UNARY_OPS[op];
  return { kernel: op, inputs: [{ name: 'x', dtype: 'f32' }], outputs: [{ name: 'y', expr: def.forward }], params: def.params.length };
}

function unaryBackwardSpec(op: UnaryOp): MapSpec {
  const def = UNARY_OPS[op];
  return {
    kernel: `${op}-backward`,
    inputs: [
      { name: 'x', dtype: 'f32' },
      { name: 'dy', dtype: 'f32' },
    ],
    lets: usesY(def.backward) ? `let y = ${def.forward};` : '',
    outputs: [{ name: 'dx', expr: def.backward }],
    params: def.params.length,
  };
}

/** y = op(x) elementwise (see UNARY_OPS for each op's definition and edge cases). */
export function unary(rt: Runtime, op: UnaryOp, x: GpuArray, params: UnaryParams = {}): GpuArray {
  checkUnaryOp('unary', op);
  expectDType(op, 'x', x, 'f32');
  const p = unaryParamValues(op, params);
  const y = rt.empty(x.shape);
  runBroadcastMap(rt, unarySpec(op), [{ array: x, shape: x.shape }], x.shape, [y], p);
  return y;
}

/** dx = dy · op'(x), with x the forward input (y is recomputed where the formula needs it). */
export function unaryBackward(rt: Runtime, op: UnaryOp, x: GpuArray, dy: GpuArray, params: UnaryParams = {}): GpuArray {
  checkUnaryOp('unaryBackward', op);
  const kernel = `${op}-backward`;
  expectDType(kernel, 'x', x, 'f32');
  expectDType(kernel, 'dy', dy, 'f32');
  expectShape(kernel, 'dy', dy, x.shape);
  const p = unaryParamValues(op, params);
  const dx = rt.empty(x.shape);
  runBroadcastMap(rt, unaryBackwardSpec(op), [{ array: x, shape: x.shape }, { array: dy, shape: x.shape }], x.shape, [dx], p);
  return dx;
}

// ---------------------------------------------------------------- binary

function binarySpec(op: BinaryOp): MapSpec {
  return {
    kernel: op,
    inputs: [
      { name: 'a', dtype: 'f32' },
      { name: 'b', dtype: 'f32' },
    ],
    outputs: [{ name: 'y', expr: BINARY_OPS[op].forward }],
    params: 0,
  };
}

function binaryBackwardSpec(op: BinaryOp): MapSpec {
  const def = BINARY_OPS[op];
  const { da, db } = def.backward!;
  return {
    kernel: `${op}-backward`,
    inputs: [
      { name: 'a', dtype: 'f32' },
      { name: 'b', dtype: 'f32' },
      { name: 'dy', dtype: 'f32' },
    ],
    lets: usesY(da, db) ? `let y = ${def.forward};` : '',
    outputs: [
      { name: 'da', expr: da },
      { name: 'db', expr: db },
    ],
    params: 0,
  };
}

/** y = op(a, b) with NumPy broadcasting (ranks ≤ 6). Comparisons return 1.0/0.0. */
export function binary(rt: Runtime, op: BinaryOp, a: GpuArray, b: GpuArray): GpuArray {
  checkBinaryOp('binary', op);
  expectDType(op, 'a', a, 'f32');
  expectDType(op, 'b', b, 'f32');
  const shape = binaryShape(op, a.shape, b.shape);
  const y = rt.empty(shape);
  runBroadcastMap(rt, binarySpec(op), [{ array: a, shape: a.shape }, { array: b, shape: b.shape }], shape, [y]);
  return y;
}

export interface BinaryGradients {
  /** Gradient with respect to a, shaped like a. */
  da: GpuArray;
  /** Gradient with respect to b, shaped like b. */
  db: GpuArray;
}

/**
 * Gradients of a binary op: dy (shaped like the broadcast output) times each partial derivative,
 * summed over the dimensions along which a or b was repeated. Comparisons give zeros.
 */
export function binaryBackward(rt: Runtime, op: BinaryOp, a: GpuArray, b: GpuArray, dy: GpuArray): BinaryGradients {
  checkBinaryOp('binaryBackward', op);
  const kernel = `${op}-backward`;
  expectDType(kernel, 'a', a, 'f32');
  expectDType(kernel, 'b', b, 'f32');
  expectDType(kernel, 'dy', dy, 'f32');
  const shape = binaryShape(kernel, a.shape, b.shape);
  expectShape(kernel, 'dy', dy, shape);
  if (!BINARY_OPS[op].backward) return { da: rt.zeros(a.shape), db: rt.zeros(b.shape) };
  const daFull = rt.empty(shape);
  const dbFull = rt.empty(shape);
  runBroadcastMap(
    rt,
    binaryBackwardSpec(op),
    [
      { array: a, shape: a.shape },
      { array: b, shape: b.shape },
      { array: dy, shape },
    ],
    shape,
    [daFull, dbFull],
  );
  return { da: reduceToShape(rt, daFull, a.shape), db: reduceToShape(rt, dbFull, b.shape) };
}

/** Sums a full-shape gradient down to an operand's shape, keeping it as is when nothing repeated. */
function reduceToShape(rt: Runtime, full: GpuArray, shape: readonly number[]): GpuArray {
  if (sameShape(full.shape, shape)) return full;
  if (full.size === sizeOfShape(shape)) return full.reshape(shape); // only size-1 dims differ
  const reduced = sumToShape(rt, full, shape);
  full.dispose();
  return reduced;
}

function sizeOfShape(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

// ---------------------------------------------------------------- where

function whereSpec(condDType: MapInput['dtype']): MapSpec {
  return {
    kernel: 'where',
    inputs: [
      { name: 'cond', dtype: condDType, as: 'bool' },
      { name: 'a', dtype: 'f32' },
      { name: 'b', dtype: 'f32' },
    ],
    outputs: [{ name: 'y', expr: 'select(b, a, cond)' }],
    params: 0,
  };
}

function whereBackwardSpec(condDType: MapInput['dtype']): MapSpec {
  return {
    kernel: 'where-backward',
    inputs: [
      { name: 'cond', dtype: condDType, as: 'bool' },
      { name: 'dy', dtype: 'f32' },
    ],
    outputs: [
      { name: 'da', expr: 'select(T(0.0), dy, cond)' },
      { name: 'db', expr: 'select(dy, T(0.0), cond)' },
    ],
    params: 0,
  };
}

/** y = cond ? a : b elementwise, all three broadcast together; cond is f32, i32 or u32 (nonzero = true). */
export function where(rt: Runtime, cond: GpuArray, a: GpuArray, b: GpuArray): GpuArray {
  expectDType('where', 'cond', cond, 'f32', 'i32', 'u32');
  expectDType('where', 'a', a, 'f32');
  expectDType('where', 'b', b, 'f32');
  const shape = whereShape('where', cond.shape, a.shape, b.shape);
  const y = rt.empty(shape);
  runBroadcastMap(
    rt,
    whereSpec(cond.dtype as MapInput['dtype']),
    [
      { array: cond, shape: cond.shape },
      { array: a, shape: a.shape },
      { array: b, shape: b.shape },
    ],
    shape,
    [y],
  );
  return y;
}

/** Gradients of where with respect to a and b (cond gets none), shaped like a and b. */
export function whereBackward(rt: Runtime, cond: GpuArray, aShape: readonly number[], bShape: readonly number[], dy: GpuArray): BinaryGradients {
  expectDType('where-backward', 'cond', cond, 'f32', 'i32', 'u32');
  expectDType('where-backward', 'dy', dy, 'f32');
  const shape = whereShape('where-backward', cond.shape, aShape, bShape);
  expectShape('where-backward', 'dy', dy, shape);
  const daFull = rt.empty(shape);
  const dbFull = rt.empty(shape);
  runBroadcastMap(
    rt,
    whereBackwardSpec(cond.dtype as MapInput['dtype']),
    [
      { array: cond, shape: cond.shape },
      { array: dy, shape },
    ],
    shape,
    [daFull, dbFull],
  );
  return { da: reduceToShape(rt, daFull, aShape), db: reduceToShape(rt, dbFull, bShape) };
}

// ---------------------------------------------------------------- one-line wrappers

export const neg = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'neg', x);

export const exp = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'exp', x);

export const log = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'log', x);

export const tanh = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'tanh', x);

/** GPT-2's tanh-approximated GELU. */
export const gelu = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'gelu', x);

export const silu = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'silu', x);

export const relu = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'relu', x);

export const sigmoid = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'sigmoid', x);

export const abs = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'abs', x);

export const sqrt = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'sqrt', x);

export const rsqrt = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'rsqrt', x);

export const square = (rt: Runtime, x: GpuArray): GpuArray => unary(rt, 'square', x);

export const clamp = (rt: Runtime, x: GpuArray, min: number, max: number): GpuArray => {
  if (min > max) throw new ArgumentError('clamp', 'min', `must be ≤ max, got min ${min} > max ${max}`);
  return unary(rt, 'clamp', x, { min, max });
};

export const powScalar = (rt: Runtime, x: GpuArray, exponent: number): GpuArray => unary(rt, 'powScalar', x, { exponent });

/** y = scale·x + shift. */
export const affine = (rt: Runtime, x: GpuArray, scale: number, shift: number): GpuArray => unary(rt, 'affine', x, { scale, shift });

export const add = (rt: Runtime, a: GpuArray, b: GpuArray): GpuArray => binary(rt, 'add', a, b);

export const sub = (rt: Runtime, a: GpuArray, b: GpuArray): GpuArray => binary(rt, 'sub', a, b);

export const mul = (rt: Runtime, a: GpuArray, b: GpuArray): GpuArray => binary(rt, 'mul', a, b);

export const div = (rt: Runtime, a: GpuArray, b: GpuArray): GpuArray => binary(rt, 'div', a, b);

export const pow = (rt: Runtime, a: GpuArray, b: GpuArray): GpuArray => binary(rt, 'pow', a, b);

export const maximum = (rt: Runtime, a: GpuArray, b: GpuArray): GpuArray => binary(rt, 'maximum', a, b);

export const minimum = (rt: Runtime, a: GpuArray, b: GpuArray): GpuArray => binary(rt, 'minimum', a, b);
