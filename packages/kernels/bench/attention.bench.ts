// Causal attention, forward + backward (out, lse, then dq, dk, dv for an upstream dOut), against
//  - 'unfused': the project's own kernels composed the textbook way, materialising the
//    [B·H, T, T] scores: qs = scale·q (elementwise affine), S = qs·kᵀ (matmul), S + causal mask
//    (elementwise add of a [T, T] 0/−∞ mask), P = softmax(S), out = P·v (matmul); backward:
//    matmulBackward(P, v, dOut) → dP, dv; softmaxBackward(P, dP) → dS; matmulBackward(qs, k, dS)
//    → dqs, dk; dq = scale·dqs;
//  - 'tfjs-webgpu': the same composition with tfjs ops on the same Dawn device (tf.matMul, add
//    mask, tf.softmax, tf.matMul). tfjs-core in Node carries no gradient registry, so the backward
//    is written out with tfjs ops (dP = dO·vᵀ, dv = Pᵀ·dO, dS = P∘(dP − rowsum(P∘dP)),
//    dq = scale·dS·k, dk = scale·dSᵀ·q); completion is awaited by reading one scalar (the sum of
//    the three gradients' sums), so no large readback is timed.
// The 'configs' cases time our forward and backward with other register tilings (rows per
// invocation × keys per step × workgroup size) and with the per-lane-loads fallback (the path
// for devices without subgroups) side by side with the default.
// The 'GQA' cases (issue 13) time grouped-query attention (k, v with Hkv < H heads, read in place;
// dk/dv summed over each group inside the dk/dv pass) against multi-head attention at the same H
// (Hkv = H, the same FLOPs): forward + backward, and decode of one token over a KV cache
// (tokens/s: one token per sequence per run, i.e. one layer of one decoding step).
//
// FLOP count (stated once, used for every case): the causal forward is two T×T×D products over
// half the (query, key) pairs, 2 · 2·B·H·T²·D / 2 = 2·B·H·T²·D; the backward is five such
// products (dP, dV, dQ, dK and the recomputed scores), 2.5× the forward. Forward + backward:
// 7·B·H·T²·D. The unfused composition and tfjs do about twice the products (they compute the
// masked upper triangle too), but are credited with the same useful work.
import {
  add,
  affine,
  attention,
  attentionBackward,
  attentionDecode,
  matmul,
  matmulBackward,
  softmax,
  softmaxBackward,
  withFlags,
  type GpuArray,
  type Runtime,
} from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';
import type { BenchCase, BenchContext, Runner } from './harness.js';

const flopsOf = (B: number, H: number, T: number, D: number) => 7 * B * H * T * T * D;

function causalMask(T: number): Float32Array {
  const m = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = -Infinity;
  return m;
}

/** Forward + backward of the unfused composition; returns every array it allocated. */
function unfusedForwardBackward(rt: Runtime, q: GpuArray, k: GpuArray, v: GpuArray, dOut: GpuArray, mask: GpuArray, scale: number): GpuArray[] {
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const s3 = [B * H, T, D];
  const [q3, k3, v3, g3] = [q, k, v, dOut].map((x) => x.reshape(s3)) as [GpuArray, GpuArray, GpuArray, GpuArray];
  const qs = affine(rt, q3, scale, 0);
  const scores = matmul(rt, qs, k3, { transposeB: true });
  const masked = add(rt, scores, mask);
  const p = softmax(rt, masked);
  const out = matmul(rt, p, v3);
  const { dA: dp, dB: dv } = matmulBackward(rt, p, v3, g3);
  const ds = softmaxBackward(rt, p, dp);
  const { dA: dqs, dB: dk } = matmulBackward(rt, qs, k3, ds, { transposeB: true });
  const dq = affine(rt, dqs, scale, 0);
  return [qs, scores, masked, p, out, dp, dv, ds, dqs, dk, dq];
}

function oursForwardBackward(rt: Runtime, q: GpuArray, k: GpuArray, v: GpuArray, dOut: GpuArray): GpuArray[] {
  const { out, lse } = attention(rt, q, k, v);
  const { dq, dk, dv } = attentionBackward(rt, q, k, v, out, lse, dOut);
  return [out, lse, dq, dk, dv];
}

