// Causal multi-head self-attention on the fused attention kernel, with RoPE on queries and keys.
//   x [B, T, d] → qkv (one Linear d → 3d) → q, k, v [B, H, T, D] with RoPE on q and k at positions
//   offsets[b] + t (one fused kernel, rope.ts) → attention (causal, optional lengths)
//   → [B, T, H, D] → [B, T, d] → proj (Linear d → d)
// With a KV cache (generation), k and v go into the cache and the queries attend over it
// (attentionDecode); the code path is otherwise the same.
import type { Backend } from '../core/backend.js';
import type { Tensor } from '../core/tensor.js';
import { attention, permute, reshape } from '../core/ops.js';
import { Module, type Init, type InitOptions } from './module.js';
import { INIT_STD, Linear } from './layers.js';
import { ropeTables, splitHeads } from './rope.js';
import type { KvCache } from './kv-cache.js';

export interface AttentionConfig {
  dModel: number;
  nHeads: number;
  /** Longest position RoPE has tables for. */
  maxSeqLen: number;
  ropeBase?: number;
  bias?: boolean;
  /** Initial std of the output projection (GPT-2 scales residual projections by 1/√(2·layers)). */
  projStd?: number;
}

export interface AttentionContext {
  /** i32 [B]: position of each sequence's first token in x (zeros in training, cache.past when decoding). */
  offsets: Tensor;
  /** i32 [B]: valid lengths (right padding), without a cache. */
  lengths?: Tensor;
  /** Decode over this cache (layer `layer`) instead of attending within x. */
  cache?: KvCache;
  layer?: number;
}

export class CausalSelfAttention extends Module<AttentionConfig> {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;
  private readonly cos: Tensor;
  private readonly sin: Tensor;

  constructor(backend: Backend, config: AttentionConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    const { dModel, nHeads } = config;
    if (!Number.isInteger(nHeads) || nHeads < 1 || dModel % nHeads !== 0) {
      throw new Error(`CausalSelfAttention: dModel (${dModel}) must be a multiple of nHeads (${nHeads})`);
    }
    this.headDim = dModel / nHeads;
    if (this.headDim % 2 !== 0 || this.headDim < 16 || this.headDim > 128) {
      throw new Error(`CausalSelfAttention: head size dModel/nHeads = ${this.headDim} must be even and in 16..128 (the attention kernel's range)`);
    }
    const bias = config.bias ?? false;
    this.qkv = this.child('qkv', new Linear(backend, { inFeatures: dModel, outFeatures: 3 * dModel, bias }, this.init));
    this.proj = this.child('proj', new Linear(backend, { inFeatures: dModel, outFeatures: dModel, bias, std: config.projStd ?? INIT_STD }, this.init));
    const tables = ropeTables(config.maxSeqLen, this.headDim, config.ropeBase ?? 10000);
    const half = this.headDim / 2;
    this.cos = this.buffer(tables.cos, [config.maxSeqLen, half]);
    this.sin = this.buffer(tables.sin, [config.maxSeqLen, half]);
  }

  forward(x: Tensor, ctx: AttentionContext): Tensor {
    const [B, T, d] = x.shape as [number, number, number];
    const qkv = this.qkv.forward(x);
    let out: Tensor; // [B, H, T, D]
    if (ctx.cache) out = ctx.cache.attend(ctx.layer ?? 0, qkv, this.cos, this.sin);
    else {
      const { q, k, v } = splitHeads(qkv, ctx.offsets, this.cos, this.sin, this.config.nHeads);
      out = attention(q, k, v, ctx.lengths ? { lengths: ctx.lengths } : {});
    }
    // Merge heads: [B, H, T, D] → [B, T, H, D] → [B, T, d]; for one token the permute moves nothing.
    const merged = T === 1 ? out : permute(out, [0, 2, 1, 3]);
    return this.proj.forward(reshape(merged, [B, T, d]));
  }
}
