import { beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  MATMUL_TINY_WORK,
  chooseMatmulConfig,
  matmul,
  matmulBackward,
  matmulBackwardReference,
  matmulReference,
  matmulSubgroupSupported,
  withFlags,
  type CpuTensor,
  type GpuArray,
  type MatmulOptions,
} from '../src/index.js';
import { assertClose, dot, kernelFixture, numericGradient, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);
let variants: string[];
beforeAll(() => {
  variants = ['naive', 'blocked', ...(matmulSubgroupSupported(fx.rt) ? ['subgroup'] : [])];
});

const TRANSPOSES: MatmulOptions[] = [
  { transposeA: false, transposeB: false },
  { transposeA: true, transposeB: false },
  { transposeA: false, transposeB: true },
  { transposeA: true, transposeB: true },
];

function tag(o: MatmulOptions): string {
  return `tA=${+!!o.transposeA} tB=${+!!o.transposeB}`;
}

/** Random operands for op(A) [batchA?, M, K] and op(B) [batchB?, K, N], stored per the transposes. */
function operands(rng: SeededRandom, M: number, K: number, N: number, o: MatmulOptions, batchA = 0, batchB = 0, scale = 1) {
  const aMat = o.transposeA ? [K, M] : [M, K];
  const bMat = o.transposeB ? [N, K] : [K, N];
  const aShape = batchA ? [batchA, ...aMat] : aMat;
  const bShape = batchB ? [batchB, ...bMat] : bMat;
  const aData = rng.floats(aShape.reduce((x, y) => x * y, 1), -scale, scale);
  const bData = rng.floats(bShape.reduce((x, y) => x * y, 1), -scale, scale);
  return {
    a: { shape: aShape, data: Float64Array.from(aData) } as CpuTensor,
    b: { shape: bShape, data: Float64Array.from(bData) } as CpuTensor,
    aData,
    bData,
  };
}

function abs(t: CpuTensor): CpuTensor {
  return { shape: t.shape, data: t.data.map(Math.abs) };
}

/**
 * fp32 accumulation over K terms errs by at most about K·2⁻²⁴·Σ|a·b| (inputs are exact fp32 values),
 * so the tolerance scales with K and with the largest sum of absolute products.
 */
function tolerance(K: number, absRef: CpuTensor): { atol: number; rtol: number } {
  let maxAbs = 0;
  for (const v of absRef.data) maxAbs = Math.max(maxAbs, v);
  return { atol: 2 * (K + 2) * 2 ** -24 * maxAbs + 1e-30, rtol: 1e-6 };
}

async function checkForward(M: number, K: number, N: number, o: MatmulOptions, label: string, batchA = 0, batchB = 0, scale = 1, seed = 1) {
  const rng = new SeededRandom(seed + M * 131 + K * 17 + N);
  const { a, b, aData, bData } = operands(rng, M, K, N, o, batchA, batchB, scale);
  const ga = fx.rt.upload(aData, a.shape);
  const gb = fx.rt.upload(bData, b.shape);
  const gc = matmul(fx.rt, ga, gb, o);
  const ref = matmulReference(a, b, o);
  expect(gc.shape).toEqual(ref.shape);
  const got = await fx.rt.read(gc);
  assertClose(got, ref.data, { ...tolerance(K, matmulReference(abs(a), abs(b), o)), label });
  for (const x of [ga, gb, gc]) x.dispose();
}

// [M, K, N]: sizes off every tile multiple, degenerate sizes, and vec4-aligned ones (K, N % 4 == 0).
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [17, 33, 9],
  [17, 9, 33],
  [65, 7, 129],
  [1, 64, 37],
  [45, 19, 1],
  [23, 1, 29],
  [8, 12, 16],
  [65, 132, 36],
  [3, 4, 4],
  [33, 20, 65],
];

