// The matmul variants of issue 13: B stored in f16 (a frozen weight in half precision, widened to
// f32 as it is loaded), and problems larger than one storage binding run in chunks (forced here by
// the flag matmul.maxBindingBytes on small shapes). Both against the float64 reference: for an f16
// B, the reference of B rounded to f16 (castReference), so the tolerance is the f32 accumulation
// bound alone and any error in the widening, the vec4<f16> loads or the chunk offsets shows.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  castReference,
  chooseMatmulConfig,
  matmul,
  matmulBackward,
  matmulBackwardReference,
  matmulChunkSizes,
  matmulReference,
  matmulSubgroupSupported,
  withFlags,
  type CpuTensor,
  type MatmulOptions,
} from '../src/index.js';
import { assertClose, kernelFixture, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);
let variants: string[];
let f16: boolean;
beforeAll(() => {
  variants = ['naive', 'blocked', ...(matmulSubgroupSupported(fx.rt) ? ['subgroup'] : [])];
  f16 = fx.rt.hasFeature('shader-f16');
});

const TRANSPOSES: MatmulOptions[] = [
  { transposeA: false, transposeB: false },
  { transposeA: true, transposeB: false },
  { transposeA: false, transposeB: true },
  { transposeA: true, transposeB: true },
];

const tag = (o: MatmulOptions) => `tA=${+!!o.transposeA} tB=${+!!o.transposeB}`;
const sizeOf = (shape: readonly number[]) => shape.reduce((x, y) => x * y, 1);
const tensorOf = (shape: number[], data: ArrayLike<number>): CpuTensor => ({ shape, data: Float64Array.from(data) });
const abs = (t: CpuTensor): CpuTensor => ({ shape: t.shape, data: t.data.map(Math.abs) });

/** fp32 accumulation over K terms: at most about K·2⁻²⁴·Σ|a·b| (every input value exact in f32). */
function tolerance(K: number, absRef: CpuTensor): { atol: number; rtol: number } {
  let maxAbs = 0;
  for (const v of absRef.data) maxAbs = Math.max(maxAbs, v);
  return { atol: 2 * (K + 2) * 2 ** -24 * maxAbs + 1e-30, rtol: 1e-6 };
}

interface Case {
  M: number;
  K: number;
  N: number;
  o: MatmulOptions;
  bType: 'f32' | 'f16';
  batchA?: number;
  batchB?: number;
}

/** Runs one forward case and returns the largest |GPU − reference of the unrounded B| (to show the f16 rounding is real). */
async function checkForward(c: Case, label: string, seed = 1): Promise<number> {
  const { M, K, N, o } = c;
  const rng = new SeededRandom(seed + M * 131 + K * 17 + N);
  const aShape = [...(c.batchA ? [c.batchA] : []), ...(o.transposeA ? [K, M] : [M, K])];
  const bShape = [...(c.batchB ? [c.batchB] : []), ...(o.transposeB ? [N, K] : [K, N])];
  const aData = rng.floats(sizeOf(aShape), -1, 1);
  const bData = rng.floats(sizeOf(bShape), -1, 1);
  const ga = fx.rt.upload(aData, aShape);
  const gb = fx.rt.upload(bData, bShape, c.bType); // f16: rounded once to nearest even on upload
  const gc = matmul(fx.rt, ga, gb, o);
  const a = tensorOf(aShape, aData);
  const bStored = tensorOf(bShape, c.bType === 'f16' ? castReference(bData, 'f16') : bData);
  const ref = matmulReference(a, bStored, o);
  expect(gc.shape).toEqual(ref.shape);
  const got = await fx.rt.read(gc);
  assertClose(got, ref.data, { ...tolerance(K, matmulReference(abs(a), abs(bStored), o)), label });
  const unrounded = matmulReference(a, tensorOf(bShape, bData), o);
  let diff = 0;
  for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i]! - unrounded.data[i]!));
  for (const x of [ga, gb, gc]) x.dispose();
  return diff;
}

