// Rotary position embedding (RoPE, Su et al. 2021), fused with splitting the attention heads out of
// the fused qkv projection: qkv [B, T, 3·H·D] → q, k, v [B, H, T, D] with q and k rotated, in one
// small WGSL kernel (and a float64 CPU version). As a composition this was a permute, three slices
// and ~7 ops of RoPE per tensor per layer; on a CPU implementation of WebGPU every dispatch costs,
// and generation pays them per layer per token. When decoding, the same kernel writes k and v
// straight into the KV cache at each sequence's position and returns only q.
//
// Convention: the "rotate half" pairing of GPT-NeoX / LLaMA (Hugging Face): for a head vector x of
// size D and j < D/2, the pair (x[j], x[j + D/2]) at position p is rotated by the angle p·θ_j,
// θ_j = base^(−2j/D):
//     y[j]       = x[j]·cos − x[j + D/2]·sin
//     y[j + D/2] = x[j + D/2]·cos + x[j]·sin
// A rotation is orthogonal, so its gradient is the rotation by −p·θ_j: the backward is the same
// mapping run in reverse with the sine negated. The cos/sin tables [maxPositions, D/2] are computed
// once in float64 (uploaded as float32 on the GPU), so both backends rotate by the same angles.
import type { GpuArray, KernelProgram } from '@repirl/kernels';
import type { Backend, Storage } from '../core/backend.js';
import type { Tensor } from '../core/tensor.js';
import { apply, isGradEnabled, type Primitive } from '../core/tape.js';
import { GpuBackend } from '../backends/gpu.js';
import type { CpuStorage } from '../backends/cpu.js';

/** cos and sin of p·θ_j for p < maxPositions and j < headDim/2, row-major [maxPositions, headDim/2], float64. */
export function ropeTables(maxPositions: number, headDim: number, base = 10000): { cos: Float64Array; sin: Float64Array } {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) throw new Error(`rope: head size must be a positive even integer, got ${headDim}`);
  if (!(base > 1)) throw new Error(`rope: base must be > 1, got ${base}`);
  const half = headDim / 2;
  const cos = new Float64Array(maxPositions * half);
  const sin = new Float64Array(maxPositions * half);
  for (let j = 0; j < half; j++) {
    const theta = Math.pow(base, (-2 * j) / headDim);
    for (let p = 0; p < maxPositions; p++) {
      cos[p * half + j] = Math.cos(p * theta);
      sin[p * half + j] = Math.sin(p * theta);
    }
  }
  return { cos, sin };
}

const WORKGROUP = 64;

/**
 * One invocation per (b, t, h, j < D/2): moves the pairs (j, j + D/2) of q, k and v between the
 * fused layout [B, T, 3, H, D] and the head layouts, rotating q and k.
 *   forward:  qkv → q, k, v       (k, v rows: `kvRows` per (b, h); row = t, or the position when
 *                                  writing into a cache of capacity kvRows)
 *   backward: dq, dk, dv → dqkv   (sign = −1: the inverse rotation)
 * Positions outside the tables give NaN (never a plausible value).
 */
