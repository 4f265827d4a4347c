// Reductions along any set of axes (rank ≤ 6, keepdims or not): sum, mean and max, their backward
// passes, sumToShape (how broadcast gradients are folded back), and float64 references.
//
// Every reduction is a sequence of passes over a 3-D view [outer, len, inner] of a contiguous
// array: size-1 dimensions are dropped, neighbouring reduced (or kept) dimensions merged, and the
// innermost reduced group is reduced first, so any axis set needs at most one pass per reduced
// group. Each pass has two kernels, chosen by shape (flag `reduce.path` = row | column forces one):
//
// - row: one workgroup per output element; its invocations stride over the reduced axis and
//   combine with the shared workgroup reducer (subgroup variant, or the shared-memory tree; flag
//   `reduce.variant`). Used for long innermost axes (rows); on a software device (lavapipe) the
//   workgroup is one SIMD vector wide, since barriers cost in proportion to the workgroup size.
// - column: one invocation per output element, looping over the reduced axis; neighbouring
//   invocations read neighbouring addresses when the axis is not innermost (columns), and short
//   rows (or, on a software device, any rows that are numerous enough) avoid a barrier each.
//
// Loads are vec4 where the shape allows (flag `reduce.vec4` = false forces scalar): along a
// reduced innermost axis of length % 4 = 0, or, on the column path, across four neighbouring
// outputs when inner % 4 = 0. vec4 loads were 2–4× faster on lavapipe.
//
// When there are few outputs and a long axis (a full reduction, or [100000, 3] over axis 0), a
// pass is split: chunks of the axis are reduced into partial results, which a second pass combines
// (flag `reduce.chunk` = N forces chunks of N elements). Mean is a sum whose last pass scales by 1/len.
//
// max: the gradient goes to the elements equal to the maximum, split equally between ties (the
// reference does the same). The max of an empty axis is an error; the mean of one is NaN.
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import { cpuZeros, type CpuTensor } from '../../reference.js';
import { expectDType, expectShape } from '../validate.js';
import { reduceArgs, reduceBuiltins, reduceFeatures, reduceVariant, workgroupReduce, type ReduceVariant } from '../shared/workgroup-reduce.js';
import { broadcastIndex, broadcastShapes, broadcastStrides, sameShape, MAX_BROADCAST_RANK } from '../elementwise/broadcast.js';
import { runBroadcastMap } from '../elementwise/map-program.js';
import { binary } from '../elementwise/elementwise.js';

export type ReductionOp = 'sum' | 'mean' | 'max';
export type ReducePath = 'row' | 'column';

export interface ReduceOptions {
  /** Axis or axes to reduce (negative counts from the end); all axes when omitted. */
  axis?: number | readonly number[];
  /** Keep reduced axes as size 1 (default false). */
  keepdims?: boolean;
}

const COLUMN_WORKGROUP = 64;

// ---------------------------------------------------------------- shapes

/** Sorted, distinct, non-negative axes; errors name the kernel and the shape. */
export function normalizeAxes(kernel: string, shape: readonly number[], axis?: number | readonly number[]): number[] {
  const rank = shape.length;
  if (rank > MAX_BROADCAST_RANK) throw new ArgumentError(kernel, 'x', `rank ${rank} (shape ${shapeString(shape)}) exceeds the maximum ${MAX_BROADCAST_RANK}`);
  if (axis === undefined) return shape.map((_, k) => k);
  const list = typeof axis === 'number' ? [axis] : [...axis];
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) {
      throw new ArgumentError(kernel, 'axis', `${a} is out of range for shape ${shapeString(shape)} (rank ${rank})`);
    }
    return a < 0 ? a + rank : a;
  });
  if (new Set(out).size !== out.length) throw new ArgumentError(kernel, 'axis', `repeats an axis: [${list.join(', ')}]`);
  return out.sort((a, b) => a - b);
}

/** Output shape of a reduction. */
export function reducedShape(shape: readonly number[], axes: readonly number[], keepdims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, k) => {
    if (!axes.includes(k)) out.push(d);
    else if (keepdims) out.push(1);
  });
  return out;
}

interface Group {
  size: number;
  reduced: boolean;
}

