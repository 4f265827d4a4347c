// The one host f16 converter: rounded once from the double to nearest even (never through float32),
// subnormals, overflow to ±Infinity, NaN and ±0; checked against a brute-force nearest-value oracle,
// and through an f16 upload on the device.
import { describe, expect, it } from 'vitest';
import { fromHalf, getRuntime, narrowFloatBits, toHalf } from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';

/** Every finite non-negative f16 value, ascending, with its bit pattern (0x0000..0x7bff). */
const FINITE = Array.from({ length: 0x7c00 }, (_, bits) => ({ bits, value: fromHalf(bits) }));

/** Oracle: the nearest finite f16 to x ≥ 0 by exhaustive search (ties to the even pattern), or Infinity's bits. */
function nearestHalf(x: number): number {
  let lo = 0;
  let hi = FINITE.length - 1;
  if (x >= FINITE[hi]!.value) {
    // Above the largest finite value: halfway to the next power of two (65520) and beyond overflow.
    return x >= 65520 ? 0x7c00 : FINITE[hi]!.bits;
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (FINITE[mid]!.value <= x) lo = mid;
    else hi = mid;
  }
  const below = x - FINITE[lo]!.value; // exact: neighbours within a factor of two (or 0)
  const above = FINITE[hi]!.value - x;
  if (below < above) return FINITE[lo]!.bits;
  if (above < below) return FINITE[hi]!.bits;
  return FINITE[lo]!.bits % 2 === 0 ? FINITE[lo]!.bits : FINITE[hi]!.bits;
}

describe('toHalf / fromHalf', () => {
  it('rounds once from the double: a value where going through float32 first lands on the wrong f16', () => {
    const x = 1 + 2 ** -11 + 2 ** -40; // just above the halfway point between 0x3c00 and 0x3c01
    expect(toHalf(Math.fround(x))).toBe(0x3c00); // float32 rounds it onto the tie, which goes to even
    expect(toHalf(x)).toBe(0x3c01);
    expect(toHalf(-x)).toBe(0xbc01);
    // The same in the subnormal range: just above half of the smallest subnormal.
    const tiny = 2 ** -25 + 2 ** -60;
    expect(toHalf(Math.fround(tiny))).toBe(0x0000);
    expect(toHalf(tiny)).toBe(0x0001);
  });

  it('matches the nearest-value oracle (ties to even) on random doubles of every magnitude', () => {
    const rng = new SeededRandom(16);
    for (let i = 0; i < 20000; i++) {
      const x = rng.next() * 2 ** rng.int(-27, 17); // subnormals, normals and overflow
      expect(toHalf(x), `toHalf(${x})`).toBe(nearestHalf(x));
      expect(toHalf(-x), `toHalf(${-x})`).toBe(nearestHalf(x) | 0x8000);
    }
    // Every halfway point between neighbours, and a hair either side of it.
    for (let bits = 0; bits < 0x7bff; bits++) {
      const mid = (fromHalf(bits) + fromHalf(bits + 1)) / 2;
      expect(toHalf(mid)).toBe(bits % 2 === 0 ? bits : bits + 1);
      expect(toHalf(mid * (1 + 2 ** -45))).toBe(bits + 1);
      expect(toHalf(mid * (1 - 2 ** -45))).toBe(bits);
    }
  });

  it('subnormals, overflow to ±Infinity, NaN and ±0', () => {
    const cases: [number, number][] = [
      [2 ** -24, 0x0001], [2 ** -25, 0x0000], [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002],
      [1023 * 2 ** -24, 0x03ff], [2 ** -14 - 2 ** -25, 0x0400], [2 ** -14, 0x0400], [1e-10, 0x0000],
      [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00], [-1e6, 0xfc00],
      [Infinity, 0x7c00], [-Infinity, 0xfc00], [0, 0x0000], [-0, 0x8000], [-1e-10, 0x8000],
      [NaN, 0x7e00],
    ];
    for (const [x, bits] of cases) expect(toHalf(x), `toHalf(${x})`).toBe(bits);
    expect(Object.is(fromHalf(0x8000), -0)).toBe(true);
    expect(fromHalf(0x0001)).toBe(2 ** -24);
    expect(fromHalf(0xfc00)).toBe(-Infinity);
    for (const nan of [0x7e00, 0x7c01, 0xfe00]) expect(fromHalf(nan)).toBeNaN();
  });

  it('every non-NaN bit pattern survives bits → value → bits', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = fromHalf(bits);
      if (!Number.isNaN(value) && toHalf(value) !== bits) throw new Error(`${bits.toString(16)} → ${value} → ${toHalf(value).toString(16)}`);
    }
  });

  it('narrowFloatBits is the same rounding for other widths (bfloat16)', () => {
    expect(narrowFloatBits(1 + 2 ** -8 + 2 ** -30, 7, 8)).toBe(0x3f81);
    expect(narrowFloatBits(1 + 2 ** -8, 7, 8)).toBe(0x3f80);
    for (let i = 0; i < 1000; i++) expect(narrowFloatBits(i / 7, 10, 5)).toBe(toHalf(i / 7));
  });

  it('f16 uploads use it: the device holds the single-rounded value', async () => {
    const rt = await getRuntime();
    if (!rt.hasFeature('shader-f16')) return; // f16 arrays need the feature; the converter is checked above
    const x = rt.upload([1 + 2 ** -11 + 2 ** -40, 2 ** -25 + 2 ** -60, -0, 70000], [4], 'f16');
    expect(Array.from(await rt.read(x))).toEqual([fromHalf(0x3c01), fromHalf(0x0001), -0, Infinity]);
    x.dispose();
  });
});
