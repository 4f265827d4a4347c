// Causal self-attention on the fused attention kernel, with RoPE on queries and keys; one module
// for GPT-style toy models and Llama / Qwen2 / Qwen3 decoders.
//   x [B, T, d] → qkv (one Linear d → (H + 2·Hkv)·D: the q, k and v projections side by side)
//   → q [B, H, T, D], k, v [B, Hkv, T, D] with RoPE on q and k at positions offsets[b] + t
//   (one fused kernel, rope.ts) → attention (causal, optional lengths; query head h reads kv head
//   ⌊h / (H/Hkv)⌋) → [B, T, H, D] → [B, T, H·D] → proj (Linear H·D → d)
// Hkv < H is grouped-query attention; D may differ from d/H (Qwen3's explicit head_dim).
// Qwen3 normalises each head of q and k (RMSNorm over D, its own weights qNorm, kNorm) between the
// split and RoPE: then the split does not rotate and ropeHeads rotates after the norms. A head size
// the attention kernel does not take (< 16 or not a multiple of 4) is zero-padded to one it does,
// with the scale of the true size; zeros change neither q·k nor the first D output columns.
// With a KV cache (generation), k and v go into the cache and the queries attend over it
// (attentionDecode); the code path is otherwise the same.
import type { Backend } from '../core/backend.js';
import type { Tensor } from '../core/tensor.js';
import { attention, concat, full, permute, reshape, slice } from '../core/ops.js';
import { Module, type Init, type InitOptions } from './module.js';
import { INIT_STD, Linear, RMSNorm } from './layers.js';
import { ropeHeads, splitHeads } from './rope.js';
import type { KvCache } from './kv-cache.js';

/** Head sizes the attention kernel takes: multiples of 4 in [MIN, MAX] (smaller ones are padded). */
const KERNEL_MIN_HEAD_DIM = 16;
const KERNEL_MAX_HEAD_DIM = 128;

export interface AttentionConfig {
  dModel: number;
  nHeads: number;
  /** Key/value heads (grouped-query attention), dividing nHeads. Default nHeads. */
  nKvHeads?: number;
  /** Head size D (default dModel / nHeads). */
  headDim?: number;
  /** Biases on both projections (default false); qkvBias and outBias override it per projection. */
  bias?: boolean;
  /** Bias on the q, k, v projections (Qwen2: true). Default `bias`. */
  qkvBias?: boolean;
  /** Bias on the output projection (Qwen2: false). Default `bias`. */
  outBias?: boolean;
  /** RMSNorm of each head of q and k before RoPE (Qwen3). Default false. */
  qkNorm?: boolean;
  /** eps of the q/k norms (default 1e-6). */
  normEps?: number;
  /** Initial std of the output projection (GPT-2 scales residual projections by 1/√(2·layers)). */
  projStd?: number;
}

export interface AttentionContext {
  /** i32 [B]: position of each sequence's first token in x (zeros in training, cache.past when decoding). */
  offsets: Tensor;
  /** RoPE tables [maxPositions, D/2] (ropeTables), shared by the model's layers. */
  cos: Tensor;
  sin: Tensor;
  /** i32 [B]: valid lengths (right padding), without a cache. */
  lengths?: Tensor;
  /** Decode over this cache (layer `layer`) instead of attending within x. */
  cache?: KvCache;
  layer?: number;
}

/** The head size the attention kernel runs at for a model head size D (D itself when it can). */
export function kernelHeadDim(D: number): number {
  if (D % 4 === 0 && D >= KERNEL_MIN_HEAD_DIM) return D;
  return Math.max(KERNEL_MIN_HEAD_DIM, Math.ceil(D / 4) * 4);
}

export class CausalSelfAttention extends Module<AttentionConfig> {
  readonly qkv: Linear;
  readonly proj: Linear;
  /** Per-head RMSNorm of q and k before RoPE (qkNorm), else null. */
  readonly qNorm: RMSNorm | null;
  readonly kNorm: RMSNorm | null;
  readonly headDim: number;
  readonly kvHeads: number;
  /** Head size of the attention kernel and of a KV cache for this module (≥ headDim: padded). */
  readonly cacheHeadDim: number;

