import { beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  checkIdErrors,
  cpuTensor,
  embedding,
  embeddingBackward,
  embeddingBackwardReference,
  embeddingReference,
  embeddingRowChunks,
  IndexOutOfRangeError,
  withFlags,
} from '../src/index.js';
import { assertClose, dot, kernelFixture, numericGradient, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

const VARIANTS = ['scan', 'sorted'] as const;

describe('embedding references', () => {
  it('embeddingBackwardReference is the gradient of embeddingReference (finite differences)', () => {
    const rng = new SeededRandom(1);
    const vocab = 4;
    const dim = 3;
    const ids = [2, 0, 2, 3, 2];
    const table = cpuTensor(rng.floats(vocab * dim), [vocab, dim]);
    const w = rng.floats(ids.length * dim);
    const grad = embeddingBackwardReference(cpuTensor(w, [ids.length, dim]), ids, vocab);
    const numeric = numericGradient((t) => dot(w, embeddingReference(cpuTensor(t, [vocab, dim]), ids).data), table.data);
    assertClose(grad.data, numeric, { atol: 1e-8, rtol: 1e-7 });
    expect(() => embeddingReference(table, [0, 4])).toThrow(/ids\[1\] = 4 is out of range \[0, 4\)/);
  });
});

describe('embedding on the GPU', () => {
  it('gathers rows exactly for awkward V, D and N, with 1-D and 2-D ids', async () => {
    const rng = new SeededRandom(2);
    for (const [vocab, dim, shape] of [
      [1, 1, [1]],
      [3, 7, [5]],
      [50, 33, [4, 9]],
      [17, 257, [13]],
      [9, 1000, [3]],
      [40, 8, [2, 3, 7]],
      [5, 12, [0]],
    ] as [number, number, number[]][]) {
      const count = shape.reduce((a, b) => a * b, 1);
      const tableData = rng.floats(vocab * dim, -5, 5);
      const idData = rng.ints(count, 0, vocab - 1);
      const table = fx.rt.upload(tableData, [vocab, dim]);
      const ids = fx.rt.upload(idData, shape);
      const out = embedding(fx.rt, table, ids);
      expect(out.shape).toEqual([...shape, dim]);
      const want = embeddingReference(cpuTensor(tableData, [vocab, dim]), idData, shape);
      await fx.expectClose(out, want.data, { atol: 0, rtol: 0, label: `V=${vocab} D=${dim} ids ${JSON.stringify(shape)}` });
      for (const a of [table, ids, out]) a.dispose();
    }
    await checkIdErrors(fx.rt); // no id was out of range
  });

  it('scatter-adds gradients deterministically; both variants match the reference and each other bit for bit', async () => {
    const rng = new SeededRandom(3);
    const cases: [vocab: number, dim: number, ids: Int32Array][] = [
      [1, 1, new Int32Array([0])],
      [3, 7, rng.ints(5, 0, 2)],
      [50, 33, rng.ints(40, 0, 49)],
      [17, 257, rng.ints(13, 0, 16)],
      [6, 1000, rng.ints(9, 0, 5)],
      [20, 8, rng.ints(5000, 0, 19)], // heavy buckets spanning many sort chunks
      [3000, 4, rng.ints(700, 0, 2999)], // sparse: most rows get no gradient
      [11, 12, new Int32Array(600).fill(7)], // one id everywhere
      [5, 12, new Int32Array(0)],
    ];
    for (const [vocab, dim, idData] of cases) {
      const count = idData.length;
      const dOutData = rng.floats(count * dim, -1, 1);
      const dOut = fx.rt.upload(dOutData, [count, dim]);
      const ids = fx.rt.upload(idData, [count]);
      const want = embeddingBackwardReference(cpuTensor(dOutData, [count, dim]), idData, vocab);
      const results: Float32Array[] = [];
      for (const variant of VARIANTS) {
        const grad = embeddingBackward(fx.rt, dOut, ids, vocab, { variant });
        expect(grad.shape).toEqual([vocab, dim]);
        const got = (await fx.rt.read(grad)) as Float32Array;
        // float32 sums of up to a few thousand terms of size ≤ 1.
        assertClose(got, want.data, { atol: 1e-6 * Math.max(1, count / 10), rtol: 1e-5, label: `${variant} V=${vocab} D=${dim} N=${count}` });
        results.push(got);
        grad.dispose();
      }
      expect(results[1]).toEqual(results[0]);
      for (const a of [dOut, ids]) a.dispose();
    }
    await checkIdErrors(fx.rt);
  });

  it('uses the scalar path when vec4 loads are turned off and the flag-selected variant', async () => {
    const rng = new SeededRandom(4);
    const vocab = 10;
    const dim = 16;
    const idData = rng.ints(100, 0, 9);
    const tableData = rng.floats(vocab * dim);
    const dOutData = rng.floats(100 * dim);
    const table = fx.rt.upload(tableData, [vocab, dim]);
    const ids = fx.rt.upload(idData);
    const dOut = fx.rt.upload(dOutData, [100, dim]);
    const want = embeddingBackwardReference(cpuTensor(dOutData, [100, dim]), idData, vocab);
    for (const variant of VARIANTS) {
      await withFlags({ 'embedding.vec4': false, 'embedding.backward': variant }, async () => {
        await fx.expectClose(embedding(fx.rt, table, ids), embeddingReference(cpuTensor(tableData, [vocab, dim]), idData).data, { atol: 0, rtol: 0 });
        await fx.expectClose(embeddingBackward(fx.rt, dOut, ids, vocab), want.data, { atol: 1e-5, rtol: 1e-5, label: variant });
      });
    }
    await checkIdErrors(fx.rt);
  });

  it('splits tables into aligned row ranges under the binding limit (forced small ranges)', async () => {
    const rng = new SeededRandom(5);
    const vocab = 200;
    for (const dim of [8, 5]) {
      // D = 8: ranges of 8 rows (32-byte rows, 256-byte alignment); D = 5: ranges of 64 rows.
      const tableData = rng.floats(vocab * dim);
      const idData = new Int32Array([...rng.ints(300, 0, vocab - 1), 0, vocab - 1, 17]);
      const dOutData = rng.floats(idData.length * dim);
      const table = fx.rt.upload(tableData, [vocab, dim]);
      const ids = fx.rt.upload(idData);
      const dOut = fx.rt.upload(dOutData, [idData.length, dim]);
      await withFlags({ 'embedding.chunkRows': 20 }, async () => {
        const chunks = embeddingRowChunks(fx.rt, 'embedding', vocab, dim);
        expect(chunks.length).toBeGreaterThan(2);
        for (const c of chunks) expect((c.start * dim * 4) % fx.rt.limits.minStorageBufferOffsetAlignment).toBe(0);
        expect(chunks.reduce((a, c) => a + c.count, 0)).toBe(vocab);
        await fx.expectClose(embedding(fx.rt, table, ids), embeddingReference(cpuTensor(tableData, [vocab, dim]), idData).data, { atol: 0, rtol: 0, label: `D=${dim}` });
        const want = embeddingBackwardReference(cpuTensor(dOutData, [idData.length, dim]), idData, vocab);
        for (const variant of VARIANTS) {
          await fx.expectClose(embeddingBackward(fx.rt, dOut, ids, vocab, { variant }), want.data, { atol: 1e-5, rtol: 1e-5, label: `${variant} D=${dim}` });
        }
        // Bad ids are reported once (by the first range), not once per range.
        embedding(fx.rt, table, fx.rt.upload(new Int32Array([3, vocab, 4])));
        await expect(checkIdErrors(fx.rt)).rejects.toMatchObject({ position: 1, value: vocab, count: 1 });
      });
      await checkIdErrors(fx.rt);
    }
  });

  it('handles a GPT-2-sized table [50257, 768] (154 MB, over the 128 MiB binding limit)', async () => {
    const vocab = 50257;
    const dim = 768;
    if (vocab * dim * 4 <= fx.rt.limits.maxStorageBufferBindingSize) return; // covered by the forced test above
    const tableData = new Float32Array(vocab * dim);
    for (let v = 0; v < vocab; v++) tableData.fill(v, v * dim, (v + 1) * dim);
    const table = fx.rt.upload(tableData, [vocab, dim]);
    const idData = new Int32Array([0, 50256, 43690, 43691, 12345, 50256]);
    const ids = fx.rt.upload(idData);
    const out = await fx.rt.read(embedding(fx.rt, table, ids));
    for (const [n, id] of idData.entries()) expect(out[n * dim]! === id && out[n * dim + dim - 1] === id).toBe(true);
    const dOut = fx.rt.upload(new Float32Array(idData.length * dim).fill(1), [idData.length, dim]);
    const grad = embeddingBackward(fx.rt, dOut, ids, vocab);
    for (const [v, want] of [[50256, 2], [43690, 1], [43691, 1], [1, 0], [50255, 0]] as const) {
      const row = await fx.rt.read({ array: grad, byteOffset: v * dim * 4, byteLength: dim * 4 });
      expect([...row].every((x) => x === want)).toBe(true);
    }
    for (const a of [table, ids, dOut, grad]) a.dispose();
    await checkIdErrors(fx.rt);
  });

  it('turns out-of-range ids into an error naming the kernel and the first offending index', async () => {
    const vocab = 5;
    const dim = 4;
    const tableData = new Float32Array(vocab * dim).map((_, k) => k);
    const table = fx.rt.upload(tableData, [vocab, dim]);
    const idData = new Int32Array([0, 5, 2, -1, 4, 99]);
    const ids = fx.rt.upload(idData);

    const out = await fx.rt.read(embedding(fx.rt, table, ids));
    const error = await checkIdErrors(fx.rt).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(IndexOutOfRangeError);
    expect((error as Error).message).toMatch(/^\[embedding\] ids\[1\] = 5 is out of range \[0, 5\) \(3 out-of-range ids/);
    expect(error).toMatchObject({ kernel: 'embedding', position: 1, value: 5, bound: 5, count: 3 });
    // Valid rows are gathered; rows of bad ids are NaN, never a plausible value.
    expect([...out.subarray(0, 4)]).toEqual([0, 1, 2, 3]);
    expect([...out.subarray(8, 12)]).toEqual([8, 9, 10, 11]);
    for (const row of [1, 3, 5]) expect([...out.subarray(row * 4, row * 4 + 4)].every(Number.isNaN)).toBe(true);
    await checkIdErrors(fx.rt); // the record was cleared

    for (const variant of VARIANTS) {
      const dOut = fx.rt.upload(new Float32Array(6 * dim).fill(1), [6, dim]);
      const grad = await fx.rt.read(embeddingBackward(fx.rt, dOut, ids, vocab, { variant }));
      await expect(checkIdErrors(fx.rt)).rejects.toThrow(/^\[embedding-backward\] ids\[1\] = 5 is out of range \[0, 5\)/);
      // Bad ids contribute nothing; the valid ids 0, 2 and 4 get their rows.
      expect([...grad]).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
    }

    // The first failing launch since the last check is the one reported.
    const late = fx.rt.upload(new Int32Array([1, 1, 1, -7]));
    embedding(fx.rt, table, late);
    embedding(fx.rt, table, ids);
    const first = await checkIdErrors(fx.rt).then(() => null, (e: unknown) => e);
    expect(first).toMatchObject({ kernel: 'embedding', position: 3, value: -7, count: 1 });
    await checkIdErrors(fx.rt);
  });

  it('rejects bad arguments, naming the kernel, the argument and the expected shape', () => {
    const table = fx.rt.empty([5, 4]);
    const ids = fx.rt.empty([3], 'i32');
    expect(() => embedding(fx.rt, fx.rt.empty([20]), ids)).toThrow(ArgumentError);
    expect(() => embedding(fx.rt, fx.rt.empty([20]), ids)).toThrow(/\[embedding\] argument "table": expected rank 2, got shape \[20\]/);
    expect(() => embedding(fx.rt, table, fx.rt.empty([3]))).toThrow(/\[embedding\] argument "ids": expected dtype i32, got f32/);
    expect(() => embeddingBackward(fx.rt, fx.rt.empty([4, 4]), ids, 5)).toThrow(/\[embedding-backward\] argument "dOut": expected shape \[3, \*\], got \[4, 4\]/);
    expect(() => embeddingBackward(fx.rt, fx.rt.empty([3]), ids, 5)).toThrow(/\[embedding-backward\] argument "dOut": expected shape \[3, \*\] \(ids shape \+ \[D\]\)/);
    expect(() => embeddingBackward(fx.rt, fx.rt.empty([3, 4]), ids, 0)).toThrow(/\[embedding-backward\] argument "vocab": must be a positive integer/);
  });
});
