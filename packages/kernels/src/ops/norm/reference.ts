// norm: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import type { CpuTensor } from '../../reference.js';

export interface LayerNormOptions {
  /** Added to the variance before the square root (PyTorch's default 1e-5). */
  eps?: number;
}

export interface RmsNormOptions {
  /** Added to the mean square before the square root (default 1e-6, as in Llama). */
  eps?: number;
}

// ---------------------------------------------------------------- launchers

export interface RowShape {
  rows: number;
  dim: number;
  rowShape: number[];
}

// ---------------------------------------------------------------- float64 references

function refRows(kernel: string, x: CpuTensor): RowShape {
  const dim = x.shape[x.shape.length - 1];
  if (dim === undefined || dim < 1) throw new Error(`${kernel}: x must have a last dimension ≥ 1, got [${x.shape.join(', ')}]`);
  return { rows: x.data.length / dim, dim, rowShape: x.shape.slice(0, -1) };
}

export interface LayerNormReferenceResult {
  y: CpuTensor;
  mean: CpuTensor;
  rstd: CpuTensor;
}

/** Float64 LayerNorm (two-pass mean and variance). */
export function layerNormReference(x: CpuTensor, gamma: CpuTensor, beta: CpuTensor, options: LayerNormOptions = {}): LayerNormReferenceResult {
  const eps = options.eps ?? 1e-5;
  const { rows, dim, rowShape } = refRows('layerNormReference', x);
  const y = new Float64Array(x.data.length);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let s = 0;
    for (let i = 0; i < dim; i++) s += x.data[o + i]!;
    const mu = s / dim;
    let v = 0;
    for (let i = 0; i < dim; i++) v += (x.data[o + i]! - mu) ** 2;
    const rs = 1 / Math.sqrt(v / dim + eps);
    for (let i = 0; i < dim; i++) y[o + i] = (x.data[o + i]! - mu) * rs * gamma.data[i]! + beta.data[i]!;
    mean[r] = mu;
    rstd[r] = rs;
  }
  return { y: { shape: x.shape, data: y }, mean: { shape: rowShape, data: mean }, rstd: { shape: rowShape, data: rstd } };
}

export interface LayerNormReferenceGrads {
  dx: CpuTensor;
  dgamma: CpuTensor;
  dbeta: CpuTensor;
}

/** Float64 LayerNorm backward from the saved mean and rstd. */
export function layerNormBackwardReference(dy: CpuTensor, x: CpuTensor, gamma: CpuTensor, mean: CpuTensor, rstd: CpuTensor): LayerNormReferenceGrads {
  const { rows, dim } = refRows('layerNormBackwardReference', x);
  const dx = new Float64Array(x.data.length);
  const dgamma = new Float64Array(dim);
  const dbeta = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    const mu = mean.data[r]!;
    const rs = rstd.data[r]!;
    let sg = 0;
    let sgx = 0;
    for (let i = 0; i < dim; i++) {
      const g = dy.data[o + i]! * gamma.data[i]!;
      const xh = (x.data[o + i]! - mu) * rs;
      sg += g;
      sgx += g * xh;
      dgamma[i] += dy.data[o + i]! * xh;
      dbeta[i] += dy.data[o + i]!;
    }
    for (let i = 0; i < dim; i++) {
      const g = dy.data[o + i]! * gamma.data[i]!;
      const xh = (x.data[o + i]! - mu) * rs;
      dx[o + i] = rs * (g - sg / dim - (xh * sgx) / dim);
    }
  }
  return { dx: { shape: x.shape, data: dx }, dgamma: { shape: [dim], data: dgamma }, dbeta: { shape: [dim], data: dbeta } };
}

export interface RmsNormReferenceResult {
  y: CpuTensor;
  rstd: CpuTensor;
}

/** Float64 RMSNorm. */
export function rmsNormReference(x: CpuTensor, gamma: CpuTensor, options: RmsNormOptions = {}): RmsNormReferenceResult {
  const eps = options.eps ?? 1e-6;
  const { rows, dim, rowShape } = refRows('rmsNormReference', x);
  const y = new Float64Array(x.data.length);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let s = 0;
    for (let i = 0; i < dim; i++) s += x.data[o + i]! ** 2;
    const rs = 1 / Math.sqrt(s / dim + eps);
    for (let i = 0; i < dim; i++) y[o + i] = x.data[o + i]! * rs * gamma.data[i]!;
    rstd[r] = rs;
  }
  return { y: { shape: x.shape, data: y }, rstd: { shape: rowShape, data: rstd } };
}

export interface RmsNormReferenceGrads {
  dx: CpuTensor;
  dgamma: CpuTensor;
}

/** Float64 RMSNorm backward from the saved rstd. */
export function rmsNormBackwardReference(dy: CpuTensor, x: CpuTensor, gamma: CpuTensor, rstd: CpuTensor): RmsNormReferenceGrads {
  const { rows, dim } = refRows('rmsNormBackwardReference', x);
  const dx = new Float64Array(x.data.length);
  const dgamma = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    const rs = rstd.data[r]!;
    let sgx = 0;
    for (let i = 0; i < dim; i++) {
      const xh = x.data[o + i]! * rs;
      sgx += dy.data[o + i]! * gamma.data[i]! * xh;
      dgamma[i] += dy.data[o + i]! * xh;
    }
    for (let i = 0; i < dim; i++) {
      const xh = x.data[o + i]! * rs;
      dx[o + i] = rs * (dy.data[o + i]! * gamma.data[i]! - (xh * sgx) / dim);
    }
  }
  return { dx: { shape: x.shape, data: dx }, dgamma: { shape: [dim], data: dgamma } };
}
