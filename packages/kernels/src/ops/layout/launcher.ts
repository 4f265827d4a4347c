// layout: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import { expectDType } from '../validate.js';
import { stridesOf } from '../../reference.js';
import { dims, MAX_LAYOUT_RANK, stridedCopyProgram, WORKGROUP } from './program.js';
import { contiguousView, type View } from './reference.js';

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
