// LoRA (Hu et al. 2021, as PEFT implements it): low-rank adapters on chosen projections of a
// DecoderLM. For a target projection with PyTorch weight W [out, in]:
//
//     y = W x + (alpha / r) · B (A (dropout(x)))        A [r, in], B [out, r]
//
// A starts uniform in ±1/√in (PEFT's kaiming_uniform_ with a = √5), B at zero, so the adapted
// model starts as the base model. The adapters are their own Module (LoraAdapters): its parameters
// are the A and B of every (layer, target), named as PEFT names them without its
// "base_model.model." prefix (model.layers.{i}.self_attn.q_proj.lora_A.weight), stored in PEFT's
// layout ([r, in] and [out, r]), so saving in the PEFT layout is a renaming, not a transpose.
// attach(model) installs a hook on each target Linear (Linear.adapter); the model's own
// parameters, stateDict() and copy() are untouched, and applyLora() freezes them: their gradients
// are neither computed (the matmul rule skips a frozen operand's gradient) nor stored, and an
// optimizer built on adapters.parameters() sees only A and B.
//
// The forward is a composition of differentiable ops (dropout, two matmuls with the transposed
// weight, a scale, a concat for the fused q/k/v projection): DecoderLM fuses q_proj, k_proj and
// v_proj into one Linear (attn.qkv, output columns [q | k | v]), so the hook of that Linear
// computes each targeted part's term and fills the untargeted parts with zeros.
//
// Merging (W += (alpha/r)·B·A) is done on the host in float64 and rounded to float32 once.
import type { Backend } from '../core/backend.js';
import type { Tensor } from '../core/tensor.js';
import { concat, dropout, full, scale } from '../core/ops.js';
import { isGradEnabled } from '../core/tape.js';
import { Module, Rng, assign, type HostTensor, type Init, type InitOptions } from '../nn/module.js';
import { matmulRows, type Linear } from '../nn/layers.js';
import type { DecoderConfig, DecoderLM } from '../nn/transformer.js';

/** The projections LoRA can adapt, by their Hugging Face module names. */
export const LORA_TARGET_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTargetModule = (typeof LORA_TARGET_MODULES)[number];

export interface LoraConfig {
  /** r: the rank of A and B. */
  rank: number;
  /** lora_alpha: the update is scaled by alpha / rank. */
  alpha: number;
  /** lora_dropout: dropout on the adapter's input while training (0: none). */
  dropout: number;
  /** Hugging Face names of the adapted projections (in every layer). */
  targetModules: readonly LoraTargetModule[];
}

/** The adapters' module config: the LoRA settings and the model shapes they were built for. */
export interface LoraAdaptersConfig extends LoraConfig {
  nLayers: number;
  dModel: number;
  /** nHeads·headDim and nKvHeads·headDim: the q and k/v widths. */
  qDim: number;
  kvDim: number;
  dFF: number;
}

export class LoraError extends Error {
  override name = 'LoraError';
}

/**
 * Throws unless `config` is a valid LoRA config; `where` names its source (a file, a config key)
 * and each message names the field.
 */
export function checkLoraConfig(config: LoraConfig, where = 'lora'): void {
  const bad = (key: string, why: string): never => {
    throw new LoraError(`${where}.${key}: ${why}`);
  };
  if (!Number.isInteger(config.rank) || config.rank < 1) bad('rank', `must be a positive integer, got ${JSON.stringify(config.rank)}`);
  if (typeof config.alpha !== 'number' || !Number.isFinite(config.alpha) || config.alpha <= 0) bad('alpha', `must be a positive number, got ${JSON.stringify(config.alpha)}`);
  if (typeof config.dropout !== 'number' || !(config.dropout >= 0 && config.dropout < 1)) bad('dropout', `must be in [0, 1), got ${JSON.stringify(config.dropout)}`);
  if (!Array.isArray(config.targetModules) || config.targetModules.length === 0) bad('targetModules', 'must be a non-empty list of projection names');
  const seen = new Set<string>();
  for (const t of config.targetModules) {
    if (!(LORA_TARGET_MODULES as readonly string[]).includes(t)) bad('targetModules', `${JSON.stringify(t)} is not one of ${LORA_TARGET_MODULES.join(', ')}`);
    if (seen.has(t)) bad('targetModules', `${JSON.stringify(t)} is listed twice`);
    seen.add(t);
  }
}

