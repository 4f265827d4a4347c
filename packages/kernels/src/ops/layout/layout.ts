// Layout kernels: one strided copy serves permute, slice, broadcast-expand, concat and writes into
// a slice of an existing array (KV-cache appends). A view is (shape, strides, offset) in elements
// over a flat buffer, as in NumPy; stride 0 repeats an element (broadcast).
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray, DType } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { stridesOf, type CpuTensor } from '../../reference.js';
import { expectDType } from '../validate.js';

export const MAX_LAYOUT_RANK = 6;
const WORKGROUP = 256;

export interface View {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export function contiguousView(shape: readonly number[], offset = 0): View {
  return { shape, strides: stridesOf(shape), offset };
}

const dims = [...Array(MAX_LAYOUT_RANK).keys()];

function stridedCopyProgram(dtype: DType): KernelProgram {
  // Decompose the flat output index innermost-first into coordinates, accumulating both offsets.
  const steps = dims
    .slice()
    .reverse()
    .map((k) => `  c = rem % params.d${k}; rem = rem / params.d${k}; s += c * params.s${k}; t += c * params.t${k};`)
    .join('\n');
  return {
    name: 'strided-copy',
    variant: dtype,
    workgroupSize: [WORKGROUP],
    uniforms: [
      { name: 'n', type: 'u32' },
      { name: 'srcOffset', type: 'u32' },
      { name: 'dstOffset', type: 'u32' },
      ...dims.map((k) => ({ name: `d${k}`, type: 'u32' as const })),
      ...dims.map((k) => ({ name: `s${k}`, type: 'u32' as const })),
      ...dims.map((k) => ({ name: `t${k}`, type: 'u32' as const })),
    ],
    bindings: [
      { name: 'src', type: dtype, access: 'read' },
      { name: 'dst', type: dtype, access: 'read_write' },
    ],
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = grid_invocation(wid, nwg, lid);
  if (i >= params.n) { return; }
  var rem = i;
  var c = 0u;
  var s = params.srcOffset;
  var t = params.dstOffset;
${steps}
  dst[t] = src[s];
}`,
  };
}

function checkView(kernel: string, name: string, array: { size: number; shape: readonly number[] }, view: View): void {
  if (view.shape.length > MAX_LAYOUT_RANK) throw new ArgumentError(kernel, name, `rank ${view.shape.length} exceeds ${MAX_LAYOUT_RANK}`);
  if (view.strides.length !== view.shape.length) throw new ArgumentError(kernel, name, 'strides and shape have different lengths');
  if (view.shape.some((d) => d === 0)) return;
  let last = view.offset;
  for (let k = 0; k < view.shape.length; k++) {
    if (view.strides[k]! < 0) throw new ArgumentError(kernel, name, 'negative strides are not supported');
    last += (view.shape[k]! - 1) * view.strides[k]!;
  }
  if (view.offset < 0 || last >= array.size) {
    throw new ArgumentError(kernel, name, `view reaches element ${last} of an array of ${array.size} ${shapeString(array.shape)}`);
  }
}

/** dst[dstView] = src[srcView], element by element; both views have the same shape. */
export function stridedCopy(rt: Runtime, src: GpuArray, srcView: View, dst: GpuArray, dstView: View): void {
  expectDType('strided-copy', 'src', src, 'f32', 'i32', 'u32');
  expectDType('strided-copy', 'dst', dst, src.dtype);
  if (srcView.shape.length !== dstView.shape.length || srcView.shape.some((d, k) => d !== dstView.shape[k])) {
    throw new ArgumentError('strided-copy', 'dstView', `expected shape ${shapeString(srcView.shape)}, got ${shapeString(dstView.shape)}`);
  }
  checkView('strided-copy', 'srcView', src, srcView);
  checkView('strided-copy', 'dstView', dst, dstView);
  const n = srcView.shape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const pad = MAX_LAYOUT_RANK - srcView.shape.length;
  const uniforms: Record<string, number> = { n, srcOffset: srcView.offset, dstOffset: dstView.offset };
  for (const k of dims) {
    const j = k - pad;
    uniforms[`d${k}`] = j < 0 ? 1 : srcView.shape[j]!;
    uniforms[`s${k}`] = j < 0 ? 0 : srcView.strides[j]!;
    uniforms[`t${k}`] = j < 0 ? 0 : dstView.strides[j]!;
  }
  rt.dispatch(stridedCopyProgram(src.dtype), { bindings: [src, dst], uniforms, workgroups: rt.grid(Math.ceil(n / WORKGROUP)) });
}

/** float64 reference of stridedCopy, in place on dst. */
export function stridedCopyReference(src: Float64Array, srcView: View, dst: Float64Array, dstView: View): void {
  const shape = srcView.shape;
  const n = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let s = srcView.offset;
    let t = dstView.offset;
    for (let k = shape.length - 1; k >= 0; k--) {
      const c = rem % shape[k]!;
      rem = Math.floor(rem / shape[k]!);
      s += c * srcView.strides[k]!;
      t += c * dstView.strides[k]!;
    }
    dst[t] = src[s]!;
  }
}

// ---------------------------------------------------------------- views for the common layouts

function checkAxes(kernel: string, rank: number, axes: readonly number[]): void {
  const sorted = [...axes].sort((a, b) => a - b);
  if (axes.length !== rank || sorted.some((a, i) => a !== i)) {
    throw new ArgumentError(kernel, 'axes', `must be a permutation of 0..${rank - 1}, got [${axes.join(', ')}]`);
  }
}

/** The view of x whose axis k is x's axis axes[k]. */
export function permutedView(shape: readonly number[], axes: readonly number[]): View {
  checkAxes('permute', shape.length, axes);
  const strides = stridesOf(shape);
  return { shape: axes.map((a) => shape[a]!), strides: axes.map((a) => strides[a]!), offset: 0 };
}

function checkAxisRange(kernel: string, shape: readonly number[], axis: number, start: number, length: number): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= shape.length) throw new ArgumentError(kernel, 'axis', `must be in [0, ${shape.length - 1}] for shape ${shapeString(shape)}, got ${axis}`);
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > shape[axis]!) {
    throw new ArgumentError(kernel, 'range', `[${start}, ${start + length}) is outside axis ${axis} of size ${shape[axis]} (shape ${shapeString(shape)})`);
  }
}

/** The view of elements [start, start+length) along one axis. */
export function sliceView(shape: readonly number[], axis: number, start: number, length: number): View {
  checkAxisRange('slice', shape, axis, start, length);
  const strides = stridesOf(shape);
  return { shape: shape.map((d, k) => (k === axis ? length : d)), strides, offset: start * strides[axis]! };
}

/** The view that repeats x (right-aligned, size-1 or missing axes) to a larger shape. */
export function broadcastView(shape: readonly number[], target: readonly number[]): View {
  const pad = target.length - shape.length;
  const strides = stridesOf(shape);
  if (pad < 0 || shape.some((d, k) => d !== 1 && d !== target[k + pad])) {
    throw new ArgumentError('broadcast', 'shape', `${shapeString(shape)} cannot broadcast to ${shapeString(target)}`);
  }
  return { shape: target, strides: target.map((_, k) => (k < pad || shape[k - pad] === 1 ? 0 : strides[k - pad]!)), offset: 0 };
}

// ---------------------------------------------------------------- launchers

/** A new array holding x with its axes permuted (x.shape[axes[k]] becomes axis k). */
export function permute(rt: Runtime, x: GpuArray, axes: readonly number[]): GpuArray {
  const view = permutedView(x.shape, axes);
  const out = rt.empty(view.shape, x.dtype);
  stridedCopy(rt, x, view, out, contiguousView(view.shape));
  return out;
}

/** A new array holding elements [start, start+length) of x along axis. */
export function slice(rt: Runtime, x: GpuArray, axis: number, start: number, length: number): GpuArray {
  const view = sliceView(x.shape, axis, start, length);
  const out = rt.empty(view.shape, x.dtype);
  stridedCopy(rt, x, view, out, contiguousView(view.shape));
  return out;
}

/** Copies src into dst at [start, start + src.shape[axis]) along axis (other axes must match). */
export function writeSlice(rt: Runtime, dst: GpuArray, axis: number, start: number, src: GpuArray): void {
  const length = src.shape[axis] ?? -1;
  checkAxisRange('write-slice', dst.shape, axis, start, length);
  if (src.rank !== dst.rank || src.shape.some((d, k) => k !== axis && d !== dst.shape[k])) {
    const want = dst.shape.map((d, k) => (k === axis ? '*' : String(d)));
    throw new ArgumentError('write-slice', 'src', `expected shape [${want.join(', ')}], got ${shapeString(src.shape)}`);
  }
  stridedCopy(rt, src, contiguousView(src.shape), dst, sliceView(dst.shape, axis, start, length));
}

/** Concatenation along an axis. */
export function concat(rt: Runtime, xs: readonly GpuArray[], axis: number): GpuArray {
  if (xs.length === 0) throw new ArgumentError('concat', 'xs', 'needs at least one array');
  const first = xs[0]!;
  const total = xs.reduce((sum, x) => sum + (x.shape[axis] ?? 0), 0);
  const out = rt.empty(first.shape.map((d, k) => (k === axis ? total : d)), first.dtype);
  let start = 0;
  for (const x of xs) {
    writeSlice(rt, out, axis, start, x);
    start += x.shape[axis]!;
  }
  return out;
}

/** A new array holding x repeated to `shape` (NumPy broadcasting rules). */
export function broadcastTo(rt: Runtime, x: GpuArray, shape: readonly number[]): GpuArray {
  const view = broadcastView(x.shape, shape);
  const out = rt.empty(shape, x.dtype);
  stridedCopy(rt, x, view, out, contiguousView(shape));
  return out;
}

/** CPU reference for the launchers above: materialises a view of a CpuTensor. */
export function viewReference(x: CpuTensor, view: View): CpuTensor {
  const out = new Float64Array(view.shape.reduce((a, b) => a * b, 1));
  stridedCopyReference(x.data, view, out, contiguousView(view.shape));
  return { shape: [...view.shape], data: out };
}
