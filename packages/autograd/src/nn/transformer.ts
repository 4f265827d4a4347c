// A decoder language model: token embedding → N pre-norm blocks (x + attn(norm1(x)), then
// x + mlp(norm2(x))) → final norm → LM head (its own Linear, or the embedding table transposed when
// tied). Positions enter only through RoPE, so there is no position table and a batch may be
// right-padded to any length ≤ maxSeqLen. One parameterised piece of code for the GPT-style toy
// models and Llama / Qwen2 / Qwen3 decoders: grouped-query attention (nKvHeads), an explicit head
// size, bias placement per projection, q/k RMSNorm before RoPE, the norm eps, the RoPE base and
// scaling, SwiGLU, tied embeddings (src/hf maps Hugging Face configs and weights onto it).
import type { Backend } from '../core/backend.js';
import type { Tensor } from '../core/tensor.js';
import { tensor } from '../core/ops.js';
import { Module, type Init, type InitOptions } from './module.js';
import { Embedding, INIT_STD, Linear, makeNorm, matmulRows, type LayerNorm, type NormKind, type RMSNorm } from './layers.js';
import { CausalSelfAttention } from './attention.js';
import { Mlp, SwiGlu } from './mlp.js';
import { KvCache } from './kv-cache.js';
import { ropeTables, type RopeScaling } from './rope.js';

export interface DecoderConfig {
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  /** Key/value heads (grouped-query attention), dividing nHeads. Default nHeads. */
  nKvHeads?: number;
  /** Head size (default dModel / nHeads; Qwen3 sets it explicitly). */
  headDim?: number;
  /** Hidden size of the feed-forward block. */
  dFF: number;
  /** Longest sequence (prompt + generated tokens) the model takes; sizes the RoPE tables. */
  maxSeqLen: number;
  /** Default 'rms'. */
  norm?: NormKind;
  /** eps of every norm (default 1e-6 for 'rms', 1e-5 for 'layer'). */
  normEps?: number;
  /** Default 'swiglu'. */
  mlp?: 'gelu' | 'swiglu';
  /** LM head = embedding table transposed (default false). */
  tiedEmbeddings?: boolean;
  /** RoPE base θ (default 10000). */
  ropeBase?: number;
  /** RoPE scaling of the inverse frequencies (default null: none). */
  ropeScaling?: RopeScaling | null;
  /** Biases in the attention and MLP Linears (default false); the three keys below override it. */
  bias?: boolean;
  /** Bias on the q, k, v projections (default `bias`; Qwen2: true). */
  qkvBias?: boolean;
  /** Bias on the attention output projection (default `bias`; Qwen2: false). */
  outBias?: boolean;
  /** Biases in the MLP Linears (default `bias`). */
  mlpBias?: boolean;
  /** RMSNorm of each query and key head before RoPE (Qwen3; default false). */
  qkNorm?: boolean;
}

export interface BlockConfig {
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  dFF: number;
  norm: NormKind;
  normEps: number;
  mlp: 'gelu' | 'swiglu';
  qkvBias: boolean;
  outBias: boolean;
  mlpBias: boolean;
  qkNorm: boolean;
  /** Initial std of the two residual projections. */
  projStd: number;
}

export interface ForwardOptions {
  /** Valid length of each sequence (right padding): i32 [B] tensor or numbers. Not with a cache. */
  lengths?: Tensor | readonly number[];
  /**
   * Generation: write this block's keys/values into the cache at cache.past and attend over it.
   * The caller advances cache.past afterwards (it knows which positions were real tokens).
   */
  cache?: KvCache;
}

