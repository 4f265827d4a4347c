// LayerNorm and RMSNorm over the last dimension, forward and backward (llm.c's
// layernorm_forward/backward pair), with float64 CPU references.
//
// Row kernels (forward, and dx of the backward): one workgroup per row, each invocation strides
// over the row (vec4 loads when D % 4 == 0), and the shared workgroup reduction combines the
// partial sums ('subgroup' or 'shared' variant, flag 'reduce.variant').
//
// Variance: two passes over the row, and the first pass sums (x − x₀) with x₀ the row's first
// element, so rows of values around 1e4 with unit spread lose nothing: x − x₀ is exact, and y is
// computed as ((x − x₀) − c)·rstd with c = mean(x − x₀), never through a rounded mean. (The naive
// E[x²] − E[x]² in float32 returns garbage for such rows.) The saved `mean` is x₀ + c rounded to
// float32, which is what the backward needs.
//
// dgamma/dbeta are sums over rows, done without atomics so results are bit-reproducible: a first
// kernel gives each invocation one column (vec4) and one chunk of rows and writes a partial sum;
// a second sums the partials of each column in chunk order. The chunk size depends only on the
// number of rows, so the summation order (and the result) is the same on every device.
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import type { CpuTensor } from '../../reference.js';
import { expectDType, expectFinite, expectShape } from '../validate.js';
import {
  reduceArgs,
  reduceBuiltins,
  reduceFeatures,
  reduceVariant,
  workgroupReduce,
  type ReduceVariant,
} from '../shared/workgroup-reduce.js';

export type NormKind = 'layer' | 'rms';

export interface LayerNormOptions {
  /** Added to the variance before the square root (PyTorch's default 1e-5). */
  eps?: number;
}
export interface RmsNormOptions {
  /** Added to the mean square before the square root (default 1e-6, as in Llama). */
  eps?: number;
}

const COLUMN_WORKGROUP = 64;
/** At most this many row chunks in the parameter-gradient reduction (fixed, so results do not depend on the device). */
const MAX_ROW_CHUNKS = 64;
const MIN_ROWS_PER_CHUNK = 8;

/**
 * Invocations per row workgroup: the device's subgroup size (one subgroup per row, llm.c's "one
 * warp per row"), clamped to [8, 64]; 32 when the adapter does not say. On lavapipe (subgroups of 8)
 * measured on [8192, 768]: 8 invocations ran the forward about 3× faster than 32 and 10× faster than
 * 64, because every extra SIMD batch of a workgroup adds barrier cost there. Flag 'norm.workgroup'
 * overrides (a power of two, 8…1024).
 */
export function normRowWorkgroup(rt: Runtime): number {
  const forced = getFlag<number>('norm.workgroup', 0);
  if (forced !== 0) {
    if (!Number.isInteger(forced) || forced < 8 || forced > 1024 || (forced & (forced - 1)) !== 0) {
      throw new Error(`flag norm.workgroup must be a power of two in [8, 1024], got ${forced}`);
    }
    return forced;
  }
  const info = (rt.adapter as GPUAdapter & { info?: { subgroupMaxSize?: number } }).info;
  const size = info?.subgroupMaxSize;
  if (!size || (size & (size - 1)) !== 0) return 32;
  return Math.min(64, Math.max(8, size));
}

/** 4 when the row length allows vec4 loads (flag 'norm.vec4'=false forces scalar loads). */
function vectorWidth(dim: number): 1 | 4 {
  return dim % 4 === 0 && getFlag<boolean>('norm.vec4', true) ? 4 : 1;
}

function vecType(width: 1 | 4): 'f32' | 'vec4<f32>' {
  return width === 4 ? 'vec4<f32>' : 'f32';
}

/** WGSL expression summing the lanes of a value of the row type. */
function lanes(width: 1 | 4, expr: string): string {
  return width === 4 ? `dot(${expr}, vec4<f32>(1.0))` : expr;
}

const ROW_INDEX = `let row = grid_workgroup(wid, nwg); // uniform: the same in the whole workgroup
  if (row >= params.rows) { return; }
  let base = row * params.cols;`;

