// Counter-based random numbers on the GPU (Philox-4x32-10, see philox.ts for the stream layout):
// raw bits, uniform floats, normals (Box–Muller), dropout with its backward, and categorical
// sampling by the Gumbel-max trick. Every function has a TypeScript reference; bits and uniforms
// are bit-exact against it, normals agree to float32 accuracy of log/cos/sin.
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import type { CpuTensor } from '../../reference.js';
import { expectDType, expectFinite, expectRank, expectShape } from '../validate.js';
import { reduceArgs, reduceBuiltins, reduceFeatures, reduceVariant, workgroupReduce, type ReduceVariant } from '../shared/workgroup-reduce.js';
import { PHILOX_WGSL, UNIT_24, gumbelFromBits, philoxBlock, splitWords, type RandomOptions } from './philox.js';

const WORKGROUP = 256;
const SAMPLE_WORKGROUP = 64;
/** Largest vocabulary for sampleCategorical: indices travel through float32 in the argmax reduction. */
const MAX_SAMPLE_VOCAB = 1 << 24;

type FlatKind = 'bits' | 'uniform' | 'normal' | 'dropout';

const STREAM_UNIFORMS = [
  { name: 'seedLo', type: 'u32' },
  { name: 'seedHi', type: 'u32' },
  { name: 'offLo', type: 'u32' },
  { name: 'offHi', type: 'u32' },
] as const;

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

