import { beforeAll, describe, expect, it } from 'vitest';
import {
  broadcastTo,
  broadcastView,
  concat,
  contiguousView,
  cpuTensor,
  permute,
  permutedView,
  sizeOf,
  slice,
  sliceView,
  stridedCopy,
  viewReference,
  writeSlice,
} from '../src/index.js';
import { kernelFixture, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);
const rng = new SeededRandom(11);

describe('layout kernels', () => {
  it('permutes every axis order of awkward rank-1..4 shapes, f32 and i32', async () => {
    const cases: [number[], number[]][] = [
      [[7], [0]],
      [[3, 5], [1, 0]],
      [[2, 3, 4], [2, 0, 1]],
      [[2, 33, 3, 17], [0, 2, 1, 3]], // [B, T, H, D] → [B, H, T, D]
      [[1, 4, 1, 5], [3, 2, 1, 0]],
    ];
    for (const [shape, axes] of cases) {
      const data = rng.floats(sizeOf(shape), -1e4, 1e4);
      const x = fx.rt.upload(data, shape);
      const y = permute(fx.rt, x, axes);
      const want = viewReference(cpuTensor(data, shape), permutedView(shape, axes));
      expect(y.shape).toEqual(want.shape);
      await fx.expectClose(y, want.data, { atol: 0, rtol: 0, label: `permute ${shape} ${axes}` });
      const ints = fx.rt.upload(Int32Array.from(data, Math.round), shape);
      const yi = permute(fx.rt, ints, axes);
      await fx.expectClose(yi, viewReference(cpuTensor(Int32Array.from(data, Math.round), shape), permutedView(shape, axes)).data, { atol: 0, rtol: 0 });
      for (const a of [x, y, ints, yi]) a.dispose();
    }
  });

  it('slices, writes slices and concatenates (the KV-cache append)', async () => {
    const cache = fx.rt.zeros([2, 3, 10, 5]); // [B, H, Tmax, D]
    const step1 = rng.floats(2 * 3 * 4 * 5);
    const step2 = rng.floats(2 * 3 * 1 * 5);
    writeSlice(fx.rt, cache, 2, 0, fx.rt.upload(step1, [2, 3, 4, 5]));
    writeSlice(fx.rt, cache, 2, 4, fx.rt.upload(step2, [2, 3, 1, 5]));
    const filled = slice(fx.rt, cache, 2, 0, 5);
    const expected = concat(fx.rt, [fx.rt.upload(step1, [2, 3, 4, 5]), fx.rt.upload(step2, [2, 3, 1, 5])], 2);
    expect(filled.shape).toEqual([2, 3, 5, 5]);
    await fx.expectClose(filled, await fx.rt.read(expected), { atol: 0, rtol: 0 });
    // The untouched tail stays zero.
    const tail = await fx.rt.read(slice(fx.rt, cache, 2, 5, 5));
    expect(tail.every((v) => v === 0)).toBe(true);
    const x = cpuTensor(rng.floats(4 * 9), [4, 9]);
    const s = slice(fx.rt, fx.rt.upload(Float32Array.from(x.data), [4, 9]), 1, 2, 5);
    await fx.expectClose(s, viewReference(x, sliceView([4, 9], 1, 2, 5)).data, { atol: 0, rtol: 0 });
  });

  it('broadcasts size-1 and missing axes', async () => {
    const data = rng.floats(3);
    const y = broadcastTo(fx.rt, fx.rt.upload(data, [3, 1]), [2, 3, 4]);
    await fx.expectClose(y, viewReference(cpuTensor(data, [3, 1]), broadcastView([3, 1], [2, 3, 4])).data, { atol: 0, rtol: 0 });
    expect(() => broadcastView([3, 2], [3, 4])).toThrow(/\[3, 2\] cannot broadcast to \[3, 4\]/);
  });

  it('handles empty dimensions and more than 65535 workgroups', async () => {
    const empty = permute(fx.rt, fx.rt.zeros([0, 3]), [1, 0]);
    expect(empty.shape).toEqual([3, 0]);
    const n = 256 * 70000;
    const big = fx.rt.upload(new Float32Array(n).map((_, i) => i % 977), [n]);
    const copy = slice(fx.rt, big, 0, 1, n - 1);
    const out = await fx.rt.read(copy);
    expect(out[0]).toBe(1);
    expect(out[n - 2]).toBe((n - 1) % 977);
  });

  it('rejects bad arguments, naming the kernel and the argument', () => {
    const x = fx.rt.zeros([2, 3]);
    expect(() => permute(fx.rt, x, [0, 0])).toThrow(/\[permute\] argument "axes": must be a permutation of 0..1/);
    expect(() => slice(fx.rt, x, 1, 2, 2)).toThrow(/\[slice\] argument "range": \[2, 4\) is outside axis 1 of size 3/);
    expect(() => writeSlice(fx.rt, x, 0, 0, fx.rt.zeros([1, 4]))).toThrow(/\[write-slice\] argument "src": expected shape \[\*, 3\], got \[1, 4\]/);
    expect(() => stridedCopy(fx.rt, x, contiguousView([2, 3]), fx.rt.zeros([5]), contiguousView([2, 3]))).toThrow(/dstView.*reaches element 5/);
    expect(() => stridedCopy(fx.rt, x, contiguousView([2, 3]), fx.rt.zeros([6], 'i32'), contiguousView([2, 3]))).toThrow(/expected dtype f32, got i32/);
  });
});