/** Where one adapted projection lives: its HF module path, its sizes, and our Linear's output columns it owns. */
export interface LoraSite {
  layer: number;
  target: LoraTargetModule;
  /** HF module path, e.g. model.layers.0.self_attn.q_proj. */
  module: string;
  inFeatures: number;
  outFeatures: number;
  /** Our Linear (relative to the DecoderLM) and the first of its output columns this projection owns. */
  linear: 'attn.qkv' | 'attn.proj' | 'mlp.gate' | 'mlp.up' | 'mlp.down';
  column: number;
}

const ATTENTION: readonly LoraTargetModule[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];

/** Every adapted projection of a model with these shapes, in layer order then LORA_TARGET_MODULES order. */
export function loraSites(c: LoraAdaptersConfig): LoraSite[] {
  const sites: LoraSite[] = [];
  const shapes: Record<LoraTargetModule, [LoraSite['linear'], number, number, number]> = {
    q_proj: ['attn.qkv', c.dModel, c.qDim, 0],
    k_proj: ['attn.qkv', c.dModel, c.kvDim, c.qDim],
    v_proj: ['attn.qkv', c.dModel, c.kvDim, c.qDim + c.kvDim],
    o_proj: ['attn.proj', c.qDim, c.dModel, 0],
    gate_proj: ['mlp.gate', c.dModel, c.dFF, 0],
    up_proj: ['mlp.up', c.dModel, c.dFF, 0],
    down_proj: ['mlp.down', c.dFF, c.dModel, 0],
  };
  for (let layer = 0; layer < c.nLayers; layer++) {
    for (const target of LORA_TARGET_MODULES) {
      if (!c.targetModules.includes(target)) continue;
      const [linear, inFeatures, outFeatures, column] = shapes[target];
      const module = `model.layers.${layer}.${ATTENTION.includes(target) ? 'self_attn' : 'mlp'}.${target}`;
      sites.push({ layer, target, module, inFeatures, outFeatures, linear, column });
    }
  }
  return sites;
}

/** The adapters' config for `model` (refusing targets it does not have). */
export function loraAdaptersConfig(model: { config: Required<DecoderConfig> }, lora: LoraConfig, where = 'lora'): LoraAdaptersConfig {
  checkLoraConfig(lora, where);
  const c = model.config;
  const mlpTargets = lora.targetModules.filter((t) => !ATTENTION.includes(t));
  if (mlpTargets.length > 0 && c.mlp !== 'swiglu') {
    throw new LoraError(`${where}.targetModules: ${mlpTargets.join(', ')} need a SwiGLU MLP (gate/up/down projections); this model's mlp is ${JSON.stringify(c.mlp)}`);
  }
  return {
    rank: lora.rank,
    alpha: lora.alpha,
    dropout: lora.dropout,
    targetModules: LORA_TARGET_MODULES.filter((t) => lora.targetModules.includes(t)),
    nLayers: c.nLayers,
    dModel: c.dModel,
    qDim: c.nHeads * c.headDim,
    kvDim: c.nKvHeads * c.headDim,
    dFF: c.dFF,
  };
}

interface SiteParams {
  site: LoraSite;
  A: Tensor;
  B: Tensor;
}

/** The A and B of every adapted projection: a Module (saved, copied and optimized like any other). */
export class LoraAdapters extends Module<LoraAdaptersConfig> {
  readonly sites: readonly SiteParams[];
  /** alpha / rank. */
  readonly scaling: number;
  /** Dropout applies only while training and recording gradients (never in generation or scoring). */
  training = true;
  private attachedTo: DecoderLM | null = null;
  private dropoutSeed = 0;
  private draws = 0;

