// elementwise: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { type CpuTensor, cpuZeros, stridesOf } from '../../reference.js';
import { expectFinite } from '../validate.js';
import { sumToShapeReference } from '../reduce/reference.js';
import { BINARY_OPS, type BinaryOp, MAX_BROADCAST_RANK, UNARY_OPS, type UnaryOp, type UnaryParams } from './program.js';

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/**
 * The broadcast shape of several operands; throws an ArgumentError naming the kernel, the
 * operand that does not fit, and both shapes.
 */
export function broadcastShapes(kernel: string, operands: readonly { name: string; shape: readonly number[] }[]): number[] {
  let out: number[] = [];
  let outFrom = '';
  for (const { name, shape } of operands) {
    if (shape.length > MAX_BROADCAST_RANK) {
      throw new ArgumentError(kernel, name, `rank ${shape.length} (shape ${shapeString(shape)}) exceeds the maximum ${MAX_BROADCAST_RANK}`);
    }
    const rank = Math.max(out.length, shape.length);
    const next = new Array<number>(rank);
    for (let k = 0; k < rank; k++) {
      const p = out[out.length - rank + k] ?? 1;
      const q = shape[shape.length - rank + k] ?? 1;
      if (p !== q && p !== 1 && q !== 1) {
        throw new ArgumentError(
          kernel,
          name,
          `shape ${shapeString(shape)} does not broadcast with ${outFrom} shape ${shapeString(out)} ` +
            `(dimension ${k - rank} is ${q} against ${p}; sizes must match or one must be 1)`,
        );
      }
      next[k] = p === 1 ? q : p;
    }
    out = next;
    outFrom = outFrom ? `${outFrom}/${name}` : name;
  }
  return out;
}

/** Element strides of an operand of `shape` read at every index of `outShape` (0 where it repeats). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  const pad = outShape.length - shape.length;
  return outShape.map((_, k) => {
    const j = k - pad;
    return j < 0 || shape[j] === 1 ? 0 : own[j]!;
  });
}

/** Flat index of the operand element read at output coordinate index i (reference helper). */
export function broadcastIndex(i: number, outShape: readonly number[], strides: readonly number[]): number {
  let rem = i;
  let offset = 0;
  for (let k = outShape.length - 1; k >= 0; k--) {
    const d = outShape[k]!;
    const c = rem % d;
    rem = (rem - c) / d;
    offset += c * strides[k]!;
  }
  return offset;
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

/** The broadcast output shape of a binary op, or an ArgumentError naming both shapes. */
export function binaryShape(kernel: string, a: readonly number[], b: readonly number[]): number[] {
  return broadcastShapes(kernel, [
    { name: 'a', shape: a },
    { name: 'b', shape: b },
  ]);
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

export function whereShape(kernel: string, cond: readonly number[], a: readonly number[], b: readonly number[]): number[] {
  return broadcastShapes(kernel, [
    { name: 'cond', shape: cond },
    { name: 'a', shape: a },
    { name: 'b', shape: b },
  ]);
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
