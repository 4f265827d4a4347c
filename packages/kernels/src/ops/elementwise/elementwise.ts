// Elementwise launchers and their float64 references, all driven by the op table in ops.ts:
// unary ops (with optional scalar parameters), binary ops with NumPy broadcasting over up to 6
// dimensions, where(cond, a, b), and the backward of each. Binary backward computes the gradient
// at the broadcast output shape and sums it back over the repeated dimensions (reduce/sumToShape),
// so dA and dB always have the shapes of a and b.
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import { ArgumentError } from '../../runtime/errors.js';
import { cpuZeros, type CpuTensor } from '../../reference.js';
import { expectDType, expectFinite, expectShape } from '../validate.js';
import { sumToShape, sumToShapeReference } from '../reduce/reduce.js';
import { BINARY_OPS, UNARY_OPS, type BinaryOp, type UnaryOp, type UnaryParams } from './ops.js';
import { broadcastIndex, broadcastShapes, broadcastStrides, sameShape } from './broadcast.js';
import { runBroadcastMap, type MapInput, type MapSpec } from './map-program.js';

// ---------------------------------------------------------------- argument handling

function checkUnaryOp(kernel: string, op: UnaryOp): void {
  if (!Object.hasOwn(UNARY_OPS, op)) throw new ArgumentError(kernel, 'op', `unknown unary op "${op}" (known: ${Object.keys(UNARY_OPS).join(', ')})`);
}

function checkBinaryOp(kernel: string, op: BinaryOp): void {
  if (!Object.hasOwn(BINARY_OPS, op)) throw new ArgumentError(kernel, 'op', `unknown binary op "${op}" (known: ${Object.keys(BINARY_OPS).join(', ')})`);
}

/** The op's parameter values in P0, P1 order, with defaults; a missing required one is an error. */
export function unaryParamValues(op: UnaryOp, params: UnaryParams = {}): number[] {
  return UNARY_OPS[op].params.map(({ name, fallback }) => {
    const v = params[name] ?? fallback;
    if (v === undefined) throw new ArgumentError(op, name, `is required by ${op}`);
    if (typeof v !== 'number' || Number.isNaN(v)) throw new ArgumentError(op, name, `must be a number, got ${String(v)}`);
    if (op !== 'clamp') expectFinite(op, name, v);
    return v;
  });
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

/** float64 reference of unary. */
export function unaryReference(op: UnaryOp, x: CpuTensor, params: UnaryParams = {}): CpuTensor {
  const p = unaryParamValues(op, params);
  const f = UNARY_OPS[op].reference;
  return { shape: [...x.shape], data: x.data.map((v) => f(v, p)) };
}

/** float64 reference of unaryBackward: dx = dy · op'(x). */
export function unaryBackwardReference(op: UnaryOp, x: CpuTensor, dy: CpuTensor, params: UnaryParams = {}): CpuTensor {
  const p = unaryParamValues(op, params);
  const { reference, derivative } = UNARY_OPS[op];
  return { shape: [...x.shape], data: x.data.map((v, i) => dy.data[i]! * derivative(v, reference(v, p), p)) };
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

/** The broadcast output shape of a binary op, or an ArgumentError naming both shapes. */
export function binaryShape(kernel: string, a: readonly number[], b: readonly number[]): number[] {
  return broadcastShapes(kernel, [
    { name: 'a', shape: a },
    { name: 'b', shape: b },
  ]);
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

/** Values of the operand tensors at every element of the broadcast output, for the references. */
function gather(t: CpuTensor, outShape: readonly number[]): (i: number) => number {
  const strides = broadcastStrides(t.shape, outShape);
  return (i) => t.data[broadcastIndex(i, outShape, strides)]!;
}

/** float64 reference of binary. */
export function binaryReference(op: BinaryOp, a: CpuTensor, b: CpuTensor): CpuTensor {
  const shape = binaryShape(op, a.shape, b.shape);
  const out = cpuZeros(shape);
  const ga = gather(a, shape);
  const gb = gather(b, shape);
  const f = BINARY_OPS[op].reference;
  for (let i = 0; i < out.data.length; i++) out.data[i] = f(ga(i), gb(i));
  return out;
}

/** float64 reference of binaryBackward. */
export function binaryBackwardReference(op: BinaryOp, a: CpuTensor, b: CpuTensor, dy: CpuTensor): { da: CpuTensor; db: CpuTensor } {
  const shape = binaryShape(op, a.shape, b.shape);
  const def = BINARY_OPS[op];
  if (!def.derivative) return { da: cpuZeros(a.shape), db: cpuZeros(b.shape) };
  const daFull = cpuZeros(shape);
  const dbFull = cpuZeros(shape);
  const ga = gather(a, shape);
  const gb = gather(b, shape);
  for (let i = 0; i < daFull.data.length; i++) {
    const av = ga(i);
    const bv = gb(i);
    const [pa, pb] = def.derivative(av, bv, def.reference(av, bv));
    daFull.data[i] = dy.data[i]! * pa;
    dbFull.data[i] = dy.data[i]! * pb;
  }
  return { da: sumToShapeReference(daFull, a.shape), db: sumToShapeReference(dbFull, b.shape) };
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

function whereShape(kernel: string, cond: readonly number[], a: readonly number[], b: readonly number[]): number[] {
  return broadcastShapes(kernel, [
    { name: 'cond', shape: cond },
    { name: 'a', shape: a },
    { name: 'b', shape: b },
  ]);
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

/** float64 reference of where (cond nonzero = true). */
export function whereReference(cond: CpuTensor, a: CpuTensor, b: CpuTensor): CpuTensor {
  const shape = whereShape('where', cond.shape, a.shape, b.shape);
  const out = cpuZeros(shape);
  const gc = gather(cond, shape);
  const ga = gather(a, shape);
  const gb = gather(b, shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = gc(i) !== 0 ? ga(i) : gb(i);
  return out;
}

/** float64 reference of whereBackward. */
export function whereBackwardReference(cond: CpuTensor, aShape: readonly number[], bShape: readonly number[], dy: CpuTensor): { da: CpuTensor; db: CpuTensor } {
  const shape = whereShape('where-backward', cond.shape, aShape, bShape);
  const gc = gather(cond, shape);
  const daFull = cpuZeros(shape);
  const dbFull = cpuZeros(shape);
  for (let i = 0; i < daFull.data.length; i++) {
    if (gc(i) !== 0) daFull.data[i] = dy.data[i]!;
    else dbFull.data[i] = dy.data[i]!;
  }
  return { da: sumToShapeReference(daFull, aShape), db: sumToShapeReference(dbFull, bShape) };
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

