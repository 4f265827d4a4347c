import { beforeAll, describe, expect, it } from 'vitest';
import {
  cpuTensor,
  normalizeAxes,
  reduce,
  reduceBackward,
  reduceBackwardReference,
  reducedShape,
  reduceMax,
  reduceMaxBackward,
  reduceReference,
  reduceSum,
  reduceSumBackward,
  sizeOf,
  sumToShape,
  sumToShapeReference,
  withFlags,
  type ReduceOptions,
  type ReductionOp,
} from '../src/index.js';
import { assertClose, dot, kernelFixture, numericGradient, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

const OPS: ReductionOp[] = ['sum', 'mean', 'max'];

/** Shapes and axis choices: rows, columns, middle axes, several axes, all axes, size-1 and empty dims. */
const CASES: [number[], ReduceOptions][] = [
  [[1], {}],
  [[7], { axis: 0 }],
  [[1000], {}],
  [[33, 257], { axis: 1 }],
  [[33, 257], { axis: 0, keepdims: true }],
  [[257, 33], { axis: -1 }],
  [[5, 1000], { axis: 1, keepdims: true }],
  [[3, 7, 33], { axis: 1 }],
  [[5, 3, 8], { axis: 1 }],
  [[9, 16], { axis: 0 }],
  [[4, 5, 6], { axis: [0, 2] }],
  [[2, 3, 4, 5], { axis: [1, 3], keepdims: true }],
  [[2, 1, 3, 1, 4], { axis: [1, 3] }],
  [[2, 1, 3, 1, 4], { axis: [0, 1] }],
  [[2, 3, 1, 4, 1, 3], { axis: [0, 3, 5] }],
  [[6, 7], {}],
  [[0, 5], { axis: 0 }],
  [[5, 0], { axis: 0 }],
];

/** Three variants of the data: plain, with ties (max), with −inf and huge magnitudes. */
function sample(rng: SeededRandom, n: number, kind: 'plain' | 'ties' | 'extreme'): Float32Array {
  const x = rng.floats(n, -3, 3);
  if (kind === 'ties') for (let i = 0; i < n; i++) x[i] = rng.int(-2, 2);
  if (kind === 'extreme') for (let i = 0; i < n; i++) x[i] = rng.pick([-Infinity, -3e38, 3e38, 1e4, -1e4, x[i]!]);
  return x;
}

async function checkForward(op: ReductionOp, shape: number[], options: ReduceOptions, data: Float32Array, label: string): Promise<void> {
  const x = fx.rt.upload(data, shape);
  const y = reduce(fx.rt, op, x, options);
  const ref = reduceReference(op, cpuTensor(data, shape), options);
  expect(y.shape, label).toEqual(ref.shape);
  const got = await fx.rt.read(y);
  // Sums of f32 data in f32; the reference's exact sum rounded to f32 decides ±inf on overflow.
  assertClose(got, Float32Array.from(ref.data), { atol: 1e-5, rtol: 1e-5, label: `${op} ${label}` });
  x.dispose();
  y.dispose();
}

describe('reduction references: backward agrees with finite differences (float64)', () => {
  it('sum, mean, max over every kind of axis set', () => {
    const rng = new SeededRandom(1);
    for (const op of OPS) {
      for (const [shape, options] of CASES.filter(([s]) => sizeOf(s) > 0 && sizeOf(s) <= 300)) {
        const x = cpuTensor(rng.floats(sizeOf(shape), -3, 3), shape);
        const outShape = reducedShape(shape, normalizeAxes('t', shape, options.axis), options.keepdims ?? false);
        const w = Float64Array.from(rng.floats(sizeOf(outShape)));
        const numeric = numericGradient((v) => dot(w, reduceReference(op, cpuTensor(v, shape), options).data), x.data);
        const analytic = reduceBackwardReference(op, x, cpuTensor(w, outShape), options).data;
        assertClose(analytic, numeric, { atol: 1e-7, rtol: 1e-6, label: `${op} [${shape}] ${JSON.stringify(options)}` });
      }
    }
  });

  it('max splits the gradient equally between tied maxima', () => {
    const x = cpuTensor([1, 3, 3, 0, 2, 2, 2, -1], [2, 4]);
    const dx = reduceBackwardReference('max', x, cpuTensor([6, 9], [2]), { axis: 1 });
    expect([...dx.data]).toEqual([0, 3, 3, 0, 3, 3, 3, 0]);
  });

  it('sumToShape folds broadcast dims', () => {
    const x = cpuTensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect([...sumToShapeReference(x, [3]).data]).toEqual([5, 7, 9]);
    expect([...sumToShapeReference(x, [2, 1]).data]).toEqual([6, 15]);
    expect([...sumToShapeReference(x, []).data]).toEqual([21]);
  });
});

describe('reduction kernels', () => {
  // Every path and workgroup reducer on the same cases: the automatic choice, each path forced,
  // the shared-memory fallback, wide workgroups, scalar loads only, and forced chunking
  // (two-level reduction; 7 keeps scalar loads, 8 allows vec4 loads) on small shapes.
  const settings: Record<string, string | number | boolean>[] = [
    {},
    { 'reduce.path': 'row' },
    { 'reduce.path': 'row', 'reduce.variant': 'shared', 'reduce.workgroup': 64 },
    { 'reduce.path': 'row', 'reduce.workgroup': 256 },
    { 'reduce.path': 'column' },
    { 'reduce.vec4': false },
    { 'reduce.chunk': 7 },
    { 'reduce.chunk': 8, 'reduce.path': 'column' },
    { 'reduce.chunk': 8, 'reduce.path': 'row', 'reduce.variant': 'shared' },
  ];
  for (const flags of settings) {
    it(`forward and backward match the reference (${JSON.stringify(flags)})`, async () => {
      const rng = new SeededRandom(10);
      await withFlags(flags, async () => {
        for (const [shape, options] of CASES) {
          for (const op of OPS) {
            if (op === 'max' && shape.some((d, k) => d === 0 && normalizeAxes('t', shape, options.axis).includes(k))) continue;
            const kind = op === 'max' ? rng.pick(['ties', 'extreme', 'plain'] as const) : 'plain';
            const data = sample(rng, sizeOf(shape), kind);
            const label = `[${shape}] ${JSON.stringify(options)} ${kind}`;
            await checkForward(op, shape, options, data, label);
            // Backward against the reference.
            const ref = reduceReference(op, cpuTensor(data, shape), options);
            const dyData = rng.floats(sizeOf(ref.shape));
            const x = fx.rt.upload(data, shape);
            const dy = fx.rt.upload(dyData, ref.shape);
            const dx = reduceBackward(fx.rt, op, x, dy, options);
            expect(dx.shape).toEqual(shape);
            const want = reduceBackwardReference(op, cpuTensor(data, shape), cpuTensor(dyData, ref.shape), options);
            await fx.expectClose(dx, want.data, { atol: 1e-6, rtol: 1e-5, label: `${op} backward ${label}` });
            for (const a of [x, dy, dx]) a.dispose();
          }
        }
      });
    });
  }

  it('max of all −inf is −inf, with either workgroup reducer and either path', async () => {
    const data = new Float32Array(3 * 300).fill(-Infinity);
    data[300 + 17] = -3e38;
    const settings: Record<string, string>[] = [{ 'reduce.path': 'row' }, { 'reduce.path': 'row', 'reduce.variant': 'shared' }, { 'reduce.path': 'column' }];
    for (const flags of settings) {
      await withFlags(flags, async () => {
        const got = await fx.rt.read(reduceMax(fx.rt, fx.rt.upload(data, [3, 300]), { axis: 1 }));
        expect([...got], JSON.stringify(flags)).toEqual([-Infinity, Math.fround(-3e38), -Infinity]);
      });
    }
  });

  it('long reductions: full sum of 300k elements and a 100k × 3 column sum (chunked automatically)', async () => {
    const rng = new SeededRandom(11);
    const data = rng.floats(300_000, 0, 1);
    await checkForward('sum', [300_000], {}, data, 'full');
    await checkForward('mean', [100_000, 3], { axis: 0 }, data, 'columns');
    await checkForward('max', [3, 100_000], { axis: 1 }, data, 'rows');
  });

  it('more outputs than one grid dimension holds (folded 2-D grid)', async () => {
    const rng = new SeededRandom(12);
    const data = rng.floats(70_000 * 2);
    await withFlags({ 'reduce.path': 'row' }, () => checkForward('sum', [70_000, 2], { axis: 1 }, data, 'row path, 70000 workgroups'));
  });

  it('max backward splits ties equally on the GPU; y may be passed or recomputed', async () => {
    const x = fx.rt.upload([1, 3, 3, 0, 2, 2, 2, -1], [2, 4]);
    const dy = fx.rt.upload([6, 9], [2]);
    const y = reduceMax(fx.rt, x, { axis: 1 });
    expect([...(await fx.rt.read(reduceMaxBackward(fx.rt, x, y, dy, { axis: 1 })))]).toEqual([0, 3, 3, 0, 3, 3, 3, 0]);
    expect([...(await fx.rt.read(reduceBackward(fx.rt, 'max', x, dy, { axis: 1 })))]).toEqual([0, 3, 3, 0, 3, 3, 3, 0]);
  });

  it('sumToShape matches the reference for every broadcast pattern', async () => {
    const rng = new SeededRandom(13);
    const cases: [number[], number[]][] = [
      [[4, 5], [5]],
      [[4, 5], [4, 1]],
      [[2, 3, 4], []],
      [[2, 3, 4], [1, 3, 1]],
      [[2, 1, 4], [1, 4]],
      [[3, 4], [3, 4]],
    ];
    for (const [from, to] of cases) {
      const data = rng.floats(sizeOf(from));
      const y = sumToShape(fx.rt, fx.rt.upload(data, from), to);
      expect(y.shape).toEqual(to);
      await fx.expectClose(y, sumToShapeReference(cpuTensor(data, from), to).data, { atol: 1e-6, rtol: 1e-5, label: `[${from}] → [${to}]` });
    }
  });

  it('empty axes: sum 0, mean NaN; reducing over no axis copies', async () => {
    expect([...(await fx.rt.read(reduceSum(fx.rt, fx.rt.zeros([0, 3]), { axis: 0 })))]).toEqual([0, 0, 0]);
    expect((await fx.rt.read(reduce(fx.rt, 'mean', fx.rt.zeros([0, 2]), { axis: 0 }))).every(Number.isNaN)).toBe(true);
    expect([...(await fx.rt.read(reduceSum(fx.rt, fx.rt.upload([1, 2, 3], [3]), { axis: [] })))]).toEqual([1, 2, 3]);
  });
});

describe('argument errors', () => {
  it('name the kernel, the argument and the shape', () => {
    const x = fx.rt.zeros([2, 3]);
    expect(() => reduceSum(fx.rt, x, { axis: 2 })).toThrow(/\[reduce-sum\] argument "axis": 2 is out of range for shape \[2, 3\]/);
    expect(() => reduceSum(fx.rt, x, { axis: [1, -1] })).toThrow(/\[reduce-sum\] argument "axis": repeats an axis/);
    expect(() => reduceMax(fx.rt, fx.rt.zeros([0, 3]), { axis: 0 })).toThrow(/\[reduce-max\] argument "axis": max over an empty axis of shape \[0, 3\]/);
    expect(() => reduceSumBackward(fx.rt, fx.rt.zeros([3]), [2, 3], { axis: 1 })).toThrow(/\[reduce-sum-backward\] argument "dy": expected shape \[2\], got \[3\]/);
    expect(() => reduceMaxBackward(fx.rt, x, fx.rt.zeros([3]), fx.rt.zeros([2]), { axis: 1 })).toThrow(/\[reduce-max-backward\] argument "y": expected shape \[2\], got \[3\]/);
    expect(() => sumToShape(fx.rt, x, [4])).toThrow(/\[sum-to-shape\]/);
    expect(() => sumToShape(fx.rt, x, [2, 1, 3])).toThrow(/\[sum-to-shape\] argument "shape": \[2, 1, 3\] does not broadcast to x's shape \[2, 3\]/);
    expect(() => reduceSum(fx.rt, fx.rt.zeros([3], 'i32'))).toThrow(/\[reduce-sum\] argument "x": expected dtype f32, got i32/);
  });
});
