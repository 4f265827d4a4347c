// reduce: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import type { Runtime } from '../../runtime/runtime.js';
import { getFlag } from '../../runtime/flags.js';
import type { GpuArray } from '../../runtime/array.js';
import { reduceVariant } from '../shared/workgroup-reduce.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { expectDType, expectShape } from '../validate.js';
import { runBroadcastMap } from '../elementwise/launcher.js';
import { binary } from '../elementwise/launcher.js';
import { type KernelOp, type ReducePath, reduceProgram, type ReduceWidth } from './program.js';
import { keptShape, normalizeAxes, reducedShape, type ReduceOptions, type ReductionOp, sumToShapeAxes } from './reference.js';

const COLUMN_WORKGROUP = 64;

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