/** Pre-norm residual block. */
export class Block extends Module<BlockConfig> {
  readonly norm1: RMSNorm | LayerNorm;
  readonly attn: CausalSelfAttention;
  readonly norm2: RMSNorm | LayerNorm;
  readonly mlp: Mlp | SwiGlu;
  constructor(backend: Backend, config: BlockConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    const { dModel, nHeads, nKvHeads, headDim, dFF, normEps, qkvBias, outBias, qkNorm, projStd } = config;
    this.norm1 = this.child('norm1', makeNorm(backend, config.norm, dModel, this.init, normEps));
    this.attn = this.child('attn', new CausalSelfAttention(backend, { dModel, nHeads, nKvHeads, headDim, qkvBias, outBias, qkNorm, normEps, projStd }, this.init));
    this.norm2 = this.child('norm2', makeNorm(backend, config.norm, dModel, this.init, normEps));
    const mlpConfig = { dModel, dFF, bias: config.mlpBias, projStd };
    if (config.mlp === 'gelu') this.mlp = this.child('mlp', new Mlp(backend, mlpConfig, this.init));
    else if (config.mlp === 'swiglu') this.mlp = this.child('mlp', new SwiGlu(backend, mlpConfig, this.init));
    else throw new Error(`mlp must be 'gelu' or 'swiglu', got ${JSON.stringify(config.mlp)}`);
  }
  forward(x: Tensor, ctx: { offsets: Tensor; cos: Tensor; sin: Tensor; lengths?: Tensor; cache?: KvCache; layer: number }): Tensor {
    // The residual adds happen inside the output projections' matmuls (no elementwise launches).
    const h = this.attn.forward(this.norm1.forward(x), ctx, x);
    return this.mlp.forward(this.norm2.forward(h), h);
  }
}

/** A DecoderConfig with every default filled in (what a checkpoint's config stores). */
export function resolveDecoderConfig(config: DecoderConfig): Required<DecoderConfig> {
  const bias = config.bias ?? false;
  const norm = config.norm ?? 'rms';
  const c: Required<DecoderConfig> = {
    norm,
    mlp: 'swiglu',
    tiedEmbeddings: false,
    ropeBase: 10000,
    ropeScaling: null,
    bias,
    nKvHeads: config.nHeads,
    headDim: config.dModel / config.nHeads,
    normEps: norm === 'layer' ? 1e-5 : 1e-6,
    qkvBias: bias,
    outBias: bias,
    mlpBias: bias,
    qkNorm: false,
    ...(Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) as DecoderConfig),
  };
  for (const key of ['vocabSize', 'dModel', 'nLayers', 'nHeads', 'nKvHeads', 'dFF', 'maxSeqLen'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new Error(`DecoderLM: config.${key} must be a positive integer, got ${String(c[key])}`);
  }
  if (c.nHeads % c.nKvHeads !== 0) throw new Error(`DecoderLM: config.nKvHeads (${c.nKvHeads}) must divide config.nHeads (${c.nHeads})`);
  if (!Number.isInteger(c.headDim) || c.headDim < 2 || c.headDim % 2 !== 0) {
    throw new Error(
      config.headDim === undefined
        ? `DecoderLM: dModel (${c.dModel}) / nHeads (${c.nHeads}) = ${c.headDim} must be an even integer (or give headDim)`
        : `DecoderLM: config.headDim must be an even positive integer, got ${String(c.headDim)}`,
    );
  }
  if (!(c.normEps > 0)) throw new Error(`DecoderLM: config.normEps must be > 0, got ${String(c.normEps)}`);
  return c;
}

export class DecoderLM extends Module<Required<DecoderConfig>> {
  readonly embed: Embedding;
  readonly blocks: Block[] = [];
  readonly normF: RMSNorm | LayerNorm;
  /** null when the embeddings are tied. */
  readonly lmHead: Linear | null;
  /** RoPE tables [maxSeqLen, headDim/2], shared by every layer. */
  private readonly cos: Tensor;
  private readonly sin: Tensor;

