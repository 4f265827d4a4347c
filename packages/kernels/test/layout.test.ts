import { beforeAll, describe, expect, it } from 'vitest';
import {
  broadcastTo, broadcastView, concat, contiguousView, cpuTensor, getRuntime, permute, permutedView, slice, sliceView,
  stridedCopy, viewReference, writeSlice, type Runtime,
} from '../src/index.js';
import { SeededRandom, assertClose } from '../src/testing/index.js';

let rt: Runtime;
beforeAll(async () => {
  rt = await getRuntime();
});
const rng = new SeededRandom(11);
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

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
      const data = rng.floats(size(shape), -1e4, 1e4);
      const x = rt.upload(data, shape);
      const y = permute(rt, x, axes);
      const want = viewReference(cpuTensor(data, shape), permutedView(shape, axes));
      expect(y.shape).toEqual(want.shape);
      assertClose(await rt.read(y), want.data, { atol: 0, rtol: 0, label: `permute ${shape} ${axes}` });
      const ints = rt.upload(Int32Array.from(data, Math.round), shape);
      const yi = permute(rt, ints, axes);
      assertClose(await rt.read(yi), viewReference(cpuTensor(Int32Array.from(data, Math.round), shape), permutedView(shape, axes)).data, { atol: 0, rtol: 0 });
      for (const a of [x, y, ints, yi]) a.dispose();
    }
  });

  it('slices, writes slices and concatenates (the KV-cache append)', async () => {
    const cache = rt.zeros([2, 3, 10, 5]); // [B, H, Tmax, D]
    const step1 = rng.floats(2 * 3 * 4 * 5);
    const step2 = rng.floats(2 * 3 * 1 * 5);
    writeSlice(rt, cache, 2, 0, rt.upload(step1, [2, 3, 4, 5]));
    writeSlice(rt, cache, 2, 4, rt.upload(step2, [2, 3, 1, 5]));
    const filled = slice(rt, cache, 2, 0, 5);
    const expected = concat(rt, [rt.upload(step1, [2, 3, 4, 5]), rt.upload(step2, [2, 3, 1, 5])], 2);
    expect(filled.shape).toEqual([2, 3, 5, 5]);
    assertClose(await rt.read(filled), await rt.read(expected), { atol: 0, rtol: 0 });
    // The untouched tail stays zero.
    const tail = await rt.read(slice(rt, cache, 2, 5, 5));
    expect(tail.every((v) => v === 0)).toBe(true);
    const x = cpuTensor(rng.floats(4 * 9), [4, 9]);
    const s = slice(rt, rt.upload(Float32Array.from(x.data), [4, 9]), 1, 2, 5);
    assertClose(await rt.read(s), viewReference(x, sliceView([4, 9], 1, 2, 5)).data, { atol: 0, rtol: 0 });
  });

  it('broadcasts size-1 and missing axes', async () => {
    const data = rng.floats(3);
    const y = broadcastTo(rt, rt.upload(data, [3, 1]), [2, 3, 4]);
    assertClose(await rt.read(y), viewReference(cpuTensor(data, [3, 1]), broadcastView([3, 1], [2, 3, 4])).data, { atol: 0, rtol: 0 });
    expect(() => broadcastView([3, 2], [3, 4])).toThrow(/\[3, 2\] cannot broadcast to \[3, 4\]/);
  });

  it('handles empty dimensions and more than 65535 workgroups', async () => {
    const empty = permute(rt, rt.zeros([0, 3]), [1, 0]);
    expect(empty.shape).toEqual([3, 0]);
    const n = 256 * 70000;
    const big = rt.upload(new Float32Array(n).map((_, i) => i % 977), [n]);
    const copy = slice(rt, big, 0, 1, n - 1);
    const out = await rt.read(copy);
    expect(out[0]).toBe(1);
    expect(out[n - 2]).toBe((n - 1) % 977);
  });

  it('rejects bad arguments, naming the kernel and the argument', () => {
    const x = rt.zeros([2, 3]);
    expect(() => permute(rt, x, [0, 0])).toThrow(/\[permute\] argument "axes": must be a permutation of 0..1/);
    expect(() => slice(rt, x, 1, 2, 2)).toThrow(/\[slice\] argument "range": \[2, 4\) is outside axis 1 of size 3/);
    expect(() => writeSlice(rt, x, 0, 0, rt.zeros([1, 4]))).toThrow(/\[write-slice\] argument "src": expected shape \[\*, 3\], got \[1, 4\]/);
    expect(() => stridedCopy(rt, x, contiguousView([2, 3]), rt.zeros([5]), contiguousView([2, 3]))).toThrow(/dstView.*reaches element 5/);
    expect(() => stridedCopy(rt, x, contiguousView([2, 3]), rt.zeros([6], 'i32'), contiguousView([2, 3]))).toThrow(/expected dtype f32, got i32/);
  });
});
