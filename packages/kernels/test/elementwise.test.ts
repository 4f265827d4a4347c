import { beforeAll, describe, expect, it } from 'vitest';
import {
  add,
  binary,
  BINARY_OP_NAMES,
  BINARY_OPS,
  binaryBackward,
  binaryBackwardReference,
  binaryReference,
  clamp,
  cpuTensor,
  powScalar,
  sizeOf,
  unary,
  UNARY_OP_NAMES,
  UNARY_OPS,
  unaryBackward,
  unaryBackwardReference,
  unaryReference,
  where,
  whereBackward,
  whereBackwardReference,
  whereReference,
  withFlags,
  type BinaryOp,
  type CpuTensor,
  type GpuArray,
  type UnaryOp,
  type UnaryParams,
} from '../src/index.js';
import { assertClose, dot, kernelFixture, numericGradient, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

const TOL = { atol: 1e-6, rtol: 2e-5 };

/** Inputs inside each op's smooth domain (away from kinks and the edges of its domain). */
function sampleFor(op: UnaryOp, rng: SeededRandom, n: number, wide = true): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.uniform(-4, 4);
    if (op === 'log' || op === 'sqrt' || op === 'rsqrt') v = rng.uniform(0.05, 6);
    if (op === 'exp' && wide) v = rng.uniform(-20, 20);
    if (op === 'relu' || op === 'abs' || op === 'clamp') v = (Math.abs(v) < 0.05 ? 0.3 : v) * (Math.abs(v - 1.5) < 0.05 ? 0.5 : 1);
    out[i] = v;
  }
  return out;
}

const PARAMS: Partial<Record<UnaryOp, UnaryParams[]>> = {
  clamp: [{ min: -1, max: 1.5 }],
  powScalar: [{ exponent: 2 }, { exponent: 3 }, { exponent: -1 }, { exponent: 0.5 }, { exponent: 0 }],
  affine: [{ scale: -2.5, shift: 0.75 }],
};
const paramsOf = (op: UnaryOp) => PARAMS[op] ?? [{}];

/** powScalar with a non-integral exponent needs a positive base; integral exponents take negative bases too. */
function sampleWithParams(op: UnaryOp, p: UnaryParams, rng: SeededRandom, n: number, wide = true): Float32Array {
  const x = sampleFor(op, rng, n, wide);
  if (op === 'powScalar') {
    for (let i = 0; i < n; i++) {
      if (!Number.isInteger(p.exponent!)) x[i] = Math.abs(x[i]!) + 0.1;
      else if (p.exponent! < 0 && Math.abs(x[i]!) < 0.2) x[i] = 0.7;
    }
  }
  return x;
}

async function readTensor(a: GpuArray): Promise<Float32Array> {
  return (await fx.rt.read(a)) as Float32Array;
}

