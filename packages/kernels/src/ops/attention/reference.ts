// attention: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import type { CpuTensor } from '../../reference.js';

export interface AttentionReferenceOptions {
  /** Valid length of each sequence (padding on the right), clamped to [0, T]; default T for all. */
  lengths?: ArrayLike<number>;
  /** Score scale; default 1/√D. */
  scale?: number;
}

export interface AttentionReferenceResult {
  out: CpuTensor;
  lse: CpuTensor;
}

interface Window {
  offset: number;
  keyCount: number;
}

function dims(name: string, x: CpuTensor): [number, number, number, number] {
  if (x.shape.length !== 4) throw new Error(`${name}: expected shape [B, H, T, D], got [${x.shape.join(', ')}]`);
  return x.shape as [number, number, number, number];
}

/**
 * Kv heads of k (and v, which must match) for H query heads: H % Hkv = 0 (grouped-query
 * attention), else an error. Returns [Hkv, group = H / Hkv].
 */
function kvHeads(name: string, H: number, k: CpuTensor, v: CpuTensor): [number, number] {
  const Hkv = k.shape[1]!;
  if (Hkv === 0 ? H !== 0 : H % Hkv !== 0) throw new Error(`${name}: k has ${Hkv} heads, which must divide the ${H} query heads`);
  if (v.shape[1] !== Hkv || v.shape[2] !== k.shape[2]) throw new Error(`${name}: v [${v.shape.join(', ')}] must have k's shape [${k.shape.join(', ')}]`);
  return [Hkv, Hkv === 0 ? 1 : H / Hkv];
}

function clampInt(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.trunc(x)));
}

/** Forward over explicit windows: q [B,H,Tq,D], k/v [B,Hkv,Tk,D] (query head h reads kv head ⌊h / (H/Hkv)⌋). */
function attendReference(q: CpuTensor, k: CpuTensor, v: CpuTensor, windows: readonly Window[], scale: number): AttentionReferenceResult {
  const [B, H, Tq, D] = dims('attentionReference q', q);
  const [Hkv, group] = kvHeads('attentionReference', H, k, v);
  const Tk = k.shape[2]!;
  const out = new Float64Array(B * H * Tq * D);
  const lse = new Float64Array(B * H * Tq);
  const scores = new Float64Array(Tk);
  for (let b = 0; b < B; b++) {
    const { offset, keyCount } = windows[b]!;
    for (let h = 0; h < H; h++) {
      const qBase = (b * H + h) * Tq * D;
      const kBase = (b * Hkv + Math.floor(h / group)) * Tk * D;
      for (let i = 0; i < Tq; i++) {
        const row = (b * H + h) * Tq + i;
        const pos = offset + i;
        if (pos >= keyCount) {
          lse[row] = -Infinity; // fully masked: output stays 0
          continue;
        }
        let max = -Infinity;
        for (let j = 0; j <= pos; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q.data[qBase + i * D + d]! * k.data[kBase + j * D + d]!;
          scores[j] = s * scale;
          max = Math.max(max, scores[j]!);
        }
        let sum = 0;
        for (let j = 0; j <= pos; j++) sum += Math.exp(scores[j]! - max);
        for (let j = 0; j <= pos; j++) {
          const p = Math.exp(scores[j]! - max) / sum;
          for (let d = 0; d < D; d++) out[row * D + d]! += p * v.data[kBase + j * D + d]!;
        }
        lse[row] = max + Math.log(sum);
      }
    }
  }
  return { out: { shape: [B, H, Tq, D], data: out }, lse: { shape: [B, H, Tq], data: lse } };
}

function forwardWindows(B: number, T: number, lengths: ArrayLike<number> | undefined): Window[] {
  if (lengths && lengths.length !== B) throw new Error(`attentionReference: lengths has ${lengths.length} entries, expected B = ${B}`);
  return Array.from({ length: B }, (_, b) => ({ offset: 0, keyCount: lengths ? clampInt(lengths[b]!, 0, T) : T }));
}

/**
 * Causal attention: out[b,h,i] = Σ_{j ≤ i, j < len_b} softmax_j(scale·q_i·k_j) · v_j, and
 * lse[b,h,i] = log Σ_j exp(scale·q_i·k_j), with k_j, v_j rows of kv head ⌊h / (H/Hkv)⌋ (k, v
 * [B, Hkv, T, D], Hkv dividing H). Rows i ≥ len_b: out = 0, lse = −∞.
 */
export function attentionReference(q: CpuTensor, k: CpuTensor, v: CpuTensor, options: AttentionReferenceOptions = {}): AttentionReferenceResult {
  const [B, , T, D] = dims('attentionReference q', q);
  return attendReference(q, k, v, forwardWindows(B, T, options.lengths), options.scale ?? 1 / Math.sqrt(D));
}

export interface AttentionGradients {
  dq: CpuTensor;
  dk: CpuTensor;
  dv: CpuTensor;
}

