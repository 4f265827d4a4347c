// rePIRL's PRM (docs/research/papers.md §1(b), recipe/irl/rm.py): a copy of the policy's backbone whose last
// hidden state at every response token goes through an MLP head with a tanh,
//   r_φ(s_t, a_t) = tanh(W₃ relu(W₂ relu(W₁ h_{P+t} + b₁) + b₂) + b₃) ∈ (−1, 1),
// read at the token's own position (the launch scripts' path; see models/prm.ts). The released
// head is H → 1024 → 1024 → 1; here the width is a config field (default 2·dModel for our tiny
// models). `freezeBackbone` is the code's `ffn_only`.
import { MlpHead, reshape, type Backend, type DecoderLM, type Init, type InitOptions, type LoraConfig, type Tensor } from '@repirl/autograd';
import type { PackedBatch } from '@repirl/rl';
import { BackbonePrm, prmFromPolicy, type BackbonePrmConfig } from './backbone.js';

export interface TokenMlpPrmConfig extends BackbonePrmConfig {
  /** Width of the head's two hidden layers (rePIRL: 1024 on 2048–2560-wide backbones). */
  hidden: number;
}

export interface TokenMlpPrmOptions {
  /** Head width; default 2·dModel. */
  hidden?: number;
  freezeBackbone?: boolean;
  /** Train the backbone through LoRA adapters instead of all its weights. */
  lora?: LoraConfig | null;
  /** Seed of the head's initial weights. Default 0. */
  seed?: number;
}

export class TokenMlpPrm extends BackbonePrm<TokenMlpPrmConfig> {
  readonly kind = 'token-mlp';
  readonly head: MlpHead;

  constructor(backend: Backend, config: TokenMlpPrmConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    if (!Number.isInteger(config.hidden) || config.hidden < 1) throw new Error(`TokenMlpPrm: hidden must be a positive integer, got ${config.hidden}`);
    this.head = this.child('head', new MlpHead(backend, { dModel: config.decoder.dModel, hidden: config.hidden, tanh: true }, this.init));
  }

  /** A PRM whose backbone is a copy of `policy` (rePIRL's initialisation) and whose head is drawn from `seed`. */
  static fromPolicy(policy: DecoderLM, options: TokenMlpPrmOptions = {}): TokenMlpPrm {
    const config = { hidden: options.hidden ?? 2 * policy.config.dModel, freezeBackbone: options.freezeBackbone ?? false, ...(options.lora ? { lora: options.lora } : {}) };
    return prmFromPolicy(TokenMlpPrm, policy, config, options.seed ?? 0);
  }

  /** r_φ(s_t, a_t) for every response token, [B, T] in (−1, 1) (padding entries finite, to be masked). */
  tokenRewards(packed: PackedBatch): Tensor {
    return reshape(this.head.forward(this.tokenHidden(packed)), [packed.B, packed.T]);
  }
}
