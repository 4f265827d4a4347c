// Rotary position embedding (RoPE, Su et al. 2021), fused with splitting the attention heads out of
// the fused qkv projection: qkv [B, T, (H + 2·Hkv)·D] → q [B, H, T, D], k, v [B, Hkv, T, D] with q
// and k rotated, in one small WGSL kernel (and a float64 CPU version). Hkv < H is grouped-query
// attention (the kv blocks hold Hkv heads each; Hkv = H is multi-head, the layout [B, T, 3, H, D]). As a composition this was a permute, three slices
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
// Rope scaling (Hugging Face's `rope_scaling`: 'linear', 'llama3') changes only the inverse
// frequencies θ_j (ropeInverseFrequencies), never the layout.
//
// Models that normalise q and k per head before RoPE (Qwen3's q_norm/k_norm) split without
// rotating (`rotate: false`), normalise, then rotate with ropeHeads, the same rotation on a tensor
// already in the head layout [B, heads, T, D].
import type { GpuArray, KernelProgram } from '@repirl/kernels';
import type { Backend, Storage } from '../core/backend.js';
import type { Tensor } from '../core/tensor.js';
import { apply, apply1, isGradEnabled, type Primitive } from '../core/tape.js';
import { GpuBackend } from '../backends/gpu.js';
import type { CpuStorage } from '../backends/cpu.js';

/**
 * Rope scaling of the inverse frequencies, as Hugging Face's `rope_scaling` means it:
 *  - linear: θ_j / factor (position interpolation);
 *  - llama3 (Llama 3.1): with wavelength λ_j = 2π/θ_j, λ < originalMaxPositions/highFreqFactor keeps
 *    θ_j, λ > originalMaxPositions/lowFreqFactor gives θ_j/factor, and in between
 *    s = (originalMaxPositions/λ − lowFreqFactor)/(highFreqFactor − lowFreqFactor),
 *    θ = (1 − s)·θ_j/factor + s·θ_j.
 */
export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };

/** θ_j = base^(−2j/D) for j < D/2, then rope scaling; float64. */
export function ropeInverseFrequencies(headDim: number, base = 10000, scaling: RopeScaling | null = null): Float64Array {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) throw new Error(`rope: head size must be a positive even integer, got ${headDim}`);
  if (!(base > 1)) throw new Error(`rope: base must be > 1, got ${base}`);
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let j = 0; j < half; j++) inv[j] = Math.pow(base, (-2 * j) / headDim);
  if (scaling === null) return inv;
  const { factor } = scaling;
  if (!(factor > 0)) throw new Error(`rope: scaling factor must be > 0, got ${factor}`);
  if (scaling.type === 'linear') return inv.map((f) => f / factor);
  if (scaling.type === 'llama3') {
    const { lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: original } = scaling;
    if (!(low > 0) || !(high > low) || !(original > 0)) {
      throw new Error(`rope: llama3 scaling needs 0 < lowFreqFactor < highFreqFactor and originalMaxPositions > 0, got ${low}, ${high}, ${original}`);
    }
    return inv.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < original / high) return f;
      if (wavelen > original / low) return f / factor;
      const s = (original / wavelen - low) / (high - low);
      return ((1 - s) * f) / factor + s * f;
    });
  }
  throw new Error(`rope: unknown scaling type ${JSON.stringify((scaling as { type: unknown }).type)}`);
}

/**
 * cos and sin of p·θ_j for p < maxPositions and j < headDim/2, row-major [maxPositions, headDim/2],
 * float64 (θ_j from ropeInverseFrequencies; without scaling, exactly the tables of before scaling existed).
 */
export function ropeTables(maxPositions: number, headDim: number, base = 10000, scaling: RopeScaling | null = null): { cos: Float64Array; sin: Float64Array } {
  const inv = ropeInverseFrequencies(headDim, base, scaling);
  const half = headDim / 2;
  const cos = new Float64Array(maxPositions * half);
  const sin = new Float64Array(maxPositions * half);
  for (let j = 0; j < half; j++) {
    const theta = inv[j]!;
    for (let p = 0; p < maxPositions; p++) {
      cos[p * half + j] = Math.cos(p * theta);
      sin[p * half + j] = Math.sin(p * theta);
    }
  }
  return { cos, sin };
}

