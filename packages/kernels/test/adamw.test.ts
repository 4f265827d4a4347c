import { beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, adamwReference, adamwUpdate, adamwUpdateMany, sumOfSquares, sumOfSquaresReference, withFlags } from '../src/index.js';
import { assertClose, kernelFixture, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

// One step from m = v = 0 with lr 0.1, weight decay 0.01, step 1, worked by hand:
//   p ← p·(1 − 0.001); m = 0.1·g; v = 0.001·g²; m̂ = m/0.1 = g; v̂ = v/0.001 = g²
//   p ← p − 0.1·g/(|g| + 1e-8)
const HAND = {
  param: [1, -3, 0.5, 0],
  grad: [0.5, -2, 0, 1e-3],
  options: { lr: 0.1, weightDecay: 0.01, step: 1 },
  param1: [
    0.999 - 0.1 * (0.5 / 0.50000001), // 0.899000002
    -2.997 + 0.1 * (2 / 2.00000001), // −2.89700000005
    0.4995, // zero gradient: only the decay acts
    -0.1 * (1e-3 / 1.00001e-3), // −0.0999990000099999
  ],
  m1: [0.05, -0.2, 0, 1e-4],
  v1: [0.00025, 0.004, 0, 1e-9],
};

describe('adamw', () => {
  it('reference reproduces a step worked by hand', () => {
    const p = Float64Array.from(HAND.param);
    const m = new Float64Array(4);
    const v = new Float64Array(4);
    adamwReference(p, HAND.grad, m, v, HAND.options);
    assertClose(p, HAND.param1, { atol: 1e-15, rtol: 1e-12, label: 'param' });
    assertClose(m, HAND.m1, { atol: 1e-18, rtol: 1e-12, label: 'm' });
    assertClose(v, HAND.v1, { atol: 1e-21, rtol: 1e-12, label: 'v' });
  });

  it('kernel reproduces the step worked by hand (vec4 and scalar paths)', async () => {
    for (const vec4 of [true, false]) {
      await withFlags({ 'adamw.vec4': vec4 }, async () => {
        const p = fx.rt.upload(HAND.param);
        const g = fx.rt.upload(HAND.grad);
        const m = fx.rt.zeros([4]);
        const v = fx.rt.zeros([4]);
        adamwUpdate(fx.rt, p, g, m, v, HAND.options);
        await fx.expectClose(p, HAND.param1, { atol: 1e-7, rtol: 1e-6, label: `param vec4=${vec4}` });
        await fx.expectClose(m, HAND.m1, { atol: 1e-9, rtol: 1e-6, label: 'm' });
        await fx.expectClose(v, HAND.v1, { atol: 1e-12, rtol: 1e-5, label: 'v' });
        for (const a of [p, g, m, v]) a.dispose();
      });
    }
  });

  it('follows the float64 reference over 12 steps with changing gradients, clipping scale and awkward sizes', async () => {
    const rng = new SeededRandom(7);
    for (const n of [1, 7, 1000, 1001, 4099]) {
      const param0 = rng.floats(n, -2, 2);
      const p = fx.rt.upload(param0);
      const m = fx.rt.zeros([n]);
      const v = fx.rt.zeros([n]);
      const pRef = Float64Array.from(param0);
      const mRef = new Float64Array(n);
      const vRef = new Float64Array(n);
      for (let step = 1; step <= 12; step++) {
        const gradData = rng.floats(n, -1, 1).map((x) => x * (step % 3 === 0 ? 10 : 1));
        const options = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step, gradScale: step % 3 === 0 ? 0.1 : 1 };
        const g = fx.rt.upload(gradData);
        adamwUpdate(fx.rt, p, g, m, v, options);
        g.dispose();
        adamwReference(pRef, gradData, mRef, vRef, options);
      }
      await fx.expectClose(p, pRef, { atol: 1e-6, rtol: 1e-5, label: `param n=${n}` });
      await fx.expectClose(m, mRef, { atol: 1e-6, rtol: 1e-5, label: `m n=${n}` });
      await fx.expectClose(v, vRef, { atol: 1e-7, rtol: 1e-5, label: `v n=${n}` });
      // The parameters moved: the test would notice an update that does nothing.
      expect(Math.max(...pRef.map((x, k) => Math.abs(x - param0[k]!)))).toBeGreaterThan(1e-3);
      for (const a of [p, m, v]) a.dispose();
    }
  });

  it('updates parameters over the binding limit in aligned ranges (forced small ranges)', async () => {
    const rng = new SeededRandom(8);
    for (const n of [1000, 1001]) {
      const param0 = rng.floats(n);
      const p = fx.rt.upload(param0);
      const m = fx.rt.zeros([n]);
      const v = fx.rt.zeros([n]);
      const pRef = Float64Array.from(param0);
      const mRef = new Float64Array(n);
      const vRef = new Float64Array(n);
      await withFlags({ 'adamw.chunkElements': 100 }, async () => {
        for (let step = 1; step <= 3; step++) {
          const gradData = rng.floats(n);
          const g = fx.rt.upload(gradData);
          adamwUpdate(fx.rt, p, g, m, v, { lr: 0.01, step });
          adamwReference(pRef, gradData, mRef, vRef, { lr: 0.01, step });
        }
      });
      await fx.expectClose(p, pRef, { atol: 1e-6, rtol: 1e-5, label: `param n=${n}` });
      await fx.expectClose(v, vRef, { atol: 1e-7, rtol: 1e-5, label: `v n=${n}` });
    }
  });

  it('works on multi-dimensional and empty parameters', async () => {
    const p = fx.rt.upload([1, 2, 3, 4, 5, 6], [2, 3]);
    const g = fx.rt.upload([1, 1, 1, 1, 1, 1], [2, 3]);
    const m = fx.rt.zeros([2, 3]);
    const v = fx.rt.zeros([2, 3]);
    adamwUpdate(fx.rt, p, g, m, v, { lr: 0.5, weightDecay: 0, step: 1 });
    await fx.expectClose(p, [0.5, 1.5, 2.5, 3.5, 4.5, 5.5], { atol: 1e-6, rtol: 0 });
    const e = () => fx.rt.empty([0, 3]);
    adamwUpdate(fx.rt, e(), e(), e(), e(), { lr: 0.5, step: 1 });
    await fx.rt.sync();
  });

  it('rejects bad arguments, naming the kernel, the argument and the expected shape', () => {
    const p = fx.rt.empty([4, 2]);
    const a = () => fx.rt.empty([4, 2]);
    const ok = { lr: 1e-3, step: 1 };
    expect(() => adamwUpdate(fx.rt, p, fx.rt.empty([8]), a(), a(), ok)).toThrow(ArgumentError);
    expect(() => adamwUpdate(fx.rt, p, fx.rt.empty([8]), a(), a(), ok)).toThrow(/\[adamw\] argument "grad": expected shape \[4, 2\] \(the shape of param\), got \[8\]/);
    expect(() => adamwUpdate(fx.rt, p, a(), a(), fx.rt.empty([4, 3]), ok)).toThrow(/\[adamw\] argument "v": expected shape \[4, 2\]/);
    expect(() => adamwUpdate(fx.rt, p, a(), a(), fx.rt.empty([4, 2], 'i32'), ok)).toThrow(/argument "v": expected dtype f32/);
    expect(() => adamwUpdate(fx.rt, p, a(), a(), a(), { lr: 1e-3, step: 0 })).toThrow(/\[adamw\] argument "step": must be an integer ≥ 1/);
    expect(() => adamwUpdate(fx.rt, p, a(), a(), a(), { ...ok, beta1: 1 })).toThrow(/argument "beta1": must be in \[0, 1\)/);
    expect(() => adamwUpdate(fx.rt, p, a(), a(), a(), { ...ok, lr: NaN })).toThrow(/argument "lr": must be a finite number/);
    const m = a();
    expect(() => adamwUpdate(fx.rt, p, a(), m, m, ok)).toThrow(/must be four different buffers/);
  });

  it('multi-tensor: many tensors (awkward sizes, vec4 and scalar, own weight decays) follow the per-tensor reference at every batching', async () => {
    const rng = new SeededRandom(9);
    const sizes = [1, 3, 4, 7, 64, 129, 256, 1001, 4099, 4100];
    // 1 and 2 tensors per dispatch, the device's default, and ranges forced small (several per tensor).
    const batchings: Record<string, number | boolean>[] = [{ 'adamw.tensorsPerDispatch': 1 }, { 'adamw.tensorsPerDispatch': 2 }, {}, { 'adamw.chunkElements': 128 }, { 'adamw.vec4': false }];
    for (const flags of batchings) {
      const param0 = sizes.map((n) => rng.floats(n, -2, 2));
      const decays = sizes.map((_, i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? undefined : 0.3));
      const gpu = sizes.map((n, i) => ({ param: fx.rt.upload(param0[i]!), m: fx.rt.zeros([n]), v: fx.rt.zeros([n]) }));
      const ref = sizes.map((n, i) => ({ p: Float64Array.from(param0[i]!), m: new Float64Array(n), v: new Float64Array(n) }));
      await withFlags(flags, async () => {
        for (let step = 1; step <= 3; step++) {
          const options = { lr: 1e-2, beta1: 0.9, beta2: 0.95, weightDecay: 0.1, step, gradScale: step === 2 ? 0.5 : 1 };
          const grads = sizes.map((n) => rng.floats(n, -1, 1));
          const g = grads.map((d) => fx.rt.upload(d));
          adamwUpdateMany(fx.rt, gpu.map((t, i) => ({ ...t, grad: g[i]!, ...(decays[i] !== undefined ? { weightDecay: decays[i] } : {}) })), options);
          for (const a of g) a.dispose();
          ref.forEach((r, i) => adamwReference(r.p, grads[i]!, r.m, r.v, { ...options, ...(decays[i] !== undefined ? { weightDecay: decays[i] } : {}) }));
        }
      });
      for (let i = 0; i < sizes.length; i++) {
        const label = `${JSON.stringify(flags)} n=${sizes[i]}`;
        await fx.expectClose(gpu[i]!.param, ref[i]!.p, { atol: 1e-6, rtol: 1e-5, label: `param ${label}` });
        await fx.expectClose(gpu[i]!.m, ref[i]!.m, { atol: 1e-6, rtol: 1e-5, label: `m ${label}` });
        await fx.expectClose(gpu[i]!.v, ref[i]!.v, { atol: 1e-7, rtol: 1e-5, label: `v ${label}` });
        for (const a of Object.values(gpu[i]!)) a.dispose();
      }
    }
  });

  it('multi-tensor: rejects a bad tensor by its index and tensors that share a written buffer', () => {
    const a = () => fx.rt.empty([4]);
    const ok = { lr: 1e-3, step: 1 };
    const good = { param: a(), grad: a(), m: a(), v: a() };
    expect(() => adamwUpdateMany(fx.rt, [good, { param: a(), grad: fx.rt.empty([5]), m: a(), v: a() }], ok)).toThrow(/\[adamw\] argument "tensors\[1\]\.grad": expected shape \[4\]/);
    expect(() => adamwUpdateMany(fx.rt, [good, { ...good, grad: a() }], ok)).toThrow(/tensors\[1\]\.param.*shares a buffer/);
    expect(() => adamwUpdateMany(fx.rt, [good, { param: a(), grad: a(), m: a(), v: a(), weightDecay: -1 }], ok)).toThrow(/argument "weightDecay": must be ≥ 0/);
  });

  it('sumOfSquares equals the float64 sum of squares over many arrays (awkward sizes, chunked, scalar, one per dispatch)', async () => {
    const rng = new SeededRandom(10);
    const sizes = [1, 3, 4, 5, 63, 65, 4096, 4097, 20000, 70001];
    const data = sizes.map((n) => rng.floats(n, -3, 3));
    const arrays = data.map((d) => fx.rt.upload(d));
    const expected = sumOfSquaresReference(data);
    const batchings: Record<string, number | boolean>[] = [{}, { 'sumSquares.perDispatch': 1 }, { 'sumSquares.perDispatch': 3 }, { 'sumSquares.vec4': false }, { 'sumSquares.chunkElements': 1000 }];
    for (const flags of batchings) {
      const out = await withFlags(flags, () => sumOfSquares(fx.rt, arrays));
      expect(out.shape).toEqual([1]);
      await fx.expectClose(out, [expected], { atol: 0, rtol: 1e-5, label: JSON.stringify(flags) });
      out.dispose();
    }
    // One array, one element; no arrays and empty arrays give 0.
    const one = sumOfSquares(fx.rt, [arrays[0]!]);
    await fx.expectClose(one, [data[0]![0]! ** 2], { atol: 0, rtol: 1e-6 });
    const none = sumOfSquares(fx.rt, [fx.rt.empty([0])]);
    await fx.expectClose(none, [0], { atol: 0, rtol: 0 });
    for (const a of [one, none, ...arrays]) a.dispose();
    expect(() => sumOfSquares(fx.rt, [fx.rt.empty([2], 'i32')])).toThrow(/\[sum-squares\] argument "arrays\[0\]": expected dtype f32/);
  });
});
