// Argument checks shared by every launcher. Each error names the kernel, the argument and what was
// expected, before anything reaches the GPU.
import { ArgumentError, shapeString } from '../runtime/errors.js';
import type { GpuArray, DType } from '../runtime/array.js';

/** A dimension in an expected shape: a number, or null for "any size". */
export type Dim = number | null;

export function expectDType(kernel: string, name: string, array: GpuArray, ...dtypes: DType[]): void {
  if (array.isDisposed) throw new ArgumentError(kernel, name, 'was disposed');
  if (!dtypes.includes(array.dtype)) {
    throw new ArgumentError(kernel, name, `expected dtype ${dtypes.join(' or ')}, got ${array.dtype} ${shapeString(array.shape)}`);
  }
}

export function expectRank(kernel: string, name: string, array: GpuArray, ...ranks: number[]): void {
  if (!ranks.includes(array.rank)) {
    throw new ArgumentError(kernel, name, `expected rank ${ranks.join(' or ')}, got shape ${shapeString(array.shape)}`);
  }
}

export function expectShape(kernel: string, name: string, array: GpuArray, expected: readonly Dim[]): void {
  const ok = array.rank === expected.length && expected.every((d, i) => d === null || d === array.shape[i]);
  if (!ok) {
    const want = `[${expected.map((d) => (d === null ? '*' : String(d))).join(', ')}]`;
    throw new ArgumentError(kernel, name, `expected shape ${want}, got ${shapeString(array.shape)}`);
  }
}

export function expectPositiveInteger(kernel: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new ArgumentError(kernel, name, `must be a positive integer, got ${value}`);
}

export function expectFinite(kernel: string, name: string, value: number): void {
  if (!Number.isFinite(value)) throw new ArgumentError(kernel, name, `must be a finite number, got ${value}`);
}