const WORKGROUP = 64;

/**
 * One invocation per (b, t, h < H, j < D/2): moves the pairs (j, j + D/2) of q (and, for h < Hkv, of
 * k and v) between the fused layout [B, T, (H + 2·Hkv)·D] and the head layouts, rotating q and k
 * (`rotate` = 0: copy without rotating).
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
  dqkv[fq] = gq1; dqkv[fq + half] = gq2;
  if (h < params.kvHeads) {
    ${rotate('gk', 'dk[hk]', 'dk[hk + half]')}
    dqkv[fk] = gk1; dqkv[fk + half] = gk2;
    dqkv[fv] = dv[hk]; dqkv[fv + half] = dv[hk + half];
  }`
    : /* wgsl */ `
  ${rotate('q', 'qkv[fq]', 'qkv[fq + half]')}
  q[hq] = q1; q[hq + half] = q2;
  if (h < params.kvHeads && kvRow < params.kvRows) {
    ${rotate('k', 'qkv[fk]', 'qkv[fk + half]')}
    k[hk] = k1; k[hk + half] = k2;
    v[hk] = qkv[fv]; v[hk + half] = qkv[fv + half];
  }`;
  return {
    name: backward ? 'split-heads-rope-backward' : 'split-heads-rope',
    variant: 'half',
    workgroupSize: [WORKGROUP],
    uniforms: [
      { name: 'pairs', type: 'u32' },
      { name: 'half', type: 'u32' },
      { name: 'heads', type: 'u32' },
      { name: 'kvHeads', type: 'u32' },
      { name: 't', type: 'u32' },
      { name: 'maxPos', type: 'u32' },
      { name: 'kvRows', type: 'u32' },
      { name: 'toCache', type: 'u32' },
      { name: 'rotate', type: 'u32' },
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
  let d = 2u * half;
  let j = i % half;
  let r = i / half;            // flat (b, t, h)
  let h = r % params.heads;
  let bt = r / params.heads;
  let t = bt % params.t;
  let b = bt / params.t;
  let row = bt * (params.heads + 2u * params.kvHeads) * d;           // (b, t) in [B, T, (H + 2·Hkv)·D]
  let fq = row + h * d + j;
  let fk = row + (params.heads + h) * d + j;
  let fv = row + (params.heads + params.kvHeads + h) * d + j;
  let hq = ((b * params.heads + h) * params.t + t) * d + j;          // [B, H, T, D]
  let pos = offsets[b] + i32(t);
  let kvRow = select(t, u32(max(pos, 0)), params.toCache == 1u);
  let hk = ((b * params.kvHeads + h) * params.kvRows + kvRow) * d + j; // [B, Hkv, rows, D]
  var c = params.nan;
  var s = params.nan;
  if (params.rotate == 0u) {
    c = 1.0;
    s = 0.0;
  } else if (pos >= 0 && u32(pos) < params.maxPos) {
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
  /** Key/value heads (= H without grouped-query attention). */
  Hkv: number;
  D: number;
  /** Rotate q and k (false: split only). */
  rotate: boolean;
}

/** cos/sin of position pos at frequency j on the CPU (NaN outside the tables; 1, 0 when not rotating). */
function cpuAngles(cos: Storage, sin: Storage, rotate: boolean, sign: 1 | -1): (pos: number, j: number) => [number, number] {
  const cs = (cos as CpuStorage).data;
  const sn = (sin as CpuStorage).data;
  const [maxPos, half] = (cos as CpuStorage).shape as [number, number];
  return (pos, j) => {
    if (!rotate) return [1, 0];
    if (pos < 0 || pos >= maxPos) return [NaN, NaN];
    return [cs[pos * half + j]!, sign * sn[pos * half + j]!];
  };
}

/** Forward on either backend. With `cache`, k and v go into it (rows = capacity) and are not returned. */
function splitForward(backend: Backend, qkv: Storage, offsets: Storage, cos: Storage, sin: Storage, d: Dims, cache?: { k: Storage; v: Storage }): Storage[] {
  const { B, T, H, Hkv, D } = d;
  const half = D / 2;
  const maxPos = backend.shapeOf(cos)[0]!;
  const kvRows = cache ? backend.shapeOf(cache.k)[2]! : T;
  if (backend instanceof GpuBackend) {
    const rt = backend.rt;
    const q = rt.empty([B, H, T, D]);
    const k = cache ? (cache.k as GpuArray) : rt.empty([B, Hkv, T, D]);
    const v = cache ? (cache.v as GpuArray) : rt.empty([B, Hkv, T, D]);
    const pairs = B * T * H * half;
    rt.dispatch(forwardProgram, {
      bindings: [qkv as GpuArray, offsets as GpuArray, cos as GpuArray, sin as GpuArray, q, k, v],
      uniforms: { pairs, half, heads: H, kvHeads: Hkv, t: T, maxPos, kvRows, toCache: cache ? 1 : 0, rotate: d.rotate ? 1 : 0, sign: 1, nan: NaN },
      workgroups: rt.grid(Math.ceil(pairs / WORKGROUP)),
    });
    return cache ? [q] : [q, k, v];
  }
  const x = (qkv as CpuStorage).data;
  const off = (offsets as CpuStorage).data;
  const angle = cpuAngles(cos, sin, d.rotate, 1);
  const q = new Float64Array(B * H * T * D);
  const k = cache ? (cache.k as CpuStorage).data : new Float64Array(B * Hkv * T * D);
  const v = cache ? (cache.v as CpuStorage).data : new Float64Array(B * Hkv * T * D);
  const W = (H + 2 * Hkv) * D;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const pos = off[b]! + t;
      const row = cache ? pos : t;
      for (let h = 0; h < H; h++) {
        for (let j = 0; j < half; j++) {
          const [c, s] = angle(pos, j);
          const fq = (b * T + t) * W + h * D + j;
          const hq = ((b * H + h) * T + t) * D + j;
          q[hq] = x[fq]! * c - x[fq + half]! * s;
          q[hq + half] = x[fq + half]! * c + x[fq]! * s;
          if (h >= Hkv || row < 0 || row >= kvRows) continue; // past the cache's capacity: dropped, as on the GPU
          const fk = (b * T + t) * W + (H + h) * D + j;
          const fv = (b * T + t) * W + (H + Hkv + h) * D + j;
          const hk = ((b * Hkv + h) * kvRows + row) * D + j;
          k[hk] = x[fk]! * c - x[fk + half]! * s;
          k[hk + half] = x[fk + half]! * c + x[fk]! * s;
          v[hk] = x[fv]!;
          v[hk + half] = x[fv + half]!;
        }
      }
    }
  }
  const out = (data: Float64Array, heads: number): CpuStorage => ({ shape: [B, heads, T, D], data, dtype: 'f32' });
  return cache ? [out(q, H)] : [out(q, H), out(k, Hkv), out(v, Hkv)];
}