/** Size-1 dims dropped, runs of reduced / kept dims merged. */
function groupsOf(shape: readonly number[], axes: readonly number[]): Group[] {
  const groups: Group[] = [];
  shape.forEach((d, k) => {
    if (d === 1) return;
    const reduced = axes.includes(k);
    const last = groups[groups.length - 1];
    if (last && last.reduced === reduced) last.size *= d;
    else groups.push({ size: d, reduced });
  });
  return groups;
}

// ---------------------------------------------------------------- kernels

type KernelOp = 'sum' | 'max';

const programs = new Map<string, KernelProgram>();

/**
 * How a pass loads: 'scalar'; 'rows4' (the reduced axis is innermost: vec4 loads along it, folded
 * into a scalar accumulator); 'cols4' (column path with inner % 4 = 0: each invocation owns four
 * neighbouring outputs, loading, accumulating and storing vec4). Lengths are then in vec4 units.
 */
export type ReduceWidth = 'scalar' | 'rows4' | 'cols4';

/**
 * One pass over [outer, len, inner] viewed as [outer, chunks, chunk, inner] → [outer, chunks, inner].
 * Uniforms (in load units): outputs = outer·chunks·inner, len, inner, chunk, chunks, and scale
 * (multiplies sums; 1/len for a mean's last pass).
 */
export function reduceProgram(op: KernelOp, path: ReducePath, variant: ReduceVariant, workgroup: number, width: ReduceWidth = 'scalar'): KernelProgram {
  if (path === 'row' && width === 'cols4') throw new Error('reduceProgram: the row path has no cols4 form');
  const key = `${op}:${path}:${variant}:${workgroup}:${width}`;
  const hit = programs.get(key);
  if (hit) return hit;
  const X = width === 'scalar' ? 'f32' : 'vec4<f32>';
  const ACC = width === 'cols4' ? 'vec4<f32>' : 'f32';
  const combine = (a: string, b: string) => (op === 'sum' ? `${a} + ${b}` : `max(${a}, ${b})`);
  const horizontal = (v: string) => (op === 'sum' ? `dot(${v}, vec4<f32>(1.0))` : `max(max(${v}.x, ${v}.y), max(${v}.z, ${v}.w))`);
  const fold = (acc: string, v: string) => combine(acc, width === 'rows4' ? horizontal(v) : v);
  const identity = op === 'sum' ? `${ACC}(0.0)` : `${ACC}(neg_inf())`;
  const finish = (v: string) => (op === 'sum' ? `${v} * params.scale` : v);
  const locate = /* wgsl */ `
  let i = o % params.inner;
  let oc = o / params.inner;
  let c = oc % params.chunks;
  let start = c * params.chunk;
  let end = min(params.len, start + params.chunk);
  let base = (oc / params.chunks) * params.len * params.inner + i;`;
  const header = /* wgsl */ `
var<private> NEG_INF_BITS: u32 = 0xff800000u;
fn neg_inf() -> f32 { return bitcast<f32>(NEG_INF_BITS); }`;
  let code: string;
  if (path === 'row') {
    code = /* wgsl */ `${header}
${workgroupReduce('wg_combine', op, workgroup, variant)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${reduceBuiltins(variant)}) {
  let o = grid_workgroup(wid, nwg);
  if (o >= params.outputs) { return; }
  ${locate}
  var acc = ${identity};
  for (var r = start + lid; r < end; r += WG_X) { acc = ${fold('acc', 'x[base + r * params.inner]')}; }
  let total = wg_combine(acc, ${reduceArgs(variant)});
  if (lid == 0u) { y[o] = ${finish('total')}; }
}`;
  } else {
    code = /* wgsl */ `${header}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = grid_invocation(wid, nwg, lid);
  if (o >= params.outputs) { return; }
  ${locate}
  var acc = ${identity};
  for (var r = start; r < end; r++) { acc = ${fold('acc', 'x[base + r * params.inner]')}; }
  y[o] = ${finish('acc')};
}`;
  }
  const program: KernelProgram = {
    name: `reduce-${op}`,
    variant: `${path}:${path === 'row' ? variant : 'loop'}:${workgroup}:${width}`,
    workgroupSize: [workgroup],
    features: path === 'row' ? reduceFeatures(variant) : [],
    uniforms: [
      ...['outputs', 'len', 'inner', 'chunk', 'chunks'].map((name) => ({ name, type: 'u32' as const })),
      { name: 'scale', type: 'f32' as const },
    ],
    bindings: [
      { name: 'x', type: X, access: 'read' },
      { name: 'y', type: ACC, access: 'read_write' },
    ],
    code,
  };
  programs.set(key, program);
  return program;
}

