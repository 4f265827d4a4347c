// Host conversions to and from 16-bit floats, the one implementation in repirl: uploads of f16
// arrays, the cast reference, and safetensors F16/BF16 files all use these.
//
// Rounding is done once, from the float64 value itself, to nearest with ties to even. Going through
// float32 first (Float32Array, Math.fround) would round twice: a double just above a halfway point
// between two f16 values can round onto the halfway point in float32, and the tie then goes to the
// even neighbour, which is the wrong one (1 + 2⁻¹¹ + 2⁻⁴⁰ must give 0x3c01, not 0x3c00).
// Subnormals are rounded to their fixed spacing; values from the halfway point past the largest
// finite one upwards give ±Infinity; NaN gives the quiet NaN; −0 keeps its sign.

/** IEEE binary16 bit pattern nearest to x (round half to even, once; beyond the range → ±Infinity). */
export function toHalf(x: number): number {
  return narrowFloatBits(x, 10, 5);
}

/** Value of an IEEE binary16 bit pattern (exact). */
export function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * Bit pattern of the binary float with `mantissaBits` stored mantissa bits and `exponentBits`
 * exponent bits (IEEE layout: sign, biased exponent, mantissa) nearest to x, rounded once from the
 * double: (10, 5) is binary16, (7, 8) bfloat16.
 */
export function narrowFloatBits(x: number, mantissaBits: number, exponentBits: number): number {
  const bias = (1 << (exponentBits - 1)) - 1;
  const infinity = ((1 << exponentBits) - 1) << mantissaBits;
  if (Number.isNaN(x)) return infinity | (1 << (mantissaBits - 1)); // the quiet NaN
  const sign = x < 0 || Object.is(x, -0) ? 1 << (mantissaBits + exponentBits) : 0;
  const a = Math.abs(x);
  // Halfway between the largest finite value (odd mantissa) and the next power of two rounds up.
  if (a >= (2 - 2 ** -(mantissaBits + 1)) * 2 ** bias) return sign | infinity;
  // Subnormals are multiples of 2^(1 − bias − mantissaBits); the count may round up to the smallest
  // normal, whose bit pattern is the next integer, so no special case.
  if (a < 2 ** (1 - bias)) return sign | roundHalfEven(a * 2 ** (bias - 1 + mantissaBits));
  let e = Math.floor(Math.log2(a)); // log2 may be off by one near powers of two: correct it
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const m = roundHalfEven(a * 2 ** (mantissaBits - e)); // in [2^mantissaBits, 2^(mantissaBits+1)]; scaling by 2^k is exact
  return sign | (((e + bias) << mantissaBits) + m - (1 << mantissaBits)); // m = 2^(mantissaBits+1) carries into the exponent
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f;
}
