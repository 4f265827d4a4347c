// Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011; the Random123 library), in WGSL for the kernels and in TypeScript as the bit-exact
// reference. A counter-based generator: output = bijection(counter; key), so any element of any
// stream is computed directly, with no state to carry between invocations or launches.
//
// Stream layout used by every kernel in this folder: a (seed, offset) pair names a stream; the key
// is the seed split into two 32-bit words, counter words 2 and 3 are the offset split the same way,
// and counter words 0 and 1 address blocks of four 32-bit outputs within the stream:
//   flat arrays:  element e = lane e % 4 of Philox([⌊e/4⌋, 0, offLo, offHi], [seedLo, seedHi])
//   row kernels:  element (row n, column v) = lane v % 4 of Philox([⌊v/4⌋, n, offLo, offHi], …)
// Different offsets therefore never share a counter. Launches that must be independent need
// different (seed, offset) pairs (PyTorch likewise advances its Philox offset after every call).

export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;
export const PHILOX_ROUNDS = 10;

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

/**
 * WGSL declarations: `philox4x32_10(counter, key) -> vec4<u32>`, `philoxUniform(bits) -> vec4<f32>`
 * in [0, 1), and `philoxGumbel(bits: u32) -> f32` (standard Gumbel), for any kernel that needs random numbers.
 */
export const PHILOX_WGSL = /* wgsl */ `
fn philoxMulhilo(a: u32, b: u32) -> vec2<u32> {
  let aL = a & 0xffffu;
  let aH = a >> 16u;
  let bL = b & 0xffffu;
  let bH = b >> 16u;
  let ll = aL * bL;
  let lh = aL * bH;
  let hl = aH * bL;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = aH * bH + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}
fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0u; r < ${PHILOX_ROUNDS}u; r++) {
    if (r > 0u) { k += vec2<u32>(${PHILOX_W0}u, ${PHILOX_W1}u); }
    let p0 = philoxMulhilo(${PHILOX_M0}u, c.x);
    let p1 = philoxMulhilo(${PHILOX_M1}u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}
fn philoxUniform(bits: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(bits >> vec4<u32>(8u)) * (1.0 / 16777216.0);
}
// Standard Gumbel variate −log(E), E = −log(u) ~ Exp(1), from the top 23 bits: u = (k + ½)·2⁻²³ is
// exact in float32 and never 0 or 1. For u > ½, E = −log1p(−w) with w = 1 − u (also exact) by the
// atanh series 2(t + t³/3 + … + t¹⁵/15), t = w/(2 − w) ≤ ⅓, so the upper tail keeps full relative
// precision (float32 log(u) near 1 would not: WGSL only bounds its absolute error there).
fn philoxGumbel(bits: u32) -> f32 {
  let k = f32(bits >> 9u);
  let u = (k + 0.5) * (1.0 / 8388608.0);
  var e: f32;
  if (u <= 0.5) {
    e = -log(u);
  } else {
    let w = (8388607.0 - k + 0.5) * (1.0 / 8388608.0);
    let t = w / (2.0 - w);
    let t2 = t * t;
    e = 2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0
        + t2 * (1.0 / 11.0 + t2 * (1.0 / 13.0 + t2 * (1.0 / 15.0))))))));
  }
  return -log(e);
}`;