function adapterInfo(rt: Runtime): { architecture?: string; subgroupMaxSize?: number } | undefined {
  return (rt.adapter as GPUAdapter & { info?: { architecture?: string; subgroupMaxSize?: number } }).info;
}

/** A CPU implementation (lavapipe): barriers cost in proportion to the workgroup size. */
function isSoftwareDevice(rt: Runtime): boolean {
  return adapterInfo(rt)?.architecture === 'software';
}

function pathFlag(): ReducePath | 'auto' {
  const v = getFlag<string>('reduce.path', 'auto');
  if (v !== 'auto' && v !== 'row' && v !== 'column') throw new Error(`flag reduce.path must be auto, row or column, got "${v}"`);
  return v;
}

/**
 * Row path for long innermost axes; column path for strided axes and short rows. On a software
 * device (lavapipe, LP_NUM_THREADS=8) a workgroup pass pays a fixed cost per workgroup, and one
 * invocation per output walking its row was faster whenever there are enough outputs to feed every
 * thread and rows are not very long: [4096, 1024] rows 2.3 ms against 5.3 ms, [65536, 64] 3.5 ms
 * against 39 ms; but [512, 32768] 12 ms against 7.5 ms for the row path.
 */
function choosePath(rt: Runtime, outputs: number, len: number, inner: number): ReducePath {
  const forced = pathFlag();
  if (forced !== 'auto') return forced;
  if (inner !== 1 || len < 64) return 'column';
  return isSoftwareDevice(rt) && outputs >= 512 && len <= 4096 ? 'column' : 'row';
}

/** Workgroup size of the row path: one SIMD vector on software devices, 64/256 on GPUs (flag reduce.workgroup). */
function rowWorkgroup(rt: Runtime, chunk: number): number {
  const forced = getFlag<number>('reduce.workgroup', 0);
  if (forced !== 0) {
    if (!Number.isInteger(forced) || forced < 1 || (forced & (forced - 1)) !== 0) throw new Error(`flag reduce.workgroup must be a power of two, got ${forced}`);
    return forced;
  }
  if (isSoftwareDevice(rt)) {
    const sg = adapterInfo(rt)?.subgroupMaxSize ?? 8;
    return Math.max(8, (sg & (sg - 1)) === 0 ? sg : 8);
  }
  return chunk >= 4096 ? 256 : 64;
}

/** Chunk length of a pass: the whole axis unless there are too few outputs to keep the device busy. */
function chunkLength(outputs: number, len: number, path: ReducePath): number {
  const forced = getFlag<number>('reduce.chunk', 0);
  if (forced !== 0) {
    if (!Number.isInteger(forced) || forced < 2) throw new Error(`flag reduce.chunk must be an integer ≥ 2, got ${forced}`);
    return Math.min(forced, len);
  }
  // Parallel units wanted: workgroups for the row path, invocations for the column path.
  const wanted = path === 'row' ? 64 : 4096;
  const minChunk = path === 'row' ? 2048 : 256;
  if (outputs >= wanted || len <= 2 * minChunk) return len;
  const chunks = Math.min(Math.ceil(wanted / outputs), Math.ceil(len / minChunk));
  return Math.min(len, Math.ceil(len / chunks / 4) * 4); // multiples of 4 keep vec4 loads possible
}

/** Reduces [outer, len, inner] over len into `target` (outer·inner elements). */
function reducePass(rt: Runtime, op: KernelOp, x: GpuArray, outer: number, len: number, inner: number, scale: number, target: GpuArray): void {
  const path = choosePath(rt, outer * inner, len, inner);
  const chunk = chunkLength(outer * inner, len, path);
  const chunks = Math.ceil(len / chunk);
  if (chunks > 1) {
    const partial = rt.empty([outer * chunks * inner]);
    dispatchPass(rt, op, path, x, partial, { outer, len, inner, chunk, chunks, scale: 1 });
    reducePass(rt, op, partial, outer, chunks, inner, scale, target);
    partial.dispose();
    return;
  }
  dispatchPass(rt, op, path, x, target, { outer, len, inner, chunk: len, chunks: 1, scale });
}

interface PassShape {
  outer: number;
  len: number;
  inner: number;
  chunk: number;
  chunks: number;
  scale: number;
}