function splitBackward(backend: Backend, dq: Storage, dk: Storage, dv: Storage, offsets: Storage, cos: Storage, sin: Storage, d: Dims): Storage {
  const { B, T, H, Hkv, D } = d;
  const half = D / 2;
  const W = (H + 2 * Hkv) * D;
  if (backend instanceof GpuBackend) {
    const rt = backend.rt;
    const dqkv = rt.empty([B, T, W]);
    const pairs = B * T * H * half;
    rt.dispatch(backwardProgram, {
      bindings: [dq as GpuArray, dk as GpuArray, dv as GpuArray, offsets as GpuArray, cos as GpuArray, sin as GpuArray, dqkv],
      uniforms: { pairs, half, heads: H, kvHeads: Hkv, t: T, maxPos: (cos as GpuArray).shape[0]!, kvRows: T, toCache: 0, rotate: d.rotate ? 1 : 0, sign: -1, nan: NaN },
      workgroups: rt.grid(Math.ceil(pairs / WORKGROUP)),
    });
    return dqkv;
  }
  const [gq, gk, gv] = [dq, dk, dv].map((s) => (s as CpuStorage).data) as [Float64Array, Float64Array, Float64Array];
  const off = (offsets as CpuStorage).data;
  const angle = cpuAngles(cos, sin, d.rotate, -1);
  const out = new Float64Array(B * T * W);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const pos = off[b]! + t;
      for (let h = 0; h < H; h++) {
        for (let j = 0; j < half; j++) {
          const [c, s] = angle(pos, j);
          const fq = (b * T + t) * W + h * D + j;
          const hq = ((b * H + h) * T + t) * D + j;
          out[fq] = gq[hq]! * c - gq[hq + half]! * s;
          out[fq + half] = gq[hq + half]! * c + gq[hq]! * s;
          if (h >= Hkv) continue;
          const fk = (b * T + t) * W + (H + h) * D + j;
          const fv = (b * T + t) * W + (H + Hkv + h) * D + j;
          const hk = ((b * Hkv + h) * T + t) * D + j;
          out[fk] = gk[hk]! * c - gk[hk + half]! * s;
          out[fk + half] = gk[hk + half]! * c + gk[hk]! * s;
          out[fv] = gv[hk]!;
          out[fv + half] = gv[hk + half]!;
        }
      }
    }
  }
  return { shape: [B, T, W], data: out, dtype: 'f32' } satisfies CpuStorage;
}