// ---------------------------------------------------------------- programs

function normForwardProgram(kind: NormKind, width: 1 | 4, size: number, variant: ReduceVariant): KernelProgram {
  const T = vecType(width);
  const first = width === 4 ? 'x[base].x' : 'x[base]';
  const body =
    kind === 'layer'
      ? `
  let x0 = ${first};
  let shift = ${T}(x0);
  var acc = ${T}(0.0);
  for (var i = lid; i < params.cols; i += WG_X) { acc += x[base + i] - shift; }
  let centre = wgSum(${lanes(width, 'acc')}, ${reduceArgs(variant)}) / params.dim;
  let c = ${T}(centre);
  var acc2 = ${T}(0.0);
  for (var i = lid; i < params.cols; i += WG_X) { let d = (x[base + i] - shift) - c; acc2 += d * d; }
  let variance = wgSum(${lanes(width, 'acc2')}, ${reduceArgs(variant)}) / params.dim;
  let r = inverseSqrt(variance + params.eps);
  for (var i = lid; i < params.cols; i += WG_X) {
    y[base + i] = ((x[base + i] - shift) - c) * r * gamma[i] + beta[i];
  }
  if (lid == 0u) { mean[row] = x0 + centre; rstd[row] = r; }`
      : `
  var acc = ${T}(0.0);
  for (var i = lid; i < params.cols; i += WG_X) { let v = x[base + i]; acc += v * v; }
  let meanSquare = wgSum(${lanes(width, 'acc')}, ${reduceArgs(variant)}) / params.dim;
  let r = inverseSqrt(meanSquare + params.eps);
  for (var i = lid; i < params.cols; i += WG_X) { y[base + i] = x[base + i] * r * gamma[i]; }
  if (lid == 0u) { rstd[row] = r; }`;
  return {
    name: kind === 'layer' ? 'layer-norm' : 'rms-norm',
    variant: `${variant}:w${size}:v${width}`,
    workgroupSize: [size],
    features: reduceFeatures(variant),
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'cols', type: 'u32' }, // row length in units of the row type
      { name: 'dim', type: 'f32' }, // row length in elements
      { name: 'eps', type: 'f32' },
    ],
    bindings: [
      { name: 'x', type: T, access: 'read' },
      { name: 'gamma', type: T, access: 'read' },
      ...(kind === 'layer' ? [{ name: 'beta', type: T, access: 'read' as const }] : []),
      { name: 'y', type: T, access: 'read_write' },
      ...(kind === 'layer' ? [{ name: 'mean', type: 'f32' as const, access: 'read_write' as const }] : []),
      { name: 'rstd', type: 'f32', access: 'read_write' },
    ],
    code: /* wgsl */ `
${workgroupReduce('wgSum', 'sum', size, variant)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${reduceBuiltins(variant)}) {
  ${ROW_INDEX}
  ${body}
}`,
  };
}

/** dx of the backward: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·γ (RMSNorm drops the mean(ĝ) term). */
function normBackwardProgram(kind: NormKind, width: 1 | 4, size: number, variant: ReduceVariant): KernelProgram {
  const T = vecType(width);
  const xhat = kind === 'layer' ? `(x[base + i] - mu) * r` : `x[base + i] * r`;
  const dx =
    kind === 'layer' ? `r * (g - ${T}(meanG) - xh * ${T}(meanGX))` : `r * (g - xh * ${T}(meanGX))`;
  return {
    name: kind === 'layer' ? 'layer-norm-backward' : 'rms-norm-backward',
    variant: `${variant}:w${size}:v${width}`,
    workgroupSize: [size],
    features: reduceFeatures(variant),
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'cols', type: 'u32' },
      { name: 'dim', type: 'f32' },
    ],
    bindings: [
      { name: 'dy', type: T, access: 'read' },
      { name: 'x', type: T, access: 'read' },
      { name: 'gamma', type: T, access: 'read' },
      ...(kind === 'layer' ? [{ name: 'mean', type: 'f32' as const, access: 'read' as const }] : []),
      { name: 'rstd', type: 'f32', access: 'read' },
      { name: 'dx', type: T, access: 'read_write' },
    ],
    code: /* wgsl */ `
${workgroupReduce('wgSum', 'sum', size, variant)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${reduceBuiltins(variant)}) {
  ${ROW_INDEX}
  ${kind === 'layer' ? `let mu = ${T}(mean[row]);` : ''}
  let r = rstd[row];
  var sg = ${T}(0.0);
  var sgx = ${T}(0.0);
  for (var i = lid; i < params.cols; i += WG_X) {
    let g = dy[base + i] * gamma[i];
    let xh = ${xhat};
    sg += g;
    sgx += g * xh;
  }
  ${kind === 'layer' ? `let meanG = wgSum(${lanes(width, 'sg')}, ${reduceArgs(variant)}) / params.dim;` : ''}
  let meanGX = wgSum(${lanes(width, 'sgx')}, ${reduceArgs(variant)}) / params.dim;
  for (var i = lid; i < params.cols; i += WG_X) {
    let g = dy[base + i] * gamma[i];
    let xh = ${xhat};
    dx[base + i] = ${dx};
  }
}`,
  };
}

