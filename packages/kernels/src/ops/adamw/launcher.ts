// adamw: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import type { ArrayRange, Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import { expectDType } from '../validate.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import { adamwProgram, sumSquaresProgram, SUMSQ_PER_INVOCATION, SUMSQ_WORKGROUP, WORKGROUP } from './program.js';
import { type AdamWOptions, coefficients, resolve } from './reference.js';

/** One tensor of a multi-tensor AdamW step: param, its gradient and moments (same shape, f32); weightDecay overrides the options'. */
export interface AdamWTensors {
  param: GpuArray;
  grad: GpuArray;
  m: GpuArray;
  v: GpuArray;
  weightDecay?: number;
}

/** An element range of one or more arrays (the same range of each), with the width it is read at. */
interface Slot {
  ranges: ArrayRange[];
  /** Elements in the range. */
  count: number;
  width: 1 | 4;
  decay: number;
}

/**
 * Splits `count` elements into ranges that fit one storage binding (GPT-2's 38.6M-element token
 * table is 154 MB against lavapipe's 128 MiB), starting at aligned offsets; `forced` (a test flag)
 * sets a smaller chunk.
 */
function chunks(rt: Runtime, count: number, forced: number): { start: number; count: number }[] {
  const align = rt.limits.minStorageBufferOffsetAlignment / 4; // elements per aligned offset step
  let chunk = Math.floor(rt.limits.maxStorageBufferBindingSize / 4 / align) * align;
  if (forced > 0) chunk = Math.max(align, Math.floor(forced / align) * align);
  const out: { start: number; count: number }[] = [];
  for (let start = 0; start < count; start += chunk) out.push({ start, count: Math.min(chunk, count - start) });
  return out;
}

function slotsOf(rt: Runtime, arrays: GpuArray[], decay: number, vec4: boolean, forcedChunk: number): Slot[] {
  const size = arrays[0]!.size;
  const width = vec4 && size % 4 === 0 ? 4 : 1;
  return chunks(rt, size, forcedChunk).map(({ start, count }) => ({
    ranges: arrays.map((array) => ({ array, byteOffset: start * 4, byteLength: count * 4 })),
    count,
    width,
    decay,
  }));
}

/** Slots grouped by width, then cut into dispatches of at most `perDispatch` slots (in order). */
function batches(slots: Slot[], perDispatch: number): Slot[][] {
  const out: Slot[][] = [];
  for (const width of [4, 1] as const) {
    const same = slots.filter((s) => s.width === width);
    for (let i = 0; i < same.length; i += perDispatch) out.push(same.slice(i, i + perDispatch));
  }
  return out;
}

function perDispatchFlag(rt: Runtime, flag: string, bindingsPerSlot: number, extra: number): number {
  const fits = Math.floor((rt.limits.maxStorageBuffersPerShaderStage - extra) / bindingsPerSlot);
  const forced = getFlag<number>(flag, 0);
  if (forced !== 0 && (!Number.isInteger(forced) || forced < 1)) throw new ArgumentError(flag.split('.')[0]!, flag, `flag must be an integer ≥ 1, got ${forced}`);
  return Math.max(1, Math.min(forced > 0 ? forced : 8, fits));
}

/** One AdamW step, in place on param, m and v (all the same shape as grad, f32). */
export function adamwUpdate(rt: Runtime, param: GpuArray, grad: GpuArray, m: GpuArray, v: GpuArray, options: AdamWOptions): void {
  adamwUpdateMany(rt, [{ param, grad, m, v }], options);
}

/**
 * One AdamW step over many tensors (each in place on its param, m and v) in few dispatches: up to
 * maxStorageBuffersPerShaderStage / 4 tensors per dispatch (4 on lavapipe; flag
 * `adamw.tensorsPerDispatch` lowers it). Each tensor's weightDecay, if given, replaces the
 * options' one; every other option is shared. The same arithmetic as adamwUpdate per tensor.
 */
