// softmax and log-softmax over the last axis, forward and backward, with float64 references.
//
// Forward: one workgroup per row (the 'workgroup' path). Each invocation walks its strided share of
// the row once, keeping a running maximum m and a sum s of exp(v − m) rescaled whenever m grows
// (online softmax, one pass for the statistics: s ← d > 0 ? s·e^(−d) + 1 : s + e^(−|d|) with
// d = v − m). The workgroup then combines the (m, s) pairs with the shared reducer (subgroup
// variant or the shared-memory fallback, flag `reduce.variant`) and a second pass over the row
// writes the output. The 'thread' path gives each invocation a whole row (the same two passes, no
// barriers): used for short rows on GPUs and, on a software device (lavapipe), whenever there are
// enough rows, because there a workgroup's barriers cost in proportion to its size (flag
// `softmax.path` = workgroup | thread forces either; `softmax.workgroup` the workgroup size).
// Rows whose length is a multiple of 4 are read and written as vec4 (flag `softmax.vec4`).
//
// Edge cases, identical in the kernels and the references:
// - −inf entries get probability 0 (log-probability −inf); large magnitudes (±1e4, ±3e38) do not
//   overflow, because every exponent is ≤ 0 (differences that overflow to −inf give exp = 0).
// - A fully masked row (every entry −inf) has no distribution; we define softmax = 0 everywhere
//   and log-softmax = −inf everywhere (never NaN), and both backward passes give dx = 0 there.
// - The running maximum starts at −FLT_MAX (not −inf) so exp(m − M) is never exp(−inf + inf).
//   A row of finite −FLT_MAX values is therefore an ordinary row (uniform), as in the reference.
//
// Backward (both take the forward output y, not x):
//   softmax:     dx = y·(dy − Σ y·dy)
//   log-softmax: dx = dy − exp(y)·Σ dy, and 0 on a fully masked row (detected as Σ exp(y) = 0;
//                every real row has Σ exp(y) = 1).
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import { cpuZeros, type CpuTensor } from '../../reference.js';
import { expectDType, expectShape } from '../validate.js';
import { reduceArgs, reduceBuiltins, reduceFeatures, reduceVariant, workgroupReduce, type ReduceVariant } from '../shared/workgroup-reduce.js';

export type SoftmaxKind = 'softmax' | 'logSoftmax';
export type SoftmaxPath = 'workgroup' | 'thread';

const THREAD_WORKGROUP = 64;
/** On GPUs, rows up to this length use the thread path (one invocation per row). */
const THREAD_PATH_MAX_COLS = 32;
/** On software devices, the thread path needs this many rows (8 SIMD vectors per thread at 8 threads). */
const THREAD_PATH_MIN_ROWS_SOFTWARE = 512;

const programs = new Map<string, KernelProgram>();

/** Elements per load: 4 (vec4 loads, register blocking) when rows are multiples of 4, else 1. */
export type SoftmaxWidth = 1 | 4;