describe('matmul forward', () => {
  for (const variant of ['naive', 'blocked', 'subgroup']) {
    for (const vec4 of [true, false]) {
      it(`${variant}${vec4 ? '' : ' (scalar loads)'}: every transpose on awkward shapes`, async () => {
        if (!variants.includes(variant)) {
          // No subgroups on this device: forcing the variant must fail clearly, not silently fall back.
          await withFlags({ 'matmul.variant': variant }, () => {
            expect(() => chooseMatmulConfig(fx.rt, { M: 8, N: 8, K: 8, transposeA: false, transposeB: false })).toThrow(/subgroups/);
          });
          return;
        }
        await withFlags({ 'matmul.variant': variant, 'matmul.vec4': vec4 }, async () => {
          for (const o of TRANSPOSES) {
            for (const [M, K, N] of SHAPES) {
              const config = chooseMatmulConfig(fx.rt, { M, N, K, transposeA: !!o.transposeA, transposeB: !!o.transposeB });
              expect(config.kind).toBe(variant);
              // The aligned specialisation (K and N multiples of 4, K > 0) has vec4 stores; the subgroup
              // kernel also loads a transposed B as vec4 along k whenever K % 4 == 0.
              const kAligned = vec4 && K > 0 && K % 4 === 0;
              expect(config.vecC).toBe(variant !== 'naive' && kAligned && N % 4 === 0);
              if (variant === 'subgroup') expect(config.vecB).toBe(kAligned && (N % 4 === 0 || !!o.transposeB));
              if (!vec4) expect(config.vecA || config.vecB || config.vecC).toBe(false);
              await checkForward(M, K, N, o, `${variant} vec4=${vec4} ${tag(o)} M=${M} K=${K} N=${N}`);
            }
          }
        });
      });

      it(`${variant}${vec4 ? '' : ' (scalar loads)'}: batched, with a batch of 1 broadcasting on either side`, async () => {
        if (!variants.includes(variant)) return; // covered by the test above
        await withFlags({ 'matmul.variant': variant, 'matmul.vec4': vec4 }, async () => {
          for (const o of TRANSPOSES) {
            const l = `${variant} vec4=${vec4} ${tag(o)}`;
            await checkForward(13, 9, 21, o, `${l} [3]x[3]`, 3, 3);
            await checkForward(19, 12, 8, o, `${l} [4]x[4] aligned`, 4, 4);
            await checkForward(10, 7, 6, o, `${l} [3]x2D (Linear)`, 3, 0);
            await checkForward(9, 16, 12, o, `${l} 2Dx[2]`, 0, 2);
            await checkForward(5, 6, 7, o, `${l} [1]x[3]`, 1, 3);
            await checkForward(5, 6, 7, o, `${l} [2]x[1]`, 2, 1);
          }
        });
      });
    }
  }

  it('empty dimensions give empty (or, for K = 0, zero) outputs on every variant', async () => {
    for (const variant of variants) {
      await withFlags({ 'matmul.variant': variant }, async () => {
        for (const o of TRANSPOSES) {
          await checkForward(0, 5, 7, o, `${variant} M=0`);
          await checkForward(6, 5, 0, o, `${variant} N=0`);
          await checkForward(6, 0, 7, o, `${variant} K=0`, 0, 0);
          await checkForward(6, 0, 8, o, `${variant} K=0 batched`, 2, 2);
          // A batch of 0 against a broadcast operand.
          const rng = new SeededRandom(3);
          const { bData, a, b } = operands(rng, 3, 4, 5, o, 0, 0);
          const ga = fx.rt.upload(new Float32Array(0), [0, ...a.shape]);
          const gb = fx.rt.upload(bData, b.shape);
          const gc = matmul(fx.rt, ga, gb, o);
          expect(gc.shape).toEqual([0, 3, 5]);
          expect((await fx.rt.read(gc)).length).toBe(0);
          for (const x of [ga, gb, gc]) x.dispose();
        }
      });
    }
  });

  it('large and tiny magnitudes keep their relative accuracy', async () => {
    for (const variant of variants) {
      await withFlags({ 'matmul.variant': variant }, async () => {
        await checkForward(17, 24, 20, { transposeB: true }, `${variant} 1e17`, 0, 0, 1e17);
        await checkForward(9, 33, 12, {}, `${variant} 1e-17`, 0, 0, 1e-17);
      });
    }
  });

  it("'auto' picks naive for tiny problems, else the subgroup kernel where it can run, else blocked", async () => {
    const pick = (M: number, K: number, N: number, batches = 1) =>
      chooseMatmulConfig(fx.rt, { M, N, K, transposeA: false, transposeB: true, batches }).kind;
    const big = matmulSubgroupSupported(fx.rt) ? 'subgroup' : 'blocked';
    expect(pick(16, 16, 16)).toBe('naive');
    expect(pick(16, 64, 16)).toBe('naive');
    expect(pick(16, 64, 16, 2)).toBe(big);
    expect(pick(32, 32, 32)).toBe(big);
    expect(pick(1, 1024, 1024)).toBe(big);
    expect(pick(1024, 1024, 1024)).toBe(big);
    expect(16 * 64 * 16).toBe(MATMUL_TINY_WORK);
    // Whatever 'auto' picks computes the same products.
    for (const [M, K, N, ba, bb] of [[4, 5, 6, 0, 0], [31, 33, 35, 0, 0], [24, 32, 40, 2, 0], [3, 64, 8, 0, 0]] as const) {
      for (const o of TRANSPOSES) await checkForward(M, K, N, o, `auto ${tag(o)} M=${M} K=${K} N=${N}`, ba, bb);
    }
  });

  it('writes into `out` when given one', async () => {
    const rng = new SeededRandom(5);
    const { a, b, aData, bData } = operands(rng, 7, 5, 6, {}, 2, 0);
    const ga = fx.rt.upload(aData, a.shape);
    const gb = fx.rt.upload(bData, b.shape);
    const out = fx.rt.zeros([2, 7, 6]);
    expect(matmul(fx.rt, ga, gb, { out })).toBe(out);
    await fx.expectClose(out, matmulReference(a, b).data, { ...tolerance(5, matmulReference(abs(a), abs(b))), label: 'out' });
    for (const x of [ga, gb, out]) x.dispose();
  });

  it('accumulate adds the product to out (C = out + op(a)·op(b)) on every variant, transpose and in chunks', async () => {
    const rng = new SeededRandom(6);
    const runs: [Record<string, string | number>, [number, number, number][], MatmulOptions[]][] = [
      ...variants.map((variant): [Record<string, string | number>, [number, number, number][], MatmulOptions[]] => [{ 'matmul.variant': variant }, [[7, 5, 6], [33, 12, 20]], TRANSPOSES]),
      [{ 'matmul.maxBindingBytes': 4096 }, [[64, 40, 96]], TRANSPOSES.slice(0, 2)], // chunks along M, N and K: every chunk adds
    ];
    for (const [flags, cases, transposes] of runs) {
      for (const [M, K, N] of cases) {
        for (const o of transposes) {
          const { a, b, aData, bData } = operands(rng, M, K, N, o);
          const c0 = rng.floats(M * N, -1, 1);
          const ga = fx.rt.upload(aData, a.shape);
          const gb = fx.rt.upload(bData, b.shape);
          const out = fx.rt.upload(c0, [M, N]);
          await withFlags(flags, () => matmul(fx.rt, ga, gb, { ...o, out, accumulate: true }));
          const product = matmulReference(a, b, o).data;
          const expected = Float64Array.from(product, (v, i) => v + c0[i]!);
          const tol = tolerance(K, matmulReference(abs(a), abs(b), o));
          await fx.expectClose(out, expected, { atol: tol.atol + 2 ** -23, rtol: tol.rtol, label: `${JSON.stringify(flags)} ${M}x${K}x${N} ${JSON.stringify(o)}` });
          for (const x of [ga, gb, out]) x.dispose();
        }
      }
    }
    const a = fx.rt.zeros([2, 3]);
    expect(() => matmul(fx.rt, a, fx.rt.zeros([3, 2]), { accumulate: true })).toThrow(/\[matmul\] argument "accumulate": needs out/);
  });

  it('splits grids over the per-dimension workgroup limit into several dispatches', async () => {
    const batch = fx.rt.limits.maxComputeWorkgroupsPerDimension + 2;
    const rng = new SeededRandom(11);
    const aData = rng.floats(batch * 2);
    const bData = rng.floats(batch * 2);
    const ga = fx.rt.upload(aData, [batch, 1, 2]);
    const gb = fx.rt.upload(bData, [batch, 2, 1]);
    const expected = new Float64Array(batch);
    for (let s = 0; s < batch; s++) expected[s] = aData[2 * s]! * bData[2 * s]! + aData[2 * s + 1]! * bData[2 * s + 1]!;
    for (const variant of variants) {
      await withFlags({ 'matmul.variant': variant }, async () => {
        const gc = matmul(fx.rt, ga, gb);
        await fx.expectClose(gc, expected, { atol: 1e-6, rtol: 1e-6, label: `${variant} batch ${batch}` });
        gc.dispose();
      });
    }
    ga.dispose();
    gb.dispose();
  });
});

