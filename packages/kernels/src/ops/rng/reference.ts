// rng: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import type { CpuTensor } from '../../reference.js';
import { PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1 } from './program.js';

/** High and low 32 bits of the 64-bit product of two u32 (exact, via 16-bit halves). */
export function mulhilo32(a: number, b: number): [hi: number, lo: number] {
  const aL = a & 0xffff;
  const aH = a >>> 16;
  const bL = b & 0xffff;
  const bH = b >>> 16;
  const ll = aL * bL;
  const lh = aL * bH;
  const hl = aH * bL;
  const hh = aH * bH;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  const hi = (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
  return [hi, Math.imul(a, b) >>> 0];
}

/** Philox-4x32 with `rounds` rounds (10 is the standard, Crush-resistant choice). */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number], rounds = PHILOX_ROUNDS): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((w) => w >>> 0) as [number, number, number, number];
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < rounds; r++) {
    if (r > 0) {
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
    const [hi0, lo0] = mulhilo32(PHILOX_M0, c0);
    const [hi1, lo1] = mulhilo32(PHILOX_M1, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

export interface RandomOptions {
  /** Key of the stream: an integer in [0, 2^53). */
  seed: number;
  /** Stream (subsequence) number: an integer in [0, 2^53); default 0. */
  offset?: number;
}

/** Splits a non-negative integer < 2^53 into [low 32 bits, high 32 bits]. */
export function splitWords(value: number, what = 'value'): [number, number] {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be an integer in [0, 2^53), got ${value}`);
  return [value >>> 0, Math.floor(value / 2 ** 32)];
}

/** The four u32 of block `block` (counter word 0) and `row` (counter word 1) of a stream. */
export function philoxBlock(options: RandomOptions, block: number, row = 0): [number, number, number, number] {
  const key = splitWords(options.seed, 'seed');
  const [offLo, offHi] = splitWords(options.offset ?? 0, 'offset');
  return philox4x32([block, row, offLo, offHi], key);
}

/** 2^-24: u32 → float in [0, 1) keeps the top 24 bits, exactly representable in float32. */
export const UNIT_24 = 1 / 16777216;

/** Reference of the WGSL philoxGumbel: the standard Gumbel variate of one u32, in float64. */
export function gumbelFromBits(bits: number): number {
  const k = bits >>> 9;
  const u = (k + 0.5) / 8388608;
  const e = u <= 0.5 ? -Math.log(u) : -Math.log1p(-((8388607 - k + 0.5) / 8388608));
  return -Math.log(e);
}

export interface NormalOptions extends RandomOptions {
  mean?: number;
  std?: number;
}

/** 1/(1 − p), and 0 for p = 1 (everything dropped). */
export function dropoutScale(p: number): number {
  return p < 1 ? 1 / (1 - p) : 0;
}

// ---------------------------------------------------------------- categorical sampling

export interface CategoricalOptions extends RandomOptions {
  /** Softmax temperature: samples from softmax(logits / T); 0 means greedy argmax. Default 1. */
  temperature?: number;
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
