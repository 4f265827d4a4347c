import { beforeAll, describe, expect, it } from 'vitest';
import {
  cpuTensor,
  logSoftmax,
  logSoftmaxBackward,
  logSoftmaxBackwardReference,
  logSoftmaxReference,
  sizeOf,
  softmax,
  softmaxBackward,
  softmaxBackwardReference,
  softmaxReference,
  withFlags,
  type CpuTensor,
  type GpuArray,
} from '../src/index.js';
import { assertClose, dot, kernelFixture, numericGradient, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

const KINDS = ['softmax', 'logSoftmax'] as const;
type Kind = (typeof KINDS)[number];

const forwardGpu = (kind: Kind, x: GpuArray) => (kind === 'softmax' ? softmax(fx.rt, x) : logSoftmax(fx.rt, x));
const backwardGpu = (kind: Kind, y: GpuArray, dy: GpuArray) => (kind === 'softmax' ? softmaxBackward(fx.rt, y, dy) : logSoftmaxBackward(fx.rt, y, dy));
const forwardRef = (kind: Kind, x: CpuTensor) => (kind === 'softmax' ? softmaxReference(x) : logSoftmaxReference(x));
const backwardRef = (kind: Kind, y: CpuTensor, dy: CpuTensor) => (kind === 'softmax' ? softmaxBackwardReference(y, dy) : logSoftmaxBackwardReference(y, dy));

/**
 * Rows of several kinds: ordinary, with some −inf (masked) entries, fully masked, and large
 * magnitudes (±1e4, ±3e38, −FLT_MAX) that overflow any unshifted exponent.
 */
function rows(rng: SeededRandom, nRows: number, cols: number): Float32Array {
  const x = rng.floats(nRows * cols, -6, 6);
  for (let r = 0; r < nRows; r++) {
    const kind = r % 5;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (kind === 1 && rng.next() < 0.4) x[i] = -Infinity;
      if (kind === 2) x[i] = -Infinity;
      if (kind === 3) x[i] = rng.pick([3e38, -3e38, 1e4, -1e4, x[i]!]);
      if (kind === 4 && c % 3 === 0) x[i] = -3.4028234663852886e38;
    }
  }
  return x;
}

describe('softmax references', () => {
  it('backward agrees with finite differences (float64), −inf entries included', () => {
    const rng = new SeededRandom(1);
    for (const kind of KINDS) {
      for (const cols of [1, 2, 7, 13]) {
        const shape = [3, cols];
        const x = cpuTensor(rng.floats(3 * cols, -3, 3), shape);
        if (cols > 2) x.data[1] = -Infinity; // a masked entry: its own gradient is not probed
        const y = forwardRef(kind, x);
        // Weights 0 on the −inf outputs (log-softmax of a masked entry), which no objective can use.
        const w = Float64Array.from(rng.floats(3 * cols)).map((v, i) => (Number.isFinite(y.data[i]!) ? v : 0));
        const numeric = numericGradient((v) => {
          const out = forwardRef(kind, cpuTensor(v, shape)).data;
          return dot(w, out.map((o) => (Number.isFinite(o) ? o : 0)));
        }, x.data);
        const analytic = backwardRef(kind, y, cpuTensor(w, shape)).data;
        const finite = [...x.data.keys()].filter((i) => Number.isFinite(x.data[i]!));
        assertClose(finite.map((i) => analytic[i]!), finite.map((i) => numeric[i]!), { atol: 1e-7, rtol: 1e-6, label: `${kind} cols=${cols}` });
      }
    }
  });

  it('define fully masked rows: softmax 0, log-softmax −inf, gradients 0', () => {
    const x = cpuTensor([-Infinity, -Infinity, -Infinity], [1, 3]);
    expect([...softmaxReference(x).data]).toEqual([0, 0, 0]);
    expect([...logSoftmaxReference(x).data]).toEqual([-Infinity, -Infinity, -Infinity]);
    const dy = cpuTensor([1, 2, 3], [1, 3]);
    expect([...softmaxBackwardReference(softmaxReference(x), dy).data]).toEqual([0, 0, 0]);
    expect([...logSoftmaxBackwardReference(logSoftmaxReference(x), dy).data]).toEqual([0, 0, 0]);
  });
});

