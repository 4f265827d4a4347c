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

const rng = new SeededRandom(7);
type Shape = [number, number, number, number];
const FWD_TOL = { atol: 2e-5, rtol: 2e-4 };
const BWD_TOL = { atol: 1e-4, rtol: 1e-3 };

interface Inputs {
  shape: Shape;
  host: { q: Float32Array; k: Float32Array; v: Float32Array; g: Float32Array };
  cpu: { q: CpuTensor; k: CpuTensor; v: CpuTensor; g: CpuTensor };
  gpu: { q: GpuArray; k: GpuArray; v: GpuArray; g: GpuArray };
  lengths?: { host: Int32Array; gpu: GpuArray };
}

function makeInputs(shape: Shape, lengths?: number[], magnitude = 1, qkMagnitude = magnitude): Inputs {
  const n = shape.reduce((a, b) => a * b, 1);
  const host = { q: rng.floats(n, -qkMagnitude, qkMagnitude), k: rng.floats(n, -qkMagnitude, qkMagnitude), v: rng.floats(n, -magnitude, magnitude), g: rng.floats(n) };
  const cpu = { q: cpuTensor(host.q, shape), k: cpuTensor(host.k, shape), v: cpuTensor(host.v, shape), g: cpuTensor(host.g, shape) };
  const gpu = { q: fx.rt.upload(host.q, shape), k: fx.rt.upload(host.k, shape), v: fx.rt.upload(host.v, shape), g: fx.rt.upload(host.g, shape) };
  const inputs: Inputs = { shape, host, cpu, gpu };
  if (lengths) {
    const h = Int32Array.from(lengths);
    inputs.lengths = { host: h, gpu: fx.rt.upload(h, [shape[0]], 'i32') };
  }
  return inputs;
}

function disposeInputs(x: Inputs): void {
  for (const a of Object.values(x.gpu)) a.dispose();
  x.lengths?.gpu.dispose();
}

function expectFinite(values: ArrayLike<number>, label: string): void {
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i]!)) throw new Error(`${label}: NaN at ${i}`);
  }
}

/** Forward on the GPU against the float64 reference; returns the GPU results for further use. */
async function checkForward(x: Inputs, label: string, tol = FWD_TOL): Promise<{ out: GpuArray; lse: GpuArray }> {
  const res = attention(fx.rt, x.gpu.q, x.gpu.k, x.gpu.v, x.lengths ? { lengths: x.lengths.gpu } : {});
  expect(res.out.shape).toEqual(x.shape);
  expect(res.lse.shape).toEqual(x.shape.slice(0, 3));
  const ref = attentionReference(x.cpu.q, x.cpu.k, x.cpu.v, x.lengths ? { lengths: x.lengths.host } : {});
  const out = await fx.rt.read(res.out);
  const lse = await fx.rt.read(res.lse);
  expectFinite(out, `${label} out`);
  assertClose(out, ref.out.data, { ...tol, label: `${label} out` });
  assertClose(lse, ref.lse.data, { ...tol, label: `${label} lse` });
  return res;
}

async function checkBackward(x: Inputs, fwd: { out: GpuArray; lse: GpuArray }, label: string): Promise<void> {
  const opts = x.lengths ? { lengths: x.lengths.gpu } : {};
  const grads = attentionBackward(fx.rt, x.gpu.q, x.gpu.k, x.gpu.v, fwd.out, fwd.lse, x.gpu.g, opts);
  const ref = attentionBackwardReference(x.cpu.q, x.cpu.k, x.cpu.v, x.cpu.g, x.lengths ? { lengths: x.lengths.host } : {});
  for (const name of ['dq', 'dk', 'dv'] as const) {
    const got = await fx.rt.read(grads[name]);
    expectFinite(got, `${label} ${name}`);
    assertClose(got, ref[name].data, { ...BWD_TOL, label: `${label} ${name}` });
    grads[name].dispose();
  }
}