/** Partial sums of dγ = Σ dy·x̂ (and dβ = Σ dy) over one chunk of rows, one column per invocation. */
function paramGradPartialProgram(kind: NormKind, width: 1 | 4): KernelProgram {
  const T = vecType(width);
  const xhat = kind === 'layer' ? `(x[k] - ${T}(mean[r])) * rstd[r]` : `x[k] * rstd[r]`;
  return {
    name: kind === 'layer' ? 'layer-norm-param-grad' : 'rms-norm-param-grad',
    variant: `v${width}`,
    workgroupSize: [COLUMN_WORKGROUP],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'cols', type: 'u32' },
      { name: 'rowsPerChunk', type: 'u32' },
    ],
    bindings: [
      { name: 'dy', type: T, access: 'read' },
      { name: 'x', type: T, access: 'read' },
      ...(kind === 'layer' ? [{ name: 'mean', type: 'f32' as const, access: 'read' as const }] : []),
      { name: 'rstd', type: 'f32', access: 'read' },
      { name: 'partialGamma', type: T, access: 'read_write' },
      ...(kind === 'layer' ? [{ name: 'partialBeta', type: T, access: 'read_write' as const }] : []),
    ],
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let col = gid.x;
  if (col >= params.cols) { return; }
  let chunk = wid.y;
  let r0 = chunk * params.rowsPerChunk;
  let r1 = min(params.rows, r0 + params.rowsPerChunk);
  var sumG = ${T}(0.0);
  var sumB = ${T}(0.0);
  for (var r = r0; r < r1; r++) {
    let k = r * params.cols + col;
    let d = dy[k];
    sumG += d * ${xhat};
    sumB += d;
  }
  partialGamma[chunk * params.cols + col] = sumG;
  ${kind === 'layer' ? 'partialBeta[chunk * params.cols + col] = sumB;' : ''}
}`,
  };
}

/** out[c] = Σ_k partial[k, c] in chunk order (deterministic). */
function columnSumProgram(width: 1 | 4): KernelProgram {
  const T = vecType(width);
  return {
    name: 'norm-column-sum',
    variant: `v${width}`,
    workgroupSize: [COLUMN_WORKGROUP],
    uniforms: [
      { name: 'chunks', type: 'u32' },
      { name: 'cols', type: 'u32' },
    ],
    bindings: [
      { name: 'partial', type: T, access: 'read' },
      { name: 'out', type: T, access: 'read_write' },
    ],
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col = gid.x;
  if (col >= params.cols) { return; }
  var s = ${T}(0.0);
  for (var k = 0u; k < params.chunks; k++) { s += partial[k * params.cols + col]; }
  out[col] = s;
}`,
  };
}

// ---------------------------------------------------------------- launchers

interface RowShape {
  rows: number;
  dim: number;
  rowShape: number[];
}

