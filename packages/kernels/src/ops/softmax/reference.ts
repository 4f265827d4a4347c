// softmax: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import { type CpuTensor, cpuZeros } from '../../reference.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import type { SoftmaxKind } from './program.js';

// ---------------------------------------------------------------- float64 references

function referenceRows(kernel: string, t: CpuTensor): { rows: number; cols: number } {
  if (t.shape.length < 1) throw new ArgumentError(kernel, 'x', `needs at least one axis, got shape ${shapeString(t.shape)}`);
  const cols = t.shape[t.shape.length - 1]!;
  return { rows: cols === 0 ? 0 : t.data.length / cols, cols };
}

/** float64 softmax / log-softmax over the last axis with the same masked-row definitions. */
function forwardReference(kind: SoftmaxKind, x: CpuTensor): CpuTensor {
  const { rows, cols } = referenceRows(kind, x);
  const y = cpuZeros(x.shape);
  for (let r = 0; r < rows; r++) {
    const row = x.data.subarray(r * cols, (r + 1) * cols);
    let top = -Number.MAX_VALUE;
    for (const v of row) top = Math.max(top, v);
    let total = 0;
    for (const v of row) total += Math.exp(v - top);
    const out = y.data.subarray(r * cols, (r + 1) * cols);
    for (let c = 0; c < cols; c++) {
      if (kind === 'softmax') out[c] = total === 0 ? 0 : Math.exp(row[c]! - top) / total;
      else out[c] = total === 0 ? -Infinity : row[c]! - top - Math.log(total);
    }
  }
  return y;
}

export function softmaxReference(x: CpuTensor): CpuTensor {
  return forwardReference('softmax', x);
}

export function logSoftmaxReference(x: CpuTensor): CpuTensor {
  return forwardReference('logSoftmax', x);
}

/** float64 softmax backward from the output y: dx = y·(dy − Σ y·dy). */
export function softmaxBackwardReference(y: CpuTensor, dy: CpuTensor): CpuTensor {
  const { rows, cols } = referenceRows('softmax-backward', y);
  const dx = cpuZeros(y.shape);
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += y.data[r * cols + c]! * dy.data[r * cols + c]!;
    for (let c = 0; c < cols; c++) dx.data[r * cols + c] = y.data[r * cols + c]! * (dy.data[r * cols + c]! - dot);
  }
  return dx;
}

/** float64 log-softmax backward from the output y: dx = dy − exp(y)·Σ dy; 0 on fully masked rows. */
export function logSoftmaxBackwardReference(y: CpuTensor, dy: CpuTensor): CpuTensor {
  const { rows, cols } = referenceRows('logSoftmax-backward', y);
  const dx = cpuZeros(y.shape);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    let mass = 0;
    for (let c = 0; c < cols; c++) {
      sum += dy.data[r * cols + c]!;
      mass += Math.exp(y.data[r * cols + c]!);
    }
    if (mass === 0) continue;
    for (let c = 0; c < cols; c++) dx.data[r * cols + c] = dy.data[r * cols + c]! - Math.exp(y.data[r * cols + c]!) * sum;
  }
  return dx;
}
