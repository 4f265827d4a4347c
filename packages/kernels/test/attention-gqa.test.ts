// Grouped-query attention (issue 13): q [B, H, T, D] with k, v [B, Hkv, T, D], H % Hkv = 0; query
// head h reads kv head ⌊h / (H/Hkv)⌋ (Hugging Face repeat_kv), and dk, dv [B, Hkv, T, D] sum the
// group's query heads. Forward, backward and decode against the float64 reference on awkward
// shapes, in every variant the flags force; the grouping itself; GQA against multi-head attention
// over K/V repeated per head.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  attention,
  attentionBackward,
  attentionBackwardReference,
  attentionDecode,
  attentionDecodeReference,
  attentionReference,
  cpuTensor,
  withFlags,
  writeKvCache,
  writeKvCacheReference,
  type CpuTensor,
  type GpuArray,
} from '../src/index.js';
import { assertClose, dot, kernelFixture, numericGradient, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);
const rng = new SeededRandom(13);
const FWD_TOL = { atol: 2e-5, rtol: 2e-4 };
const BWD_TOL = { atol: 1e-4, rtol: 1e-3 };

interface GqaCase {
  B: number;
  H: number;
  Hkv: number;
  T: number;
  D: number;
  lengths?: number[];
}

/** Hugging Face repeat_kv: [B, Hkv, T, D] → [B, H, T, D], head h a copy of kv head ⌊h / group⌋. */
function repeatKv(x: ArrayLike<number>, B: number, Hkv: number, H: number, rowsPerHead: number): Float32Array {
  const group = H / Hkv;
  const out = new Float32Array(B * H * rowsPerHead);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const from = (b * Hkv + Math.floor(h / group)) * rowsPerHead;
      for (let e = 0; e < rowsPerHead; e++) out[(b * H + h) * rowsPerHead + e] = x[from + e]!;
    }
  }
  return out;
}

/** Σ over each group's query heads: [B, H, T, D] → [B, Hkv, T, D] (float64). */
function sumGroups(x: ArrayLike<number>, B: number, Hkv: number, H: number, rowsPerHead: number): Float64Array {
  const group = H / Hkv;
  const out = new Float64Array(B * Hkv * rowsPerHead);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const to = (b * Hkv + Math.floor(h / group)) * rowsPerHead;
      for (let e = 0; e < rowsPerHead; e++) out[to + e]! += x[(b * H + h) * rowsPerHead + e]!;
    }
  }
  return out;
}

interface Inputs {
  c: GqaCase;
  host: { q: Float32Array; k: Float32Array; v: Float32Array; g: Float32Array };
  cpu: { q: CpuTensor; k: CpuTensor; v: CpuTensor; g: CpuTensor };
  gpu: { q: GpuArray; k: GpuArray; v: GpuArray; g: GpuArray; lengths?: GpuArray };
}

function makeInputs(c: GqaCase): Inputs {
  const qShape = [c.B, c.H, c.T, c.D];
  const kvShape = [c.B, c.Hkv, c.T, c.D];
  const nq = c.B * c.H * c.T * c.D;
  const nkv = c.B * c.Hkv * c.T * c.D;
  const host = { q: rng.floats(nq, -1.5, 1.5), k: rng.floats(nkv, -1.5, 1.5), v: rng.floats(nkv), g: rng.floats(nq) };
  const cpu = { q: cpuTensor(host.q, qShape), k: cpuTensor(host.k, kvShape), v: cpuTensor(host.v, kvShape), g: cpuTensor(host.g, qShape) };
  const gpu: Inputs['gpu'] = { q: fx.rt.upload(host.q, qShape), k: fx.rt.upload(host.k, kvShape), v: fx.rt.upload(host.v, kvShape), g: fx.rt.upload(host.g, qShape) };
  if (c.lengths) gpu.lengths = fx.rt.upload(Int32Array.from(c.lengths), [c.B], 'i32');
  return { c, host, cpu, gpu };
}

function dispose(...arrays: (GpuArray | undefined)[]): void {
  for (const a of arrays) a?.dispose();
}

const label = (c: GqaCase) => `B${c.B} H${c.H} Hkv${c.Hkv} T${c.T} D${c.D}${c.lengths ? ` lengths ${c.lengths.join(',')}` : ''}`;