/** vec4 loads where the shape allows (flag reduce.vec4 = false forces scalar loads). */
function chooseWidth(path: ReducePath, s: PassShape): ReduceWidth {
  if (!getFlag<boolean>('reduce.vec4', true)) return 'scalar';
  if (s.inner === 1 && s.len % 4 === 0 && s.chunk % 4 === 0) return 'rows4';
  if (path === 'column' && s.inner % 4 === 0) return 'cols4';
  return 'scalar';
}

function dispatchPass(rt: Runtime, op: KernelOp, path: ReducePath, x: GpuArray, y: GpuArray, s: PassShape): void {
  const width = chooseWidth(path, s);
  let outputs = s.outer * s.chunks * s.inner;
  const u = { len: s.len, inner: s.inner, chunk: s.chunk, chunks: s.chunks, scale: s.scale };
  if (width === 'rows4') {
    u.len /= 4;
    u.chunk /= 4;
  } else if (width === 'cols4') {
    u.inner /= 4;
    outputs /= 4;
  }
  const uniforms = { outputs, ...u };
  if (path === 'row') {
    const variant = reduceVariant(rt);
    const workgroup = rowWorkgroup(rt, s.chunk);
    rt.dispatch(reduceProgram(op, 'row', variant, workgroup, width), { bindings: [x, y], uniforms, workgroups: rt.grid(outputs) });
  } else {
    rt.dispatch(reduceProgram(op, 'column', 'shared', COLUMN_WORKGROUP, width), {
      bindings: [x, y],
      uniforms,
      workgroups: rt.grid(Math.ceil(outputs / COLUMN_WORKGROUP)),
    });
  }
}

// ---------------------------------------------------------------- forward launchers

/** Reduces x over axes into an array of outShape (same element count as the kept dims). */
function reduceAxes(rt: Runtime, op: ReductionOp, kernel: string, x: GpuArray, axes: readonly number[], outShape: readonly number[]): GpuArray {
  const outSize = outShape.reduce((a, b) => a * b, 1);
  const len = axes.reduce((p, k) => p * x.shape[k]!, 1);
  if (outSize === 0) return rt.empty(outShape);
  if (len === 0) {
    if (op === 'max') throw new ArgumentError(kernel, 'axis', `max over an empty axis of shape ${shapeString(x.shape)} has no value`);
    if (op === 'sum') return rt.zeros(outShape);
    return rt.upload(new Float32Array(outSize).fill(NaN), outShape); // mean of nothing: 0/0
  }
  let groups = groupsOf(x.shape, axes);
  if (!groups.some((g) => g.reduced)) {
    // Only size-1 axes are reduced: every op is the identity.
    const y = rt.empty(outShape);
    rt.copy(x, y);
    return y;
  }
  const kernelOp: KernelOp = op === 'max' ? 'max' : 'sum';
  let current = x;
  while (groups.some((g) => g.reduced)) {
    let k = groups.length - 1;
    while (!groups[k]!.reduced) k--;
    const outer = groups.slice(0, k).reduce((p, g) => p * g.size, 1);
    const inner = groups.slice(k + 1).reduce((p, g) => p * g.size, 1);
    const passLen = groups[k]!.size;
    const rest = [...groups.slice(0, k), ...groups.slice(k + 1)];
    const last = !rest.some((g) => g.reduced);
    const target = last ? rt.empty(outShape) : rt.empty([outer * inner]);
    reducePass(rt, kernelOp, current, outer, passLen, inner, op === 'mean' ? 1 / passLen : 1, target);
    if (current !== x) current.dispose();
    current = target;
    // Merge the kept neighbours that became adjacent.
    groups = [];
    for (const g of rest) {
      const prev = groups[groups.length - 1];
      if (prev && prev.reduced === g.reduced) prev.size *= g.size;
      else groups.push({ ...g });
    }
  }
  return current;
}

/** y = op over the given axes (all axes when omitted). */
export function reduce(rt: Runtime, op: ReductionOp, x: GpuArray, options: ReduceOptions = {}): GpuArray {
  const kernel = `reduce-${op}`;
  if (op !== 'sum' && op !== 'mean' && op !== 'max') throw new ArgumentError('reduce', 'op', `must be sum, mean or max, got "${String(op)}"`);
  expectDType(kernel, 'x', x, 'f32');
  const axes = normalizeAxes(kernel, x.shape, options.axis);
  return reduceAxes(rt, op, kernel, x, axes, reducedShape(x.shape, axes, options.keepdims ?? false));
}

