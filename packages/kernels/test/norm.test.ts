import { beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  cpuTensor,
  layerNorm,
  layerNormBackward,
  layerNormBackwardReference,
  layerNormReference,
  normRowsPerChunk,
  rmsNorm,
  rmsNormBackward,
  rmsNormBackwardReference,
  rmsNormReference,
  withFlags,
  type CpuTensor,
  type FlagValue,
} from '../src/index.js';
import { assertClose, dot, kernelFixture, numericGradient, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

/** Every kernel configuration the tests run: both reductions, vec4 on and off, two workgroup sizes. */
function configurations(): { label: string; flags: Record<string, FlagValue> }[] {
  const configs: { label: string; flags: Record<string, FlagValue> }[] = [
    { label: 'shared reduction', flags: { 'reduce.variant': 'shared' } },
    { label: 'shared reduction, scalar loads, workgroup 256', flags: { 'reduce.variant': 'shared', 'norm.vec4': false, 'norm.workgroup': 256 } },
    { label: 'subgroup reduction', flags: { 'reduce.variant': 'subgroup' } },
    { label: 'subgroup reduction, scalar loads, workgroup 32', flags: { 'reduce.variant': 'subgroup', 'norm.vec4': false, 'norm.workgroup': 32 } },
  ];
  return configs.filter((c) => fx.supports(c.flags));
}

// Row lengths: awkward sizes (scalar path) and multiples of 4 (vec4 path); row counts include 1 and
// enough rows for several chunks in the parameter-gradient reduction.
const CASES: [rows: number, dim: number][] = [
  [3, 1],
  [5, 7],
  [1, 33],
  [20, 257],
  [4, 1000],
  [70, 8],
  [2, 768],
];

describe('norm references', () => {
  it('layerNormBackwardReference matches finite differences of layerNormReference', () => {
    const rng = new SeededRandom(1);
    const shape = [3, 5];
    const x = cpuTensor(rng.floats(15, -2, 2), shape);
    const gamma = cpuTensor(rng.floats(5, 0.5, 1.5), [5]);
    const beta = cpuTensor(rng.floats(5), [5]);
    const w = rng.floats(15);
    const fwd = layerNormReference(x, gamma, beta);
    const grads = layerNormBackwardReference(cpuTensor(w, shape), x, gamma, fwd.mean, fwd.rstd);
    const loss = (xs: CpuTensor, g: CpuTensor, b: CpuTensor) => dot(w, layerNormReference(xs, g, b).y.data);
    assertClose(grads.dx.data, numericGradient((d) => loss(cpuTensor(d, shape), gamma, beta), x.data), { atol: 1e-7, rtol: 1e-6, label: 'dx' });
    assertClose(grads.dgamma.data, numericGradient((d) => loss(x, cpuTensor(d, [5]), beta), gamma.data), { atol: 1e-7, rtol: 1e-6, label: 'dgamma' });
    assertClose(grads.dbeta.data, numericGradient((d) => loss(x, gamma, cpuTensor(d, [5])), beta.data), { atol: 1e-7, rtol: 1e-6, label: 'dbeta' });
  });

  it('rmsNormBackwardReference matches finite differences of rmsNormReference', () => {
    const rng = new SeededRandom(2);
    const shape = [4, 6];
    const x = cpuTensor(rng.floats(24, -2, 2), shape);
    const gamma = cpuTensor(rng.floats(6, 0.5, 1.5), [6]);
    const w = rng.floats(24);
    const fwd = rmsNormReference(x, gamma);
    const grads = rmsNormBackwardReference(cpuTensor(w, shape), x, gamma, fwd.rstd);
    const loss = (xs: CpuTensor, g: CpuTensor) => dot(w, rmsNormReference(xs, g).y.data);
    assertClose(grads.dx.data, numericGradient((d) => loss(cpuTensor(d, shape), gamma), x.data), { atol: 1e-7, rtol: 1e-6, label: 'dx' });
    assertClose(grads.dgamma.data, numericGradient((d) => loss(x, cpuTensor(d, [6])), gamma.data), { atol: 1e-7, rtol: 1e-6, label: 'dgamma' });
  });

  it('layerNormReference keeps the variance of rows around 1e4', () => {
    // Two-pass in float64: the reference itself must be trustworthy for the large-magnitude tests.
    const x = cpuTensor([1e4 + 1, 1e4 - 1, 1e4 + 1, 1e4 - 1], [1, 4]);
    const { y, rstd } = layerNormReference(x, cpuTensor([1, 1, 1, 1], [4]), cpuTensor([0, 0, 0, 0], [4]), { eps: 0 });
    expect(rstd.data[0]).toBeCloseTo(1, 12);
    assertClose(y.data, [1, -1, 1, -1], { atol: 1e-12, rtol: 0 });
  });
});

async function checkLayerNorm(rows: number, dim: number, seed: number, scale: { offset: number; spread: number }, tol: { fwd: number; bwd: number }) {
  const rng = new SeededRandom(seed);
  const n = rows * dim;
  const xs = new Float32Array(n).map(() => scale.offset + scale.spread * rng.normal());
  const gs = rng.floats(dim, 0.5, 1.5);
  const bs = rng.floats(dim, -0.5, 0.5);
  const dys = rng.floats(n);
  const label = `[${rows}, ${dim}] offset ${scale.offset}`;
  const x = fx.rt.upload(xs, [rows, dim]);
  const gamma = fx.rt.upload(gs, [dim]);
  const beta = fx.rt.upload(bs, [dim]);
  const dy = fx.rt.upload(dys, [rows, dim]);
  const out = layerNorm(fx.rt, x, gamma, beta);
  const grads = layerNormBackward(fx.rt, dy, x, gamma, out.mean, out.rstd);
  const ref = layerNormReference(cpuTensor(xs, [rows, dim]), cpuTensor(gs, [dim]), cpuTensor(bs, [dim]));
  const refGrads = layerNormBackwardReference(cpuTensor(dys, [rows, dim]), cpuTensor(xs, [rows, dim]), cpuTensor(gs, [dim]), ref.mean, ref.rstd);
  assertClose(await fx.read(out.y), ref.y.data, { atol: tol.fwd, rtol: tol.fwd, label: `${label} y` });
  assertClose(await fx.read(out.mean), ref.mean.data, { atol: tol.fwd, rtol: 1e-6, label: `${label} mean` });
  assertClose(await fx.read(out.rstd), ref.rstd.data, { atol: 0, rtol: tol.fwd, label: `${label} rstd` });
  const rs = Math.max(...ref.rstd.data);
  assertClose(await fx.read(grads.dx), refGrads.dx.data, { atol: tol.bwd * rs, rtol: tol.bwd, label: `${label} dx` });
  // dgamma/dbeta are sums over rows: scale the tolerance with the row count.
  assertClose(await fx.read(grads.dgamma), refGrads.dgamma.data, { atol: tol.bwd * Math.sqrt(rows), rtol: tol.bwd, label: `${label} dgamma` });
  assertClose(await fx.read(grads.dbeta), refGrads.dbeta.data, { atol: tol.bwd * Math.sqrt(rows), rtol: tol.bwd, label: `${label} dbeta` });
  for (const a of [x, gamma, beta, dy, out.y, out.mean, out.rstd, grads.dx, grads.dgamma, grads.dbeta]) a.dispose();
}

async function checkRmsNorm(rows: number, dim: number, seed: number, spread: number, tol: { fwd: number; bwd: number }) {
  const rng = new SeededRandom(seed);
  const n = rows * dim;
  const xs = new Float32Array(n).map(() => spread * rng.normal());
  const gs = rng.floats(dim, 0.5, 1.5);
  const dys = rng.floats(n);
  const label = `[${rows}, ${dim}] spread ${spread}`;
  const x = fx.rt.upload(xs, [rows, dim]);
  const gamma = fx.rt.upload(gs, [dim]);
  const dy = fx.rt.upload(dys, [rows, dim]);
  const out = rmsNorm(fx.rt, x, gamma);
  const grads = rmsNormBackward(fx.rt, dy, x, gamma, out.rstd);
  const ref = rmsNormReference(cpuTensor(xs, [rows, dim]), cpuTensor(gs, [dim]));
  const refGrads = rmsNormBackwardReference(cpuTensor(dys, [rows, dim]), cpuTensor(xs, [rows, dim]), cpuTensor(gs, [dim]), ref.rstd);
  assertClose(await fx.read(out.y), ref.y.data, { atol: tol.fwd, rtol: tol.fwd, label: `${label} y` });
  assertClose(await fx.read(out.rstd), ref.rstd.data, { atol: 0, rtol: tol.fwd, label: `${label} rstd` });
  const rs = Math.max(...ref.rstd.data);
  assertClose(await fx.read(grads.dx), refGrads.dx.data, { atol: tol.bwd * rs, rtol: tol.bwd, label: `${label} dx` });
  assertClose(await fx.read(grads.dgamma), refGrads.dgamma.data, { atol: tol.bwd * Math.sqrt(rows), rtol: tol.bwd, label: `${label} dgamma` });
  for (const a of [x, gamma, dy, out.y, out.rstd, grads.dx, grads.dgamma]) a.dispose();
}

describe('layerNorm / rmsNorm on the GPU', () => {
  it('match the float64 references on awkward shapes, in every kernel configuration', async () => {
    for (const { label, flags } of configurations()) {
      await withFlags(flags, async () => {
        for (const [i, [rows, dim]] of CASES.entries()) {
          try {
            await checkLayerNorm(rows, dim, 10 + i, { offset: 0.3, spread: 1 }, { fwd: 2e-5, bwd: 5e-5 });
            await checkRmsNorm(rows, dim, 20 + i, 1, { fwd: 2e-5, bwd: 5e-5 });
          } catch (e) {
            throw new Error(`${label}: ${(e as Error).message}`);
          }
        }
      });
    }
  });

  it('keep the variance of rows with large magnitudes (values around 1e4 and 1e6, unit spread)', async () => {
    // A one-pass E[x²] − E[x]² in float32 loses everything here: 1e8 − 1e8 leaves only rounding error.
    for (const { flags } of configurations().slice(0, 1).concat(configurations().slice(-1))) {
      await withFlags(flags, async () => {
        for (const dim of [33, 768]) {
          await checkLayerNorm(6, dim, dim, { offset: 1e4, spread: 1 }, { fwd: 3e-5, bwd: 2e-3 });
          // The backward reads the saved float32 mean, which at 1e6 is only known to ±0.03 (half an ulp):
          // x̂ inherits that error, as in every framework that saves a float32 mean.
          await checkLayerNorm(3, dim, dim + 1, { offset: -1e6, spread: 1 }, { fwd: 3e-5, bwd: 0.1 });
          await checkRmsNorm(5, dim, dim, 1e4, { fwd: 2e-5, bwd: 5e-5 });
        }
      });
    }
  });

  it('handle rank-3 inputs, empty row sets and a folded 2-D grid of rows', async () => {
    const rng = new SeededRandom(5);
    const xs = rng.floats(2 * 3 * 12, -3, 3);
    const x = fx.rt.upload(xs, [2, 3, 12]);
    const gamma = fx.rt.upload(new Float32Array(12).fill(1));
    const beta = fx.rt.upload(new Float32Array(12));
    const out = layerNorm(fx.rt, x, gamma, beta);
    expect(out.y.shape).toEqual([2, 3, 12]);
    expect(out.mean.shape).toEqual([2, 3]);
    const ref = layerNormReference(cpuTensor(xs, [2, 3, 12]), cpuTensor(new Float32Array(12).fill(1), [12]), cpuTensor(new Float32Array(12), [12]));
    assertClose(await fx.read(out.y), ref.y.data, { atol: 2e-5, rtol: 2e-5 });

    const empty = fx.rt.upload(new Float32Array(0), [0, 12]);
    const e = layerNorm(fx.rt, empty, gamma, beta);
    expect(e.y.shape).toEqual([0, 12]);
    const eg = layerNormBackward(fx.rt, empty, empty, gamma, e.mean, e.rstd);
    expect([...(await fx.rt.read(eg.dgamma))]).toEqual(new Array(12).fill(0));
    expect([...(await fx.rt.read(eg.dbeta))]).toEqual(new Array(12).fill(0));
    const er = rmsNormBackward(fx.rt, empty, empty, gamma, rmsNorm(fx.rt, empty, gamma).rstd);
    expect([...(await fx.rt.read(er.dgamma))]).toEqual(new Array(12).fill(0));

    // More rows than one grid dimension holds (65535): the row index folds into wid.y.
    const rows = 70000;
    const big = new Float32Array(rows * 4).map((_, k) => (k % 4) + Math.floor(k / 4) * 1e-3);
    const bx = fx.rt.upload(big, [rows, 4]);
    const g4 = fx.rt.upload([1, 1, 1, 1]);
    const b4 = fx.rt.upload([0, 0, 0, 0]);
    const bo = layerNorm(fx.rt, bx, g4, b4);
    const want = layerNormReference(cpuTensor(big, [rows, 4]), cpuTensor([1, 1, 1, 1], [4]), cpuTensor([0, 0, 0, 0], [4]));
    assertClose(await fx.read(bo.y), want.y.data, { atol: 3e-5, rtol: 3e-5 });
  });

  it('give bit-identical parameter gradients on every run (no atomics)', async () => {
    const rng = new SeededRandom(8);
    const rows = 300;
    const dim = 40;
    expect(Math.ceil(rows / normRowsPerChunk(rows))).toBeGreaterThan(1); // exercises the two-kernel reduction
    const x = fx.rt.upload(rng.floats(rows * dim, -2, 2), [rows, dim]);
    const dy = fx.rt.upload(rng.floats(rows * dim), [rows, dim]);
    const gamma = fx.rt.upload(rng.floats(dim));
    const beta = fx.rt.upload(rng.floats(dim));
    const { mean, rstd } = layerNorm(fx.rt, x, gamma, beta);
    const first = layerNormBackward(fx.rt, dy, x, gamma, mean, rstd);
    const second = layerNormBackward(fx.rt, dy, x, gamma, mean, rstd);
    expect(await fx.rt.read(second.dgamma)).toEqual(await fx.rt.read(first.dgamma));
    expect(await fx.rt.read(second.dbeta)).toEqual(await fx.rt.read(first.dbeta));
    expect(await fx.rt.read(second.dx)).toEqual(await fx.rt.read(first.dx));
  });

  it('reject bad arguments, naming the kernel, the argument and the expected shape', () => {
    const x = fx.rt.empty([4, 6]);
    const gamma = fx.rt.empty([6]);
    const beta = fx.rt.empty([6]);
    const wrong = fx.rt.empty([5]);
    const ints = fx.rt.empty([4, 6], 'i32');
    expect(() => layerNorm(fx.rt, x, wrong, beta)).toThrow(ArgumentError);
    expect(() => layerNorm(fx.rt, x, wrong, beta)).toThrow(/\[layer-norm\] argument "gamma": expected shape \[6\], got \[5\]/);
    expect(() => layerNorm(fx.rt, x, gamma, wrong)).toThrow(/\[layer-norm\] argument "beta": expected shape \[6\]/);
    expect(() => layerNorm(fx.rt, ints, gamma, beta)).toThrow(/\[layer-norm\] argument "x": expected dtype f32, got i32/);
    expect(() => layerNorm(fx.rt, x, gamma, beta, { eps: -1 })).toThrow(/\[layer-norm\] argument "eps": must be ≥ 0/);
    expect(() => layerNorm(fx.rt, fx.rt.empty([4, 0]), fx.rt.empty([0]), fx.rt.empty([0]))).toThrow(/last\) dimension must be ≥ 1/);
    expect(() => rmsNorm(fx.rt, x, wrong)).toThrow(/\[rms-norm\] argument "gamma": expected shape \[6\], got \[5\]/);
    const mean = fx.rt.empty([4]);
    const rstd = fx.rt.empty([3]);
    expect(() => layerNormBackward(fx.rt, x, x, gamma, mean, rstd)).toThrow(/\[layer-norm-backward\] argument "rstd": expected shape \[4\], got \[3\]/);
    expect(() => layerNormBackward(fx.rt, fx.rt.empty([4, 5]), x, gamma, mean, mean)).toThrow(/\[layer-norm-backward\] argument "dy": expected shape \[4, 6\]/);
    expect(() => rmsNormBackward(fx.rt, x, x, gamma, rstd)).toThrow(/\[rms-norm-backward\] argument "rstd": expected shape \[4\]/);
  });
});