/** One invocation per Philox block: four consecutive outputs of the flat stream. */
function flatProgram(kind: FlatKind): KernelProgram {
  const outType = kind === 'bits' ? 'u32' : 'f32';
  const values: Record<FlatKind, string> = {
    bits: 'let vals = bits;',
    uniform: 'let vals = philoxUniform(bits);',
    normal: `
  // Box–Muller on (lane 0, lane 1) and (lane 2, lane 3): u1 in (0, 1] so the log is finite.
  let u = philoxUniform(bits);
  let r01 = sqrt(-2.0 * log(u.x + (1.0 / 16777216.0)));
  let r23 = sqrt(-2.0 * log(u.z + (1.0 / 16777216.0)));
  let t01 = 6.283185307179586 * u.y;
  let t23 = 6.283185307179586 * u.w;
  let vals = params.mean + params.stddev * vec4<f32>(r01 * cos(t01), r01 * sin(t01), r23 * cos(t23), r23 * sin(t23));`,
    dropout: `
  let keep = philoxUniform(bits) >= vec4<f32>(params.p);`,
  };
  const store =
    kind === 'dropout'
      ? `y[e] = select(0.0, x[e] * params.scale, keep[k]); mask[e] = select(0.0, 1.0, keep[k]);`
      : `out[e] = vals[k];`;
  const extraUniforms =
    kind === 'normal'
      ? [
          { name: 'mean', type: 'f32' as const },
          { name: 'stddev', type: 'f32' as const },
        ]
      : kind === 'dropout'
        ? [
            { name: 'p', type: 'f32' as const },
            { name: 'scale', type: 'f32' as const },
          ]
        : [];
  return {
    name: kind === 'dropout' ? 'dropout' : `random-${kind}`,
    variant: 'philox4x32-10',
    workgroupSize: [WORKGROUP],
    // n: elements bound in this launch; blockBase: stream block of its first element.
    uniforms: [{ name: 'n', type: 'u32' }, { name: 'blockBase', type: 'u32' }, ...STREAM_UNIFORMS, ...extraUniforms],
    bindings:
      kind === 'dropout'
        ? [
            { name: 'x', type: 'f32', access: 'read' },
            { name: 'y', type: 'f32', access: 'read_write' },
            { name: 'mask', type: 'f32', access: 'read_write' },
          ]
        : [{ name: 'out', type: outType, access: 'read_write' }],
    code: /* wgsl */ `
${PHILOX_WGSL}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let local = grid_invocation(wid, nwg, lid);
  let first = local * 4u;
  if (first >= params.n) { return; }
  let block = params.blockBase + local;
  let bits = philox4x32_10(vec4<u32>(block, 0u, params.offLo, params.offHi), vec2<u32>(params.seedLo, params.seedHi));
  ${values[kind]}
  for (var k = 0u; k < 4u; k++) {
    let e = first + k;
    if (e < params.n) { ${store} }
  }
}`,
  };
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

export interface NormalOptions extends RandomOptions {
  mean?: number;
  std?: number;
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

/** 1/(1 − p), and 0 for p = 1 (everything dropped). */
function dropoutScale(p: number): number {
  return p < 1 ? 1 / (1 - p) : 0;
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

const dropoutBackwardProgram: KernelProgram = {
  name: 'dropout-backward',
  variant: 'mask',
  workgroupSize: [WORKGROUP],
  uniforms: [
    { name: 'n', type: 'u32' },
    { name: 'scale', type: 'f32' },
  ],
  bindings: [
    { name: 'dy', type: 'f32', access: 'read' },
    { name: 'mask', type: 'f32', access: 'read' },
    { name: 'dx', type: 'f32', access: 'read_write' },
  ],
  code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = grid_invocation(wid, nwg, lid);
  if (i < params.n) { dx[i] = dy[i] * mask[i] * params.scale; }
}`,
};

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

// ---------------------------------------------------------------- categorical sampling

export interface CategoricalOptions extends RandomOptions {
  /** Softmax temperature: samples from softmax(logits / T); 0 means greedy argmax. Default 1. */
  temperature?: number;
}

function sampleProgram(greedy: boolean, size: number, variant: ReduceVariant): KernelProgram {
  const score = greedy
    ? 'let score = logit;'
    : 'let score = logit + params.temperature * philoxGumbel(bits[lane]);';
  return {
    name: 'sample-categorical',
    variant: `${greedy ? 'greedy' : 'gumbel'}:${variant}:w${size}`,
    workgroupSize: [size],
    features: reduceFeatures(variant),
    uniforms: [{ name: 'rows', type: 'u32' }, { name: 'vocab', type: 'u32' }, ...STREAM_UNIFORMS, { name: 'temperature', type: 'f32' }],
    bindings: [
      { name: 'logits', type: 'f32', access: 'read' },
      { name: 'ids', type: 'i32', access: 'read_write' },
    ],
    code: /* wgsl */ `
${PHILOX_WGSL}
${workgroupReduce('wgMax', 'max', size, variant)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${reduceBuiltins(variant)}) {
  let row = grid_workgroup(wid, nwg); // uniform over the workgroup
  if (row >= params.rows) { return; }
  let base = row * params.vocab;
  let key = vec2<u32>(params.seedLo, params.seedHi);
  var negInf = 0xff800000u;
  var best = bitcast<f32>(negInf);
  var bestIndex = params.vocab; // none yet
  let blocks = (params.vocab + 3u) / 4u;
  // Each invocation visits its columns in increasing order and keeps the first maximum (strict >).
  for (var q = lid; q < blocks; q += WG_X) {
    ${greedy ? '' : 'let bits = philox4x32_10(vec4<u32>(q, row, params.offLo, params.offHi), key);'}
    for (var lane = 0u; lane < 4u; lane++) {
      let v = q * 4u + lane;
      if (v < params.vocab) {
        let logit = logits[base + v];
        ${score}
        if (score > best) { best = score; bestIndex = v; } // NaN scores never win
      }
    }
  }
  let top = wgMax(best, ${reduceArgs(variant)});
  // The smallest index reaching the maximum wins; indices < 2^24 are exact in float32.
  let candidate = select(16777216.0, f32(bestIndex), bestIndex < params.vocab && best == top);
  let smallest = -wgMax(-candidate, ${reduceArgs(variant)});
  if (lid == 0u) { ids[row] = select(-1, i32(smallest), smallest < 16777216.0); }
}`,
  };
}

/**
 * One sample per row of logits [N, V] from softmax(logits / temperature), by the Gumbel-max trick:
 * argmax_v (logit_v + T·g_v) with g_v a standard Gumbel variate from the row stream (philox.ts,
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

// ---------------------------------------------------------------- references

function flatBits(count: number, options: RandomOptions): Uint32Array {
  const out = new Uint32Array(count);
  for (let b = 0; b * 4 < count; b++) {
    const block = philoxBlock(options, b);
    for (let k = 0; k < 4 && b * 4 + k < count; k++) out[b * 4 + k] = block[k]!;
  }
  return out;
}

/** Reference of randomBits: the first `count` u32 of the flat stream. */
export function randomBitsReference(count: number, options: RandomOptions): Uint32Array {
  return flatBits(count, options);
}

/** Reference of randomUniform (bit-exact: the values are multiples of 2^-24). */
export function randomUniformReference(count: number, options: RandomOptions): Float64Array {
  return Float64Array.from(flatBits(count, options), (b) => (b >>> 8) * UNIT_24);
}

/** Reference of randomNormal in float64 from the same bits. */
export function randomNormalReference(count: number, options: NormalOptions): Float64Array {
  const u = randomUniformReference(Math.ceil(count / 4) * 4, options);
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u[i]! + UNIT_24));
    const t = 2 * Math.PI * u[i + 1]!;
    out[i] = mean + std * r * Math.cos(t);
    if (i + 1 < count) out[i + 1] = mean + std * r * Math.sin(t);
  }
  return out;
}

/** Reference of dropout: keep where uniform ≥ p (p rounded to float32, as the kernel sees it). */
export function dropoutReference(x: CpuTensor, p: number, options: RandomOptions): { y: CpuTensor; mask: CpuTensor } {
  const u = randomUniformReference(x.data.length, options);
  const threshold = Math.fround(p);
  const scale = dropoutScale(p);
  const mask = Float64Array.from(u, (v) => (v >= threshold ? 1 : 0));
  const y = Float64Array.from(x.data, (v, i) => v * mask[i]! * scale);
  return { y: { shape: x.shape, data: y }, mask: { shape: x.shape, data: mask } };
}

/** Reference of dropoutBackward. */
export function dropoutBackwardReference(dy: CpuTensor, mask: CpuTensor, p: number): CpuTensor {
  const scale = dropoutScale(p);
  return { shape: dy.shape, data: Float64Array.from(dy.data, (v, i) => v * mask.data[i]! * scale) };
}

/** Gumbel-max scores logit + T·g of one row in float64 (greedy when T = 0), NaN for NaN logits. */
export function gumbelScoresReference(logits: ArrayLike<number>, row: number, options: CategoricalOptions): Float64Array {
  const temperature = options.temperature ?? 1;
  const vocab = logits.length;
  const scores = new Float64Array(vocab);
  for (let q = 0; q * 4 < vocab; q++) {
    const bits = temperature === 0 ? null : philoxBlock(options, q, row);
    for (let lane = 0; lane < 4 && q * 4 + lane < vocab; lane++) {
      const v = q * 4 + lane;
      const logit = logits[v]!;
      if (!bits) {
        scores[v] = logit;
        continue;
      }
      scores[v] = logit + temperature * gumbelFromBits(bits[lane]!);
    }
  }
  return scores;
}

/** Reference of sampleCategorical: first index of the maximal score, −1 when none is selectable. */
export function sampleCategoricalReference(logits: CpuTensor, options: CategoricalOptions): Int32Array {
  const [rows, vocab] = logits.shape as [number, number];
  const ids = new Int32Array(rows);
  for (let n = 0; n < rows; n++) {
    const scores = gumbelScoresReference(logits.data.subarray(n * vocab, (n + 1) * vocab), n, options);
    let best = -Infinity;
    let index = -1;
    for (let v = 0; v < vocab; v++) {
      if (scores[v]! > best) {
        best = scores[v]!;
        index = v;
      }
    }
    ids[n] = index;
  }
  return ids;
}