  constructor(backend: Backend, config: LoraAdaptersConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    checkLoraConfig(config);
    this.scaling = config.alpha / config.rank;
    this.sites = loraSites(config).map((site) => ({
      site,
      A: this.param(`${site.module}.lora_A.weight`, [config.rank, site.inFeatures], 'zeros'),
      B: this.param(`${site.module}.lora_B.weight`, [site.outFeatures, config.rank], 'zeros'),
    }));
    if (!this.init.empty) this.resetParameters(this.init.rng);
  }

  /** PEFT's initialisation: every A uniform in ±1/√in (kaiming_uniform_ with a = √5), every B zero. */
  resetParameters(rng: Rng | number): void {
    const source = typeof rng === 'number' ? new Rng(rng) : rng;
    for (const { site, A, B } of this.sites) {
      const bound = 1 / Math.sqrt(site.inFeatures);
      const data = new Float32Array(A.size);
      for (let i = 0; i < data.length; i++) data[i] = source.uniform(-bound, bound);
      assign(A, data);
      assign(B, new Float32Array(B.size));
    }
  }

  /** The adapters for `model`, freshly initialised (A random, B zero), not attached yet. */
  static create(model: DecoderLM, lora: LoraConfig, init?: InitOptions, where?: string): LoraAdapters {
    return new LoraAdapters(model.backend, loraAdaptersConfig(model, lora, where), init);
  }

  /** The LoRA settings alone (what a trainer config or adapter_config.json holds). */
  get lora(): LoraConfig {
    const { rank, alpha, dropout, targetModules } = this.config;
    return { rank, alpha, dropout, targetModules: [...targetModules] };
  }

  /** The model the adapters are attached to, if any. */
  get model(): DecoderLM | null {
    return this.attachedTo;
  }

  /**
   * Keys the dropout masks: the k-th mask drawn after this call uses Philox stream (seed, k), so a
   * trainer that sets a seed per step (from its run seed and the step) draws the same masks again
   * when the run is resumed.
   */
  setDropoutSeed(seed: number): void {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new LoraError(`setDropoutSeed: seed must be a non-negative integer, got ${seed}`);
    this.dropoutSeed = seed;
    this.draws = 0;
  }

  /** (alpha/r)·B·A·dropout(x) for one site: x [..., in] → [..., out]. */
  private delta(p: SiteParams, x: Tensor): Tensor {
    const p0 = this.config.dropout;
    const xin = p0 > 0 && this.training && isGradEnabled() ? dropout(x, p0, { seed: this.dropoutSeed, offset: this.draws++ }) : x;
    const h = matmulRows(xin, p.A, { transposeB: true });
    return scale(matmulRows(h, p.B, { transposeB: true }), this.scaling);
  }

  /** Installs the adapters on `model`'s target projections (which must have no adapter yet). */
  attach(model: DecoderLM): this {
    if (this.attachedTo) throw new LoraError('LoraAdapters.attach: already attached to a model; detach() first');
    if (model.backend !== this.backend) throw new LoraError('LoraAdapters.attach: the model lives on another backend');
    const mine = this.config;
    const theirs = loraAdaptersConfig(model, this.lora);
    for (const key of ['nLayers', 'dModel', 'qDim', 'kvDim', 'dFF'] as const) {
      if (mine[key] !== theirs[key]) throw new LoraError(`LoraAdapters.attach: the adapters were built for ${key} = ${mine[key]}, the model has ${theirs[key]}`);
    }
    const byLinear = new Map<Linear, SiteParams[]>();
    for (const p of this.sites) {
      const linear = linearOf(model, p.site);
      byLinear.set(linear, [...(byLinear.get(linear) ?? []), p]);
    }
    for (const linear of byLinear.keys()) if (linear.adapter) throw new LoraError('LoraAdapters.attach: a target projection already has an adapter');
    for (const [linear, sites] of byLinear) {
      if (sites[0]!.site.linear !== 'attn.qkv') {
        linear.adapter = (x) => this.delta(sites[0]!, x);
        continue;
      }
      // The fused q/k/v projection: each targeted part's term in its columns, zeros elsewhere.
      const widths: [LoraTargetModule, number][] = [['q_proj', mine.qDim], ['k_proj', mine.kvDim], ['v_proj', mine.kvDim]];
      linear.adapter = (x) => {
        const lead = x.shape.slice(0, -1);
        const parts = widths.map(([target, width]) => {
          const p = sites.find((s) => s.site.target === target);
          return p ? this.delta(p, x) : full(this.backend, [...lead, width], 0);
        });
        return concat(parts, -1);
      };
    }
    this.attachedTo = model;
    return this;
  }