/** Forward and backward on the GPU against the float64 reference. */
async function checkForwardBackward(x: Inputs, tag: string): Promise<void> {
  const { c } = x;
  const opts = x.gpu.lengths ? { lengths: x.gpu.lengths } : {};
  const refOpts = c.lengths ? { lengths: c.lengths } : {};
  const fwd = attention(fx.rt, x.gpu.q, x.gpu.k, x.gpu.v, opts);
  expect(fwd.out.shape).toEqual([c.B, c.H, c.T, c.D]);
  const ref = attentionReference(x.cpu.q, x.cpu.k, x.cpu.v, refOpts);
  await fx.expectClose(fwd.out, ref.out.data, { ...FWD_TOL, label: `${tag} out` });
  await fx.expectClose(fwd.lse, ref.lse.data, { ...FWD_TOL, label: `${tag} lse` });
  const grads = attentionBackward(fx.rt, x.gpu.q, x.gpu.k, x.gpu.v, fwd.out, fwd.lse, x.gpu.g, opts);
  expect(grads.dq.shape).toEqual([c.B, c.H, c.T, c.D]);
  expect(grads.dk.shape).toEqual([c.B, c.Hkv, c.T, c.D]);
  expect(grads.dv.shape).toEqual([c.B, c.Hkv, c.T, c.D]);
  const gref = attentionBackwardReference(x.cpu.q, x.cpu.k, x.cpu.v, x.cpu.g, refOpts);
  for (const name of ['dq', 'dk', 'dv'] as const) {
    // dk, dv add up `group` heads' contributions: scale the tolerance's absolute part with it.
    const atol = BWD_TOL.atol * (name === 'dq' ? 1 : c.H / c.Hkv);
    await fx.expectClose(grads[name], gref[name].data, { atol, rtol: BWD_TOL.rtol, label: `${tag} ${name}` });
  }
  dispose(fwd.out, fwd.lse, grads.dq, grads.dk, grads.dv);
}

/** Decode over an Hkv-head cache: the cache written in two blocks (prefix, then the new rows), per-sequence past. */
async function checkDecode(x: Inputs, Tq: number, tag: string): Promise<void> {
  const { B, H, Hkv, T, D } = x.c;
  const Tmax = T + 3;
  // Sequence b has past_b = T − Tq − b (≥ 0) positions before its block of Tq queries.
  const past = Array.from({ length: B }, (_, b) => Math.max(0, T - Tq - b));
  const cacheShape = [B, Hkv, Tmax, D];
  const kCache = fx.rt.upload(new Float32Array(B * Hkv * Tmax * D).fill(1e30), cacheShape); // garbage never read
  const vCache = fx.rt.upload(new Float32Array(B * Hkv * Tmax * D).fill(1e30), cacheShape);
  let kRef = cpuTensor(new Float32Array(B * Hkv * Tmax * D).fill(1e30), cacheShape);
  let vRef = cpuTensor(new Float32Array(B * Hkv * Tmax * D).fill(1e30), cacheShape);
  const block = (src: Float32Array, heads: number, from: (b: number) => number, count: number) => {
    const out = new Float32Array(B * heads * count * D);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        const at = (b * heads + h) * T + from(b);
        out.set(src.subarray(at * D, (at + count) * D), (b * heads + h) * count * D);
      }
    }
    return out;
  };
  const gpuPast = fx.rt.upload(Int32Array.from(past), [B], 'i32');
  const zero = fx.rt.upload(new Int32Array(B), [B], 'i32');
  for (const [cache, name] of [[kCache, 'k'], [vCache, 'v']] as const) {
    // Prefix: positions 0..T−Tq−1 of every sequence at position 0, then the block at past_b.
    const prefixRows = block(x.host[name], Hkv, () => 0, T - Tq);
    const newRows = block(x.host[name], Hkv, (b) => past[b]!, Tq);
    const prefix = fx.rt.upload(prefixRows, [B, Hkv, T - Tq, D]);
    const rows = fx.rt.upload(newRows, [B, Hkv, Tq, D]);
    writeKvCache(fx.rt, cache, prefix, zero);
    writeKvCache(fx.rt, cache, rows, gpuPast);
    dispose(prefix, rows);
    const ref = name === 'k' ? kRef : vRef;
    const filled = writeKvCacheReference(writeKvCacheReference(ref, cpuTensor(prefixRows, [B, Hkv, T - Tq, D]), 0), cpuTensor(newRows, [B, Hkv, Tq, D]), past);
    if (name === 'k') kRef = filled;
    else vRef = filled;
  }
  await fx.expectClose(kCache, kRef.data, { atol: 0, rtol: 0, label: `${tag} kCache` });
  const qHost = block(x.host.q, H, (b) => past[b]!, Tq);
  const q = fx.rt.upload(qHost, [B, H, Tq, D]);
  const dec = attentionDecode(fx.rt, q, kCache, vCache, { past: gpuPast });
  const ref = attentionDecodeReference(cpuTensor(qHost, [B, H, Tq, D]), kRef, vRef, { past });
  await fx.expectClose(dec.out, ref.out.data, { ...FWD_TOL, label: `${tag} decode out` });
  await fx.expectClose(dec.lse, ref.lse.data, { ...FWD_TOL, label: `${tag} decode lse` });
  // A uniform past (the first sequence's) on the same cache.
  const decU = attentionDecode(fx.rt, q, kCache, vCache, { past: past[0]! });
  const refU = attentionDecodeReference(cpuTensor(qHost, [B, H, Tq, D]), kRef, vRef, { past: past[0]! });
  await fx.expectClose(decU.out, refU.out.data, { ...FWD_TOL, label: `${tag} decode uniform out` });
  dispose(kCache, vCache, gpuPast, zero, q, dec.out, dec.lse, decU.out, decU.lse);
}

