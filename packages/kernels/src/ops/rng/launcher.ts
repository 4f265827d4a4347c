// rng: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import { getFlag } from '../../runtime/flags.js';
import { expectDType, expectFinite, expectRank, expectShape } from '../validate.js';
import { reduceVariant } from '../shared/workgroup-reduce.js';
import { dropoutBackwardProgram, type FlatKind, flatProgram, sampleProgram, WORKGROUP } from './program.js';
import { type CategoricalOptions, dropoutScale, type NormalOptions, type RandomOptions, splitWords } from './reference.js';

const SAMPLE_WORKGROUP = 64;

/** Largest vocabulary for sampleCategorical: indices travel through float32 in the argmax reduction. */
const MAX_SAMPLE_VOCAB = 1 << 24;

function streamUniforms(kernel: string, options: RandomOptions): Record<'seedLo' | 'seedHi' | 'offLo' | 'offHi', number> {
  let seed: [number, number];
  let offset: [number, number];
  try {
    seed = splitWords(options.seed, 'seed');
    offset = splitWords(options.offset ?? 0, 'offset');
  } catch (e) {
    throw new ArgumentError(kernel, (e as Error).message.startsWith('seed') ? 'seed' : 'offset', (e as Error).message);
  }
  return { seedLo: seed[0], seedHi: seed[1], offLo: offset[0], offHi: offset[1] };
}

/**
 * Launches a flat kernel over `count` elements; arrays over the storage-binding limit are bound in
 * aligned element ranges (multiples of 64 elements, so ranges also start on a Philox block).
 * Flag 'rng.chunkElements' caps the range (tests use it on small arrays).
 */
function launchFlat(rt: Runtime, kind: FlatKind, count: number, arrays: GpuArray[], uniforms: Record<string, number>): void {
  const align = Math.max(4, rt.limits.minStorageBufferOffsetAlignment / 4);
  let chunk = Math.floor(rt.limits.maxStorageBufferBindingSize / 4 / align) * align;
  const forced = getFlag<number>('rng.chunkElements', 0);
  if (forced > 0) chunk = Math.max(align, Math.floor(forced / align) * align);
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    rt.dispatch(flatProgram(kind), {
      bindings: arrays.map((array) => ({ array, byteOffset: start * 4, byteLength: n * 4 })),
      uniforms: { n, blockBase: start / 4, ...uniforms },
      workgroups: rt.grid(Math.ceil(Math.ceil(n / 4) / WORKGROUP)),
    });
  }
}

/** Raw Philox output as u32, element e of the stream at flat index e. */
export function randomBits(rt: Runtime, shape: readonly number[], options: RandomOptions): GpuArray {
  const stream = streamUniforms('random-bits', options);
  const out = rt.empty(shape, 'u32');
  launchFlat(rt, 'bits', out.size, [out], stream);
  return out;
}

/** Uniform floats in [0, 1): the top 24 bits of each u32 times 2^-24 (exact in float32). */
export function randomUniform(rt: Runtime, shape: readonly number[], options: RandomOptions): GpuArray {
  const stream = streamUniforms('random-uniform', options);
  const out = rt.empty(shape);
  launchFlat(rt, 'uniform', out.size, [out], stream);
  return out;
}

/** Normal samples by Box–Muller: lanes (0, 1) and (2, 3) of each Philox block make two pairs. */
export function randomNormal(rt: Runtime, shape: readonly number[], options: NormalOptions): GpuArray {
  const kernel = 'random-normal';
  const stream = streamUniforms(kernel, options);
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  expectFinite(kernel, 'mean', mean);
  expectFinite(kernel, 'std', std);
  const out = rt.empty(shape);
  launchFlat(rt, 'normal', out.size, [out], { ...stream, mean, stddev: std });
  return out;
}

function checkProbability(kernel: string, p: number): void {
  if (!(p >= 0 && p <= 1)) throw new ArgumentError(kernel, 'p', `must be a probability in [0, 1], got ${p}`);
}

export interface DropoutResult {
  /** x·mask/(1 − p). */
  y: GpuArray;
  /** 1 where the element was kept, 0 where dropped (f32, same shape as x). */
  mask: GpuArray;
}

/**
 * Inverted dropout: element e is kept when uniform(e) ≥ p, where uniform is randomUniform's stream
 * for the same (seed, offset); kept elements are scaled by 1/(1 − p).
 */
export function dropout(rt: Runtime, x: GpuArray, p: number, options: RandomOptions): DropoutResult {
  const kernel = 'dropout';
  expectDType(kernel, 'x', x, 'f32');
  checkProbability(kernel, p);
  const stream = streamUniforms(kernel, options);
  const y = rt.empty(x.shape);
  const mask = rt.empty(x.shape);
  launchFlat(rt, 'dropout', x.size, [x, y, mask], { ...stream, p, scale: dropoutScale(p) });
  return { y, mask };
}

/** dx = dy·mask/(1 − p), with the mask returned by dropout. */
export function dropoutBackward(rt: Runtime, dy: GpuArray, mask: GpuArray, p: number): GpuArray {
  const kernel = 'dropout-backward';
  expectDType(kernel, 'dy', dy, 'f32');
  expectDType(kernel, 'mask', mask, 'f32');
  expectShape(kernel, 'mask', mask, dy.shape);
  checkProbability(kernel, p);
  const dx = rt.empty(dy.shape);
  rt.dispatch(dropoutBackwardProgram, {
    bindings: [dy, mask, dx],
    uniforms: { n: dy.size, scale: dropoutScale(p) },
    workgroups: rt.grid(Math.ceil(dy.size / WORKGROUP)),
  });
  return dx;
}

/**
 * One sample per row of logits [N, V] from softmax(logits / temperature), by the Gumbel-max trick:
 * argmax_v (logit_v + T·g_v) with g_v a standard Gumbel variate from the row stream (PHILOX_WGSL in program.ts,
 * philoxGumbel). Temperature 0 is greedy argmax. Ties go to the smallest index; NaN logits are never
 * chosen; a row with no selectable logit (all −inf or NaN) gives −1. Returns i32 [N].
 */
export function sampleCategorical(rt: Runtime, logits: GpuArray, options: CategoricalOptions): GpuArray {
  const kernel = 'sample-categorical';
  expectDType(kernel, 'logits', logits, 'f32');
  expectRank(kernel, 'logits', logits, 2);
  const [rows, vocab] = logits.shape as [number, number];
  if (vocab < 1 || vocab >= MAX_SAMPLE_VOCAB) {
    throw new ArgumentError(kernel, 'logits', `expected shape [N, V] with 1 ≤ V < ${MAX_SAMPLE_VOCAB}, got ${shapeString(logits.shape)}`);
  }
  const temperature = options.temperature ?? 1;
  expectFinite(kernel, 'temperature', temperature);
  if (temperature < 0) throw new ArgumentError(kernel, 'temperature', `must be ≥ 0 (0 = greedy), got ${temperature}`);
  const stream = streamUniforms(kernel, options);
  const ids = rt.empty([rows], 'i32');
  rt.dispatch(sampleProgram(temperature === 0, SAMPLE_WORKGROUP, reduceVariant(rt)), {
    bindings: [logits, ids],
    uniforms: { rows, vocab, ...stream, temperature },
    workgroups: rt.grid(rows),
  });
  return ids;
}
