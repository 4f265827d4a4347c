// The KV cache with grouped-query attention (issue 13): it stores Hkv key/value heads, and decoding
// over it through attendHeads gives the rows a full (no-cache) GQA forward gives, on both backends,
// with sequences at different positions.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { SeededRandom, assertClose } from '@repirl/kernels/testing';
import * as ag from '../src/index.js';
import { CpuBackend, GpuBackend, KvCache, type Backend } from '../src/index.js';

let gpu: GpuBackend;
const cpu = new CpuBackend();
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});

const [B, H, Hkv, T, D] = [2, 6, 2, 7, 16];
const rng = new SeededRandom(31);
const host = {
  q: Array.from({ length: B * H * T * D }, () => rng.uniform(-1, 1)),
  k: Array.from({ length: B * Hkv * T * D }, () => rng.uniform(-1, 1)),
  v: Array.from({ length: B * Hkv * T * D }, () => rng.uniform(-1, 1)),
};

/** Rows from(b)..from(b)+count−1 of every head of every sequence: [B, heads, count, D]. */
function rows(src: number[], heads: number, from: (b: number) => number, count: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      const at = ((b * heads + h) * T + from(b)) * D;
      out.push(...src.slice(at, at + count * D));
    }
  }
  return out;
}

async function decodeAgainstFull(backend: Backend): Promise<void> {
  // Full GQA forward over all T rows (the autograd attention, no cache).
  const full = await ag.noGrad(() =>
    ag.attention(ag.tensor(backend, host.q, [B, H, T, D]), ag.tensor(backend, host.k, [B, Hkv, T, D]), ag.tensor(backend, host.v, [B, Hkv, T, D])),
  ).data();
  const cache = new KvCache(backend, { batch: B, layers: 1, heads: H, kvHeads: Hkv, headDim: D, capacity: T + 2 });
  expect(cache.keys[0]!.shape).toEqual([B, Hkv, T + 2, D]);
  expect(cache.values[0]!.shape).toEqual([B, Hkv, T + 2, D]);
  // Prefill rows 0..4 of both sequences (sequence 1 is only 3 long: its rows 3, 4 are padding).
  const step = async (from: (b: number) => number, count: number) => {
    const out = ag.noGrad(() =>
      ag.tidy(() =>
        cache.attendHeads(
          0,
          ag.tensor(backend, rows(host.q, H, from, count), [B, H, count, D]),
          ag.tensor(backend, rows(host.k, Hkv, from, count), [B, Hkv, count, D]),
          ag.tensor(backend, rows(host.v, Hkv, from, count), [B, Hkv, count, D]),
        ),
      ),
    );
    const data = await out.data();
    out.dispose();
    return data;
  };
  const prefill = await step(() => 0, 5);
  assertClose(prefill, rows(Array.from(full), H, () => 0, 5), { atol: 1e-5, rtol: 1e-4, label: `${backend.name} prefill` });
  // Then one token per sequence at different positions: sequence 0 at 5, sequence 1 at 3 (its
  // padding rows in the cache are overwritten or never read).
  const past = [5, 3];
  for (let t = 0; t < 2; t++) {
    cache.setPast(past.map((p) => p + t));
    const got = await step((b) => past[b]! + t, 1);
    assertClose(got, rows(Array.from(full), H, (b) => past[b]! + t, 1), { atol: 1e-5, rtol: 1e-4, label: `${backend.name} decode step ${t}` });
  }
  cache.dispose();
}

describe('KV cache with grouped-query attention', () => {
  it('stores Hkv heads and decodes what the full GQA forward computes (CPU backend)', () => decodeAgainstFull(cpu));
  it('stores Hkv heads and decodes what the full GQA forward computes (GPU backend)', () => decodeAgainstFull(gpu));

  it('refuses kvHeads that do not divide heads, a fused qkv of the wrong width, and wrong shapes', () => {
    expect(() => new KvCache(cpu, { batch: 1, layers: 1, heads: 6, kvHeads: 4, headDim: 16, capacity: 4 })).toThrow(/kvHeads \(4\) must divide heads \(6\)/);
    const cache = new KvCache(cpu, { batch: 1, layers: 1, heads: 4, kvHeads: 2, headDim: 16, capacity: 4 });
    const z = (shape: number[]) => ag.tensor(cpu, new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(0), shape);
    expect(() => cache.attend(0, z([1, 1, 100]), z([4, 8]), z([4, 8]))).toThrow(/qkv must be \[B, T, \(heads \+ 2·kvHeads\)·D\]/);
    expect(() => cache.attendHeads(0, z([1, 4, 1, 16]), z([1, 4, 1, 16]), z([1, 2, 1, 16]))).toThrow(/k must be \[1, 2, 1, 16\]/);
    expect(() => cache.attendHeads(0, z([1, 4, 5, 16]), z([1, 2, 5, 16]), z([1, 2, 5, 16]))).toThrow(/exceed the capacity 4/);
    cache.dispose();
  });
});
