// The nn building blocks: the fused head split with RoPE (kernel vs float64, gradient vs finite
// differences, the relative-position property, the KV-cache variant), heads at every token and at
// chosen positions (GPU vs CPU, gradients), the module convention (names, state dicts, errors).
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { SeededRandom, assertClose, numericGradient } from '@repirl/kernels/testing';
import * as ag from '../src/index.js';
import { CpuBackend, GpuBackend, type Backend } from '../src/index.js';
import { DecoderLM, Embedding, LayerNorm, Rng, assign, Linear, MlpHead, RMSNorm, ScalarHead, gatherPositions, ropeTables, splitHeads, splitHeadsIntoCache } from '../src/nn/index.js';

let gpu: GpuBackend;
const cpu = new CpuBackend();
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});

const rng = new SeededRandom(17);
const randn = (n: number) => Array.from({ length: n }, () => rng.uniform(-1, 1));

const MAX_POS = 32;
/** qkv [B, T, 3·H·D] as a parameter, with offsets and RoPE tables (base 100: angles turn fast). */
function splitInputs(backend: Backend, qkv: ArrayLike<number>, shape: number[], offsets: number[], D: number) {
  const { cos, sin } = ropeTables(MAX_POS, D, 100);
  return {
    qkv: ag.parameter(backend, qkv, shape),
    offsets: ag.tensor(backend, offsets, [offsets.length], { dtype: 'i32' }),
    cos: ag.tensor(backend, cos, [MAX_POS, D / 2]),
    sin: ag.tensor(backend, sin, [MAX_POS, D / 2]),
  };
}

