// AIRL-S discriminator loss and policy reward (docs/research/papers.md §2(b)), at step level.
//
//   D(s, a) = exp(f) / (exp(f) + π(a|s))  =  σ(ℓ),   ℓ = f(s, a) − log π(a|s)
//   L = −mean_steps[ y·log σ(ℓ) + (1 − y)·log(1 − σ(ℓ)) ]     y = 1 expert steps, 0 policy steps
//   policy reward r̂(s, a) = log D − log(1 − D) = f − log π
//
// f is the PRM's score read at the step's end, log π the policy log-probability of the whole step
// (the sum of its tokens' log-probs), used without gradient. Working with the logit ℓ instead of D
// keeps the loss finite when f or log π are large (exp(f) and π are never formed).
import { sub, type Tensor } from '@repirl/autograd';
import { checkVector, constant, meanBceWithLogits, type ConstantInput } from './common.js';

export interface AirlDiscriminatorInputs {
  /** f: the PRM's step scores, [N] (steps of expert and policy samples, flattened); gradients flow here. */
  f: Tensor;
  /** log π(step | prefix): the policy's summed token log-probs of each step, [N]; no gradient. */
  logPi: ConstantInput;
  /** 1 = the step belongs to an expert (correct / demonstration) trace, 0 = a policy sample, [N]. */
  labels: ArrayLike<number>;
}

export interface AirlDiscriminatorResult {
  loss: Tensor;
  /** The logits ℓ = f − log π, [N] (σ(ℓ) = D); differentiable w.r.t. f. */
  logits: Tensor;
}

/** AIRL discriminator BCE on the logit f − log π (see the file comment). */
export function airlDiscriminatorLoss(inputs: AirlDiscriminatorInputs): AirlDiscriminatorResult {
  const logits = airlReward(inputs.f, inputs.logPi);
  return { loss: meanBceWithLogits(logits, inputs.labels), logits };
}

/** The AIRL policy reward per step: r̂ = log D − log(1 − D) = f − log π, [N]. */
export function airlReward(f: Tensor, logPi: ConstantInput): Tensor {
  const n = checkVector('airl: f', f);
  return sub(f, constant(f, logPi, [n]));
}

/**
 * How the step rewards r̂ combine with the outcome reward r_o for GRPO. The paper's exact rule and
 * λ were not found (docs/research/papers.md §2(b)), so this is an option:
 * - 'outcome-plus-sum':  R = r_o + λ Σ_k r̂_k
 * - 'outcome-plus-mean': R = r_o + λ mean_k r̂_k   (length-independent)
 * - 'outcome-plus-min':  R = r_o + λ min_k r̂_k    (the weakest step, as PRM verification does)
 * - 'outcome-only':      R = r_o                   (the discriminator is trained but not used as reward)
 * - 'process-only':      R = Σ_k r̂_k               (no verifier)
 */
export type AirlRewardCombination = 'outcome-plus-sum' | 'outcome-plus-mean' | 'outcome-plus-min' | 'outcome-only' | 'process-only';
export const AIRL_REWARD_COMBINATIONS: readonly AirlRewardCombination[] = [
  'outcome-plus-sum',
  'outcome-plus-mean',
  'outcome-plus-min',
  'outcome-only',
  'process-only',
];

/**
 * The trajectory reward R for one sample from its step rewards r̂ (plain numbers, e.g. read from
 * airlReward) and outcome r_o, under `combination` with weight λ (default 1). Computed on the host:
 * rewards carry no gradient.
 */
export function combineAirlReward(stepRewards: ArrayLike<number>, outcome: number, combination: AirlRewardCombination, lambda = 1): number {
  const r = Array.from(stepRewards);
  const total = r.reduce((a, b) => a + b, 0);
  switch (combination) {
    case 'outcome-plus-sum':
      return outcome + lambda * total;
    case 'outcome-plus-mean':
      return outcome + lambda * (r.length > 0 ? total / r.length : 0);
    case 'outcome-plus-min':
      return outcome + lambda * (r.length > 0 ? Math.min(...r) : 0);
    case 'outcome-only':
      return outcome;
    case 'process-only':
      return total;
  }
}