describe('elementwise references: backward agrees with finite differences (float64)', () => {
  it('every unary op, every parameterisation', () => {
    const rng = new SeededRandom(1);
    for (const op of UNARY_OP_NAMES) {
      for (const p of paramsOf(op)) {
        // Moderate values: finite differences of e^20 would lose everything to rounding.
        const x = cpuTensor(sampleWithParams(op, p, rng, 24, false), [4, 6]);
        const w = Float64Array.from(rng.floats(24));
        const numeric = numericGradient((v) => dot(w, unaryReference(op, cpuTensor(v, x.shape), p).data), x.data);
        const analytic = unaryBackwardReference(op, x, cpuTensor(w, x.shape), p).data;
        assertClose(analytic, numeric, { atol: 1e-6, rtol: 1e-6, label: `${op} ${JSON.stringify(p)}` });
      }
    }
  });

  it('every differentiable binary op, with broadcasting on both sides', () => {
    const rng = new SeededRandom(2);
    const shapes: [number[], number[]][] = [
      [[3, 4], [3, 4]],
      [[3, 1, 5], [4, 1]],
      [[], [2, 3]],
      [[2, 1, 3], [1]],
    ];
    for (const op of BINARY_OP_NAMES.filter((o) => BINARY_OPS[o].derivative)) {
      for (const [sa, sb] of shapes) {
        const a = cpuTensor(rng.floats(sizeOf(sa), 0.3, 2.5), sa); // positive: pow's exponent gradient needs ln a
        const b = cpuTensor(rng.floats(sizeOf(sb), -2, 2), sb);
        if (op === 'div') b.data.forEach((v, i) => (b.data[i] = Math.abs(v) + 0.5));
        const outShape = binaryReference(op, a, b).shape;
        const w = Float64Array.from(rng.floats(sizeOf(outShape)));
        const { da, db } = binaryBackwardReference(op, a, b, cpuTensor(w, outShape));
        const fa = (v: Float64Array) => dot(w, binaryReference(op, cpuTensor(v, sa), b).data);
        const fb = (v: Float64Array) => dot(w, binaryReference(op, a, cpuTensor(v, sb)).data);
        assertClose(da.data, numericGradient(fa, a.data), { atol: 1e-6, rtol: 1e-6, label: `${op} da ${sa} ${sb}` });
        assertClose(db.data, numericGradient(fb, b.data), { atol: 1e-6, rtol: 1e-6, label: `${op} db ${sa} ${sb}` });
        expect(da.shape).toEqual(sa);
        expect(db.shape).toEqual(sb);
      }
    }
  });

  it('where: the gradient goes to the chosen side, summed over broadcast dims', () => {
    const rng = new SeededRandom(3);
    const cond = cpuTensor([1, 0, 0, 1, 1, 0], [2, 3]);
    const a = cpuTensor(rng.floats(3), [3]);
    const b = cpuTensor(rng.floats(2), [2, 1]);
    const w = Float64Array.from(rng.floats(6));
    const { da, db } = whereBackwardReference(cond, a.shape, b.shape, cpuTensor(w, [2, 3]));
    assertClose(da.data, numericGradient((v) => dot(w, whereReference(cond, cpuTensor(v, [3]), b).data), a.data), { atol: 1e-8 });
    assertClose(db.data, numericGradient((v) => dot(w, whereReference(cond, a, cpuTensor(v, [2, 1])).data), b.data), { atol: 1e-8 });
  });
});

describe('unary kernels', () => {
  // auto takes the vec4 kernel on these (element counts divisible by 4) …
  const vec4Shapes = [[4], [1000], [4, 1000], [2, 3, 4, 5], [0, 5]];
  // … and the scalar kernel on these; the scalar layout flag forces it on both.
  const oddShapes = [[1], [7], [33], [257], [3, 5, 7], []];
  for (const layout of ['auto', 'scalar'] as const) {
    const shapes = layout === 'auto' ? vec4Shapes : [...vec4Shapes, ...oddShapes];
    it(`forward and backward of every op match the reference (layout ${layout})`, async () => {
      const rng = new SeededRandom(10);
      await withFlags({ 'elementwise.layout': layout }, async () => {
        for (const op of UNARY_OP_NAMES) {
          for (const p of paramsOf(op)) {
            const shape = rng.pick(shapes);
            const data = sampleWithParams(op, p, rng, sizeOf(shape));
            const dyData = rng.floats(sizeOf(shape));
            const x = fx.rt.upload(data, shape);
            const dy = fx.rt.upload(dyData, shape);
            const y = unary(fx.rt, op, x, p);
            const dx = unaryBackward(fx.rt, op, x, dy, p);
            expect(y.shape).toEqual(shape);
            const label = `${op} ${JSON.stringify(p)} [${shape}]`;
            assertClose(await readTensor(y), unaryReference(op, cpuTensor(data, shape), p).data, { ...TOL, label });
            const want = unaryBackwardReference(op, cpuTensor(data, shape), cpuTensor(dyData, shape), p).data;
            assertClose(await readTensor(dx), want, { ...TOL, label: `${label} backward` });
            for (const a of [x, dy, y, dx]) a.dispose();
          }
        }
      });
    });
  }

  it('every op on the awkward sizes (vec4 and scalar tails)', async () => {
    const rng = new SeededRandom(11);
    for (const n of [1, 3, 4, 5, 255, 256, 257, 1023, 1024, 1025, 4099]) {
      for (const op of ['gelu', 'tanh', 'sigmoid', 'silu'] as const) {
        const data = sampleFor(op, rng, n);
        const x = fx.rt.upload(data, [n]);
        const y = unary(fx.rt, op, x);
        assertClose(await readTensor(y), unaryReference(op, cpuTensor(data)).data, { ...TOL, label: `${op} n=${n}` });
        x.dispose();
        y.dispose();
      }
    }
  });

  it('edge values: log 0, negative domains, overflow, large magnitudes, no NaN where the reference has none', async () => {
    const edges = [0, -0, -1, 1e-30, 1e4, -1e4, 3e38, -3e38, 88, 89, -88, -104, 0.1249, 0.1251, -0.1249, -0.1251, 1e-4, -1e-4, Infinity, -Infinity];
    const ref32 = (t: CpuTensor) => Float32Array.from(t.data); // the f32 result of the exact value (overflow → ±inf)
    for (const layout of ['auto', 'scalar'] as const) {
      await withFlags({ 'elementwise.layout': layout }, async () => {
        const x = fx.rt.upload(edges);
        const dy = fx.rt.upload(edges.map(() => 1));
        for (const op of UNARY_OP_NAMES) {
          for (const p of paramsOf(op)) {
            const y = await readTensor(unary(fx.rt, op, x, p));
            const want = ref32(unaryReference(op, cpuTensor(edges), p));
            assertClose(y, want, { atol: 1e-6, rtol: 1e-5, label: `${op} ${JSON.stringify(p)} edges (${layout})` });
            const dx = await readTensor(unaryBackward(fx.rt, op, x, dy, p));
            const wantDx = ref32(unaryBackwardReference(op, cpuTensor(edges), cpuTensor(edges.map(() => 1)), p));
            assertClose(dx, wantDx, { atol: 1e-6, rtol: 1e-5, label: `${op} ${JSON.stringify(p)} backward edges (${layout})` });
            if (['sigmoid', 'tanh', 'gelu', 'silu'].includes(op)) {
              expect(y.some(Number.isNaN), `${op} NaN at large |x|`).toBe(false);
              expect(dx.some(Number.isNaN), `${op} backward NaN at large |x|`).toBe(false);
            }
          }
        }
      });
    }
    const y = await readTensor(unary(fx.rt, 'log', fx.rt.upload([0, -1, 1])));
    expect(y[0]).toBe(-Infinity);
    expect(Number.isNaN(y[1])).toBe(true);
    expect(y[2]).toBe(0);
  });

  it('powScalar follows C pow for negative bases and zero', async () => {
    const x = fx.rt.upload([-2, -2, 0, 0, 0, 3]);
    const got = async (e: number) => [...(await readTensor(powScalar(fx.rt, x, e)))];
    expect(await got(2)).toEqual([4, 4, 0, 0, 0, 9]);
    expect(await got(3)).toEqual([-8, -8, 0, 0, 0, 27]);
    expect(await got(0)).toEqual([1, 1, 1, 1, 1, 1]);
    const inv = await got(-1);
    expect(inv.slice(2, 5)).toEqual([Infinity, Infinity, Infinity]);
    expect(Number.isNaN((await got(0.5))[0]!)).toBe(true);
  });
});