function common(width: SoftmaxWidth): string {
  const V = width === 4 ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
alias V = ${V};
var<private> NEG_INF_BITS: u32 = 0xff800000u;
fn neg_inf() -> f32 { return bitcast<f32>(NEG_INF_BITS); }
const LOWEST: f32 = -3.402823466e+38;
fn hsum(v: V) -> f32 { return ${width === 4 ? 'dot(v, V(1.0))' : 'v'}; }`;
}

/**
 * Online update of (m, s) with one loaded value v (f32 or vec4). Scalar: one exp per element,
 * s ← d > 0 ? s·e^(−d) + 1 : s + e^(−|d|) with d = v − m. vec4: the new maximum over the four
 * lanes, then s ← s·e^(m − m') + Σ e^(v − m') (1.25 exps per element).
 */
function onlineUpdate(width: SoftmaxWidth): string {
  return width === 1
    ? /* wgsl */ `
    let d = v - m;
    let e = exp(-abs(d));
    s = select(s + e, s * e + 1.0, d > 0.0);
    m = max(m, v);`
    : /* wgsl */ `
    let mn = max(m, max(max(v.x, v.y), max(v.z, v.w)));
    s = s * exp(m - mn) + hsum(exp(v - V(mn)));
    m = mn;`;
}

function forwardWrite(kind: SoftmaxKind): { prepare: string; write: string } {
  return kind === 'softmax'
    ? { prepare: 'let inv = select(1.0 / total, 0.0, total == 0.0);', write: 'y[at] = exp(x[at] - V(top)) * inv;' }
    : { prepare: 'let log_total = log(total); let masked = total == 0.0;', write: 'y[at] = select((x[at] - V(top)) - V(log_total), V(neg_inf()), masked);' };
}

/** Row loops: the workgroup path strides by the workgroup, the thread path walks the row alone. */
function rowLoop(path: SoftmaxPath, body: string): string {
  return path === 'workgroup'
    ? `for (var c = lid; c < params.len; c += WG_X) { let at = base + c; ${body} }`
    : `for (var c = 0u; c < params.len; c++) { let at = base + c; ${body} }`;
}

function rowHeader(path: SoftmaxPath, variant: ReduceVariant): string {
  return path === 'workgroup'
    ? /* wgsl */ `@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${reduceBuiltins(variant)}) {
  let row = grid_workgroup(wid, nwg);`
    : /* wgsl */ `@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = grid_invocation(wid, nwg, lid);`;
}

function programKeyOf(parts: (string | number)[]): string {
  return parts.join(':');
}

/** Uniforms: rows, and len = the row length in loads (cols / width). */
export function softmaxForwardProgram(kind: SoftmaxKind, path: SoftmaxPath, variant: ReduceVariant, workgroup: number, width: SoftmaxWidth = 1): KernelProgram {
  const key = programKeyOf(['fwd', kind, path, variant, workgroup, width]);
  const hit = programs.get(key);
  if (hit) return hit;
  const { prepare, write } = forwardWrite(kind);
  const wg = path === 'workgroup';
  const code = /* wgsl */ `${common(width)}
${wg ? workgroupReduce('wg_max', 'max', workgroup, variant) : ''}
${wg ? workgroupReduce('wg_sum', 'sum', workgroup, variant) : ''}
${rowHeader(path, variant)}
  if (row >= params.rows) { return; }
  let base = row * params.len;
  var m = LOWEST;
  var s = 0.0;
  ${rowLoop(path, `let v = x[at];${onlineUpdate(width)}`)}
  ${wg ? `let top = wg_max(m, ${reduceArgs(variant)});\n  let total = wg_sum(s * exp(m - top), ${reduceArgs(variant)});` : 'let top = m;\n  let total = s;'}
  ${prepare}
  ${rowLoop(path, write)}
}`;
  const vtype = width === 4 ? 'vec4<f32>' : 'f32';
  const program: KernelProgram = {
    name: kind,
    variant: `${path}:${wg ? variant : 'serial'}:${workgroup}:w${width}`,
    workgroupSize: [workgroup],
    features: wg ? reduceFeatures(variant) : [],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'len', type: 'u32' },
    ],
    bindings: [
      { name: 'x', type: vtype, access: 'read' },
      { name: 'y', type: vtype, access: 'read_write' },
    ],
    code,
  };
  programs.set(key, program);
  return program;
}

/**
 * Backward programs. Per row they accumulate two sums over (y, dy), then write dx:
 * softmax: a = Σ y·dy (b unused); log-softmax: a = Σ dy, b = Σ exp(y).
 */
export function softmaxBackwardProgram(kind: SoftmaxKind, path: SoftmaxPath, variant: ReduceVariant, workgroup: number, width: SoftmaxWidth = 1): KernelProgram {
  const key = programKeyOf(['bwd', kind, path, variant, workgroup, width]);
  const hit = programs.get(key);
  if (hit) return hit;
  const soft = kind === 'softmax';
  const wg = path === 'workgroup';
  const accumulate = soft ? 'a += hsum(y[at] * dy[at]);' : 'a += hsum(dy[at]); b += hsum(exp(y[at]));';
  const write = soft ? 'dx[at] = y[at] * (dy[at] - V(sa));' : 'dx[at] = select(dy[at] - exp(y[at]) * sa, V(0.0), sb == 0.0);';
  const args = reduceArgs(variant);
  const reduceBoth = wg
    ? soft
      ? `let sa = wg_sum_a(a, ${args});`
      : `let sa = wg_sum_a(a, ${args});\n  let sb = wg_sum_b(b, ${args});`
    : 'let sa = a;\n  let sb = b;';
  const code = /* wgsl */ `${common(width)}
