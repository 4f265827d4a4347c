// The shared shape of this package's head-on-a-backbone PRMs (rePIRL's token MLP, the ORM /
// Math-Shepherd scalar head): a DecoderLM backbone initialised as a copy of the policy (rePIRL's
// recipe/irl/rm.py: "the same checkpoint as the policy", docs/research/papers.md §1(b)) plus a head, as one
// autograd Module, so a PRM saves and loads through its state dict and rebuilds from its config.
// The design follows @repirl/rl's ValueModel (a separate backbone copy with its own optimizer).
//
// `freezeBackbone` is rePIRL's `ffn_only`: the backbone keeps the policy's weights and only the
// head trains; its forward then runs without a tape. `lora` trains the backbone through LoRA
// adapters instead (a child module `lora`, attached to the backbone, whose own weights stay
// frozen): the head and the adapters train, and the PRM's state dict holds both.
import {
  DecoderLM, LoraAdapters, Module, copyParameters, loraAdaptersConfig, noGrad, reshape,
  type Backend, type DecoderConfig, type Init, type InitOptions, type LoraConfig, type Tensor,
} from '@repirl/autograd';
import type { PackedBatch } from '@repirl/rl';
import { tokenStateHidden, type ProcessRewardModel } from './prm.js';

export interface BackbonePrmConfig {
  /** The backbone's decoder config (the policy's, when made by prmFromPolicy). */
  decoder: DecoderConfig;
  /** Train only the head (rePIRL's ffn_only). Default false. */
  freezeBackbone?: boolean;
  /** Train the backbone through LoRA adapters (its own weights frozen); null or absent: no adapters. */
  lora?: LoraConfig | null;
}

export abstract class BackbonePrm<C extends BackbonePrmConfig = BackbonePrmConfig> extends Module<C> implements ProcessRewardModel {
  abstract readonly kind: string;
  readonly backbone: DecoderLM;
  /** The backbone's LoRA adapters (config.lora), attached to it; else null. */
  readonly lora: LoraAdapters | null;

  constructor(backend: Backend, config: C, init?: InitOptions | Init) {
    super(backend, config, init);
    this.backbone = this.child('backbone', new DecoderLM(backend, config.decoder, this.init));
    if (config.lora && config.freezeBackbone) throw new Error(`${this.constructor.name}: freezeBackbone (train the head only) and lora (train backbone adapters) exclude each other`);
    this.lora = config.lora ? this.child('lora', new LoraAdapters(backend, loraAdaptersConfig(this.backbone, config.lora, 'lora'), this.init)).attach(this.backbone) : null;
    if (config.freezeBackbone || config.lora) this.backbone.setRequiresGrad(false);
  }

  abstract tokenRewards(packed: PackedBatch): Tensor;

  /** The head, and the backbone unless frozen (or its LoRA adapters); never the backbone's unused LM head. */
  trainableParameters(): Map<string, Tensor> {
    const frozen = (this.config.freezeBackbone ?? false) || !!this.config.lora;
    return new Map([...this.parameters()].filter(([name]) => !name.startsWith('backbone.lmHead.') && !(frozen && name.startsWith('backbone.'))));
  }

  /** Hidden states [1, B·T, d] at each response token (position P + t), the layout the heads take. */
  protected tokenHidden(packed: PackedBatch): Tensor {
    const read = () => reshape(tokenStateHidden(this.backbone, packed), [1, packed.B * packed.T, this.config.decoder.dModel]);
    return this.config.freezeBackbone ? noGrad(read) : read();
  }
}

type PrmClass<C extends BackbonePrmConfig, M> = new (backend: Backend, config: C, init?: InitOptions | Init) => M;

/**
 * A PRM of class `Ctor` whose backbone is a copy of the policy's weights and whose head is drawn
 * from `seed` (a zero head would have no gradient through its ReLUs / tanh).
 */
export function prmFromPolicy<C extends BackbonePrmConfig, M extends BackbonePrm<C>>(
  Ctor: PrmClass<C, M>, policy: DecoderLM, config: Omit<C, 'decoder'>, seed = 0,
): M {
  const prm = new Ctor(policy.backend, { ...config, decoder: structuredClone(policy.config) } as C, { seed });
  copyParameters(policy.parameters(), prm.backbone.parameters());
  return prm;
}