describe('binary kernels with broadcasting', () => {
  async function checkBinary(op: BinaryOp, first: number[], second: number[], rng: SeededRandom): Promise<void> {
    const aData = rng.floats(sizeOf(first), op === 'pow' ? 0.2 : -3, 3);
    const bData = rng.floats(sizeOf(second), -3, 3);
    if (op === 'div') bData.forEach((v, i) => (bData[i] = Math.sign(v || 1) * (Math.abs(v) + 0.25)));
    // Exact ties, so maximum/minimum/equal see some.
    if (sizeOf(first) === sizeOf(second) && sizeOf(first) > 2) aData[1] = bData[1]!;
    const a = fx.rt.upload(aData, first);
    const b = fx.rt.upload(bData, second);
    const y = binary(fx.rt, op, a, b);
    const ref = binaryReference(op, cpuTensor(aData, first), cpuTensor(bData, second));
    expect(y.shape).toEqual(ref.shape);
    const label = `${op} [${first}] [${second}]`;
    assertClose(await readTensor(y), ref.data, { ...TOL, label });
    const dyData = rng.floats(sizeOf(ref.shape));
    const dy = fx.rt.upload(dyData, ref.shape);
    const { da, db } = binaryBackward(fx.rt, op, a, b, dy);
    const want = binaryBackwardReference(op, cpuTensor(aData, first), cpuTensor(bData, second), cpuTensor(dyData, ref.shape));
    expect(da.shape).toEqual(first);
    expect(db.shape).toEqual(second);
    assertClose(await readTensor(da), want.da.data, { atol: 2e-5, rtol: 5e-5, label: `${label} da` });
    assertClose(await readTensor(db), want.db.data, { atol: 2e-5, rtol: 5e-5, label: `${label} db` });
    for (const t of [a, b, y, dy, da, db]) t.dispose();
  }

  it('every op, forward and backward: vec4 and broadcast kernels', async () => {
    const rng = new SeededRandom(20);
    for (const op of BINARY_OP_NAMES) {
      await checkBinary(op, [4, 257], [4, 257], rng); // vec4
      await checkBinary(op, [3, 1, 5], [4, 1], rng); // broadcast on both sides, rank 3 (the f32 expressions)
    }
  });

  // The indexing is the same code for every op: every kind of broadcast, on ops covering every
  // gradient form (add: pass-through, div: both operands); the forced strided layout runs one op.
  const cases: [number[], number[]][] = [
    [[7, 3], [7, 3]],
    [[1000], [1]],
    [[], [7, 3]],
    [[3, 1, 5], [4, 1]],
    [[2, 1, 3, 1], [1, 4, 1, 5]],
    [[2, 3, 1], [2, 1, 33]],
    [[5, 1, 1, 7], [7]],
    [[3, 4, 257], [257]],
    [[3, 4, 8], [8]], // vec4 broadcast: bias read as vec4
    [[6, 1], [6, 8]], // vec4 broadcast: a column splatted
    [[2, 1, 4], [3, 1]], // vec4 broadcast on both sides
    [[2, 3, 2, 1, 2, 3], [3, 1, 4, 1, 1]],
    [[1, 1], [1]],
    [[0, 3], [3]],
    [[4, 0], [1, 1]],
  ];
  for (const layout of ['auto', 'broadcast'] as const) {
    it(`every kind of broadcast, either side (layout ${layout})`, async () => {
      const rng = new SeededRandom(21);
      await withFlags({ 'elementwise.layout': layout }, async () => {
        for (const op of layout === 'auto' ? (['add', 'div'] as const) : (['div'] as const)) {
          for (const [sa, sb] of cases) {
            await checkBinary(op, sa, sb, rng);
            await checkBinary(op, sb, sa, rng);
          }
        }
      });
    });
  }

  it('maximum and minimum split the gradient on ties; comparisons have none', async () => {
    const a = fx.rt.upload([1, 2, 3]);
    const b = fx.rt.upload([1, 5, 0]);
    const dy = fx.rt.upload([1, 1, 1]);
    const mx = binaryBackward(fx.rt, 'maximum', a, b, dy);
    expect([...(await readTensor(mx.da))]).toEqual([0.5, 0, 1]);
    expect([...(await readTensor(mx.db))]).toEqual([0.5, 1, 0]);
    const mn = binaryBackward(fx.rt, 'minimum', a, b, dy);
    expect([...(await readTensor(mn.da))]).toEqual([0.5, 1, 0]);
    const eq = binaryBackward(fx.rt, 'equal', a, b, dy);
    expect([...(await readTensor(eq.da))]).toEqual([0, 0, 0]);
    expect([...(await readTensor(binary(fx.rt, 'greaterEqual', a, b)))]).toEqual([1, 0, 1]);
  });

  it('pow: exponent gradient is 0 at a zero base, C rules for negative bases', async () => {
    const a = fx.rt.upload([0, 0, -2, -2, 2]);
    const b = fx.rt.upload([2, 0, 3, 0.5, -1]);
    const y = await readTensor(binary(fx.rt, 'pow', a, b));
    expect([y[0], y[1], y[2], y[4]]).toEqual([0, 1, -8, 0.5]);
    expect(Number.isNaN(y[3])).toBe(true);
    const { db } = binaryBackward(fx.rt, 'pow', a, b, fx.rt.upload([1, 1, 1, 1, 1]));
    const g = await readTensor(db);
    expect([g[0], g[1]]).toEqual([0, 0]);
  });

  it('large broadcast adds (bias over [B·T, C], scalar and vec4 kernels) match the reference exactly', async () => {
    const rng = new SeededRandom(21);
    for (const c of [257, 256]) {
      const x = rng.floats(300 * c);
      const bias = rng.floats(c);
      const y = add(fx.rt, fx.rt.upload(x, [3, 100, c]), fx.rt.upload(bias, [c]));
      // f32 addition is correctly rounded: exactly the float64 sum rounded to f32.
      const want = Float32Array.from(binaryReference('add', cpuTensor(x, [3, 100, c]), cpuTensor(bias)).data);
      assertClose(await readTensor(y), want, { atol: 0, rtol: 0, label: `C=${c}` });
    }
  });
});

