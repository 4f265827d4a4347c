// reduce: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import { broadcastIndex, broadcastShapes, broadcastStrides, sameShape } from '../elementwise/reference.js';
import { MAX_BROADCAST_RANK } from '../elementwise/program.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { type CpuTensor, cpuZeros } from '../../reference.js';

export type ReductionOp = 'sum' | 'mean' | 'max';

export interface ReduceOptions {
  /** Axis or axes to reduce (negative counts from the end); all axes when omitted. */
  axis?: number | readonly number[];
  /** Keep reduced axes as size 1 (default false). */
  keepdims?: boolean;
}

// ---------------------------------------------------------------- shapes

/** Sorted, distinct, non-negative axes; errors name the kernel and the shape. */
export function normalizeAxes(kernel: string, shape: readonly number[], axis?: number | readonly number[]): number[] {
  const rank = shape.length;
  if (rank > MAX_BROADCAST_RANK) throw new ArgumentError(kernel, 'x', `rank ${rank} (shape ${shapeString(shape)}) exceeds the maximum ${MAX_BROADCAST_RANK}`);
  if (axis === undefined) return shape.map((_, k) => k);
  const list = typeof axis === 'number' ? [axis] : [...axis];
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) {
      throw new ArgumentError(kernel, 'axis', `${a} is out of range for shape ${shapeString(shape)} (rank ${rank})`);
    }
    return a < 0 ? a + rank : a;
  });
  if (new Set(out).size !== out.length) throw new ArgumentError(kernel, 'axis', `repeats an axis: [${list.join(', ')}]`);
  return out.sort((a, b) => a - b);
}

/** Output shape of a reduction. */
export function reducedShape(shape: readonly number[], axes: readonly number[], keepdims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, k) => {
    if (!axes.includes(k)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

export function sumToShapeAxes(xShape: readonly number[], shape: readonly number[]): number[] {
  const fits =
    shape.length <= xShape.length &&
    sameShape(broadcastShapes('sum-to-shape', [{ name: 'shape', shape }, { name: 'x', shape: xShape }]), xShape);
  if (!fits) throw new ArgumentError('sum-to-shape', 'shape', `${shapeString(shape)} does not broadcast to x's shape ${shapeString(xShape)}`);
  const pad = xShape.length - shape.length;
  return xShape.map((_, k) => k).filter((k) => k < pad || (shape[k - pad] === 1 && xShape[k] !== 1));
}

// ---------------------------------------------------------------- backward launchers

export function keptShape(xShape: readonly number[], axes: readonly number[]): number[] {
  return reducedShape(xShape, axes, true);
}

// ---------------------------------------------------------------- float64 references

/** Output index of every input element of a reduction (kept coordinates, row-major). */
function outputIndexer(shape: readonly number[], axes: readonly number[]): (i: number) => number {
  const kept = keptShape(shape, axes);
  const strides = broadcastStrides(kept, shape);
  return (i) => broadcastIndex(i, shape, strides);
}

/** float64 reference of reduce. */
export function reduceReference(op: ReductionOp, x: CpuTensor, options: ReduceOptions = {}): CpuTensor {
  const kernel = `reduce-${op}`;
  const axes = normalizeAxes(kernel, x.shape, options.axis);
  const shape = reducedShape(x.shape, axes, options.keepdims ?? false);
  const out = cpuZeros(shape);
  const len = axes.reduce((p, k) => p * x.shape[k]!, 1);
  if (op === 'max') {
    if (len === 0 && out.data.length > 0) throw new ArgumentError(kernel, 'axis', `max over an empty axis of shape ${shapeString(x.shape)} has no value`);
    out.data.fill(-Infinity);
  }
  const at = outputIndexer(x.shape, axes);
  for (let i = 0; i < x.data.length; i++) {
    const o = at(i);
    const v = x.data[i]!;
    out.data[o] = op === 'max' ? Math.max(out.data[o]!, v) : out.data[o]! + v;
  }
  if (op === 'mean') for (let o = 0; o < out.data.length; o++) out.data[o]! /= len;
  return out;
}

/** float64 reference of the gradient of reduce (max: split equally between ties). */
export function reduceBackwardReference(op: ReductionOp, x: CpuTensor, dy: CpuTensor, options: ReduceOptions = {}): CpuTensor {
  const axes = normalizeAxes(`reduce-${op}-backward`, x.shape, options.axis);
  const len = axes.reduce((p, k) => p * x.shape[k]!, 1);
  const at = outputIndexer(x.shape, axes);
  const dx = cpuZeros(x.shape);
  if (op !== 'max') {
    const scale = op === 'mean' ? 1 / len : 1;
    for (let i = 0; i < dx.data.length; i++) dx.data[i] = dy.data[at(i)]! * scale;
    return dx;
  }
  const y = reduceReference('max', x, options);
  const count = new Float64Array(y.data.length);
  for (let i = 0; i < x.data.length; i++) if (x.data[i] === y.data[at(i)]) count[at(i)]!++;
  for (let i = 0; i < x.data.length; i++) {
    const o = at(i);
    if (x.data[i] === y.data[o]) dx.data[i] = dy.data[o]! / count[o]!;
  }
  return dx;
}

/** float64 reference of sumToShape. */
export function sumToShapeReference(x: CpuTensor, shape: readonly number[]): CpuTensor {
  sumToShapeAxes(x.shape, shape);
  const out = cpuZeros(shape);
  const strides = broadcastStrides(shape, x.shape);
  for (let i = 0; i < x.data.length; i++) out.data[broadcastIndex(i, x.shape, strides)]! += x.data[i]!;
  return out;
}