  /** Removes the hooks: the model computes its base weights alone again. */
  detach(): void {
    const model = this.attachedTo;
    if (!model) return;
    for (const p of this.sites) linearOf(model, p.site).adapter = null;
    this.attachedTo = null;
  }

  /**
   * The model's parameters with the adapters merged in (W + (alpha/r)·B·A in float64, rounded to
   * float32 once), as host tensors; the model itself is not changed. Default model: the attached one.
   */
  async mergedStateDict(model: DecoderLM | null = this.attachedTo): Promise<Record<string, HostTensor>> {
    if (!model) throw new LoraError('LoraAdapters.mergedStateDict: no model given and the adapters are not attached');
    const state = await model.stateDict();
    const r = this.config.rank;
    for (const p of this.sites) {
      const { site } = p;
      const key = `blocks.${site.layer}.${site.linear}.weight`;
      const w = state[key];
      if (!w) throw new LoraError(`LoraAdapters.mergedStateDict: the model has no parameter '${key}'`);
      const A = await p.A.data();
      const B = await p.B.data();
      const cols = w.shape[1]!; // ours: [in, outTotal]
      const merged = w.data;
      const row = new Float64Array(r);
      for (let o = 0; o < site.outFeatures; o++) {
        for (let k = 0; k < r; k++) row[k] = this.scaling * B[o * r + k]!;
        for (let i = 0; i < site.inFeatures; i++) {
          let acc = 0;
          for (let k = 0; k < r; k++) acc += row[k]! * A[k * site.inFeatures + i]!;
          const at = i * cols + site.column + o;
          merged[at] = merged[at]! + acc;
        }
      }
    }
    return state;
  }

  /** Merges the adapters into the attached model's weights (in place) and detaches them. */
  async mergeIntoModel(): Promise<DecoderLM> {
    const model = this.attachedTo;
    if (!model) throw new LoraError('LoraAdapters.mergeIntoModel: the adapters are not attached to a model');
    const state = await this.mergedStateDict(model);
    this.detach();
    const params = model.parameters();
    for (const p of this.sites) {
      const key = `blocks.${p.site.layer}.${p.site.linear}.weight`;
      assign(params.get(key)!, state[key]!.data);
    }
    return model;
  }

  override dispose(): void {
    this.detach();
    super.dispose();
  }
}

function linearOf(model: DecoderLM, site: LoraSite): Linear {
  const block = model.blocks[site.layer];
  if (!block) throw new LoraError(`LoraAdapters: the model has no layer ${site.layer}`);
  switch (site.linear) {
    case 'attn.qkv':
      return block.attn.qkv;
    case 'attn.proj':
      return block.attn.proj;
    default: {
      const mlp = block.mlp as unknown as Record<string, Linear | undefined>;
      const linear = mlp[site.linear.slice('mlp.'.length)];
      if (!linear) throw new LoraError(`LoraAdapters: layer ${site.layer} has no ${site.linear} projection`);
      return linear;
    }
  }
}

/**
 * Adds fresh LoRA adapters to `model` and freezes its own parameters: afterwards only
 * adapters.parameters() require gradients (give those to the optimizer).
 */
export function applyLora(model: DecoderLM, lora: LoraConfig, init: InitOptions = {}, where?: string): LoraAdapters {
  const adapters = LoraAdapters.create(model, lora, init, where);
  model.setRequiresGrad(false);
  return adapters.attach(model);
}