describe('splitHeads: fused qkv → heads with RoPE', () => {
  const [B, T, H, D] = [2, 5, 3, 16];
  const shape = [B, T, 3 * H * D];
  const x = randn(B * T * 3 * H * D);
  const at = (b: number, t: number, part: number, h: number, j: number) => x[((b * T + t) * 3 + part) * H * D + h * D + j]!;

  it('GPU equals the float64 CPU version; v is a plain head split; position 0 is unrotated; out-of-table positions are NaN', async () => {
    const run = async (backend: Backend, offsets: number[]) => {
      const r = splitInputs(backend, x, shape, offsets, D);
      const { q, k, v } = splitHeads(r.qkv, r.offsets, r.cos, r.sin, H);
      expect(q.shape).toEqual([B, H, T, D]);
      return { q: await q.data(), k: await k.data(), v: await v.data() };
    };
    const g = await run(gpu, [0, 9]);
    const c = await run(cpu, [0, 9]);
    for (const name of ['q', 'k', 'v'] as const) assertClose(g[name], c[name], { atol: 2e-6, rtol: 1e-5, label: name });
    // v[b, h, t, j] = qkv[b, t, 2, h, j]; q of sequence 0 at t = 0 (position 0) is q itself.
    expect(c.v[((1 * H + 2) * T + 3) * D + 5]).toBe(at(1, 3, 2, 2, 5));
    for (let j = 0; j < D; j++) expect(c.q[(0 * H + 1) * T * D + j]).toBeCloseTo(at(0, 0, 0, 1, j), 14);
    const far = await run(gpu, [0, 30]); // positions 30..34 of sequence 1 pass the 32 table rows
    expect(Number.isNaN(far.q[B * H * T * D - 1]!)).toBe(true);
    expect(Number.isNaN(far.q[0]!)).toBe(false);
  });

  it('the gradient (inverse rotation, heads merged back) matches finite differences, and GPU matches CPU', async () => {
    const w = randn(3 * B * H * T * D);
    const size = B * H * T * D;
    const weigh = (backend: Backend, q: ag.Tensor, k: ag.Tensor, v: ag.Tensor) =>
      ag.add(ag.add(ag.sum(ag.mul(q, ag.tensor(backend, w.slice(0, size), q.shape))), ag.sum(ag.mul(k, ag.tensor(backend, w.slice(size, 2 * size), k.shape)))), ag.sum(ag.mul(v, ag.tensor(backend, w.slice(2 * size), v.shape))));
    const grad = async (backend: Backend) => {
      const r = splitInputs(backend, x, shape, [2, 5], D);
      const { q, k, v } = splitHeads(r.qkv, r.offsets, r.cos, r.sin, H);
      ag.backward(weigh(backend, q, k, v));
      return Float64Array.from(await r.qkv.grad!.data());
    };
    const ref = await grad(cpu);
    const numeric = numericGradient((values) => {
      const r = splitInputs(cpu, values, shape, [2, 5], D);
      const { q, k, v } = ag.noGrad(() => splitHeads(r.qkv, r.offsets, r.cos, r.sin, H));
      return (ag.noGrad(() => weigh(cpu, q, k, v)).storage as { data: Float64Array }).data[0]!;
    }, Float64Array.from(x));
    assertClose(ref, numeric, { atol: 1e-7, rtol: 1e-6, label: 'CPU gradient vs finite differences' });
    assertClose(await grad(gpu), ref, { atol: 2e-6, rtol: 1e-5, label: 'GPU gradient' });
  });

  it('q·k depends only on the relative position (what keeps cached decoding consistent)', async () => {
    const one = randn(3 * D);
    const score = async (pq: number, pk: number) => {
      const a = splitInputs(cpu, one, [1, 1, 3 * D], [pq], D);
      const b = splitInputs(cpu, one, [1, 1, 3 * D], [pk], D);
      const qa = await splitHeads(a.qkv, a.offsets, a.cos, a.sin, 1).q.data();
      const kb = await splitHeads(b.qkv, b.offsets, b.cos, b.sin, 1).k.data();
      return Array.from(qa).reduce((s, v, i) => s + v * kb[i]!, 0);
    };
    expect(await score(7, 3)).toBeCloseTo(await score(14, 10), 12);
    expect(await score(7, 3)).not.toBeCloseTo(await score(7, 4), 3);
  });

  for (const name of ['gpu', 'cpu'] as const) {
    it(`splitHeadsIntoCache (${name}) writes k and v at each sequence's position and returns q`, async () => {
      const backend = name === 'gpu' ? gpu : cpu;
      const offsets = [4, 1];
      const r = splitInputs(backend, x, shape, offsets, D);
      const { q, k } = ag.noGrad(() => splitHeads(r.qkv, r.offsets, r.cos, r.sin, H));
      const capacity = 12;
      const kc = ag.tensor(backend, new Float32Array(B * H * capacity * D), [B, H, capacity, D]);
      const vc = ag.tensor(backend, new Float32Array(B * H * capacity * D), [B, H, capacity, D]);
      const q2 = ag.noGrad(() => splitHeadsIntoCache(r.qkv, r.offsets, r.cos, r.sin, H, kc, vc));
      expect(await q2.data()).toEqual(await q.data());
      const [kd, cached] = [await k.data(), await kc.data()];
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let t = 0; t < T; t++)
            for (let j = 0; j < D; j += 5) expect(cached[((b * H + h) * capacity + offsets[b]! + t) * D + j]).toBe(kd[((b * H + h) * T + t) * D + j]);
      expect(cached[(1 * H * capacity + 0) * D]).toBe(0); // row 0 of sequence 1 untouched
      expect(() => splitHeadsIntoCache(r.qkv, r.offsets, r.cos, r.sin, H, kc, vc)).toThrow(/no gradient; run generation under noGrad/);
    });
  }
});

describe('heads', () => {
  const [B, T, d] = [2, 5, 16];
  const hiddenData = randn(B * T * d);
  const positions = [[4, 1], [2]];

  for (const kind of ['scalar', 'mlp-tanh'] as const) {
    it(`${kind} head: at positions equals every-token output there; gradients GPU vs CPU`, async () => {
      const make = (backend: Backend) =>
        kind === 'scalar' ? new ScalarHead(backend, { dModel: d }, { seed: 4 }) : new MlpHead(backend, { dModel: d, hidden: 8, tanh: true }, { seed: 4 });
      const run = async (backend: Backend) => {
        const head = make(backend);
        // A larger init so that the tanh and ReLUs are exercised away from zero.
        for (const p of head.parameters().values()) assign(p, Float32Array.from(await p.data(), (v) => v * 40));
        const h = ag.parameter(backend, hiddenData, [B, T, d]);
        const every = head.forward(h);
        const at = head.forward(h, positions);
        ag.backward(ag.add(ag.sum(at), ag.sum(ag.mul(every, every))));
        const grads = [h.grad!, ...[...head.parameters().values()].map((p) => p.grad!)];
        return { every: await every.toArray(), at: await at.toArray(), grads: await Promise.all(grads.map(async (g) => Float64Array.from(await g.data()))) };
      };
      const g = await run(gpu);
      const c = await run(cpu);
      expect(g.every.length).toBe(B * T);
      assertClose(g.at, [g.every[4]!, g.every[1]!, g.every[T + 2]!], { atol: 1e-6, rtol: 1e-6, label: 'head at positions' });
      if (kind === 'mlp-tanh') expect(c.every.every((v) => Math.abs(v) < 1)).toBe(true);
      assertClose(g.every, c.every, { atol: 1e-5, rtol: 1e-4, label: 'head outputs' });
      g.grads.forEach((grad, i) => assertClose(grad, c.grads[i]!, { atol: 1e-5, rtol: 1e-3, label: `gradient ${i}` }));
    });
  }

  it('gatherPositions refuses out-of-range positions and wrong batch sizes', () => {
    const h = ag.tensor(cpu, hiddenData, [B, T, d]);
    expect(() => gatherPositions(h, [[5], []])).toThrow(/positions\[0\] contains 5, outside \[0, 5\)/);
    expect(() => gatherPositions(h, [[0]])).toThrow(/1 lists for a batch of 2/);
  });
});