function splitHeadsProgram(backward: boolean): KernelProgram {
  const rotate = (name: string, x1: string, x2: string) => `
    let ${name}1 = ${x1} * c - ${x2} * s;
    let ${name}2 = ${x2} * c + ${x1} * s;`;
  const body = backward
    ? /* wgsl */ `
  ${rotate('gq', 'dq[hq]', 'dq[hq + half]')}
  ${rotate('gk', 'dk[hk]', 'dk[hk + half]')}
  dqkv[f] = gq1; dqkv[f + half] = gq2;
  dqkv[f + hd] = gk1; dqkv[f + hd + half] = gk2;
  dqkv[f + 2u * hd] = dv[hk]; dqkv[f + 2u * hd + half] = dv[hk + half];`
    : /* wgsl */ `
  ${rotate('q', 'qkv[f]', 'qkv[f + half]')}
  ${rotate('k', 'qkv[f + hd]', 'qkv[f + hd + half]')}
  q[hq] = q1; q[hq + half] = q2;
  if (kvRow < params.kvRows) {
    k[hk] = k1; k[hk + half] = k2;
    v[hk] = qkv[f + 2u * hd]; v[hk + half] = qkv[f + 2u * hd + half];
  }`;
  return {
    name: backward ? 'split-heads-rope-backward' : 'split-heads-rope',
    variant: 'half',
    workgroupSize: [WORKGROUP],
    uniforms: [
      { name: 'pairs', type: 'u32' },
      { name: 'half', type: 'u32' },
      { name: 'heads', type: 'u32' },
      { name: 't', type: 'u32' },
      { name: 'maxPos', type: 'u32' },
      { name: 'kvRows', type: 'u32' },
      { name: 'toCache', type: 'u32' },
      { name: 'sign', type: 'f32' },
      { name: 'nan', type: 'f32' },
    ],
    bindings: backward
      ? [
          { name: 'dq', type: 'f32', access: 'read' },
          { name: 'dk', type: 'f32', access: 'read' },
          { name: 'dv', type: 'f32', access: 'read' },
          { name: 'offsets', type: 'i32', access: 'read' },
          { name: 'cosT', type: 'f32', access: 'read' },
          { name: 'sinT', type: 'f32', access: 'read' },
          { name: 'dqkv', type: 'f32', access: 'read_write' },
        ]
      : [
          { name: 'qkv', type: 'f32', access: 'read' },
          { name: 'offsets', type: 'i32', access: 'read' },
          { name: 'cosT', type: 'f32', access: 'read' },
          { name: 'sinT', type: 'f32', access: 'read' },
          { name: 'q', type: 'f32', access: 'read_write' },
          { name: 'k', type: 'f32', access: 'read_write' },
          { name: 'v', type: 'f32', access: 'read_write' },
        ],
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = grid_invocation(wid, nwg, lid);
  if (i >= params.pairs) { return; }
  let half = params.half;
  let j = i % half;
  let r = i / half;            // flat (b, t, h)
  let h = r % params.heads;
  let bt = r / params.heads;
  let t = bt % params.t;
  let b = bt / params.t;
  let hd = params.heads * 2u * half;
  let f = (bt * 3u * params.heads + h) * 2u * half + j;          // q element in [B, T, 3, H, D]
  let hq = ((b * params.heads + h) * params.t + t) * 2u * half + j; // [B, H, T, D]
  let pos = offsets[b] + i32(t);
  let kvRow = select(t, u32(max(pos, 0)), params.toCache == 1u);
  let hk = ((b * params.heads + h) * params.kvRows + kvRow) * 2u * half + j;
  var c = params.nan;
  var s = params.nan;
  if (pos >= 0 && u32(pos) < params.maxPos) {
    c = cosT[u32(pos) * half + j];
    s = params.sign * sinT[u32(pos) * half + j];
  }
${body}
}`,
  };
}
const forwardProgram = splitHeadsProgram(false);
const backwardProgram = splitHeadsProgram(true);

interface Dims {
  B: number;
  T: number;
  H: number;
  D: number;
}

/** Forward on either backend. With `cache`, k and v go into it (rows = capacity) and are not returned. */
function splitForward(backend: Backend, qkv: Storage, offsets: Storage, cos: Storage, sin: Storage, d: Dims, cache?: { k: Storage; v: Storage }): Storage[] {
  const { B, T, H, D } = d;
  const half = D / 2;
  const maxPos = backend.shapeOf(cos)[0]!;
  const kvRows = cache ? backend.shapeOf(cache.k)[2]! : T;
  if (backend instanceof GpuBackend) {
    const rt = backend.rt;
    const q = rt.empty([B, H, T, D]);
    const k = cache ? (cache.k as GpuArray) : rt.empty([B, H, T, D]);
    const v = cache ? (cache.v as GpuArray) : rt.empty([B, H, T, D]);
    const pairs = B * T * H * half;
    rt.dispatch(forwardProgram, {
      bindings: [qkv as GpuArray, offsets as GpuArray, cos as GpuArray, sin as GpuArray, q, k, v],
      uniforms: { pairs, half, heads: H, t: T, maxPos, kvRows, toCache: cache ? 1 : 0, sign: 1, nan: NaN },
      workgroups: rt.grid(Math.ceil(pairs / WORKGROUP)),
    });
    return cache ? [q] : [q, k, v];
  }
  const x = (qkv as CpuStorage).data;
  const q = new Float64Array(B * H * T * D);
  const k = cache ? (cache.k as CpuStorage).data : new Float64Array(B * H * T * D);
  const v = cache ? (cache.v as CpuStorage).data : new Float64Array(B * H * T * D);
  forEachPair(d, offsets, cos, sin, 1, (f, hq, pos, t, b, h, c, s) => {
    const hd = H * D;
    q[hq] = x[f]! * c - x[f + half]! * s;
    q[hq + half] = x[f + half]! * c + x[f]! * s;
    const row = cache ? pos : t;
    if (row < 0 || row >= kvRows) return; // past the cache's capacity: dropped, as on the GPU
    const hk = ((b * H + h) * kvRows + row) * D + (hq % D);
    k[hk] = x[f + hd]! * c - x[f + hd + half]! * s;
    k[hk + half] = x[f + hd + half]! * c + x[f + hd]! * s;
    v[hk] = x[f + 2 * hd]!;
    v[hk + half] = x[f + 2 * hd + half]!;
  });
  const out = (data: Float64Array): CpuStorage => ({ shape: [B, H, T, D], data, dtype: 'f32' });
  return cache ? [out(q)] : [out(q), out(k), out(v)];
}

/** The CPU loop over (b, t, h, j): f indexes the fused layout, hq the head layout [B, H, T, D]. */
function forEachPair(
  d: Dims,
  offsets: Storage,
  cos: Storage,
  sin: Storage,
  sign: 1 | -1,
  visit: (f: number, hq: number, pos: number, t: number, b: number, h: number, c: number, s: number) => void,
): void {
  const { B, T, H, D } = d;
  const half = D / 2;
  const off = (offsets as CpuStorage).data;
  const cs = (cos as CpuStorage).data;
  const sn = (sin as CpuStorage).data;
  const maxPos = (cos as CpuStorage).shape[0]!;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const pos = off[b]! + t;
      const inside = pos >= 0 && pos < maxPos;
      for (let h = 0; h < H; h++) {
        for (let j = 0; j < half; j++) {
          const f = ((b * T + t) * 3 * H + h) * D + j;
          const hq = ((b * H + h) * T + t) * D + j;
          const c = inside ? cs[pos * half + j]! : NaN;
          const s = inside ? sign * sn[pos * half + j]! : NaN;
          visit(f, hq, pos, t, b, h, c, s);
        }
      }
    }
  }
}

function splitBackward(backend: Backend, dq: Storage, dk: Storage, dv: Storage, offsets: Storage, cos: Storage, sin: Storage, d: Dims): Storage {
  const { B, T, H, D } = d;
  const half = D / 2;
  if (backend instanceof GpuBackend) {
    const rt = backend.rt;
    const dqkv = rt.empty([B, T, 3 * H * D]);
    const pairs = B * T * H * half;
    rt.dispatch(backwardProgram, {
      bindings: [dq as GpuArray, dk as GpuArray, dv as GpuArray, offsets as GpuArray, cos as GpuArray, sin as GpuArray, dqkv],
      uniforms: { pairs, half, heads: H, t: T, maxPos: (cos as GpuArray).shape[0]!, kvRows: T, toCache: 0, sign: -1, nan: NaN },
      workgroups: rt.grid(Math.ceil(pairs / WORKGROUP)),
    });
    return dqkv;
  }
  const [gq, gk, gv] = [dq, dk, dv].map((s) => (s as CpuStorage).data) as [Float64Array, Float64Array, Float64Array];
  const out = new Float64Array(B * T * 3 * H * D);
  const hd = H * D;
  forEachPair(d, offsets, cos, sin, -1, (f, hq, _pos, _t, _b, _h, c, s) => {
    out[f] = gq[hq]! * c - gq[hq + half]! * s;
    out[f + half] = gq[hq + half]! * c + gq[hq]! * s;
    out[f + hd] = gk[hq]! * c - gk[hq + half]! * s;
    out[f + hd + half] = gk[hq + half]! * c + gk[hq]! * s;
    out[f + 2 * hd] = gv[hq]!;
    out[f + 2 * hd + half] = gv[hq + half]!;
  });
  return { shape: [B, T, 3 * H * D], data: out, dtype: 'f32' } satisfies CpuStorage;
}

const dimsOf = (qkv: Tensor, heads: number): Dims => {
  const [B, T, F] = qkv.shape as [number, number, number];
  return { B, T, H: heads, D: F / (3 * heads) };
};

const splitHeadsPrim: Primitive<{ heads: number }> = {
  name: 'splitHeadsRope',
  forward: (b, [qkv, offsets, cos, sin], a) => ({ outputs: splitForward(b, qkv!.storage, offsets!.storage, cos!.storage, sin!.storage, dimsOf(qkv!, a.heads)) }),
  backward: (ctx, grads) => {
    const [qkv, offsets, cos, sin] = ctx.inputs;
    const d = dimsOf(qkv!, ctx.attrs.heads);
    const b = ctx.backend;
    // An output that received no gradient contributes zeros.
    const zeros: Storage[] = [];
    const orZeros = (g: Storage | null | undefined): Storage => {
      if (g) return g;
      const z = b.fill([d.B, d.H, d.T, d.D], 0);
      zeros.push(z);
      return z;
    };
    const dqkv = splitBackward(b, orZeros(grads[0]), orZeros(grads[1]), orZeros(grads[2]), offsets!.storage, cos!.storage, sin!.storage, d);
    for (const z of zeros) b.dispose(z);
    return [dqkv, null, null, null];
  },
};

/** Inference-only variant writing k and v into a cache; its only output is q. */
const splitHeadsToCachePrim: Primitive<{ heads: number; cache: { k: Storage; v: Storage } }> = {
  name: 'splitHeadsRopeToCache',
  forward: (b, [qkv, offsets, cos, sin], a) => ({ outputs: splitForward(b, qkv!.storage, offsets!.storage, cos!.storage, sin!.storage, dimsOf(qkv!, a.heads), a.cache) }),
};

function checkInputs(qkv: Tensor, offsets: Tensor, cos: Tensor, sin: Tensor, heads: number): Dims {
  if (qkv.rank !== 3 || qkv.shape[2]! % (6 * heads) !== 0) {
    throw new Error(`splitHeads: qkv must be [B, T, 3·heads·D] with D even (heads = ${heads}), got [${qkv.shape.join(', ')}]`);
  }
  const d = dimsOf(qkv, heads);
  if (offsets.dtype !== 'i32' || offsets.rank !== 1 || offsets.shape[0] !== d.B) {
    throw new Error(`splitHeads: offsets must be i32 [${d.B}], got ${offsets.dtype} [${offsets.shape.join(', ')}]`);
  }
  for (const [name, t] of [['cos', cos], ['sin', sin]] as const) {
    if (t.rank !== 2 || t.shape[1] !== d.D / 2) throw new Error(`splitHeads: ${name} must be [maxPositions, ${d.D / 2}], got [${t.shape.join(', ')}]`);
  }
  return d;
}

/**
 * qkv [B, T, 3·H·D] (the fused projection: q, k, v blocks of H heads each) → q, k, v [B, H, T, D],
 * q and k rotated by RoPE; token t of sequence b sits at position offsets[b] + t (offsets i32 [B]:
 * zeros for a training batch). cos and sin are the ropeTables() [maxPositions, D/2].
 */
export function splitHeads(qkv: Tensor, offsets: Tensor, cos: Tensor, sin: Tensor, heads: number): { q: Tensor; k: Tensor; v: Tensor } {
  checkInputs(qkv, offsets, cos, sin, heads);
  const [q, k, v] = apply(splitHeadsPrim, [qkv, offsets, cos, sin], { heads });
  return { q: q!, k: k!, v: v! };
}

/**
 * Decoding: like splitHeads, but k and v are written in place into the caches kCache, vCache
 * [B, H, capacity, D] at rows offsets[b] + t (rows at or past the capacity are dropped). Returns the
 * rotated q. No gradient: call it under noGrad().
 */
export function splitHeadsIntoCache(qkv: Tensor, offsets: Tensor, cos: Tensor, sin: Tensor, heads: number, kCache: Tensor, vCache: Tensor): Tensor {
  const d = checkInputs(qkv, offsets, cos, sin, heads);
  if (isGradEnabled() && qkv.requiresGrad) throw new Error('splitHeadsIntoCache: writing a KV cache has no gradient; run generation under noGrad()');
  for (const [name, c] of [['kCache', kCache], ['vCache', vCache]] as const) {
    if (c.rank !== 4 || c.shape[0] !== d.B || c.shape[1] !== d.H || c.shape[3] !== d.D) {
      throw new Error(`splitHeadsIntoCache: ${name} must be [${d.B}, ${d.H}, capacity, ${d.D}], got [${c.shape.join(', ')}]`);
    }
  }
  const [q] = apply(splitHeadsToCachePrim, [qkv, offsets, cos, sin], { heads, cache: { k: kCache.storage, v: vCache.storage } });
  return q!;
}