describe('attention references', () => {
  it('the reference forward matches a direct softmax(QKᵀ·scale + mask)·V, with −∞ lse on fully masked rows', () => {
    const [B, H, T, D] = [1, 1, 4, 3];
    const r = new SeededRandom(3);
    const q = cpuTensor(r.floats(T * D), [B, H, T, D]);
    const k = cpuTensor(r.floats(T * D), [B, H, T, D]);
    const v = cpuTensor(r.floats(T * D), [B, H, T, D]);
    const { out, lse } = attentionReference(q, k, v, { lengths: [3], scale: 0.7 });
    for (let i = 0; i < 3; i++) {
      const s = [0, 1, 2].filter((j) => j <= i).map((j) => 0.7 * dot(q.data.subarray(i * D, i * D + D), k.data.subarray(j * D, j * D + D)));
      const z = s.reduce((a, b) => a + Math.exp(b), 0);
      expect(lse.data[i]).toBeCloseTo(Math.log(z), 12);
      for (let d = 0; d < D; d++) {
        const want = s.reduce((a, sj, j) => a + (Math.exp(sj) / z) * v.data[j * D + d]!, 0);
        expect(out.data[i * D + d]).toBeCloseTo(want, 12);
      }
    }
    expect(lse.data[3]).toBe(-Infinity);
    expect([...out.data.subarray(3 * D)]).toEqual([0, 0, 0]);
  });

  it('the reference backward agrees with finite differences of the reference forward (float64)', () => {
    const shape: Shape = [2, 2, 5, 4];
    const n = shape.reduce((a, b) => a * b, 1);
    const r = new SeededRandom(5);
    const base = { q: Float64Array.from(r.floats(n, -2, 2)), k: Float64Array.from(r.floats(n, -2, 2)), v: Float64Array.from(r.floats(n)) };
    const w = Float64Array.from(r.floats(n));
    const options = { lengths: [5, 3], scale: 0.6 };
    const grads = attentionBackwardReference(cpuTensor(base.q, shape), cpuTensor(base.k, shape), cpuTensor(base.v, shape), cpuTensor(w, shape), options);
    for (const name of ['q', 'k', 'v'] as const) {
      const f = (x: Float64Array) => {
        const args = { ...base, [name]: x };
        return dot(w, attentionReference(cpuTensor(args.q, shape), cpuTensor(args.k, shape), cpuTensor(args.v, shape), options).out.data);
      };
      const numeric = numericGradient(f, base[name]);
      assertClose(grads[`d${name}`].data, numeric, { atol: 1e-8, rtol: 1e-6, label: `d${name}` });
    }
    // Padded keys and fully masked query rows get exactly zero gradient.
    const D = shape[3];
    const row = (t: number) => ((1 * 2 + 0) * 5 + t) * D; // batch 1, head 0
    expect([...grads.dq.data.subarray(row(3), row(5))].every((x) => x === 0)).toBe(true);
    expect([...grads.dk.data.subarray(row(3), row(5))].every((x) => x === 0)).toBe(true);
    expect([...grads.dv.data.subarray(row(3), row(5))].every((x) => x === 0)).toBe(true);
  });
});

