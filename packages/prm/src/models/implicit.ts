// The implicit PRM (PRIME, "Free Process Rewards without Process Labels"; docs/research/papers.md §3(a)–(b)): a
// full causal LM π_φ, no head, scored against a frozen reference π_ref — both copies of the policy
// (PRIME's SFT model) when made by fromPolicy:
//
//   token reward  r_t = β (log π_φ(y_t | y_<t) − log π_ref(y_t | y_<t))
//   step reward   Σ_{t ∈ step} r_t   (stepScores over stepEndTokens; ImplicitPRM's Q_k − Q_{k−1})
//
// Log-probs are responseLogProbs of @repirl/rl (the hidden state *before* token t predicts it), so
// r_t is the reward of token t. Both LMs live in this one Module: the state dict holds `lm.*` and
// `reference.*` (a saved implicit PRM is self-contained) and the reference is frozen on
// construction, so only `lm.*` is ever trainable.
import { DecoderLM, LoraAdapters, Module, copyParameters, loraAdaptersConfig, noGrad, tensor, type Backend, type DecoderConfig, type Init, type InitOptions, type LoraConfig, type Tensor } from '@repirl/autograd';
import { responseLogProbs, type PackedBatch } from '@repirl/rl';
import { implicitTokenRewards, type LogRatioInputs } from '../losses/implicit.js';
import type { ProcessRewardModel } from './prm.js';

export interface ImplicitPrmConfig {
  /** The decoder config of both LMs (the policy's, when made by fromPolicy). */
  decoder: DecoderConfig;
  /** β of r_t = β log π_φ/π_ref (PRIME's beta_train: 0.05). */
  beta: number;
  /** Temperature of both LMs' log-probs (1 = the plain LM, the default). */
  temperature?: number;
  /** Train π_φ through LoRA adapters (a child module `lora` attached to `lm`, whose own weights stay frozen). */
  lora?: LoraConfig | null;
}

export class ImplicitPrm extends Module<ImplicitPrmConfig> implements ProcessRewardModel {
  readonly kind = 'implicit';
  /** π_φ, the trained LM. */
  readonly lm: DecoderLM;
  /** π_ref, frozen. */
  readonly reference: DecoderLM;
  /** π_φ's LoRA adapters (config.lora), else null. */
  readonly lora: LoraAdapters | null;

  constructor(backend: Backend, config: ImplicitPrmConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    if (!(config.beta > 0) || !Number.isFinite(config.beta)) throw new Error(`ImplicitPrm: beta must be a finite number > 0, got ${config.beta}`);
    this.lm = this.child('lm', new DecoderLM(backend, config.decoder, this.init));
    this.reference = this.child('reference', new DecoderLM(backend, config.decoder, this.init));
    this.reference.setRequiresGrad(false);
    this.lora = config.lora ? this.child('lora', new LoraAdapters(backend, loraAdaptersConfig(this.lm, config.lora, 'lora'), this.init)).attach(this.lm) : null;
    if (this.lora) this.lm.setRequiresGrad(false);
  }

  /** π_φ and π_ref both start as copies of `policy` (PRIME: the SFT model), so every reward starts at 0. */
  static fromPolicy(policy: DecoderLM, options: { beta?: number; temperature?: number; lora?: LoraConfig | null; seed?: number } = {}): ImplicitPrm {
    const config: ImplicitPrmConfig = {
      decoder: structuredClone(policy.config), beta: options.beta ?? 0.05,
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}), ...(options.lora ? { lora: options.lora } : {}),
    };
    const prm = new ImplicitPrm(policy.backend, config, { empty: true });
    for (const lm of [prm.lm, prm.reference]) copyParameters(policy.parameters(), lm.parameters());
    prm.lora?.resetParameters(options.seed ?? 0); // built empty: draw A (B stays 0, so every reward still starts at 0)
    return prm;
  }

  get beta(): number {
    return this.config.beta;
  }

  /** log π_φ [B, T] (differentiable), log π_ref [B, T] (no gradient) and the response mask: what the implicit losses take. */
  logRatioInputs(packed: PackedBatch): LogRatioInputs {
    const temperature = this.config.temperature ?? 1;
    const logpPolicy = responseLogProbs(this.lm, packed, { temperature }).logp;
    const logpRef = noGrad(() => responseLogProbs(this.reference, packed, { temperature }).logp);
    return { logpPolicy, logpRef, mask: tensor(this.backend, packed.mask, [packed.B, packed.T]) };
  }

  /** r_t = β (log π_φ − log π_ref)(y_t), [B, T], 0 at padding. */
  tokenRewards(packed: PackedBatch): Tensor {
    return implicitTokenRewards(this.logRatioInputs(packed), this.beta);
  }

  /** π_φ's parameters, or its LoRA adapters (the reference is frozen). */
  trainableParameters(): Map<string, Tensor> {
    return new Map([...this.parameters()].filter(([name]) => name.startsWith(this.lora ? 'lora.' : 'lm.')));
  }
}
