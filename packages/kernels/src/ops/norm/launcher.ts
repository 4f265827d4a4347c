// norm: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import type { Runtime } from '../../runtime/runtime.js';
import { getFlag } from '../../runtime/flags.js';
import type { GpuArray } from '../../runtime/array.js';
import { expectDType, expectFinite, expectShape } from '../validate.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { reduceVariant } from '../shared/workgroup-reduce.js';
import { COLUMN_WORKGROUP, columnSumProgram, normBackwardProgram, normForwardProgram, type NormKind, paramGradPartialProgram } from './program.js';
import type { LayerNormOptions, RmsNormOptions, RowShape } from './reference.js';

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
