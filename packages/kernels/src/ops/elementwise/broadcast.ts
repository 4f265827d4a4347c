// NumPy broadcasting: shapes are aligned on the right; a dimension of size 1 (or a missing one)
// repeats. A broadcast input is read through strides with 0 on its repeated dimensions, and
// adjacent dimensions that every operand walks contiguously are merged, so [B, T, C] + [C]
// runs as the rank-2 problem [B·T, C] + [C] and one pipeline per op × rank serves every shape.
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { stridesOf } from '../../reference.js';

/** Highest rank the broadcasting kernels accept (after merging dimensions, before it too). */
export const MAX_BROADCAST_RANK = 6;

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

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}