/**
 * Gradients of Σ dOut ∘ out with respect to q, k and v (the forward is recomputed here). Per row:
 * P = softmax(S), dV += Pᵀ·dO, dP = dO·Vᵀ, dS = P ∘ (dP − rowsum(dP ∘ P)), dQ = scale·dS·K,
 * dK = scale·dSᵀ·Q. Fully masked rows contribute nothing. With k, v [B, Hkv, T, D], dk and dv
 * are [B, Hkv, T, D]: every query head of a group adds into its kv head's rows.
 */
export function attentionBackwardReference(
  q: CpuTensor,
  k: CpuTensor,
  v: CpuTensor,
  dOut: CpuTensor,
  options: AttentionReferenceOptions = {},
): AttentionGradients {
  const [B, H, T, D] = dims('attentionBackwardReference q', q);
  const [Hkv, group] = kvHeads('attentionBackwardReference', H, k, v);
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const windows = forwardWindows(B, T, options.lengths);
  const dq = new Float64Array(q.data.length);
  const dk = new Float64Array(k.data.length);
  const dv = new Float64Array(v.data.length);
  const p = new Float64Array(T);
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    const len = windows[b]!.keyCount;
    for (let h = 0; h < H; h++) {
      const qBase = (b * H + h) * T * D;
      const base = (b * Hkv + Math.floor(h / group)) * T * D; // k, v, dk, dv rows
      for (let i = 0; i < len; i++) {
        const qi = qBase + i * D;
        let max = -Infinity;
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q.data[qi + d]! * k.data[base + j * D + d]!;
          p[j] = s * scale;
          max = Math.max(max, p[j]!);
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) sum += (p[j] = Math.exp(p[j]! - max));
        let rowDot = 0; // Σ_j P_ij dP_ij = dO_i · O_i
        for (let j = 0; j <= i; j++) {
          p[j]! /= sum;
          let g = 0;
          for (let d = 0; d < D; d++) {
            g += dOut.data[qi + d]! * v.data[base + j * D + d]!;
            dv[base + j * D + d]! += p[j]! * dOut.data[qi + d]!;
          }
          dp[j] = g;
          rowDot += p[j]! * g;
        }
        for (let j = 0; j <= i; j++) {
          const ds = p[j]! * (dp[j]! - rowDot) * scale;
          for (let d = 0; d < D; d++) {
            dq[qi + d]! += ds * k.data[base + j * D + d]!;
            dk[base + j * D + d]! += ds * q.data[qi + d]!;
          }
        }
      }
    }
  }
  const kvShape = [B, Hkv, T, D];
  return { dq: { shape: [B, H, T, D], data: dq }, dk: { shape: kvShape, data: dk }, dv: { shape: kvShape, data: dv } };
}

export interface AttentionDecodeReferenceOptions {
  /** Positions already in the cache before the new block, one number for all or one per sequence. */
  past: number | ArrayLike<number>;
  scale?: number;
}

/**
 * Decode: query i of the new block (q [B,H,Tq,D]) sits at position past_b + i and attends cache
 * positions 0..past_b + i (kCache/vCache [B,Hkv,Tmax,D], Hkv dividing H, already hold the new
 * block's keys and values; query head h reads kv head ⌊h / (H/Hkv)⌋).
 * Queries at positions ≥ Tmax are fully masked.
 */
export function attentionDecodeReference(
  q: CpuTensor,
  kCache: CpuTensor,
  vCache: CpuTensor,
  options: AttentionDecodeReferenceOptions,
): AttentionReferenceResult {
  const [B, , Tq, D] = dims('attentionDecodeReference q', q);
  const Tmax = kCache.shape[2]!;
  const windows = Array.from({ length: B }, (_, b) => {
    const past = typeof options.past === 'number' ? options.past : options.past[b]!;
    return { offset: past, keyCount: clampInt(past + Tq, 0, Tmax) };
  });
  return attendReference(q, kCache, vCache, windows, options.scale ?? 1 / Math.sqrt(D));
}

/** cache[b, h, position_b + t] = rows[b, h, t] for every t (rows past the capacity are dropped). */
export function writeKvCacheReference(cache: CpuTensor, rows: CpuTensor, position: number | ArrayLike<number>): CpuTensor {
  const [B, H, Tmax, D] = dims('writeKvCacheReference cache', cache);
  const Tn = rows.shape[2]!;
  const data = Float64Array.from(cache.data);
  for (let b = 0; b < B; b++) {
    const pos = typeof position === 'number' ? position : position[b]!;
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < Tn; t++) {
        if (pos + t < 0 || pos + t >= Tmax) continue;
        for (let d = 0; d < D; d++) data[((b * H + h) * Tmax + pos + t) * D + d] = rows.data[((b * H + h) * Tn + t) * D + d]!;
      }
    }
  }
  return { shape: [B, H, Tmax, D], data };
}