describe('attention forward and backward (GPU vs float64 reference)', () => {
  const cases: { shape: Shape; lengths?: number[] }[] = [
    { shape: [1, 1, 1, 16] },
    { shape: [2, 3, 3, 24], lengths: [3, 1] },
    { shape: [1, 2, 17, 32] },
    { shape: [2, 1, 65, 64], lengths: [0, 40] },
    { shape: [1, 1, 130, 128] },
    { shape: [2, 3, 130, 16], lengths: [129, 7] },
    { shape: [1, 2, 65, 24], lengths: [64] },
  ];
  for (const { shape, lengths } of cases) {
    it(`[${shape.join(', ')}]${lengths ? ` lengths ${lengths.join(',')}` : ''}: forward, then backward`, async () => {
      const x = makeInputs(shape, lengths);
      const label = `[${shape}]`;
      const fwd = await checkForward(x, label);
      await checkBackward(x, fwd, label);
      fwd.out.dispose();
      fwd.lse.dispose();
      disposeInputs(x);
    });
  }

  it('fully masked rows (lengths 0 and 1) give zero output, −∞ lse and zero gradients, never NaN', async () => {
    const shape: Shape = [3, 2, 9, 16];
    const x = makeInputs(shape, [0, 1, 12]); // 12 > T is clamped to T
    const fwd = await checkForward(x, 'masked');
    const out = await fx.rt.read(fwd.out);
    const lse = await fx.rt.read(fwd.lse);
    const [, H, T, D] = shape;
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const row0 = (0 * H + h) * T + t; // batch 0: every row masked
        expect(lse[row0]).toBe(-Infinity);
        expect([...out.subarray(row0 * D, row0 * D + D)].every((v) => v === 0)).toBe(true);
        const row1 = (1 * H + h) * T + t; // batch 1: only row 0 live
        if (t === 0) expect(Number.isFinite(lse[row1]!)).toBe(true);
        else expect(lse[row1]).toBe(-Infinity);
      }
    }
    // dOut on masked rows is ignored: gradients there are zero and finite everywhere.
    await checkBackward(x, fwd, 'masked');
    fwd.out.dispose();
    fwd.lse.dispose();
    disposeInputs(x);
  });

  it('stays finite with scores of magnitude ~1e3 (online softmax rescaling)', async () => {
    const shape: Shape = [1, 2, 33, 32];
    const x = makeInputs(shape, undefined, 1, 40);
    const ref = attentionReference(x.cpu.q, x.cpu.k, x.cpu.v);
    const maxLse = Math.max(...ref.lse.data.map(Math.abs));
    expect(maxLse).toBeGreaterThan(500); // the case really has huge scores
    const fwd = await checkForward(x, 'large', { atol: 1e-3, rtol: 1e-4 });
    const grads = attentionBackward(fx.rt, x.gpu.q, x.gpu.k, x.gpu.v, fwd.out, fwd.lse, x.gpu.g);
    const gref = attentionBackwardReference(x.cpu.q, x.cpu.k, x.cpu.v, x.cpu.g);
    for (const name of ['dq', 'dk', 'dv'] as const) {
      const got = await fx.rt.read(grads[name]);
      expect(got.every(Number.isFinite)).toBe(true);
      // Near-one-hot softmax: gradients are tiny except where two scores tie within float32 error.
      assertClose(got, gref[name].data, { atol: 5e-2, rtol: 1e-2, label: `large ${name}` });
      grads[name].dispose();
    }
    fwd.out.dispose();
    fwd.lse.dispose();
    disposeInputs(x);
  });

  it('honours a custom scale and handles T = 0', async () => {
    const x = makeInputs([1, 2, 20, 16], [13]);
    const res = attention(fx.rt, x.gpu.q, x.gpu.k, x.gpu.v, { lengths: x.lengths!.gpu, scale: 0.05 });
    const ref = attentionReference(x.cpu.q, x.cpu.k, x.cpu.v, { lengths: x.lengths!.host, scale: 0.05 });
    await fx.expectClose(res.out, ref.out.data, { ...FWD_TOL, label: 'scale out' });
    const grads = attentionBackward(fx.rt, x.gpu.q, x.gpu.k, x.gpu.v, res.out, res.lse, x.gpu.g, { lengths: x.lengths!.gpu, scale: 0.05 });
    const gref = attentionBackwardReference(x.cpu.q, x.cpu.k, x.cpu.v, x.cpu.g, { lengths: x.lengths!.host, scale: 0.05 });
    await fx.expectClose(grads.dk, gref.dk.data, { ...BWD_TOL, label: 'scale dk' });
    for (const a of [res.out, res.lse, grads.dq, grads.dk, grads.dv]) a.dispose();
    disposeInputs(x);
    const empty = fx.rt.zeros([1, 2, 0, 16]);
    const e = attention(fx.rt, empty, empty, empty);
    expect(e.out.shape).toEqual([1, 2, 0, 16]);
    expect((await fx.rt.read(e.lse)).length).toBe(0);
    for (const a of [empty, e.out, e.lse]) a.dispose();
  });
});

describe('attention over more than 65535 workgroups', () => {
  it('folds the grid into 2-D (B·H = 70000, T = 1) forward and backward', async () => {
    const x = makeInputs([35000, 2, 1, 16]);
    const fwd = await checkForward(x, 'folded grid');
    await checkBackward(x, fwd, 'folded grid');
    fwd.out.dispose();
    fwd.lse.dispose();
    disposeInputs(x);
  });
});