describe('layers and the module convention', () => {
  it('Linear: y = x·W + b with W stored [in, out]', async () => {
    const lin = new Linear(cpu, { inFeatures: 3, outFeatures: 2, bias: true });
    assign(lin.weight, [1, 2, 3, 4, 5, 6]);
    assign(lin.bias!, [0.5, -0.5]);
    const y = lin.forward(ag.tensor(cpu, [1, 0, -1], [1, 3]));
    expect(await y.toArray()).toEqual([1 - 5 + 0.5, 2 - 6 - 0.5]);
    expect([...lin.parameters().keys()]).toEqual(['weight', 'bias']);
    expect(() => lin.forward(ag.tensor(cpu, [1, 2], [1, 2]))).toThrow(/Linear: input x has shape \[1, 2\], expected a last dimension of 3/);
  });

  it('norms and embedding: shapes, defaults, and clear errors', async () => {
    expect((await new RMSNorm(cpu, { dim: 4 }).weight.toArray())).toEqual([1, 1, 1, 1]);
    const ln = new LayerNorm(cpu, { dim: 4 });
    expect([...ln.parameters().keys()]).toEqual(['weight', 'bias']);
    const emb = new Embedding(cpu, { vocabSize: 5, dim: 3 });
    expect(emb.forward(ag.tensor(cpu, [0, 4, 4, 1], [2, 2], { dtype: 'i32' })).shape).toEqual([2, 2, 3]);
    expect(() => emb.forward(ag.tensor(cpu, [0, 1], [2]))).toThrow(/ids must be an i32 tensor/);
    expect(() => new Linear(cpu, { inFeatures: 0, outFeatures: 2 })).toThrow(/inFeatures must be a positive integer/);
  });

  it('copy() across backends and stateDict() round-trip the values', async () => {
    const head = new MlpHead(cpu, { dModel: 4, hidden: 3 }, { seed: 8 });
    const onGpu = await head.copy({ backend: gpu });
    const sd = await onGpu.stateDict();
    const ref = await head.stateDict();
    expect(Object.keys(sd)).toEqual(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'out.weight', 'out.bias']);
    for (const [name, t] of Object.entries(ref)) expect(sd[name]!.data, name).toEqual(t.data);
    onGpu.dispose();
  });
});

describe('seeded initialisation', () => {
  it('Rng is the kernels PRNG with its own seeding: pinned values', () => {
    const r = new Rng(7);
    expect(r.next()).toBe(0.9823943767696619);
    expect(r.normal(0, 0.02)).toBe(-0.00671837359891505);
    expect(new Rng(2 ** 40 + 3).next()).toBe(0.19602671219035983); // high bits are folded in
    expect(() => new Rng(-1)).toThrow(/non-negative integer/);
  });

  it('a DecoderLM initialised from a seed has the pinned weights', async () => {
    const model = new DecoderLM(new CpuBackend(), { vocabSize: 37, dModel: 32, nLayers: 2, nHeads: 2, dFF: 48, maxSeqLen: 16, tiedEmbeddings: true }, { seed: 3 });
    const hash = createHash('sha256');
    for (const [name, t] of Object.entries(await model.stateDict())) hash.update(name).update(Buffer.from(Float32Array.from(t.data as ArrayLike<number>).buffer));
    expect(hash.digest('hex').slice(0, 16)).toBe('34e5ef4896a6fdf1');
  });
});