function rowShapeOf(kernel: string, x: GpuArray): RowShape {
  expectDType(kernel, 'x', x, 'f32');
  if (x.rank < 1) throw new ArgumentError(kernel, 'x', `expected rank ≥ 1 ([..., D]), got shape ${shapeString(x.shape)}`);
  const dim = x.shape[x.rank - 1]!;
  if (dim < 1) throw new ArgumentError(kernel, 'x', `the normalised (last) dimension must be ≥ 1, got shape ${shapeString(x.shape)}`);
  return { rows: x.size / dim, dim, rowShape: x.shape.slice(0, -1) };
}

function checkParam(kernel: string, name: string, array: GpuArray, dim: number): void {
  expectDType(kernel, name, array, 'f32');
  expectShape(kernel, name, array, [dim]);
}

function checkEps(kernel: string, eps: number): void {
  expectFinite(kernel, 'eps', eps);
  if (eps < 0) throw new ArgumentError(kernel, 'eps', `must be ≥ 0, got ${eps}`);
}

function checkSaved(kernel: string, name: string, array: GpuArray, shape: RowShape): void {
  expectDType(kernel, name, array, 'f32');
  expectShape(kernel, name, array, shape.rowShape);
}

export interface LayerNormResult {
  /** Normalised output, same shape as x. */
  y: GpuArray;
  /** Per-row mean, shape x.shape[:-1]: saved for the backward. */
  mean: GpuArray;
  /** Per-row 1/sqrt(var + eps), shape x.shape[:-1]: saved for the backward. */
  rstd: GpuArray;
}

/** y = (x − mean)·rstd·γ + β over the last dimension of x [..., D]; γ, β are [D]. */
export function layerNorm(rt: Runtime, x: GpuArray, gamma: GpuArray, beta: GpuArray, options: LayerNormOptions = {}): LayerNormResult {
  const kernel = 'layer-norm';
  const shape = rowShapeOf(kernel, x);
  checkParam(kernel, 'gamma', gamma, shape.dim);
  checkParam(kernel, 'beta', beta, shape.dim);
  const eps = options.eps ?? 1e-5;
  checkEps(kernel, eps);
  const width = vectorWidth(shape.dim);
  const y = rt.empty(x.shape);
  const mean = rt.empty(shape.rowShape);
  const rstd = rt.empty(shape.rowShape);
  rt.dispatch(normForwardProgram('layer', width, normRowWorkgroup(rt), reduceVariant(rt)), {
    bindings: [x, gamma, beta, y, mean, rstd],
    uniforms: { rows: shape.rows, cols: shape.dim / width, dim: shape.dim, eps },
    workgroups: rt.grid(shape.rows),
  });
  return { y, mean, rstd };
}

export interface RmsNormResult {
  y: GpuArray;
  /** Per-row 1/sqrt(mean(x²) + eps), shape x.shape[:-1]: saved for the backward. */
  rstd: GpuArray;
}

/** y = x·rstd·γ with rstd = 1/sqrt(mean(x²) + eps) over the last dimension of x [..., D]; γ is [D]. */
export function rmsNorm(rt: Runtime, x: GpuArray, gamma: GpuArray, options: RmsNormOptions = {}): RmsNormResult {
  const kernel = 'rms-norm';
  const shape = rowShapeOf(kernel, x);
  checkParam(kernel, 'gamma', gamma, shape.dim);
  const eps = options.eps ?? 1e-6;
  checkEps(kernel, eps);
  const width = vectorWidth(shape.dim);
  const y = rt.empty(x.shape);
  const rstd = rt.empty(shape.rowShape);
  rt.dispatch(normForwardProgram('rms', width, normRowWorkgroup(rt), reduceVariant(rt)), {
    bindings: [x, gamma, y, rstd],
    uniforms: { rows: shape.rows, cols: shape.dim / width, dim: shape.dim, eps },
    workgroups: rt.grid(shape.rows),
  });
  return { y, rstd };
}

/** Rows per chunk of the parameter-gradient reduction: a function of the row count only. */
export function normRowsPerChunk(rows: number): number {
  return Math.max(MIN_ROWS_PER_CHUNK, Math.ceil(rows / MAX_ROW_CHUNKS));
}