// [M, K, N]: off every tile multiple, vec4-aligned (K, N % 4 == 0), decode-sized M, K = 1.
const SHAPES: [number, number, number][] = [
  [17, 33, 9],
  [65, 7, 129],
  [8, 12, 16],
  [33, 20, 65],
  [3, 64, 36],
  [23, 1, 29],
];

describe('matmul with an f16 B', () => {
  for (const variant of ['naive', 'blocked', 'subgroup']) {
    it(`${variant}: every transpose on awkward shapes, vec4 and scalar loads, equals the f32 kernel on the rounded B`, async () => {
      if (!f16) {
        // Without shader-f16 no f16 array can exist: the runtime refuses it by name.
        expect(() => fx.rt.zeros([4, 4], 'f16')).toThrow(/shader-f16/);
        return;
      }
      if (!variants.includes(variant)) return; // forcing it is tested in matmul.test.ts
      let largestRounding = 0;
      for (const vec4 of [true, false]) {
        await withFlags({ 'matmul.variant': variant, 'matmul.vec4': vec4 }, async () => {
          for (const o of TRANSPOSES) {
            for (const [M, K, N] of SHAPES) {
              const config = chooseMatmulConfig(fx.rt, { M, N, K, transposeA: !!o.transposeA, transposeB: !!o.transposeB, bType: 'f16' });
              expect(config.kind).toBe(variant);
              expect(config.bType).toBe('f16');
              const d = await checkForward({ M, K, N, o, bType: 'f16' }, `${variant} f16 vec4=${vec4} ${tag(o)} M=${M} K=${K} N=${N}`);
              largestRounding = Math.max(largestRounding, d);
            }
          }
        });
      }
      // The reference of the unrounded B is not what the kernel computes: the f16 storage is real.
      expect(largestRounding).toBeGreaterThan(1e-4);
    });
  }

  it('batched A over a broadcast f16 B (and a batched f16 B)', async () => {
    if (!f16) return;
    for (const o of TRANSPOSES) {
      await checkForward({ M: 10, K: 12, N: 20, o, bType: 'f16', batchA: 3 }, `f16 ${tag(o)} [3]x2D`);
      await checkForward({ M: 9, K: 7, N: 6, o, bType: 'f16', batchA: 2, batchB: 2 }, `f16 ${tag(o)} [2]x[2]`);
    }
  });

  it('the backward refuses an f16 B (a frozen weight); dA comes from matmul with transposeB flipped', async () => {
    if (!f16) return;
    const a = fx.rt.zeros([4, 8]);
    const b = fx.rt.zeros([8, 4], 'f16');
    const dC = fx.rt.zeros([4, 4]);
    expect(() => matmulBackward(fx.rt, a, b, dC)).toThrow(ArgumentError);
    expect(() => matmulBackward(fx.rt, a, b, dC)).toThrow(/f16.*frozen/);
    expect(() => matmul(fx.rt, b, a)).toThrow(/argument "a": expected dtype f32, got f16/);
    for (const x of [a, b, dC]) x.dispose();
  });
});