  constructor(backend: Backend, config: DecoderConfig, init?: InitOptions | Init) {
    const c = resolveDecoderConfig(config);
    super(backend, c, init);
    this.embed = this.child('embed', new Embedding(backend, { vocabSize: c.vocabSize, dim: c.dModel }, this.init));
    const blockConfig: BlockConfig = {
      dModel: c.dModel,
      nHeads: c.nHeads,
      nKvHeads: c.nKvHeads,
      headDim: c.headDim,
      dFF: c.dFF,
      norm: c.norm,
      normEps: c.normEps,
      mlp: c.mlp,
      qkvBias: c.qkvBias,
      outBias: c.outBias,
      mlpBias: c.mlpBias,
      qkNorm: c.qkNorm,
      projStd: INIT_STD / Math.sqrt(2 * c.nLayers),
    };
    for (let i = 0; i < c.nLayers; i++) this.blocks.push(this.child(`blocks.${i}`, new Block(backend, blockConfig, this.init)));
    this.normF = this.child('normF', makeNorm(backend, c.norm, c.dModel, this.init, c.normEps));
    this.lmHead = c.tiedEmbeddings ? null : this.child('lmHead', new Linear(backend, { inFeatures: c.dModel, outFeatures: c.vocabSize }, this.init));
    const tables = ropeTables(c.maxSeqLen, c.headDim, c.ropeBase, c.ropeScaling);
    this.cos = this.buffer(tables.cos, [c.maxSeqLen, c.headDim / 2]);
    this.sin = this.buffer(tables.sin, [c.maxSeqLen, c.headDim / 2]);
  }

  get headDim(): number {
    return this.config.headDim;
  }

  /** An empty KV cache for generation with this model (its layers, kv heads and the kernel's head size). */
  createKvCache(batch: number, capacity: number): KvCache {
    const attn = this.blocks[0]!.attn;
    return new KvCache(this.backend, { batch, layers: this.config.nLayers, heads: this.config.nHeads, kvHeads: attn.kvHeads, headDim: attn.cacheHeadDim, capacity });
  }

  /** Final-norm hidden states [B, T, dModel] of ids i32 [B, T] (what heads read). */
  hidden(ids: Tensor, options: ForwardOptions = {}): Tensor {
    if (ids.dtype !== 'i32' || ids.rank !== 2) throw new Error(`DecoderLM: ids must be i32 [B, T], got ${ids.dtype} [${ids.shape.join(', ')}]`);
    const [B, T] = ids.shape as [number, number];
    const { cache } = options;
    if (cache) {
      if (options.lengths) throw new Error('DecoderLM: pass either lengths or a cache, not both (a cache tracks its own positions)');
      if (cache.config.batch !== B) throw new Error(`DecoderLM: cache batch ${cache.config.batch} differs from ids batch ${B}`);
      if (cache.config.layers !== this.config.nLayers) throw new Error(`DecoderLM: cache has ${cache.config.layers} layers, the model ${this.config.nLayers}`);
      const end = cache.positions.reduce((m, p) => Math.max(m, p), -Infinity) + T;
      if (end > this.config.maxSeqLen) throw new Error(`DecoderLM: positions up to ${end} exceed maxSeqLen ${this.config.maxSeqLen}`);
    } else if (T > this.config.maxSeqLen) {
      throw new Error(`DecoderLM: ids has T = ${T} positions, more than maxSeqLen ${this.config.maxSeqLen}`);
    }
    const offsets = cache ? cache.past : tensor(this.backend, new Int32Array(B), [B], { dtype: 'i32' });
    let lengths: Tensor | undefined;
    if (options.lengths) {
      lengths = Array.isArray(options.lengths) ? tensor(this.backend, options.lengths as readonly number[], [B], { dtype: 'i32' }) : (options.lengths as Tensor);
      if (lengths.dtype !== 'i32' || lengths.rank !== 1 || lengths.shape[0] !== B) throw new Error(`DecoderLM: lengths must be i32 [${B}], got ${lengths.dtype} [${lengths.shape.join(', ')}]`);
    }
    let x = this.embed.forward(ids);
    this.blocks.forEach((block, layer) => {
      x = block.forward(x, { offsets, cos: this.cos, sin: this.sin, layer, ...(lengths ? { lengths } : {}), ...(cache ? { cache } : {}) });
    });
    return this.normF.forward(x);
  }

  /** LM head: hidden [..., dModel] → logits [..., vocabSize]. */
  logits(hidden: Tensor): Tensor {
    return this.lmHead ? this.lmHead.forward(hidden) : matmulRows(hidden, this.embed.weight, { transposeB: true });
  }

  /** Logits [B, T, vocabSize] of ids i32 [B, T]. */
  forward(ids: Tensor, options: ForwardOptions = {}): Tensor {
    return this.logits(this.hidden(ids, options));
  }
}