describe('attention variants forced by flags (same cases as the default)', () => {
  // 'broadcast' (subgroup) tile fetches are the default where the device has subgroups; the
  // per-lane 'loads' fallback is forced with attention.subgroups=false. Tilings with odd rows and
  // tiles exercise partial tiles and partial row blocks.
  const variants: Record<string, number | boolean>[] = [
    { 'attention.rows': 1, 'attention.keyTile': 1, 'attention.workgroup': 8, 'attentionBackward.rows': 1, 'attentionBackward.tile': 3, 'attentionBackward.workgroup': 8 },
    { 'attention.rows': 3, 'attention.keyTile': 3, 'attention.workgroup': 8, 'attentionBackward.rows': 3, 'attentionBackward.tile': 1, 'attentionBackward.workgroup': 16 },
    // The fallback's default tiling, with workgroups that are not whole 8-lane vectors.
    { 'attention.subgroups': false, 'attention.workgroup': 12, 'attentionBackward.workgroup': 12 },
  ];
  for (const flags of variants) {
    it(JSON.stringify(flags), async () => {
      for (const { shape, lengths } of [
        { shape: [2, 2, 67, 32] as Shape, lengths: [67, 30] },
        { shape: [1, 1, 1, 16] as Shape, lengths: [1] },
        { shape: [2, 1, 9, 16] as Shape, lengths: [0, 2] },
      ]) {
        const x = makeInputs(shape, lengths);
        await withFlags(flags, async () => {
          const label = `${JSON.stringify(flags)} [${shape}]`;
          const fwd = await checkForward(x, label);
          await checkBackward(x, fwd, label);
          fwd.out.dispose();
          fwd.lse.dispose();
        });
        disposeInputs(x);
      }
    });
  }

  it('decode in the per-lane loads variant matches the reference', async () => {
    await withFlags({ 'attention.subgroups': false }, async () => {
      const [B, H, Tq, Tmax, D] = [2, 1, 3, 20, 16];
      const q = rng.floats(B * H * Tq * D);
      const k = rng.floats(B * H * Tmax * D);
      const v = rng.floats(B * H * Tmax * D);
      const [gq, gk, gv] = [fx.rt.upload(q, [B, H, Tq, D]), fx.rt.upload(k, [B, H, Tmax, D]), fx.rt.upload(v, [B, H, Tmax, D])];
      const dec = attentionDecode(fx.rt, gq, gk, gv, { past: 9 });
      const ref = attentionDecodeReference(cpuTensor(q, [B, H, Tq, D]), cpuTensor(k, [B, H, Tmax, D]), cpuTensor(v, [B, H, Tmax, D]), { past: 9 });
      await fx.expectClose(dec.out, ref.out.data, { ...FWD_TOL, label: 'decode loads out' });
      await fx.expectClose(dec.lse, ref.lse.data, { ...FWD_TOL, label: 'decode loads lse' });
      for (const a of [gq, gk, gv, dec.out, dec.lse]) a.dispose();
    });
  });

  it('rejects tilings a subgroup broadcast cannot serve, and out-of-range tilings', async () => {
    const x = fx.rt.zeros([1, 1, 8, 16]);
    const lse = fx.rt.zeros([1, 1, 8]);
    if (fx.rt.hasFeature('subgroups')) {
      await withFlags({ 'attention.keyTile': 9 }, () => {
        expect(() => attention(fx.rt, x, x, x)).toThrow(/\[attention\] argument "config": with subgroup broadcasts the tile must be at most 8/);
      });
      await withFlags({ 'attentionBackward.workgroup': 12 }, () => {
        expect(() => attentionBackward(fx.rt, x, x, x, x, lse, x)).toThrow(/\[attentionBackward\] argument "config": .*workgroup a multiple of 8/);
      });
    }
    await withFlags({ 'attention.rows': 0 }, () => {
      expect(() => attention(fx.rt, x, x, x)).toThrow(/argument "config.rows": must be an integer in 1\.\.8, got 0/);
    });
    x.dispose();
    lse.dispose();
  });
});