describe('where', () => {
  for (const layout of ['auto', 'broadcast'] as const) {
    it(`f32, i32 and u32 conditions with broadcasting, forward and backward (layout ${layout})`, async () => {
      const rng = new SeededRandom(30);
      const cases: [number[], number[], number[]][] = [
        [[5], [5], [5]],
        [[2, 3], [3], [2, 1]],
        [[4, 1, 6], [1], []],
        [[1, 33], [7, 33], [7, 1]],
        [[4, 1, 8], [8], [4, 1, 1]],
        [[0, 2], [2], [2]],
      ];
      await withFlags({ 'elementwise.layout': layout }, async () => {
        for (const [sc, sa, sb] of cases) {
          for (const dtype of ['f32', 'i32', 'u32'] as const) {
            const condData = Array.from({ length: sizeOf(sc) }, () => (rng.next() < 0.5 ? 0 : dtype === 'f32' ? rng.uniform(-2, 2) : rng.int(1, 5)));
            const cond = fx.rt.upload(dtype === 'f32' ? Float32Array.from(condData) : dtype === 'i32' ? Int32Array.from(condData) : Uint32Array.from(condData), sc, dtype);
            const aData = rng.floats(sizeOf(sa));
            const bData = rng.floats(sizeOf(sb));
            const condRef = cpuTensor(dtype === 'f32' ? Float32Array.from(condData) : condData, sc);
            const y = where(fx.rt, cond, fx.rt.upload(aData, sa), fx.rt.upload(bData, sb));
            const ref = whereReference(condRef, cpuTensor(aData, sa), cpuTensor(bData, sb));
            expect(y.shape).toEqual(ref.shape);
            assertClose(await readTensor(y), ref.data, { atol: 0, rtol: 0, label: `where ${dtype} [${sc}] [${sa}] [${sb}]` });
            const dyData = rng.floats(sizeOf(ref.shape));
            const { da, db } = whereBackward(fx.rt, cond, sa, sb, fx.rt.upload(dyData, ref.shape));
            const want = whereBackwardReference(condRef, sa, sb, cpuTensor(dyData, ref.shape));
            assertClose(await readTensor(da), want.da.data, { atol: 1e-6, rtol: 1e-5, label: 'where da' });
            assertClose(await readTensor(db), want.db.data, { atol: 1e-6, rtol: 1e-5, label: 'where db' });
          }
        }
      });
    });
  }
});