// (H, Hkv) of the issue: multi-query, 3 heads per kv head, multi-head, 7 heads per kv head; odd T,
// B > 1, padded and empty sequences; head sizes of real models (64, 128) and the small end (16, 32).
const CASES: GqaCase[] = [
  { B: 2, H: 4, Hkv: 1, T: 19, D: 64, lengths: [19, 6] },
  { B: 3, H: 6, Hkv: 2, T: 33, D: 16, lengths: [33, 0, 21] },
  { B: 2, H: 8, Hkv: 8, T: 9, D: 32 },
  { B: 2, H: 14, Hkv: 2, T: 37, D: 128, lengths: [30, 37] },
];

describe('GQA references', () => {
  it('the reference equals multi-head attention over K/V repeated per head (repeat_kv); dk, dv are its group sums', () => {
    const [B, H, Hkv, T, D] = [2, 6, 2, 7, 4];
    const r = new SeededRandom(21);
    const q = r.floats(B * H * T * D);
    const k = r.floats(B * Hkv * T * D);
    const v = r.floats(B * Hkv * T * D);
    const g = r.floats(B * H * T * D);
    const opts = { lengths: [7, 4], scale: 0.8 };
    const qT = cpuTensor(q, [B, H, T, D]);
    const gqa = attentionReference(qT, cpuTensor(k, [B, Hkv, T, D]), cpuTensor(v, [B, Hkv, T, D]), opts);
    const kRep = cpuTensor(repeatKv(k, B, Hkv, H, T * D), [B, H, T, D]);
    const vRep = cpuTensor(repeatKv(v, B, Hkv, H, T * D), [B, H, T, D]);
    const mha = attentionReference(qT, kRep, vRep, opts);
    expect([...gqa.out.data]).toEqual([...mha.out.data]);
    expect([...gqa.lse.data]).toEqual([...mha.lse.data]);
    const gg = attentionBackwardReference(qT, cpuTensor(k, [B, Hkv, T, D]), cpuTensor(v, [B, Hkv, T, D]), cpuTensor(g, [B, H, T, D]), opts);
    const gm = attentionBackwardReference(qT, kRep, vRep, cpuTensor(g, [B, H, T, D]), opts);
    expect(gg.dk.shape).toEqual([B, Hkv, T, D]);
    assertClose(gg.dq.data, gm.dq.data, { atol: 0, rtol: 0, label: 'dq' });
    assertClose(gg.dk.data, sumGroups(gm.dk.data, B, Hkv, H, T * D), { atol: 1e-14, rtol: 1e-12, label: 'dk' });
    assertClose(gg.dv.data, sumGroups(gm.dv.data, B, Hkv, H, T * D), { atol: 1e-14, rtol: 1e-12, label: 'dv' });
  });

  it('the GQA reference backward agrees with finite differences (float64, H 4, Hkv 1 and H 6, Hkv 2)', () => {
    for (const [H, Hkv] of [[4, 1], [6, 2]] as const) {
      const [B, T, D] = [2, 5, 4];
      const qShape = [B, H, T, D];
      const kvShape = [B, Hkv, T, D];
      const r = new SeededRandom(5 + H);
      const base = {
        q: Float64Array.from(r.floats(B * H * T * D, -2, 2)),
        k: Float64Array.from(r.floats(B * Hkv * T * D, -2, 2)),
        v: Float64Array.from(r.floats(B * Hkv * T * D)),
      };
      const w = Float64Array.from(r.floats(B * H * T * D));
      const options = { lengths: [5, 3], scale: 0.6 };
      const grads = attentionBackwardReference(cpuTensor(base.q, qShape), cpuTensor(base.k, kvShape), cpuTensor(base.v, kvShape), cpuTensor(w, qShape), options);
      for (const name of ['q', 'k', 'v'] as const) {
        const f = (x: Float64Array) => {
          const a = { ...base, [name]: x };
          return dot(w, attentionReference(cpuTensor(a.q, qShape), cpuTensor(a.k, kvShape), cpuTensor(a.v, kvShape), options).out.data);
        };
        assertClose(grads[`d${name}`].data, numericGradient(f, base[name]), { atol: 1e-8, rtol: 1e-6, label: `H${H} Hkv${Hkv} d${name}` });
      }
    }
  });

  it('refuses kv heads that do not divide the query heads', () => {
    const q = cpuTensor(new Float32Array(1 * 6 * 2 * 4), [1, 6, 2, 4]);
    const k = cpuTensor(new Float32Array(1 * 4 * 2 * 4), [1, 4, 2, 4]);
    expect(() => attentionReference(q, k, k)).toThrow(/k has 4 heads, which must divide the 6 query heads/);
  });
});