describe('decode over a KV cache', () => {
  it('writeKvCache appends rows at a uniform position and at per-sequence positions (dropping overflow)', async () => {
    const cacheHost = rng.floats(2 * 3 * 10 * 16);
    const rowsHost = rng.floats(2 * 3 * 4 * 16);
    const cacheShape = [2, 3, 10, 16];
    for (const position of [6, [2, 8]] as const) {
      const cache = fx.rt.upload(cacheHost, cacheShape);
      const rows = fx.rt.upload(rowsHost, [2, 3, 4, 16]);
      const pos = typeof position === 'number' ? position : fx.rt.upload(Int32Array.from(position), [2], 'i32');
      writeKvCache(fx.rt, cache, rows, pos);
      const want = writeKvCacheReference(cpuTensor(cacheHost, cacheShape), cpuTensor(rowsHost, [2, 3, 4, 16]), position);
      await fx.expectClose(cache, want.data, { atol: 0, rtol: 0, label: `writeKvCache ${position}` });
      cache.dispose();
      rows.dispose();
      if (typeof pos !== 'number') pos.dispose();
    }
  });

  it('matches the full forward on the last rows (Tq = 1 and Tq = 3, uniform past)', async () => {
    const [B, H, T, D] = [2, 2, 37, 32];
    const x = makeInputs([B, H, T, D]);
    const full = attention(fx.rt, x.gpu.q, x.gpu.k, x.gpu.v);
    const fullOut = (await fx.rt.read(full.out)) as Float32Array;
    const fullLse = await fx.rt.read(full.lse);
    for (const Tq of [1, 3]) {
      const past = T - Tq;
      const Tmax = T + 5;
      const kCache = fx.rt.zeros([B, H, Tmax, D]);
      const vCache = fx.rt.zeros([B, H, Tmax, D]);
      // Prefill: the first `past` rows, then the new block, as the sampling loop would.
      const slice = (src: Float32Array, from: number, count: number) => {
        const out = new Float32Array(B * H * count * D);
        for (let bh = 0; bh < B * H; bh++) out.set(src.subarray((bh * T + from) * D, (bh * T + from + count) * D), bh * count * D);
        return out;
      };
      for (const [cache, src] of [[kCache, x.host.k], [vCache, x.host.v]] as const) {
        const prefix = fx.rt.upload(slice(src, 0, past), [B, H, past, D]);
        const block = fx.rt.upload(slice(src, past, Tq), [B, H, Tq, D]);
        writeKvCache(fx.rt, cache, prefix, 0);
        writeKvCache(fx.rt, cache, block, past);
        prefix.dispose();
        block.dispose();
      }
      // Garbage past the written positions must never be read.
      const poison = fx.rt.upload(new Float32Array(B * H * 5 * D).fill(1e30), [B, H, 5, D]);
      writeKvCache(fx.rt, kCache, poison, T);
      writeKvCache(fx.rt, vCache, poison, T);
      poison.dispose();
      const qNew = fx.rt.upload(slice(x.host.q, past, Tq), [B, H, Tq, D]);
      const dec = attentionDecode(fx.rt, qNew, kCache, vCache, { past });
      const out = await fx.rt.read(dec.out);
      const lse = await fx.rt.read(dec.lse);
      assertClose(out, slice(fullOut, past, Tq), { ...FWD_TOL, label: `decode Tq=${Tq} out` });
      const lseWant = new Float32Array(B * H * Tq);
      for (let bh = 0; bh < B * H; bh++) lseWant.set(fullLse.subarray(bh * T + past, bh * T + T), bh * Tq);
      assertClose(lse, lseWant, { ...FWD_TOL, label: `decode Tq=${Tq} lse` });
      for (const a of [kCache, vCache, qNew, dec.out, dec.lse]) a.dispose();
    }
    full.out.dispose();
    full.lse.dispose();
    disposeInputs(x);
  });

  it('per-sequence past lengths match the decode reference (queries past the capacity are masked)', async () => {
    const [B, H, Tq, Tmax, D] = [3, 2, 2, 24, 16];
    const past = [0, 11, 23]; // the last sequence's second query would sit at position 24 ≥ Tmax
    const q = rng.floats(B * H * Tq * D);
    const k = rng.floats(B * H * Tmax * D);
    const v = rng.floats(B * H * Tmax * D);
    const gq = fx.rt.upload(q, [B, H, Tq, D]);
    const gk = fx.rt.upload(k, [B, H, Tmax, D]);
    const gv = fx.rt.upload(v, [B, H, Tmax, D]);
    const gp = fx.rt.upload(Int32Array.from(past), [B], 'i32');
    const dec = attentionDecode(fx.rt, gq, gk, gv, { past: gp, scale: 0.3 });
    const ref = attentionDecodeReference(cpuTensor(q, [B, H, Tq, D]), cpuTensor(k, [B, H, Tmax, D]), cpuTensor(v, [B, H, Tmax, D]), { past, scale: 0.3 });
    const lse = await fx.rt.read(dec.lse);
    await fx.expectClose(dec.out, ref.out.data, { ...FWD_TOL, label: 'decode per-sequence out' });
    assertClose(lse, ref.lse.data, { ...FWD_TOL, label: 'decode per-sequence lse' });
    expect(lse[(2 * H + 0) * Tq + 1]).toBe(-Infinity);
    for (const a of [gq, gk, gv, gp, dec.out, dec.lse]) a.dispose();
  });
});