/** Σ over rows of dy·x̂ (and of dy for LayerNorm), deterministic, as [D] arrays. */
function paramGrads(rt: Runtime, kind: NormKind, width: 1 | 4, dy: GpuArray, x: GpuArray, saved: GpuArray[], shape: RowShape): GpuArray[] {
  const count = kind === 'layer' ? 2 : 1;
  if (shape.rows === 0) return Array.from({ length: count }, () => rt.zeros([shape.dim]));
  const cols = shape.dim / width;
  const rowsPerChunk = normRowsPerChunk(shape.rows);
  const chunks = Math.ceil(shape.rows / rowsPerChunk);
  // With one chunk the partial sums are already the result.
  const partials = Array.from({ length: count }, () => rt.empty(chunks === 1 ? [shape.dim] : [chunks, shape.dim]));
  rt.dispatch(paramGradPartialProgram(kind, width), {
    bindings: [dy, x, ...saved, ...partials],
    uniforms: { rows: shape.rows, cols, rowsPerChunk },
    workgroups: [Math.ceil(cols / COLUMN_WORKGROUP), chunks],
  });
  if (chunks === 1) return partials;
  return partials.map((partial) => {
    const out = rt.empty([shape.dim]);
    rt.dispatch(columnSumProgram(width), {
      bindings: [partial, out],
      uniforms: { chunks, cols },
      workgroups: [Math.ceil(cols / COLUMN_WORKGROUP)],
    });
    partial.dispose(); // the pool hands the buffer out again only after this batch is queued
    return out;
  });
}

export interface LayerNormGrads {
  dx: GpuArray;
  dgamma: GpuArray;
  dbeta: GpuArray;
}

/** Gradients of layerNorm given dy and the saved per-row mean and rstd. */
export function layerNormBackward(rt: Runtime, dy: GpuArray, x: GpuArray, gamma: GpuArray, mean: GpuArray, rstd: GpuArray): LayerNormGrads {
  const kernel = 'layer-norm-backward';
  const shape = rowShapeOf(kernel, x);
  expectDType(kernel, 'dy', dy, 'f32');
  expectShape(kernel, 'dy', dy, x.shape);
  checkParam(kernel, 'gamma', gamma, shape.dim);
  checkSaved(kernel, 'mean', mean, shape);
  checkSaved(kernel, 'rstd', rstd, shape);
  const width = vectorWidth(shape.dim);
  const dx = rt.empty(x.shape);
  rt.dispatch(normBackwardProgram('layer', width, normRowWorkgroup(rt), reduceVariant(rt)), {
    bindings: [dy, x, gamma, mean, rstd, dx],
    uniforms: { rows: shape.rows, cols: shape.dim / width, dim: shape.dim },
    workgroups: rt.grid(shape.rows),
  });
  const [dgamma, dbeta] = paramGrads(rt, 'layer', width, dy, x, [mean, rstd], shape);
  return { dx, dgamma: dgamma!, dbeta: dbeta! };
}

export interface RmsNormGrads {
  dx: GpuArray;
  dgamma: GpuArray;
}

/** Gradients of rmsNorm given dy and the saved per-row rstd. */
export function rmsNormBackward(rt: Runtime, dy: GpuArray, x: GpuArray, gamma: GpuArray, rstd: GpuArray): RmsNormGrads {
  const kernel = 'rms-norm-backward';
  const shape = rowShapeOf(kernel, x);
  expectDType(kernel, 'dy', dy, 'f32');
  expectShape(kernel, 'dy', dy, x.shape);
  checkParam(kernel, 'gamma', gamma, shape.dim);
  checkSaved(kernel, 'rstd', rstd, shape);
  const width = vectorWidth(shape.dim);
  const dx = rt.empty(x.shape);
  rt.dispatch(normBackwardProgram('rms', width, normRowWorkgroup(rt), reduceVariant(rt)), {
    bindings: [dy, x, gamma, rstd, dx],
    uniforms: { rows: shape.rows, cols: shape.dim / width, dim: shape.dim },
    workgroups: rt.grid(shape.rows),
  });
  const [dgamma] = paramGrads(rt, 'rms', width, dy, x, [rstd], shape);
  return { dx, dgamma: dgamma! };
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