describe('matmul over the binding limit (chunked)', () => {
  // 2 KiB bindings: with the 256-byte alignment slack, 444 f32 per window.
  const LIMIT = 2048;

  it('chunk sizes: rows of each operand as stored, multiples of 4, every window within the limit', () => {
    const align = fx.rt.limits.minStorageBufferOffsetAlignment;
    for (const [M, K, N] of [[37, 52, 44], [100, 8, 5], [6, 100, 3], [101, 9, 101]] as const) {
      for (const o of TRANSPOSES) {
        for (const bBytes of [4, 2]) {
          const p = { M, N, K, transposeA: !!o.transposeA, transposeB: !!o.transposeB, bBytes };
          const { mc, nc, kc } = matmulChunkSizes(p, LIMIT, align);
          for (const [size, full] of [[mc, M], [nc, N], [kc, K]] as const) expect(size === full || (size % 4 === 0 && size > 0)).toBe(true);
          const span = (outer: number, ld: number, inner: number) => (outer - 1) * ld + inner;
          const aBytes = 4 * (o.transposeA ? span(kc, M, M) : span(mc, K, K));
          const bSpan = bBytes * (o.transposeB ? span(nc, K, K) : span(kc, N, N));
          const cBytes = 4 * span(mc, N, N);
          for (const bytes of [aBytes, bSpan, cBytes]) expect(bytes + align + 16).toBeLessThanOrEqual(LIMIT);
        }
      }
    }
    // No limit to respect: one chunk.
    expect(matmulChunkSizes({ M: 37, N: 44, K: 52, transposeA: false, transposeB: true, bBytes: 4 }, 1 << 30, align)).toEqual({ mc: 37, nc: 44, kc: 52 });
  });

  it('a row that cannot fit is refused, naming the operand', async () => {
    await withFlags({ 'matmul.maxBindingBytes': LIMIT }, () => {
      const a = fx.rt.zeros([4, 1000]);
      const b = fx.rt.zeros([1000, 4]);
      expect(() => matmul(fx.rt, a, b)).toThrow(/argument "a": 4 rows of 1000 elements/);
      a.dispose();
      b.dispose();
    });
  });

  it('every variant, transpose and B type: chunked in M, N and K (K chunks accumulate) equals the reference', async () => {
    const types = f16 ? (['f32', 'f16'] as const) : (['f32'] as const);
    for (const variant of variants) {
      await withFlags({ 'matmul.variant': variant, 'matmul.maxBindingBytes': LIMIT }, async () => {
        for (const o of TRANSPOSES) {
          for (const bType of types) {
            for (const [M, K, N] of [[37, 52, 44], [30, 8, 77], [9, 100, 6]] as const) {
              await checkForward({ M, K, N, o, bType }, `chunked ${variant} ${bType} ${tag(o)} M=${M} K=${K} N=${N}`);
            }
          }
        }
      });
    }
  });

  it('batched and broadcast problems, and the backward (a reduction over the batch), chunked', async () => {
    await withFlags({ 'matmul.maxBindingBytes': LIMIT }, async () => {
      for (const o of TRANSPOSES) {
        await checkForward({ M: 21, K: 40, N: 24, o, bType: 'f32', batchA: 2, batchB: 2 }, `chunked ${tag(o)} [2]x[2]`);
        const rng = new SeededRandom(7);
        const [B, M, K, N] = [3, 20, 28, 24];
        const aShape = [B, ...(o.transposeA ? [K, M] : [M, K])];
        const bShape = o.transposeB ? [N, K] : [K, N]; // broadcast over the batch: dB sums the batch in the kernel
        const aData = rng.floats(sizeOf(aShape), -1, 1);
        const bData = rng.floats(sizeOf(bShape), -1, 1);
        const dCData = rng.floats(B * M * N, -1, 1);
        const [ga, gb, gdC] = [fx.rt.upload(aData, aShape), fx.rt.upload(bData, bShape), fx.rt.upload(dCData, [B, M, N])];
        const { dA, dB } = matmulBackward(fx.rt, ga, gb, gdC, o);
        const ref = matmulBackwardReference(tensorOf(aShape, aData), tensorOf(bShape, bData), tensorOf([B, M, N], dCData), o);
        const tol = { atol: 1e-5, rtol: 1e-5 };
        assertClose(await fx.rt.read(dA), ref.dA.data, { ...tol, label: `chunked dA ${tag(o)}` });
        assertClose(await fx.rt.read(dB), ref.dB.data, { ...tol, label: `chunked dB (batch reduced) ${tag(o)}` });
        for (const x of [ga, gb, gdC, dA, dB]) x.dispose();
      }
    });
  });
});