describe('matmul backward', () => {
  it('the reference backward matches finite differences of the reference forward', () => {
    const rng = new SeededRandom(21);
    const cases: [number, number, number, number, number][] = [
      [3, 4, 2, 0, 0],
      [2, 3, 4, 2, 2],
      [3, 2, 3, 2, 0],
      [2, 3, 2, 0, 3],
      [2, 2, 3, 1, 2],
    ];
    for (const o of TRANSPOSES) {
      for (const [M, K, N, ba, bb] of cases) {
        const { a, b } = operands(rng, M, K, N, o, ba, bb);
        const out = matmulReference(a, b, o);
        const w = Float64Array.from({ length: out.data.length }, () => rng.uniform());
        const { dA, dB } = matmulBackwardReference(a, b, { shape: out.shape, data: w }, o);
        const la = `${tag(o)} M=${M} K=${K} N=${N} batches ${ba}/${bb}`;
        const fa = (x: Float64Array) => dot(w, matmulReference({ shape: a.shape, data: x }, b, o).data);
        const fb = (x: Float64Array) => dot(w, matmulReference(a, { shape: b.shape, data: x }, o).data);
        assertClose(dA.data, numericGradient(fa, a.data), { atol: 1e-8, rtol: 1e-7, label: `dA ${la}` });
        assertClose(dB.data, numericGradient(fb, b.data), { atol: 1e-8, rtol: 1e-7, label: `dB ${la}` });
      }
    }
  });

  it('GPU backward matches the reference on every variant, transpose and broadcast', async () => {
    const cases: [number, number, number, number, number][] = [
      [17, 9, 13, 0, 0],
      [8, 12, 16, 0, 0],
      [7, 5, 6, 3, 3],
      [9, 8, 12, 3, 0],
      [6, 7, 5, 0, 2],
      [5, 4, 3, 1, 3],
      [1, 6, 1, 0, 0],
      [4, 0, 3, 2, 2],
    ];
    for (const variant of variants) {
      await withFlags({ 'matmul.variant': variant }, async () => {
        for (const o of TRANSPOSES) {
          for (const [M, K, N, ba, bb] of cases) {
            const rng = new SeededRandom(M * 7 + K * 3 + N);
            const { a, b, aData, bData } = operands(rng, M, K, N, o, ba, bb);
            const outShape = matmulReference(a, b, o).shape;
            const g = rng.floats(outShape.reduce((x, y) => x * y, 1));
            const dC: CpuTensor = { shape: outShape, data: Float64Array.from(g) };
            const ref = matmulBackwardReference(a, b, dC, o);
            const absRef = matmulBackwardReference(abs(a), abs(b), abs(dC), o);
            const ga = fx.rt.upload(aData, a.shape);
            const gb = fx.rt.upload(bData, b.shape);
            const gdC = fx.rt.upload(g, outShape);
            const { dA, dB } = matmulBackward(fx.rt, ga, gb, gdC, o);
            expect(dA.shape).toEqual(a.shape);
            expect(dB.shape).toEqual(b.shape);
            const la = `${variant} ${tag(o)} M=${M} K=${K} N=${N} batches ${ba}/${bb}`;
            // dA sums over N (and the batch when broadcast), dB over M (and the batch).
            const batch = Math.max(ba, bb, 1);
            await fx.expectClose(dA, ref.dA.data, { ...tolerance(N * batch, absRef.dA), label: `dA ${la}` });
            await fx.expectClose(dB, ref.dB.data, { ...tolerance(M * batch, absRef.dB), label: `dB ${la}` });
            for (const x of [ga, gb, gdC, dA, dB]) x.dispose();
          }
        }
      });
    }
  });
});

