// norm: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import { reduceArgs, reduceBuiltins, reduceFeatures, type ReduceVariant, workgroupReduce } from '../shared/workgroup-reduce.js';
import type { KernelProgram } from '../../runtime/program.js';

export type NormKind = 'layer' | 'rms';

export const COLUMN_WORKGROUP = 64;

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

export function normForwardProgram(kind: NormKind, width: 1 | 4, size: number, variant: ReduceVariant): KernelProgram {
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
export function normBackwardProgram(kind: NormKind, width: 1 | 4, size: number, variant: ReduceVariant): KernelProgram {
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
export function paramGradPartialProgram(kind: NormKind, width: 1 | 4): KernelProgram {
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
export function columnSumProgram(width: 1 | 4): KernelProgram {
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