export const reduceSum = (rt: Runtime, x: GpuArray, options?: ReduceOptions): GpuArray => reduce(rt, 'sum', x, options);
export const reduceMean = (rt: Runtime, x: GpuArray, options?: ReduceOptions): GpuArray => reduce(rt, 'mean', x, options);
export const reduceMax = (rt: Runtime, x: GpuArray, options?: ReduceOptions): GpuArray => reduce(rt, 'max', x, options);

/**
 * Sums x down to `shape`, a shape that broadcasts to x's (the gradient of a broadcast): sums the
 * leading axes x has in excess and the axes where `shape` has size 1.
 */
export function sumToShape(rt: Runtime, x: GpuArray, shape: readonly number[]): GpuArray {
  expectDType('sum-to-shape', 'x', x, 'f32');
  const axes = sumToShapeAxes(x.shape, shape);
  return reduceAxes(rt, 'sum', 'sum-to-shape', x, axes, shape);
}

function sumToShapeAxes(xShape: readonly number[], shape: readonly number[]): number[] {
  const fits =
    shape.length <= xShape.length &&
    sameShape(broadcastShapes('sum-to-shape', [{ name: 'shape', shape }, { name: 'x', shape: xShape }]), xShape);
  if (!fits) throw new ArgumentError('sum-to-shape', 'shape', `${shapeString(shape)} does not broadcast to x's shape ${shapeString(xShape)}`);
  const pad = xShape.length - shape.length;
  return xShape.map((_, k) => k).filter((k) => k < pad || (shape[k - pad] === 1 && xShape[k] !== 1));
}

// ---------------------------------------------------------------- backward launchers

function keptShape(xShape: readonly number[], axes: readonly number[]): number[] {
  return reducedShape(xShape, axes, true);
}

/** Backward of sum (scale 1) and mean (scale 1/len): dx = dy broadcast over the reduced axes · scale. */
function broadcastBack(rt: Runtime, kernel: string, dy: GpuArray, xShape: readonly number[], options: ReduceOptions, mean: boolean): GpuArray {
  expectDType(kernel, 'dy', dy, 'f32');
  const axes = normalizeAxes(kernel, xShape, options.axis);
  expectShape(kernel, 'dy', dy, reducedShape(xShape, axes, options.keepdims ?? false));
  const len = axes.reduce((p, k) => p * xShape[k]!, 1);
  const dx = rt.empty(xShape);
  runBroadcastMap(
    rt,
    { kernel, inputs: [{ name: 'dy', dtype: 'f32' }], outputs: [{ name: 'dx', expr: 'dy * P0' }], params: 1 },
    [{ array: dy, shape: keptShape(xShape, axes) }],
    xShape,
    [dx],
    [mean ? 1 / len : 1],
  );
  return dx;
}

/** Gradient of reduceSum: dy repeated over the reduced axes. */
export function reduceSumBackward(rt: Runtime, dy: GpuArray, xShape: readonly number[], options: ReduceOptions = {}): GpuArray {
  return broadcastBack(rt, 'reduce-sum-backward', dy, xShape, options, false);
}

/** Gradient of reduceMean: dy / len repeated over the reduced axes. */
export function reduceMeanBackward(rt: Runtime, dy: GpuArray, xShape: readonly number[], options: ReduceOptions = {}): GpuArray {
  return broadcastBack(rt, 'reduce-mean-backward', dy, xShape, options, true);
}

/**
 * Gradient of reduceMax: dy goes to the elements equal to the maximum y, split equally between
 * ties (dx = [x == y] · dy / count). y is the forward output, in either keepdims form.
 */
export function reduceMaxBackward(rt: Runtime, x: GpuArray, y: GpuArray, dy: GpuArray, options: ReduceOptions = {}): GpuArray {
  const kernel = 'reduce-max-backward';
  expectDType(kernel, 'x', x, 'f32');
  expectDType(kernel, 'y', y, 'f32');
  expectDType(kernel, 'dy', dy, 'f32');
  const axes = normalizeAxes(kernel, x.shape, options.axis);
  const outShape = reducedShape(x.shape, axes, options.keepdims ?? false);
  expectShape(kernel, 'y', y, outShape);
  expectShape(kernel, 'dy', dy, outShape);
  const kept = keptShape(x.shape, axes);
  const mask = binary(rt, 'equal', x, y.reshape(kept));
  const count = reduceAxes(rt, 'sum', kernel, mask, axes, kept);
  const share = binary(rt, 'div', dy.reshape(kept), count);
  const dx = binary(rt, 'mul', mask, share);
  for (const a of [mask, count, share]) a.dispose();
  return dx;
}