describe('matmul arguments', () => {
  function expectArgError(fn: () => unknown, argument: string, pattern: RegExp) {
    let caught: unknown;
    try {
      fn();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ArgumentError);
    const e = caught as ArgumentError;
    expect(e.kernel).toBe('matmul');
    expect(e.argument).toBe(argument);
    expect(e.message).toMatch(pattern);
  }

  it('names the kernel, the argument and the expected shape', () => {
    const a = fx.rt.zeros([4, 5]);
    const b = fx.rt.zeros([6, 3]);
    const b3 = fx.rt.zeros([3, 5, 2]);
    const a3 = fx.rt.zeros([2, 4, 5]);
    const ints = fx.rt.upload(new Int32Array(20), [4, 5]);
    const vec = fx.rt.zeros([5]);
    const ok = fx.rt.zeros([5, 3]);
    const arrays: GpuArray[] = [a, b, b3, a3, ints, vec, ok];
    expectArgError(() => matmul(fx.rt, a, b), 'b', /expected shape \[5, \*\].*got \[6, 3\].*inner dimensions disagree/);
    expectArgError(() => matmul(fx.rt, a, b, { transposeB: true }), 'b', /expected shape \[\*, 5\].*got \[6, 3\]/);
    expectArgError(() => matmul(fx.rt, a, ok, { transposeA: true }), 'b', /expected shape \[4, \*\].*inner dimensions disagree/);
    expectArgError(() => matmul(fx.rt, a3, b3), 'b', /expected shape \[2, 5, \*\].*batch sizes disagree/);
    expectArgError(() => matmul(fx.rt, ints, ok), 'a', /expected dtype f32, got i32/);
    expectArgError(() => matmul(fx.rt, vec, ok), 'a', /expected rank 2 or 3, got shape \[5\]/);
    expectArgError(() => matmul(fx.rt, a, vec), 'b', /expected rank 2 or 3/);
    expectArgError(() => matmul(fx.rt, a, ok, { out: fx.rt.zeros([4, 4]) }), 'out', /expected shape \[4, 3\], got \[4, 4\]/);
    expectArgError(() => matmul(fx.rt, a, ok, { out: a3 }), 'out', /expected shape \[4, 3\]/);
    const aliased = fx.rt.zeros([4, 4]);
    expectArgError(() => matmul(fx.rt, aliased, fx.rt.zeros([4, 4]), { out: aliased }), 'out', /must not share a buffer/);
    expectArgError(() => matmulBackward(fx.rt, a, ok, fx.rt.zeros([3, 4])), 'dC', /expected shape \[4, 3\], got \[3, 4\]/);
    expectArgError(() => matmulBackward(fx.rt, a, b, fx.rt.zeros([4, 3])), 'b', /inner dimensions disagree/);
    for (const x of arrays) x.dispose();
  });

  it('rejects an unknown variant flag', async () => {
    await withFlags({ 'matmul.variant': 'tiled' }, () => {
      const a = fx.rt.zeros([2, 2]);
      expectArgError(() => matmul(fx.rt, a, a), 'matmul.variant', /naive, blocked, subgroup/);
      a.dispose();
    });
  });
});