describe('GQA forward, backward and decode (GPU vs float64 reference)', () => {
  for (const c of CASES) {
    it(`${label(c)}: forward, backward, decode (Tq 1 and 3)`, async () => {
      const x = makeInputs(c);
      await checkForwardBackward(x, label(c));
      for (const Tq of [1, 3]) await checkDecode(x, Tq, `${label(c)} Tq${Tq}`);
      dispose(...Object.values(x.gpu));
    });
  }

  it('query head h reads kv head ⌊h / group⌋, not h mod Hkv, and dk/dv land on that kv head', async () => {
    // (H, Hkv) = (6, 2): heads 0, 1, 2 read kv head 0 and heads 3, 4, 5 kv head 1; an interleaved
    // grouping (h mod 2) would give 0, 1, 0, 1, 0, 1. With v constant per kv head (value j + 1),
    // every output row is exactly that constant (the probabilities sum to 1).
    const [B, H, Hkv, T, D] = [1, 6, 2, 5, 16];
    const q = rng.floats(B * H * T * D);
    const k = rng.floats(B * Hkv * T * D);
    const v = new Float32Array(B * Hkv * T * D);
    for (let j = 0; j < Hkv; j++) v.fill(j + 1, j * T * D, (j + 1) * T * D);
    const gq = fx.rt.upload(q, [B, H, T, D]);
    const gk = fx.rt.upload(k, [B, Hkv, T, D]);
    const gv = fx.rt.upload(v, [B, Hkv, T, D]);
    const fwd = attention(fx.rt, gq, gk, gv);
    const out = await fx.rt.read(fwd.out);
    for (let h = 0; h < H; h++) {
      const want = Math.floor(h / (H / Hkv)) + 1;
      const row = out.subarray(h * T * D, (h + 1) * T * D);
      expect(Math.max(...row.map((y) => Math.abs(y - want)))).toBeLessThan(1e-5);
    }
    // Backward: dOut only on query head 1 (group 0). dk and dv must be zero on kv head 1, and the
    // interleaved grouping would put them there instead.
    const g = new Float32Array(B * H * T * D);
    g.set(rng.floats(T * D), 1 * T * D);
    const gg = fx.rt.upload(g, [B, H, T, D]);
    const grads = attentionBackward(fx.rt, gq, gk, gv, fwd.out, fwd.lse, gg);
    for (const name of ['dk', 'dv'] as const) {
      const d = await fx.rt.read(grads[name]);
      expect(d.subarray(0, T * D).some((y) => y !== 0)).toBe(true);
      expect(d.subarray(T * D).every((y) => y === 0)).toBe(true);
    }
    dispose(gq, gk, gv, gg, fwd.out, fwd.lse, grads.dq, grads.dk, grads.dv);
  });

  it('equals multi-head attention over K/V repeated per head: out, lse and dq bit for bit, dk/dv its group sums', async () => {
    // The query-head side runs the same instructions on the same values whether the kv row is
    // shared or copied; only dk/dv sum in another order (in registers vs on the host here).
    const c: GqaCase = { B: 2, H: 6, Hkv: 2, T: 23, D: 32, lengths: [23, 11] };
    const x = makeInputs(c);
    const { B, H, Hkv, T, D } = c;
    const kRep = fx.rt.upload(repeatKv(x.host.k, B, Hkv, H, T * D), [B, H, T, D]);
    const vRep = fx.rt.upload(repeatKv(x.host.v, B, Hkv, H, T * D), [B, H, T, D]);
    const opts = { lengths: x.gpu.lengths! };
    const gqa = attention(fx.rt, x.gpu.q, x.gpu.k, x.gpu.v, opts);
    const mha = attention(fx.rt, x.gpu.q, kRep, vRep, opts);
    expect(await fx.rt.read(gqa.out)).toEqual(await fx.rt.read(mha.out));
    expect(await fx.rt.read(gqa.lse)).toEqual(await fx.rt.read(mha.lse));
    const gg = attentionBackward(fx.rt, x.gpu.q, x.gpu.k, x.gpu.v, gqa.out, gqa.lse, x.gpu.g, opts);
    const gm = attentionBackward(fx.rt, x.gpu.q, kRep, vRep, mha.out, mha.lse, x.gpu.g, opts);
    expect(await fx.rt.read(gg.dq)).toEqual(await fx.rt.read(gm.dq));
    for (const name of ['dk', 'dv'] as const) {
      await fx.expectClose(gg[name], sumGroups(await fx.rt.read(gm[name]), B, Hkv, H, T * D), { atol: 1e-6, rtol: 1e-5, label: `repeat ${name}` });
    }
    dispose(...Object.values(x.gpu), kRep, vRep, gqa.out, gqa.lse, mha.out, mha.lse, gg.dq, gg.dk, gg.dv, gm.dq, gm.dk, gm.dv);
  });
});