${wg ? workgroupReduce('wg_sum_a', 'sum', workgroup, variant) : ''}
${wg && !soft ? workgroupReduce('wg_sum_b', 'sum', workgroup, variant) : ''}
${rowHeader(path, variant)}
  if (row >= params.rows) { return; }
  let base = row * params.len;
  var a = 0.0;
  var b = 0.0;
  ${rowLoop(path, accumulate)}
  ${reduceBoth}
  ${rowLoop(path, write)}
}`;
  const vtype = width === 4 ? 'vec4<f32>' : 'f32';
  const program: KernelProgram = {
    name: `${kind}-backward`,
    variant: `${path}:${wg ? variant : 'serial'}:${workgroup}:w${width}`,
    workgroupSize: [workgroup],
    features: wg ? reduceFeatures(variant) : [],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'len', type: 'u32' },
    ],
    bindings: [
      { name: 'y', type: vtype, access: 'read' },
      { name: 'dy', type: vtype, access: 'read' },
      { name: 'dx', type: vtype, access: 'read_write' },
    ],
    code,
  };
  programs.set(key, program);
  return program;
}

// ---------------------------------------------------------------- launchers

interface Launch {
  path: SoftmaxPath;
  variant: ReduceVariant;
  workgroup: number;
  width: SoftmaxWidth;
  workgroups: [number, number, number];
}

function adapterInfo(rt: Runtime): { architecture?: string; subgroupMaxSize?: number } | undefined {
  return (rt.adapter as GPUAdapter & { info?: { architecture?: string; subgroupMaxSize?: number } }).info;
}

/** A CPU implementation (lavapipe): barriers cost per invocation, so workgroups stay one SIMD vector wide. */
function isSoftwareDevice(rt: Runtime): boolean {
  return adapterInfo(rt)?.architecture === 'software';
}

/**
 * The launch for a [rows, cols] problem. Flags: `softmax.path` (workgroup | thread),
 * `softmax.workgroup` (a power of two), `softmax.vec4` (false: scalar loads).
 *
 * Measured on lavapipe (LP_NUM_THREADS=8): a workgroup's barriers cost in proportion to its size
 * (one row per 256-invocation workgroup: 345 ms for 65536 short rows, against 24 ms with 8), so on
 * a software device the workgroup is one SIMD vector (the subgroup size) and rows of up to 4096
 * columns go to the thread path when there are enough rows to keep every thread busy. GPUs get
 * 64 invocations per row (256 from 4096 columns) and the thread path only for rows of ≤ 32.
 */
function plan(rt: Runtime, rows: number, cols: number): Launch {
  const forced = getFlag<string>('softmax.path', 'auto');
  if (forced !== 'auto' && forced !== 'workgroup' && forced !== 'thread') {
    throw new Error(`flag softmax.path must be auto, workgroup or thread, got "${forced}"`);
  }
  const software = isSoftwareDevice(rt);
  const threadPath = software ? rows >= THREAD_PATH_MIN_ROWS_SOFTWARE && cols <= 4096 : cols <= THREAD_PATH_MAX_COLS;
  const path: SoftmaxPath = forced !== 'auto' ? forced : threadPath ? 'thread' : 'workgroup';
  const width: SoftmaxWidth = cols % 4 === 0 && getFlag<boolean>('softmax.vec4', true) ? 4 : 1;
  if (path === 'thread') {
    return { path, variant: 'shared', workgroup: THREAD_WORKGROUP, width, workgroups: rt.grid(Math.ceil(rows / THREAD_WORKGROUP)) };
  }
  let workgroup = getFlag<number>('softmax.workgroup', 0);
  if (workgroup !== 0) {
    if (!Number.isInteger(workgroup) || workgroup < 1 || (workgroup & (workgroup - 1)) !== 0) {
      throw new Error(`flag softmax.workgroup must be a power of two, got ${workgroup}`);
    }
  } else if (software) {
    const sg = adapterInfo(rt)?.subgroupMaxSize ?? 8;
    workgroup = Math.max(8, (sg & (sg - 1)) === 0 ? sg : 8);
  } else {
    workgroup = cols >= 4096 ? 256 : 64;
  }
  return { path, variant: reduceVariant(rt), workgroup, width, workgroups: rt.grid(rows) };
}

function rowsOf(kernel: string, x: GpuArray): { rows: number; cols: number } {
  if (x.rank < 1) throw new ArgumentError(kernel, 'x', `needs at least one axis (rows over the last), got shape ${shapeString(x.shape)}`);
  const cols = x.shape[x.rank - 1]!;
  return { rows: cols === 0 ? 0 : x.size / cols, cols };
}

function forward(rt: Runtime, kind: SoftmaxKind, x: GpuArray): GpuArray {
  expectDType(kind, 'x', x, 'f32');
  const { rows, cols } = rowsOf(kind, x);
  const y = rt.empty(x.shape);
  if (rows === 0 || cols === 0) return y;
  const p = plan(rt, rows, cols);
  rt.dispatch(softmaxForwardProgram(kind, p.path, p.variant, p.workgroup, p.width), {
    bindings: [x, y],
    uniforms: { rows, len: cols / p.width },
    workgroups: p.workgroups,
  });
  return y;
}

function backward(rt: Runtime, kind: SoftmaxKind, y: GpuArray, dy: GpuArray): GpuArray {
  const kernel = `${kind}-backward`;
  expectDType(kernel, 'y', y, 'f32');
  expectDType(kernel, 'dy', dy, 'f32');
  expectShape(kernel, 'dy', dy, y.shape);
  const { rows, cols } = rowsOf(kernel, y);
  const dx = rt.empty(y.shape);
  if (rows === 0 || cols === 0) return dx;
  const p = plan(rt, rows, cols);
  rt.dispatch(softmaxBackwardProgram(kind, p.path, p.variant, p.workgroup, p.width), {
    bindings: [y, dy, dx],
    uniforms: { rows, len: cols / p.width },
    workgroups: p.workgroups,
  });
  return dx;
}

/** softmax over the last axis; a fully masked row (all −inf) gives zeros. */
export function softmax(rt: Runtime, x: GpuArray): GpuArray {
  return forward(rt, 'softmax', x);
}

/** log-softmax over the last axis; a fully masked row (all −inf) gives −inf everywhere. */
export function logSoftmax(rt: Runtime, x: GpuArray): GpuArray {
  return forward(rt, 'logSoftmax', x);
}

/** dx = y·(dy − Σ y·dy) per row, from the forward output y. */
export function softmaxBackward(rt: Runtime, y: GpuArray, dy: GpuArray): GpuArray {
  return backward(rt, 'softmax', y, dy);
}

/** dx = dy − exp(y)·Σ dy per row, from the forward output y; zeros on fully masked rows. */
export function logSoftmaxBackward(rt: Runtime, y: GpuArray, dy: GpuArray): GpuArray {
  return backward(rt, 'logSoftmax', y, dy);
}

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