  constructor(backend: Backend, config: AttentionConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    const { dModel, nHeads } = config;
    if (!Number.isInteger(nHeads) || nHeads < 1) throw new Error(`CausalSelfAttention: nHeads must be a positive integer, got ${nHeads}`);
    this.kvHeads = config.nKvHeads ?? nHeads;
    if (!Number.isInteger(this.kvHeads) || this.kvHeads < 1 || nHeads % this.kvHeads !== 0) {
      throw new Error(`CausalSelfAttention: nKvHeads (${this.kvHeads}) must be a positive integer dividing nHeads (${nHeads})`);
    }
    if (config.headDim === undefined && dModel % nHeads !== 0) {
      throw new Error(`CausalSelfAttention: dModel (${dModel}) must be a multiple of nHeads (${nHeads}), or give headDim`);
    }
    this.headDim = config.headDim ?? dModel / nHeads;
    if (!Number.isInteger(this.headDim) || this.headDim % 2 !== 0 || this.headDim < 2 || this.headDim > KERNEL_MAX_HEAD_DIM) {
      throw new Error(`CausalSelfAttention: head size ${this.headDim} must be even and in 2..${KERNEL_MAX_HEAD_DIM} (the attention kernel's range)`);
    }
    this.cacheHeadDim = kernelHeadDim(this.headDim);
    const bias = config.bias ?? false;
    const inner = nHeads * this.headDim;
    const qkvOut = (nHeads + 2 * this.kvHeads) * this.headDim;
    this.qkv = this.child('qkv', new Linear(backend, { inFeatures: dModel, outFeatures: qkvOut, bias: config.qkvBias ?? bias }, this.init));
    this.proj = this.child('proj', new Linear(backend, { inFeatures: inner, outFeatures: dModel, bias: config.outBias ?? bias, std: config.projStd ?? INIT_STD }, this.init));
    const eps = config.normEps ?? 1e-6;
    this.qNorm = config.qkNorm ? this.child('qNorm', new RMSNorm(backend, { dim: this.headDim, eps }, this.init)) : null;
    this.kNorm = config.qkNorm ? this.child('kNorm', new RMSNorm(backend, { dim: this.headDim, eps }, this.init)) : null;
  }

  /**
   * Whether the split and RoPE run as one kernel (no q/k norm, a head size the kernel takes): the
   * path of the toy models, Llama and Qwen2.
   */
  get fused(): boolean {
    return this.qNorm === null && this.cacheHeadDim === this.headDim;
  }

  /** The attention's output, plus `residual` when given (added inside the output projection's matmul). */
  forward(x: Tensor, ctx: AttentionContext, residual?: Tensor): Tensor {
    const [B, T] = x.shape as [number, number, number];
    const { nHeads: H } = this.config;
    const { headDim: D, kvHeads: Hkv } = this;
    const layer = ctx.layer ?? 0;
    const qkv = this.qkv.forward(x);
    let out: Tensor; // [B, H, T, D]
    if (this.fused) {
      if (ctx.cache) out = ctx.cache.attend(layer, qkv, ctx.cos, ctx.sin);
      else {
        const { q, k, v } = splitHeads(qkv, ctx.offsets, ctx.cos, ctx.sin, H, { kvHeads: Hkv });
        out = attention(q, k, v, ctx.lengths ? { lengths: ctx.lengths } : {});
      }
    } else {
      const split = splitHeads(qkv, ctx.offsets, ctx.cos, ctx.sin, H, { kvHeads: Hkv, rotate: false });
      let { q, k } = split;
      let { v } = split;
      if (this.qNorm && this.kNorm) {
        q = this.qNorm.forward(q);
        k = this.kNorm.forward(k);
      }
      q = ropeHeads(q, ctx.offsets, ctx.cos, ctx.sin);
      k = ropeHeads(k, ctx.offsets, ctx.cos, ctx.sin);
      const Dp = this.cacheHeadDim;
      if (Dp !== D) [q, k, v] = [q, k, v].map((t) => concat([t, full(this.backend, [B, t.shape[1]!, T, Dp - D], 0)], 3)) as [Tensor, Tensor, Tensor];
      const scale = 1 / Math.sqrt(D);
      out = ctx.cache ? ctx.cache.attendHeads(layer, q, k, v, { scale }) : attention(q, k, v, { scale, ...(ctx.lengths ? { lengths: ctx.lengths } : {}) });
      if (Dp !== D) out = slice(out, 3, 0, D);
    }
    // Merge heads: [B, H, T, D] → [B, T, H, D] → [B, T, H·D]; for one token the permute moves nothing.
    const merged = T === 1 ? out : permute(out, [0, 2, 1, 3]);
    return this.proj.forward(reshape(merged, [B, T, H * D]), residual);
  }
}