describe('single-token decode: the split-keys kernel and the row kernel', () => {
  // Tq = 1 (every generation step) runs the split-keys kernel by default; the flag forces the row
  // kernel. Both against the float64 decode reference: MHA and GQA, per-sequence and uniform past
  // (an empty prefix, keys fewer than the lanes, more keys than lanes, a query past the capacity),
  // head sizes at both ends, and split workgroups that do and do not divide the keys.
  const cases = [
    { B: 4, H: 4, Hkv: 4, Tmax: 40, D: 32, past: [0, 5, 17, 39] },
    { B: 3, H: 6, Hkv: 2, Tmax: 24, D: 16, past: [23, 24, 3] },
    { B: 2, H: 2, Hkv: 1, Tmax: 70, D: 128, past: [69, 33] },
  ];
  const variants: Record<string, number | string>[] = [{}, { 'attentionDecode.splitWorkgroup': 3 }, { 'attentionDecode.splitWorkgroup': 12 }, { 'attentionDecode.kernel': 'rows' }];
  for (const flags of variants) {
    it(JSON.stringify(flags), async () => {
      for (const { B, H, Hkv, Tmax, D, past } of cases) {
        const q = rng.floats(B * H * D, -2, 2);
        const k = rng.floats(B * Hkv * Tmax * D, -2, 2);
        const v = rng.floats(B * Hkv * Tmax * D);
        const gq = fx.rt.upload(q, [B, H, 1, D]);
        const gk = fx.rt.upload(k, [B, Hkv, Tmax, D]);
        const gv = fx.rt.upload(v, [B, Hkv, Tmax, D]);
        const gp = fx.rt.upload(Int32Array.from(past), [B], 'i32');
        const tag = `${JSON.stringify(flags)} B${B} H${H}/${Hkv} D${D}`;
        for (const p of [gp, Math.min(past[1]!, Tmax - 1)] as const) {
          const hostPast = typeof p === 'number' ? p : past;
          const dec = await withFlags(flags, () => attentionDecode(fx.rt, gq, gk, gv, { past: p, scale: 0.4 }));
          const ref = attentionDecodeReference(cpuTensor(q, [B, H, 1, D]), cpuTensor(k, [B, Hkv, Tmax, D]), cpuTensor(v, [B, Hkv, Tmax, D]), { past: hostPast, scale: 0.4 });
          await fx.expectClose(dec.out, ref.out.data, { ...FWD_TOL, label: `${tag} past ${JSON.stringify(hostPast)} out` });
          await fx.expectClose(dec.lse, ref.lse.data, { ...FWD_TOL, label: `${tag} past ${JSON.stringify(hostPast)} lse` });
          for (const a of [dec.out, dec.lse]) a.dispose();
        }
        for (const a of [gq, gk, gv, gp]) a.dispose();
      }
    });
  }
  it('rejects an unknown kernel flag and split with more than one query row', async () => {
    const q2 = fx.rt.zeros([1, 1, 2, 16]);
    const cache = fx.rt.zeros([1, 1, 8, 16]);
    await withFlags({ 'attentionDecode.kernel': 'tiles' }, () => {
      expect(() => attentionDecode(fx.rt, q2, cache, cache, { past: 0 })).toThrow(/\[attentionDecode\] argument "attentionDecode.kernel": flag must be auto, rows or split/);
    });
    await withFlags({ 'attentionDecode.kernel': 'split' }, () => {
      expect(() => attentionDecode(fx.rt, q2, cache, cache, { past: 0 })).toThrow(/"split" takes one query row \(Tq = 1\), got Tq = 2/);
    });
    for (const a of [q2, cache]) a.dispose();
  });
});