export function adamwUpdateMany(rt: Runtime, tensors: readonly AdamWTensors[], options: AdamWOptions): void {
  const kernel = 'adamw';
  const shared = resolve(kernel, options);
  const vec4 = getFlag<boolean>('adamw.vec4', true);
  const forcedChunk = getFlag<number>('adamw.chunkElements', 0);
  const slots: Slot[] = [];
  const seen = new Set<GPUBuffer>();
  tensors.forEach((t, i) => {
    const where = (name: string) => (tensors.length === 1 ? name : `tensors[${i}].${name}`);
    const { param, grad, m, v } = t;
    for (const [name, a] of [['param', param], ['grad', grad], ['m', m], ['v', v]] as const) {
      expectDType(kernel, where(name), a, 'f32');
      if (a.size !== param.size || a.shape.length !== param.shape.length || a.shape.some((d, k) => d !== param.shape[k])) {
        throw new ArgumentError(kernel, where(name), `expected shape ${shapeString(param.shape)} (the shape of param), got ${shapeString(a.shape)}`);
      }
    }
    if (new Set([param.buffer, grad.buffer, m.buffer, v.buffer]).size !== 4) {
      throw new ArgumentError(kernel, where('param'), 'param, grad, m and v must be four different buffers');
    }
    for (const a of [param, m, v]) {
      if (seen.has(a.buffer)) throw new ArgumentError(kernel, where('param'), 'shares a buffer it writes with another tensor of the step');
      seen.add(a.buffer);
    }
    const decay = coefficients(t.weightDecay === undefined ? shared : resolve(kernel, { ...options, weightDecay: t.weightDecay })).decay;
    if (param.size > 0) slots.push(...slotsOf(rt, [param, grad, m, v], decay, vec4, forcedChunk));
  });
  const c = coefficients(shared);
  const perDispatch = perDispatchFlag(rt, 'adamw.tensorsPerDispatch', 4, 0);
  for (const batch of batches(slots, perDispatch)) {
    const width = batch[0]!.width;
    const uniforms: Record<string, number> = {
      beta1: shared.beta1,
      beta2: shared.beta2,
      oneMinusBeta1: 1 - shared.beta1,
      oneMinusBeta2: 1 - shared.beta2,
      stepSize: c.stepSize,
      bias2Sqrt: c.bias2Sqrt,
      eps: shared.eps,
      gradScale: shared.gradScale,
    };
    let start = 0;
    batch.forEach((s, j) => {
      const n = s.count / width;
      uniforms[`n${j}`] = n;
      uniforms[`start${j}`] = start;
      uniforms[`decay${j}`] = s.decay;
      start += Math.ceil(n / WORKGROUP) * WORKGROUP;
    });
    uniforms[`start${batch.length}`] = start;
    rt.dispatch(adamwProgram(width, batch.length), {
      bindings: batch.flatMap((s) => s.ranges),
      uniforms,
      workgroups: rt.grid(start / WORKGROUP),
    });
  }
}

/**
 * Σ over the arrays of Σᵢ xᵢ² (f32 [1]): the squared global L2 norm of a set of gradients in a
 * few dispatches instead of a square, a sum and an add per array. One pass writes a partial sum
 * per 4096 elements (16384 with vec4 loads) of up to maxStorageBuffersPerShaderStage − 1 arrays
 * per dispatch (flag `sumSquares.perDispatch` lowers it); the partials are summed by the same
 * kernel without squaring until one is left.
 */
export function sumOfSquares(rt: Runtime, arrays: readonly GpuArray[]): GpuArray {
  const kernel = 'sum-squares';
  arrays.forEach((a, i) => expectDType(kernel, `arrays[${i}]`, a, 'f32'));
  const vec4 = getFlag<boolean>('sumSquares.vec4', true);
  const forcedChunk = getFlag<number>('sumSquares.chunkElements', 0);
  const perDispatch = perDispatchFlag(rt, 'sumSquares.perDispatch', 1, 1);
  const span = SUMSQ_WORKGROUP * SUMSQ_PER_INVOCATION;
  let slots = arrays.filter((a) => a.size > 0).flatMap((a) => slotsOf(rt, [a], 1, vec4, forcedChunk));
  let square = true;
  for (;;) {
    const groups = batches(slots, perDispatch);
    const partials = groups.reduce((n, batch) => n + batch.reduce((m, s) => m + Math.ceil(s.count / s.width / span), 0), 0);
    const out = partials === 0 ? rt.zeros([1]) : rt.empty([partials]);
    let outBase = 0;
    for (const batch of groups) {
      const width = batch[0]!.width;
      const uniforms: Record<string, number> = { outBase };
      let start = 0;
      batch.forEach((s, j) => {
        const n = s.count / width;
        uniforms[`n${j}`] = n;
        uniforms[`start${j}`] = start;
        start += Math.ceil(n / span);
      });
      uniforms[`start${batch.length}`] = start;
      rt.dispatch(sumSquaresProgram(width, batch.length, square), {
        bindings: [...batch.map((s) => s.ranges[0]!), out],
        uniforms,
        workgroups: rt.grid(start),
      });
      outBase += start;
    }
    if (!square) slots[0]!.ranges[0]!.array.dispose(); // the previous round's partials (one array)
    if (partials <= 1) return out;
    slots = slotsOf(rt, [out], 1, false, forcedChunk);
    square = false;
  }
}
