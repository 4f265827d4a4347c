// Entropy bonus: −coef·agg(H_t) added to the loss, so minimising the loss raises the policy's
// entropy (verl: policy_loss − entropy_coeff·entropy; rePIRL uses 0.001). H_t is the per-token
// entropy of the policy's distribution, from tokenLogProbs(logits, targets, { entropy: true }),
// whose fused backward carries this gradient into the logits.
import type { Tensor } from '@repirl/autograd';
import { scale } from '@repirl/autograd';
import { aggregateLoss, type LossAggregation, type LossNormalisers } from './aggregate.js';
import { checkTokenShapes, detach } from './ops.js';

export interface EntropyBonusOptions {
  /** ≥ 0; 0 disables the bonus (skip the call then: it still costs a backward pass). */
  coef: number;
  aggregation: LossAggregation;
  normalisers: LossNormalisers;
}

/**
 * loss = −coef·agg(H) (differentiable); entropy = agg(H) without gradient, for the metric
 * `actor/entropy` (it adds up over micro-batches like the loss).
 */
export function entropyBonus(entropy: Tensor, mask: Tensor, options: EntropyBonusOptions): { loss: Tensor; entropy: Tensor } {
  checkTokenShapes('entropyBonus', { entropy, mask });
  if (!Number.isFinite(options.coef) || options.coef < 0) throw new Error(`entropyBonus: coef must be a finite number ≥ 0, got ${options.coef}`);
  const aggregated = aggregateLoss(entropy, mask, options.aggregation, options.normalisers);
  return { loss: scale(aggregated, -options.coef), entropy: detach(aggregated) };
}