describe('softmax kernels', () => {
  // The automatic choice, each path, both workgroup reducers, wide workgroups, scalar loads.
  const settings: Record<string, string | number | boolean>[] = [
    {},
    { 'softmax.path': 'workgroup' },
    { 'softmax.path': 'workgroup', 'reduce.variant': 'shared', 'softmax.workgroup': 64 },
    { 'softmax.path': 'workgroup', 'softmax.workgroup': 256, 'softmax.vec4': false },
    { 'softmax.path': 'thread' },
    { 'softmax.path': 'thread', 'softmax.vec4': false },
  ];
  // Row lengths 1, 4, 7, 8, 33, 257, 1000: scalar and vec4 loads, rows shorter than the workgroup.
  const shapes = [[1], [7], [5, 1], [3, 4], [4, 7], [6, 8], [3, 33], [2, 3, 257], [10, 1000], [2, 2, 2, 33], [0, 7], [3, 0]];
  for (const flags of settings) {
    it(`forward and backward match the reference, masked and huge rows included (${JSON.stringify(flags)})`, async () => {
      const rng = new SeededRandom(10);
      await withFlags(flags, async () => {
        for (const shape of shapes) {
          const cols = shape[shape.length - 1]!;
          const data = rows(rng, cols === 0 ? 0 : sizeOf(shape) / cols, cols);
          const x = fx.rt.upload(data, shape);
          for (const kind of KINDS) {
            const label = `${kind} [${shape}]`;
            const y = forwardGpu(kind, x);
            expect(y.shape).toEqual(shape);
            const got = await fx.rt.read(y);
            const want = forwardRef(kind, cpuTensor(data, shape));
            expect(got.some(Number.isNaN), `${label}: NaN in the output`).toBe(false);
            // f32 rounding of the exact result (−6e38 is −inf in f32).
            assertClose(got, Float32Array.from(want.data), { atol: 1e-6, rtol: 1e-5, label });
            // Backward from the GPU's own y, against the reference on that y.
            const dyData = rng.floats(sizeOf(shape), -1, 1);
            const dy = fx.rt.upload(dyData, shape);
            const dx = backwardGpu(kind, y, dy);
            const dxGot = await fx.rt.read(dx);
            expect(dxGot.some(Number.isNaN), `${label}: NaN in the gradient`).toBe(false);
            const dxWant = backwardRef(kind, cpuTensor(got, shape), cpuTensor(dyData, shape));
            assertClose(dxGot, dxWant.data, { atol: 2e-6, rtol: 1e-5, label: `${label} backward` });
            for (const a of [y, dy, dx]) a.dispose();
          }
          x.dispose();
        }
      });
    });
  }

  it('fully masked rows: exact zeros / −inf forward, exact zeros backward, on every path', async () => {
    for (const flags of settings) {
      await withFlags(flags, async () => {
        for (const cols of [1, 7, 300]) {
          const x = fx.rt.upload(new Float32Array(2 * cols).fill(-Infinity), [2, cols]);
          const dy = fx.rt.upload(new Float32Array(2 * cols).fill(1), [2, cols]);
          const p = softmax(fx.rt, x);
          const lp = logSoftmax(fx.rt, x);
          expect((await fx.rt.read(p)).every((v) => Object.is(v, 0)), `softmax ${JSON.stringify(flags)} ${cols}`).toBe(true);
          expect((await fx.rt.read(lp)).every((v) => v === -Infinity)).toBe(true);
          expect((await fx.rt.read(softmaxBackward(fx.rt, p, dy))).every((v) => v === 0)).toBe(true);
          expect((await fx.rt.read(logSoftmaxBackward(fx.rt, lp, dy))).every((v) => v === 0)).toBe(true);
        }
      });
    }
  });

  it('rows sum to one, and log-softmax is log of softmax, on a long row (32k)', async () => {
    const rng = new SeededRandom(11);
    const cols = 32768;
    const data = rng.floats(2 * cols, -20, 20);
    const x = fx.rt.upload(data, [2, cols]);
    const p = await fx.rt.read(softmax(fx.rt, x));
    const lp = await fx.rt.read(logSoftmax(fx.rt, x));
    for (let r = 0; r < 2; r++) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += p[r * cols + c]!;
      expect(Math.abs(s - 1)).toBeLessThan(1e-4);
    }
    assertClose(lp, logSoftmaxReference(cpuTensor(data, [2, cols])).data, { atol: 2e-5, rtol: 1e-5 });
    assertClose(p, softmaxReference(cpuTensor(data, [2, cols])).data, { atol: 1e-7, rtol: 1e-4 });
  });

  it('more rows than one grid dimension holds (folded 2-D grid)', async () => {
    const rng = new SeededRandom(12);
    const data = rng.floats(70_000 * 2);
    for (const path of ['workgroup', 'thread']) {
      await withFlags({ 'softmax.path': path }, async () => {
        const got = await fx.rt.read(logSoftmax(fx.rt, fx.rt.upload(data, [70_000, 2])));
        assertClose(got, logSoftmaxReference(cpuTensor(data, [70_000, 2])).data, { atol: 1e-6, rtol: 1e-5, label: path });
      });
    }
  });
});

describe('argument errors', () => {
  it('name the kernel, the argument and the shape', () => {
    expect(() => softmax(fx.rt, fx.rt.upload([1], []))).toThrow(/\[softmax\] argument "x": needs at least one axis/);
    expect(() => softmaxBackward(fx.rt, fx.rt.zeros([2, 3]), fx.rt.zeros([3, 2]))).toThrow(/\[softmax-backward\] argument "dy": expected shape \[2, 3\], got \[3, 2\]/);
    expect(() => logSoftmaxBackward(fx.rt, fx.rt.zeros([2, 3]), fx.rt.zeros([2, 4]))).toThrow(/\[logSoftmax-backward\] argument "dy": expected shape \[2, 3\], got \[2, 4\]/);
    expect(() => logSoftmax(fx.rt, fx.rt.zeros([3], 'i32'))).toThrow(/\[logSoftmax\] argument "x": expected dtype f32, got i32/);
  });
});