interface SplitAttrs {
  heads: number;
  kvHeads: number;
  rotate: boolean;
}

const dimsOf = (qkv: Tensor, a: SplitAttrs): Dims => {
  const [B, T, F] = qkv.shape as [number, number, number];
  return { B, T, H: a.heads, Hkv: a.kvHeads, D: F / (a.heads + 2 * a.kvHeads), rotate: a.rotate };
};

const splitHeadsPrim: Primitive<SplitAttrs> = {
  name: 'splitHeadsRope',
  forward: (b, [qkv, offsets, cos, sin], a) => ({ outputs: splitForward(b, qkv!.storage, offsets!.storage, cos!.storage, sin!.storage, dimsOf(qkv!, a)) }),
  backward: (ctx, grads) => {
    const [qkv, offsets, cos, sin] = ctx.inputs;
    const d = dimsOf(qkv!, ctx.attrs);
    const b = ctx.backend;
    // An output that received no gradient contributes zeros.
    const zeros: Storage[] = [];
    const orZeros = (g: Storage | null | undefined, heads: number): Storage => {
      if (g) return g;
      const z = b.fill([d.B, heads, d.T, d.D], 0);
      zeros.push(z);
      return z;
    };
    const dqkv = splitBackward(b, orZeros(grads[0], d.H), orZeros(grads[1], d.Hkv), orZeros(grads[2], d.Hkv), offsets!.storage, cos!.storage, sin!.storage, d);
    for (const z of zeros) b.dispose(z);
    return [dqkv, null, null, null];
  },
};

/** Inference-only variant writing k and v into a cache; its only output is q. */
const splitHeadsToCachePrim: Primitive<SplitAttrs & { cache: { k: Storage; v: Storage } }> = {
  name: 'splitHeadsRopeToCache',
  forward: (b, [qkv, offsets, cos, sin], a) => ({ outputs: splitForward(b, qkv!.storage, offsets!.storage, cos!.storage, sin!.storage, dimsOf(qkv!, a), a.cache) }),
};

export interface SplitHeadsOptions {
  /** Key/value heads Hkv (dividing heads): grouped-query attention. Default: heads. */
  kvHeads?: number;
  /** Rotate q and k (default true); false only splits (to normalise q, k first, then ropeHeads). */
  rotate?: boolean;
}

function checkInputs(where: string, qkv: Tensor, offsets: Tensor, cos: Tensor, sin: Tensor, heads: number, options: SplitHeadsOptions): SplitAttrs & { D: number; B: number } {
  const kvHeads = options.kvHeads ?? heads;
  if (!Number.isInteger(heads) || heads < 1 || !Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads !== 0) {
    throw new Error(`${where}: kvHeads (${kvHeads}) must be a positive integer dividing heads (${heads})`);
  }
  const width = heads + 2 * kvHeads;
  if (qkv.rank !== 3 || qkv.shape[2]! % (2 * width) !== 0) {
    throw new Error(`${where}: qkv must be [B, T, (heads + 2·kvHeads)·D] with D even (heads = ${heads}, kvHeads = ${kvHeads}), got [${qkv.shape.join(', ')}]`);
  }
  const B = qkv.shape[0]!;
  const D = qkv.shape[2]! / width;
  if (offsets.dtype !== 'i32' || offsets.rank !== 1 || offsets.shape[0] !== B) {
    throw new Error(`${where}: offsets must be i32 [${B}], got ${offsets.dtype} [${offsets.shape.join(', ')}]`);
  }
  for (const [name, t] of [['cos', cos], ['sin', sin]] as const) {
    if (t.rank !== 2 || t.shape[1] !== D / 2) throw new Error(`${where}: ${name} must be [maxPositions, ${D / 2}], got [${t.shape.join(', ')}]`);
  }
  return { heads, kvHeads, rotate: options.rotate ?? true, D, B };
}