export default async function attentionBench(ctx: BenchContext): Promise<BenchCase[]> {
  const { rt } = ctx;
  const shapes: [number, number, number, number][] = ctx.quick ? [[4, 4, 64, 32]] : [[4, 4, 256, 32], [4, 4, 1024, 32]];
  const cases: BenchCase[] = [];
  const rng = new SeededRandom(2024);
  const finish = async (arrays: GpuArray[]) => {
    for (const a of arrays) a.dispose();
    await rt.sync();
  };
  for (const [B, H, T, D] of shapes) {
    const n = B * H * T * D;
    const host = [rng.floats(n), rng.floats(n), rng.floats(n), rng.floats(n)] as const;
    const [q, k, v, dOut] = host.map((h) => rt.upload(h, [B, H, T, D])) as [GpuArray, GpuArray, GpuArray, GpuArray];
    const scale = 1 / Math.sqrt(D);
    const maskHost = causalMask(T);
    let mask: GpuArray | null = null;
    type Tf = Awaited<ReturnType<BenchContext['tfWebgpu']>>;
    type TfTensor = ReturnType<Tf['tensor']>;
    let tf: Tf | null = null;
    let tfIn: TfTensor[] = [];
    cases.push({
      name: `attention fwd+bwd B${B} H${H} T${T} D${D}`,
      params: { B, H, T, D, causal: true },
      work: flopsOf(B, H, T, D),
      unit: 'GFLOP/s',
      ours: () => finish(oursForwardBackward(rt, q, k, v, dOut)),
      peers: {
        unfused: {
          before: () => {
            mask = rt.upload(maskHost, [T, T]);
          },
          run: () => finish(unfusedForwardBackward(rt, q, k, v, dOut, mask!, scale)),
          after: () => {
            mask?.dispose();
            mask = null;
          },
        },
        'tfjs-webgpu': {
          before: async () => {
            tf = await ctx.tfWebgpu();
            const t = tf;
            tfIn = [...host.map((h) => t.tensor4d(h, [B, H, T, D])), t.tensor2d(maskHost, [T, T])];
          },
          run: async () => {
            const t = tf!;
            const [tq, tk, tv, tg, tm] = tfIn as [TfTensor, TfTensor, TfTensor, TfTensor, TfTensor];
            const probe = t.tidy(() => {
              const p = t.softmax(t.add(t.mul(t.matMul(tq, tk, false, true), scale), tm));
              const out = t.matMul(p, tv);
              const dp = t.matMul(tg, tv, false, true);
              const dv = t.matMul(p, tg, true, false);
              const ds = t.mul(p, t.sub(dp, t.sum(t.mul(p, dp), -1, true)));
              const dq = t.mul(t.matMul(ds, tk), scale);
              const dk = t.mul(t.matMul(ds, tq, true, false), scale);
              return t.addN([t.sum(out), t.sum(dq), t.sum(dk), t.sum(dv)]);
            });
            await probe.data();
            probe.dispose();
          },
          after: () => {
            tf?.dispose(tfIn);
            tfIn = [];
          },
        },
      },
      dispose: () => {
        for (const a of [q, k, v, dOut]) a.dispose();
      },
    });
  }

  // Grouped-query attention against multi-head attention at the same number of query heads.
  {
    const gqaShapes: [number, number, number, number, number][] = ctx.quick
      ? [[2, 8, 2, 64, 64]]
      : [[4, 8, 2, 256, 64], [4, 8, 1, 256, 64], [2, 16, 2, 256, 128]];
    for (const [B, H, Hkv, T, D] of gqaShapes) {
      const up = (heads: number, rows: number) => rt.upload(rng.floats(B * heads * rows * D), [B, heads, rows, D]);
      const [q, dOut] = [up(H, T), up(H, T)];
      const gqa = { k: up(Hkv, T), v: up(Hkv, T) };
      const mha = { k: up(H, T), v: up(H, T) };
      const fwdBwd = (kv: { k: GpuArray; v: GpuArray }): Runner => () => finish(oursForwardBackward(rt, q, kv.k, kv.v, dOut));
      cases.push({
        name: `attention GQA fwd+bwd B${B} H${H} Hkv${Hkv} T${T} D${D}`,
        params: { B, H, Hkv, T, D, causal: true },
        work: flopsOf(B, H, T, D),
        unit: 'GFLOP/s',
        ours: fwdBwd(gqa),
        peers: { [`MHA (Hkv = H = ${H})`]: fwdBwd(mha) },
        dispose: () => {
          for (const a of [q, dOut, gqa.k, gqa.v, mha.k, mha.v]) a.dispose();
        },
      });
      // Decode: one new query per sequence over a cache of Tmax = 4T positions, the last one.
      const Tmax = 4 * T;
      const q1 = up(H, 1);
      const cacheGqa = { k: up(Hkv, Tmax), v: up(Hkv, Tmax) };
      const cacheMha = { k: up(H, Tmax), v: up(H, Tmax) };
      const decode = (kv: { k: GpuArray; v: GpuArray }): Runner => async () => {
        const r = attentionDecode(rt, q1, kv.k, kv.v, { past: Tmax - 1 });
        await finish([r.out, r.lse]);
      };
      cases.push({
        name: `attention GQA decode B${B} H${H} Hkv${Hkv} Tmax${Tmax} D${D}`,
        params: { B, H, Hkv, Tmax, D, Tq: 1 },
        work: B,
        unit: 'tokens/s',
        ours: decode(cacheGqa),
        peers: { [`MHA (Hkv = H = ${H})`]: decode(cacheMha) },
        dispose: () => {
          for (const a of [q1, cacheGqa.k, cacheGqa.v, cacheMha.k, cacheMha.v]) a.dispose();
        },
      });
    }
  }

  // Register tilings side by side (forward and backward separately), at the first shape and at
  // the largest head size, to keep the measured reason for the defaults on record.
  if (!ctx.quick) {
    for (const [B, H, T, D] of [[4, 4, 256, 32], [4, 4, 256, 128]] as const) {
      const n = B * H * T * D;
      const [q, k, v, dOut] = [0, 1, 2, 3].map(() => rt.upload(rng.floats(n), [B, H, T, D])) as [GpuArray, GpuArray, GpuArray, GpuArray];
      const saved = attention(rt, q, k, v);
      const forward = (flags: Record<string, number | boolean>): Runner => () =>
        withFlags(flags, async () => {
          const r = attention(rt, q, k, v);
          await finish([r.out, r.lse]);
        });
      const backward = (flags: Record<string, number | boolean>): Runner => () =>
        withFlags(flags, async () => {
          const r = attentionBackward(rt, q, k, v, saved.out, saved.lse, dOut);
          await finish([r.dq, r.dk, r.dv]);
        });
      const fwdConfigs: [number, number, number][] = [[1, 8, 16], [2, 4, 16], [2, 8, 8], [4, 8, 8]];
      const bwdConfigs: [number, number, number][] = [[2, 8, 8], [4, 4, 8], [4, 8, 16], [8, 8, 8]];
      cases.push({
        name: `attention fwd configs T${T} D${D}`,
        params: { B, H, T, D, pass: 'forward' },
        work: (2 / 7) * flopsOf(B, H, T, D),
        unit: 'GFLOP/s',
        ours: forward({}),
        peers: {
          ...Object.fromEntries(
            fwdConfigs.map(([r, t, w]) => [`rows${r} keys${t} wg${w}`, forward({ 'attention.rows': r, 'attention.keyTile': t, 'attention.workgroup': w })]),
          ),
          'per-lane loads (no subgroups)': forward({ 'attention.subgroups': false }),
        },
      });
      cases.push({
        name: `attention bwd configs T${T} D${D}`,
        params: { B, H, T, D, pass: 'backward' },
        work: (5 / 7) * flopsOf(B, H, T, D),
        unit: 'GFLOP/s',
        ours: backward({}),
        peers: {
          ...Object.fromEntries(
            bwdConfigs.map(([r, t, w]) => [
              `rows${r} tile${t} wg${w}`,
              backward({ 'attentionBackward.rows': r, 'attentionBackward.tile': t, 'attentionBackward.workgroup': w }),
            ]),
          ),
          'per-lane loads (no subgroups)': backward({ 'attention.subgroups': false }),
        },
        dispose: () => {
          for (const a of [q, k, v, dOut, saved.out, saved.lse]) a.dispose();
        },
      });
    }
  }
  return cases;
}