describe('argument errors name the kernel, the argument and the shapes', () => {
  it('shapes that do not broadcast', () => {
    const a = fx.rt.zeros([2, 3]);
    const b = fx.rt.zeros([4]);
    expect(() => add(fx.rt, a, b)).toThrow(/\[add\] argument "b": shape \[4\] does not broadcast with a shape \[2, 3\]/);
    expect(() => binaryBackward(fx.rt, 'mul', a, b, fx.rt.zeros([2, 3]))).toThrow(/\[mul-backward\] argument "b".*\[4\].*\[2, 3\]/);
    expect(() => where(fx.rt, fx.rt.zeros([3, 2]), a, a)).toThrow(/\[where\] argument "a": shape \[2, 3\] does not broadcast with cond shape \[3, 2\]/);
  });

  it('wrong gradient shapes, dtypes, ranks, ops and parameters', () => {
    const x = fx.rt.zeros([2, 3]);
    expect(() => unaryBackward(fx.rt, 'exp', x, fx.rt.zeros([3, 2]))).toThrow(/\[exp-backward\] argument "dy": expected shape \[2, 3\], got \[3, 2\]/);
    expect(() => binaryBackward(fx.rt, 'add', x, fx.rt.zeros([3]), fx.rt.zeros([3]))).toThrow(/\[add-backward\] argument "dy": expected shape \[2, 3\], got \[3\]/);
    expect(() => unary(fx.rt, 'exp', fx.rt.zeros([3], 'i32'))).toThrow(/\[exp\] argument "x": expected dtype f32, got i32/);
    expect(() => unary(fx.rt, 'powScalar', x)).toThrow(/\[powScalar\] argument "exponent": is required/);
    expect(() => unary(fx.rt, 'nope' as UnaryOp, x)).toThrow(/\[unary\] argument "op": unknown unary op "nope"/);
    expect(() => binary(fx.rt, 'nope' as BinaryOp, x, x)).toThrow(/\[binary\] argument "op"/);
    expect(() => clamp(fx.rt, x, 2, 1)).toThrow(/\[clamp\] argument "min"/);
    expect(() => add(fx.rt, fx.rt.zeros([1, 1, 1, 1, 1, 1, 2]), x)).toThrow(/\[add\] argument "a": rank 7 .* exceeds the maximum 6/);
    expect(UNARY_OPS.gelu.doc).toMatch(/tanh approximation/);
  });
});