describe('GQA in every variant forced by flags', () => {
  // The tilings of attention.test.ts's variant tests (odd rows and tiles: partial tiles and row
  // blocks), the per-lane loads fallback, and the decode tilings.
  const variants: Record<string, number | boolean>[] = [
    { 'attention.rows': 1, 'attention.keyTile': 1, 'attention.workgroup': 8, 'attentionBackward.rows': 1, 'attentionBackward.tile': 3, 'attentionBackward.workgroup': 8 },
    {
      'attention.rows': 3, 'attention.keyTile': 3, 'attention.workgroup': 8, 'attentionBackward.rows': 3, 'attentionBackward.tile': 1, 'attentionBackward.workgroup': 16,
      'attentionDecode.rows': 2, 'attentionDecode.keyTile': 3, 'attentionDecode.workgroup': 16,
    },
    { 'attention.subgroups': false, 'attention.workgroup': 12, 'attentionBackward.workgroup': 12 },
  ];
  for (const flags of variants) {
    it(JSON.stringify(flags), async () => {
      await withFlags(flags, async () => {
        for (const c of CASES) {
          const x = makeInputs(c);
          const tag = `${JSON.stringify(flags)} ${label(c)}`;
          await checkForwardBackward(x, tag);
          await checkDecode(x, 3, tag);
          dispose(...Object.values(x.gpu));
        }
      });
    });
  }
});

describe('GQA argument errors', () => {
  it('names the kernel, the argument and why', () => {
    const q = fx.rt.zeros([2, 6, 5, 16]);
    const k4 = fx.rt.zeros([2, 4, 5, 16]);
    const k2 = fx.rt.zeros([2, 2, 5, 16]);
    const k3 = fx.rt.zeros([2, 3, 5, 16]);
    const cache4 = fx.rt.zeros([2, 4, 8, 16]);
    const cache2 = fx.rt.zeros([2, 2, 8, 16]);
    const q1 = fx.rt.zeros([2, 6, 1, 16]);
    const out = fx.rt.zeros([2, 6, 5, 16]);
    const lse = fx.rt.zeros([2, 6, 5]);
    expect(() => attention(fx.rt, q, k4, k4)).toThrow(ArgumentError);
    expect(() => attention(fx.rt, q, k4, k4)).toThrow(/\[attention\] argument "k": has 4 heads \(shape \[2, 4, 5, 16\]\), which must divide the 6 query heads/);
    expect(() => attention(fx.rt, q, k2, k3)).toThrow(/\[attention\] argument "v": expected shape \[2, 2, 5, 16\], got \[2, 3, 5, 16\]/);
    expect(() => attentionBackward(fx.rt, q, k4, k4, out, lse, out)).toThrow(/\[attentionBackward\] argument "k": has 4 heads/);
    expect(() => attentionDecode(fx.rt, q1, cache4, cache4, { past: 0 })).toThrow(/\[attentionDecode\] argument "kCache": has 4 heads/);
    expect(() => attentionDecode(fx.rt, q1, cache2, cache4, { past: 0 })).toThrow(/\[attentionDecode\] argument "vCache": expected shape \[2, 2, 8, 16\]/);
    dispose(q, k4, k2, k3, cache4, cache2, q1, out, lse);
  });
});