/** Gradient of any reduction; y (the forward output) is needed for max only and recomputed when omitted. */
export function reduceBackward(rt: Runtime, op: ReductionOp, x: GpuArray, dy: GpuArray, options: ReduceOptions & { y?: GpuArray } = {}): GpuArray {
  if (op === 'sum') return reduceSumBackward(rt, dy, x.shape, options);
  if (op === 'mean') return reduceMeanBackward(rt, dy, x.shape, options);
  if (op !== 'max') throw new ArgumentError('reduceBackward', 'op', `must be sum, mean or max, got "${String(op)}"`);
  if (options.y) return reduceMaxBackward(rt, x, options.y, dy, options);
  const y = reduce(rt, 'max', x, options);
  const dx = reduceMaxBackward(rt, x, y, dy, options);
  y.dispose();
  return dx;
}

// ---------------------------------------------------------------- float64 references

/** Output index of every input element of a reduction (kept coordinates, row-major). */
function outputIndexer(shape: readonly number[], axes: readonly number[]): (i: number) => number {
  const kept = keptShape(shape, axes);
  const strides = broadcastStrides(kept, shape);
  return (i) => broadcastIndex(i, shape, strides);
}

/** float64 reference of reduce. */
export function reduceReference(op: ReductionOp, x: CpuTensor, options: ReduceOptions = {}): CpuTensor {
  const kernel = `reduce-${op}`;
  const axes = normalizeAxes(kernel, x.shape, options.axis);
  const shape = reducedShape(x.shape, axes, options.keepdims ?? false);
  const out = cpuZeros(shape);
  const len = axes.reduce((p, k) => p * x.shape[k]!, 1);
  if (op === 'max') {
    if (len === 0 && out.data.length > 0) throw new ArgumentError(kernel, 'axis', `max over an empty axis of shape ${shapeString(x.shape)} has no value`);
    out.data.fill(-Infinity);
  }
  const at = outputIndexer(x.shape, axes);
  for (let i = 0; i < x.data.length; i++) {
    const o = at(i);
    const v = x.data[i]!;
    out.data[o] = op === 'max' ? Math.max(out.data[o]!, v) : out.data[o]! + v;
  }
  if (op === 'mean') for (let o = 0; o < out.data.length; o++) out.data[o]! /= len;
  return out;
}

/** float64 reference of the gradient of reduce (max: split equally between ties). */
export function reduceBackwardReference(op: ReductionOp, x: CpuTensor, dy: CpuTensor, options: ReduceOptions = {}): CpuTensor {
  const axes = normalizeAxes(`reduce-${op}-backward`, x.shape, options.axis);
  const len = axes.reduce((p, k) => p * x.shape[k]!, 1);
  const at = outputIndexer(x.shape, axes);
  const dx = cpuZeros(x.shape);
  if (op !== 'max') {
    const scale = op === 'mean' ? 1 / len : 1;
    for (let i = 0; i < dx.data.length; i++) dx.data[i] = dy.data[at(i)]! * scale;
    return dx;
  }
  const y = reduceReference('max', x, options);
  const count = new Float64Array(y.data.length);
  for (let i = 0; i < x.data.length; i++) if (x.data[i] === y.data[at(i)]) count[at(i)]!++;
  for (let i = 0; i < x.data.length; i++) {
    const o = at(i);
    if (x.data[i] === y.data[o]) dx.data[i] = dy.data[o]! / count[o]!;
  }
  return dx;
}

/** float64 reference of sumToShape. */
export function sumToShapeReference(x: CpuTensor, shape: readonly number[]): CpuTensor {
  sumToShapeAxes(x.shape, shape);
  const out = cpuZeros(shape);
  const strides = broadcastStrides(shape, x.shape);
  for (let i = 0; i < x.data.length; i++) out.data[broadcastIndex(i, x.shape, strides)]! += x.data[i]!;
  return out;
}