/**
 * qkv [B, T, (H + 2·Hkv)·D] (the fused projection: a q block of H heads, then k and v blocks of Hkv
 * heads each) → q [B, H, T, D], k, v [B, Hkv, T, D], q and k rotated by RoPE; token t of sequence
 * b sits at position offsets[b] + t (offsets i32 [B]: zeros for a training batch). cos and sin are
 * the ropeTables() [maxPositions, D/2].
 */
export function splitHeads(qkv: Tensor, offsets: Tensor, cos: Tensor, sin: Tensor, heads: number, options: SplitHeadsOptions = {}): { q: Tensor; k: Tensor; v: Tensor } {
  const { D: _D, B: _B, ...attrs } = checkInputs('splitHeads', qkv, offsets, cos, sin, heads, options);
  const [q, k, v] = apply(splitHeadsPrim, [qkv, offsets, cos, sin], attrs);
  return { q: q!, k: k!, v: v! };
}

/**
 * Decoding: like splitHeads, but k and v are written in place into the caches kCache, vCache
 * [B, Hkv, capacity, D] (Hkv = the caches' head count) at rows offsets[b] + t (rows at or past the
 * capacity are dropped). Returns the rotated q. No gradient: call it under noGrad().
 */
export function splitHeadsIntoCache(qkv: Tensor, offsets: Tensor, cos: Tensor, sin: Tensor, heads: number, kCache: Tensor, vCache: Tensor): Tensor {
  const kvHeads = kCache.rank === 4 ? kCache.shape[1]! : heads;
  const { D, B, ...attrs } = checkInputs('splitHeadsIntoCache', qkv, offsets, cos, sin, heads, { kvHeads });
  if (isGradEnabled() && qkv.requiresGrad) throw new Error('splitHeadsIntoCache: writing a KV cache has no gradient; run generation under noGrad()');
  for (const [name, c] of [['kCache', kCache], ['vCache', vCache]] as const) {
    if (c.rank !== 4 || c.shape[0] !== B || c.shape[1] !== kvHeads || c.shape[3] !== D) {
      throw new Error(`splitHeadsIntoCache: ${name} must be [${B}, ${kvHeads}, capacity, ${D}], got [${c.shape.join(', ')}]`);
    }
  }
  const [q] = apply(splitHeadsToCachePrim, [qkv, offsets, cos, sin], { ...attrs, cache: { k: kCache.storage, v: vCache.storage } });
  return q!;
}

// ─────────────── RoPE on a tensor already in the head layout [B, heads, T, D] ───────────────

