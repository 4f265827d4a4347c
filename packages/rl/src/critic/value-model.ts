// The critic of PPO + GAE: a value head on its own copy of the policy's backbone.
//
// Design choice. The alternatives were (a) a separate backbone, initialised from the policy, with
// a scalar head (verl, OpenRLHF, TRL's PPO), or (b) a head on the policy's own hidden states,
// either detached (a linear probe on features that move under it) or trained jointly through the
// backbone (value and policy gradients fighting over the same weights, tuned by a vf coefficient).
// We take (a): the critic has its own optimizer and learning rate, its loss cannot disturb the
// policy, and the same class later serves reward models. The price is a second forward/backward
// per micro-batch, acceptable for the small models this project trains.
//
// V(s_t) for response token t is read from the hidden state that predicts token t (position
// P − 1 + t), the state before the token is chosen: verl's values[:, -T-1:-1]. The head starts at
// zero, so initial values are 0 and the first GAE advantages are plain returns.
import {
  DecoderLM, Module, ScalarHead, add, copyParameters, mul, noGrad, reshape, scale, sub, sum, unary, type Backend, type DecoderConfig, type Init,
  type InitOptions, type Tensor,
} from '@repirl/autograd';
import { aggregateLoss, tokenMeanNoGrad, type LossNormalisers } from '../losses/aggregate.js';
import { checkTokenShapes, clamp, greater, maximum } from '../losses/ops.js';
import { responseHidden, type PackedBatch } from '../rollout/pack.js';

export interface ValueModelConfig {
  /** The backbone's decoder config (the policy's, when made by fromPolicy). */
  decoder: DecoderConfig;
}

export class ValueModel extends Module<ValueModelConfig> {
  readonly backbone: DecoderLM;
  readonly head: ScalarHead;

  constructor(backend: Backend, config: ValueModelConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    this.backbone = this.child('backbone', new DecoderLM(backend, config.decoder, this.init));
    this.head = this.child('head', new ScalarHead(backend, { dModel: config.decoder.dModel }, this.init));
  }

  /** A critic whose backbone is a copy of the policy's weights and whose head is zero. */
  static fromPolicy(policy: DecoderLM): ValueModel {
    // `empty` allocates zeros without drawing: the backbone is overwritten next, the head stays 0.
    const critic = new ValueModel(policy.backend, { decoder: structuredClone(policy.config) }, { empty: true });
    copyParameters(policy.parameters(), critic.backbone.parameters());
    return critic;
  }

  /** Parameters the critic trains: all but the backbone's unused LM head. */
  trainableParameters(): Map<string, Tensor> {
    return new Map([...this.parameters()].filter(([name]) => !name.startsWith('backbone.lmHead.')));
  }

  /** V(s_t) for every response token, [B, T] in the response layout (padding entries finite, to be masked). */
  values(packed: PackedBatch): Tensor {
    const rows = responseHidden(this.backbone, packed); // [B·T, d]
    return reshape(this.head.forward(reshape(rows, [1, packed.B * packed.T, this.config.decoder.dModel])), [packed.B, packed.T]);
  }
}

export interface ValueLossOptions {
  /** verl's cliprange_value: the new value may move at most this far from the old one before the clipped term takes over; null = no clipping. */
  clip: number | null;
  /** The mini-batch's normalisers (token-mean over the whole mini-batch, exact under micro-batching). */
  normalisers: LossNormalisers;
}

/**
 * PPO's clipped value loss (verl compute_value_loss, token-mean):
 *   L = ½ · Σ_t M·max((V − R)², (V_old + clip(V − V_old, −c, c) − R)²) / N_tokens
 * `clipFrac` is the fraction of tokens where the clipped term is the larger (verl vf_clipfrac).
 */
export function valueLoss(values: Tensor, oldValues: Tensor, returns: Tensor, mask: Tensor, options: ValueLossOptions): { loss: Tensor; clipFrac: Tensor } {
  checkTokenShapes('valueLoss', { values, oldValues, returns, mask });
  const square = (x: Tensor) => unary('square', x);
  const unclipped = square(sub(values, returns));
  if (options.clip === null) {
    return { loss: scale(aggregateLoss(unclipped, mask, 'token-mean', options.normalisers), 0.5), clipFrac: noGrad(() => scale(sum(mask), 0)) };
  }
  if (!(options.clip > 0)) throw new Error(`valueLoss: clip must be > 0 or null, got ${options.clip}`);
  const c = options.clip;
  // V_old has no gradient; the clamp passes V's gradient inside [−c, c] and none outside, as torch.clamp.
  const clippedValues = add(oldValues, clamp(sub(values, oldValues), { min: -c, max: c }));
  const clipped = square(sub(clippedValues, returns));
  const loss = scale(aggregateLoss(maximum(unclipped, clipped), mask, 'token-mean', options.normalisers), 0.5);
  const clipFrac = noGrad(() => tokenMeanNoGrad(mul(greater(clipped, unclipped), mask), mask, options.normalisers));
  return { loss, clipFrac };
}