describe('attention argument errors', () => {
  it('names the kernel, the argument and the expected shape', () => {
    const q = fx.rt.zeros([2, 3, 5, 16]);
    const kBad = fx.rt.zeros([2, 3, 6, 16]);
    const small = fx.rt.zeros([1, 1, 4, 8]);
    const big = fx.rt.zeros([1, 1, 4, 132]);
    const odd = fx.rt.zeros([1, 1, 4, 18]);
    const lengthsF = fx.rt.zeros([2]);
    const lengthsBad = fx.rt.zeros([3], 'i32');
    const lse = fx.rt.zeros([2, 3, 5]);
    const lseBad = fx.rt.zeros([2, 3, 4]);
    const cache = fx.rt.zeros([2, 3, 8, 16]);
    const rows = fx.rt.zeros([2, 3, 2, 16]);
    const rowsBad = fx.rt.zeros([2, 3, 2, 24]);
    expect(() => attention(fx.rt, q, kBad, q)).toThrow(ArgumentError);
    expect(() => attention(fx.rt, q, kBad, q)).toThrow(/\[attention\] argument "k": expected shape \[2, 3, 5, 16\], got \[2, 3, 6, 16\]/);
    expect(() => attention(fx.rt, q, q, kBad)).toThrow(/argument "v": expected shape \[2, 3, 5, 16\]/);
    expect(() => attention(fx.rt, small, small, small)).toThrow(/\[attention\] argument "q": head size D = 8 .* multiple of 4 in 16\.\.128/);
    expect(() => attention(fx.rt, big, big, big)).toThrow(/head size D = 132/);
    expect(() => attention(fx.rt, odd, odd, odd)).toThrow(/head size D = 18/);
    expect(() => attention(fx.rt, q, q, q, { lengths: lengthsF })).toThrow(/argument "lengths": expected dtype i32/);
    expect(() => attention(fx.rt, q, q, q, { lengths: lengthsBad })).toThrow(/argument "lengths": expected shape \[2\], got \[3\]/);
    expect(() => attention(fx.rt, q, q, q, { scale: NaN })).toThrow(/argument "scale"/);
    expect(() => attentionBackward(fx.rt, q, q, q, q, lseBad, q)).toThrow(/\[attentionBackward\] argument "lse": expected shape \[2, 3, 5\], got \[2, 3, 4\]/);
    expect(() => attentionBackward(fx.rt, q, q, q, kBad, lse, q)).toThrow(/argument "out": expected shape \[2, 3, 5, 16\]/);
    expect(() => attentionBackward(fx.rt, q, q, q, q, lse, kBad)).toThrow(/argument "dOut": expected shape \[2, 3, 5, 16\]/);
    expect(() => attentionDecode(fx.rt, rows, cache, kBad, { past: 3 })).toThrow(/\[attentionDecode\] argument "vCache": expected shape \[2, 3, 8, 16\]/);
    expect(() => attentionDecode(fx.rt, rows, rowsBad, cache, { past: 3 })).toThrow(/argument "kCache": expected shape \[2, 3, \*, 16\]/);
    expect(() => attentionDecode(fx.rt, rows, cache, cache, { past: 7 })).toThrow(/argument "past": .*past \+ Tq \(2\) ≤ Tmax \(8\), got 7/);
    expect(() => attentionDecode(fx.rt, rows, cache, cache, { past: lengthsBad })).toThrow(/argument "past": expected shape \[2\]/);
    expect(() => writeKvCache(fx.rt, cache, rowsBad, 0)).toThrow(/\[writeKvCache\] argument "rows": expected shape \[2, 3, \*, 16\]/);
    expect(() => writeKvCache(fx.rt, cache, rows, 7)).toThrow(/argument "position"/);
    expect(() => writeKvCache(fx.rt, cache, rows, -1)).toThrow(/argument "position"/);
    for (const a of [q, kBad, small, big, odd, lengthsF, lengthsBad, lse, lseBad, cache, rows, rowsBad]) a.dispose();
  });
});