/** One invocation per (b, h, t, j < D/2): y = rotation of the pair (j, j + D/2) of x (sign −1: inverse). */
const ropeHeadsProgram: KernelProgram = {
  name: 'rope-heads',
  variant: 'half',
  workgroupSize: [WORKGROUP],
  uniforms: [
    { name: 'pairs', type: 'u32' },
    { name: 'half', type: 'u32' },
    { name: 'heads', type: 'u32' },
    { name: 't', type: 'u32' },
    { name: 'maxPos', type: 'u32' },
    { name: 'sign', type: 'f32' },
    { name: 'nan', type: 'f32' },
  ],
  bindings: [
    { name: 'x', type: 'f32', access: 'read' },
    { name: 'offsets', type: 'i32', access: 'read' },
    { name: 'cosT', type: 'f32', access: 'read' },
    { name: 'sinT', type: 'f32', access: 'read' },
    { name: 'y', type: 'f32', access: 'read_write' },
  ],
  code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = grid_invocation(wid, nwg, lid);
  if (i >= params.pairs) { return; }
  let half = params.half;
  let j = i % half;
  let r = i / half;            // flat (b, h, t)
  let t = r % params.t;
  let b = r / (params.t * params.heads);
  let e = r * 2u * half + j;
  let pos = offsets[b] + i32(t);
  var c = params.nan;
  var s = params.nan;
  if (pos >= 0 && u32(pos) < params.maxPos) {
    c = cosT[u32(pos) * half + j];
    s = params.sign * sinT[u32(pos) * half + j];
  }
  let x1 = x[e];
  let x2 = x[e + half];
  y[e] = x1 * c - x2 * s;
  y[e + half] = x2 * c + x1 * s;
}`,
};

function ropeHeadsRun(backend: Backend, x: Storage, offsets: Storage, cos: Storage, sin: Storage, sign: 1 | -1): Storage {
  const [B, H, T, D] = backend.shapeOf(x) as [number, number, number, number];
  const half = D / 2;
  if (backend instanceof GpuBackend) {
    const rt = backend.rt;
    const y = rt.empty([B, H, T, D]);
    const pairs = B * H * T * half;
    rt.dispatch(ropeHeadsProgram, {
      bindings: [x as GpuArray, offsets as GpuArray, cos as GpuArray, sin as GpuArray, y],
      uniforms: { pairs, half, heads: H, t: T, maxPos: (cos as GpuArray).shape[0]!, sign, nan: NaN },
      workgroups: rt.grid(Math.ceil(pairs / WORKGROUP)),
    });
    return y;
  }
  const src = (x as CpuStorage).data;
  const off = (offsets as CpuStorage).data;
  const angle = cpuAngles(cos, sin, true, sign);
  const y = new Float64Array(src.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const pos = off[b]! + t;
        for (let j = 0; j < half; j++) {
          const [c, s] = angle(pos, j);
          const e = ((b * H + h) * T + t) * D + j;
          y[e] = src[e]! * c - src[e + half]! * s;
          y[e + half] = src[e + half]! * c + src[e]! * s;
        }
      }
    }
  }
  return { shape: [B, H, T, D], data: y, dtype: 'f32' } satisfies CpuStorage;
}

const ropeHeadsPrim: Primitive<undefined> = {
  name: 'ropeHeads',
  forward: (b, [x, offsets, cos, sin]) => ({ outputs: [ropeHeadsRun(b, x!.storage, offsets!.storage, cos!.storage, sin!.storage, 1)] }),
  backward: (ctx, [dy]) => {
    const [, offsets, cos, sin] = ctx.inputs;
    return [ropeHeadsRun(ctx.backend, dy!, offsets!.storage, cos!.storage, sin!.storage, -1), null, null, null];
  },
};

/**
 * RoPE on x [B, heads, T, D] (any head count): the pair (j, j + D/2) of token t of sequence b
 * rotated by the angle (offsets[b] + t)·θ_j, the rotation splitHeads fuses. For models that
 * normalise q and k per head between the split and the rotation (Qwen3).
 */
export function ropeHeads(x: Tensor, offsets: Tensor, cos: Tensor, sin: Tensor): Tensor {
  if (x.rank !== 4 || x.shape[3]! % 2 !== 0) throw new Error(`ropeHeads: x must be [B, heads, T, D] with D even, got [${x.shape.join(', ')}]`);
  const [B, , , D] = x.shape as [number, number, number, number];
  if (offsets.dtype !== 'i32' || offsets.rank !== 1 || offsets.shape[0] !== B) throw new Error(`ropeHeads: offsets must be i32 [${B}], got ${offsets.dtype} [${offsets.shape.join(', ')}]`);
  for (const [name, t] of [['cos', cos], ['sin', sin]] as const) {
    if (t.rank !== 2 || t.shape[1] !== D / 2) throw new Error(`ropeHeads: ${name} must be [maxPositions, ${D / 2}], got [${t.shape.join(', ')}]`);
  }
  return apply1(ropeHeadsPrim, [x, offsets, cos, sin], undefined);
}
