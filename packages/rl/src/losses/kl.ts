// KL estimators between the policy and a frozen reference, per token, and their two placements
// (verl kl_penalty / OpenRLHF compute_approx_kl; Schulman's "Approximating KL divergence").
//
// With x = logp − refLogp for a token y ~ π (so E_π[x] = KL(π ‖ ref)):
//   k1 = x                          unbiased for KL(π‖ref), high variance, can be negative
//   k2 = ½x²                        biased, ≥ 0, low variance
//   k3 = e^{−x} + x − 1             unbiased for KL(π‖ref), ≥ 0, low variance (GRPO's choice)
//   abs = |x|
// As a loss term, the gradient w.r.t. logp is what matters, not the value:
//   ∇k1 = ∇logp: its expectation under π is 0, so a k1 loss term adds only noise;
//   ∇k2 = x·∇logp: in expectation exactly ∇KL(π‖ref) (on-policy);
//   ∇k3 = (1 − e^{−x})·∇logp: in expectation ∇KL(ref‖π), the REVERSE direction;
//   ∇abs = sign(x)·∇logp.
// The "+" variants (verl's straight-through trick) keep the value of k1/k3/abs and take k2's
// gradient: k2 − sg(k2) + sg(k).
//
// Placements:
// - in the reward (klPenaltyInReward): r_t ← r_t − β·k_t on valid tokens, computed without
//   gradient before the advantages (PPO/RLOO in TRL, verl use_kl_in_reward, PRIME);
// - in the loss (klLoss): + β·agg(k_t), a differentiable term aggregated like the policy loss
//   (GRPO, verl use_kl_loss). Fixed or adaptive β (KlController).
import { add, div, exp, mul, noGrad, scale, sub, sum, unary, type Tensor } from '@repirl/autograd';
import { aggregateLoss, tokenMeanNoGrad, type LossAggregation, type LossNormalisers } from './aggregate.js';
import { abs, checkTokenShapes, clamp, detach } from './ops.js';

export type KlEstimatorName = 'k1' | 'k2' | 'k3' | 'abs' | 'k1+' | 'k3+' | 'abs+';

export interface KlEstimator {
  readonly name: KlEstimatorName;
  /** Value formula in x = logp − refLogp. */
  readonly doc: string;
  /** Gradient w.r.t. logp and what it estimates. */
  readonly gradient: string;
  /** Per-token estimate, same shape as the inputs; differentiable in logp. */
  readonly fn: (logp: Tensor, refLogp: Tensor) => Tensor;
}

const k1 = (logp: Tensor, ref: Tensor): Tensor => sub(logp, ref);
const k2 = (logp: Tensor, ref: Tensor): Tensor => scale(unary('square', sub(logp, ref)), 0.5);
/** verl's low_var_kl: the exponent clamped to ±20 and the result to ±10, so one outlier token cannot dominate. */
const k3 = (logp: Tensor, ref: Tensor): Tensor => {
  const d = clamp(sub(ref, logp), { min: -20, max: 20 }); // −x
  return clamp(scale(sub(exp(d), d), 1, -1), { min: -10, max: 10 });
};
const absKl = (logp: Tensor, ref: Tensor): Tensor => abs(sub(logp, ref));

/** Value of `forward`, gradient of k2: k2 − sg(k2) + sg(forward). */
const straightThrough =
  (forward: (logp: Tensor, ref: Tensor) => Tensor) =>
  (logp: Tensor, ref: Tensor): Tensor => {
    const surrogate = k2(logp, ref);
    return add(sub(surrogate, detach(surrogate)), detach(forward(logp, ref)));
  };

export const KL_ESTIMATORS: Readonly<Record<KlEstimatorName, KlEstimator>> = Object.freeze({
  k1: {
    name: 'k1',
    doc: 'k1 = x = logp − refLogp (verl "kl"); unbiased for KL(π‖ref), can be negative.',
    gradient: '∇logp; zero in expectation under π, so as a loss it only adds noise (use it in the reward).',
    fn: k1,
  },
  k2: {
    name: 'k2',
    doc: 'k2 = ½x² (verl "mse"); biased, ≥ 0.',
    gradient: 'x·∇logp; in expectation the exact ∇KL(π‖ref) on-policy.',
    fn: k2,
  },
  k3: {
    name: 'k3',
    doc: 'k3 = e^{−x} + x − 1 = exp(ref − logp) − (ref − logp) − 1 (verl "low_var_kl", TRL GRPO); unbiased, ≥ 0; exponent clamped ±20, value ±10 (verl).',
    gradient: '(1 − e^{−x})·∇logp; in expectation ∇KL(ref‖π) (reverse KL).',
    fn: k3,
  },
  abs: {
    name: 'abs',
    doc: 'abs = |x| (verl "abs").',
    gradient: 'sign(x)·∇logp (0 at x = 0).',
    fn: absKl,
  },
  'k1+': {
    name: 'k1+',
    doc: 'value of k1, gradient of k2 (verl straight-through "k1+").',
    gradient: 'x·∇logp (k2\'s).',
    fn: straightThrough(k1),
  },
  'k3+': {
    name: 'k3+',
    doc: 'value of k3, gradient of k2 (verl straight-through "k3+").',
    gradient: 'x·∇logp (k2\'s).',
    fn: straightThrough(k3),
  },
  'abs+': {
    name: 'abs+',
    doc: 'value of abs, gradient of k2 (verl straight-through "abs+").',
    gradient: 'x·∇logp (k2\'s).',
    fn: straightThrough(absKl),
  },
});

export const KL_ESTIMATOR_NAMES = Object.keys(KL_ESTIMATORS) as KlEstimatorName[];

/** The KL estimator called `name`; an unknown name throws, listing the known ones. */
export function getKlEstimator(name: string): KlEstimator {
  if (!Object.prototype.hasOwnProperty.call(KL_ESTIMATORS, name)) {
    throw new Error(`unknown KL estimator "${name}" (known: ${KL_ESTIMATOR_NAMES.join(', ')})`);
  }
  return KL_ESTIMATORS[name as KlEstimatorName];
}

/** Per-token KL estimate k(logp, refLogp) with the named estimator. */
export function klDivergence(name: string, logp: Tensor, refLogp: Tensor): Tensor {
  return getKlEstimator(name).fn(logp, refLogp);
}

export interface KlInRewardOptions {
  estimator: KlEstimatorName;
  /** β ≥ 0. */
  coef: number;
}

/**
 * KL in the reward: rewards − β·k·mask, with no gradient (the penalty becomes part of the return
 * the advantages are computed from). Pass the rollout policy's log-probs as logp, as verl does.
 * Returns the new [B, T] rewards, the masked per-token k, and its mean over valid tokens.
 */
export function klPenaltyInReward(rewards: Tensor, logp: Tensor, refLogp: Tensor, mask: Tensor, options: KlInRewardOptions): { rewards: Tensor; kl: Tensor; meanKl: Tensor } {
  checkTokenShapes('klPenaltyInReward', { rewards, logp, refLogp, mask });
  checkCoef('klPenaltyInReward', options.coef);
  return noGrad(() => {
    const kl = mul(klDivergence(options.estimator, logp, refLogp), mask);
    const meanKl = div(sum(kl), clamp(sum(mask), { min: 1 }));
    return { rewards: sub(rewards, scale(kl, options.coef)), kl, meanKl };
  });
}

export interface KlLossOptions {
  estimator: KlEstimatorName;
  /** β ≥ 0. */
  coef: number;
  aggregation: LossAggregation;
  normalisers: LossNormalisers;
}

/**
 * KL in the loss: β·agg(k) — differentiable in logp, aggregated with the mini-batch normalisers
 * like the policy loss. `kl` is the token mean of k (no gradient; adds up over micro-batches).
 */
export function klLoss(logp: Tensor, refLogp: Tensor, mask: Tensor, options: KlLossOptions): { loss: Tensor; kl: Tensor } {
  checkTokenShapes('klLoss', { logp, refLogp, mask });
  checkCoef('klLoss', options.coef);
  const k = klDivergence(options.estimator, logp, refLogp);
  return {
    loss: scale(aggregateLoss(k, mask, options.aggregation, options.normalisers), options.coef),
    kl: tokenMeanNoGrad(k, mask, options.normalisers),
  };
}

function checkCoef(context: string, coef: number): void {
  if (!Number.isFinite(coef) || coef < 0) throw new Error(`${context}: coef must be a finite number ≥ 0, got ${coef}`);
}

/** A KL coefficient: fixed, or adapted toward a target KL (Ziegler et al. 2019; verl/OpenRLHF AdaptiveKLController). */
export interface KlController {
  readonly value: number;
  /** Feeds the KL measured over `steps` samples (or steps); a fixed controller ignores it. */
  update(currentKl: number, steps: number): void;
}

export class FixedKlController implements KlController {
  constructor(readonly value: number) {
    checkCoef('FixedKlController', value);
  }
  update(): void {}
}

/**
 * β ← β·(1 + clip(KL/target − 1, −0.2, 0.2)·steps/horizon): raises β while the KL is above the
 * target and lowers it below, by at most 20% per horizon.
 */
export class AdaptiveKlController implements KlController {
  private current: number;
  constructor(
    initial: number,
    readonly target: number,
    readonly horizon: number,
  ) {
    checkCoef('AdaptiveKlController', initial);
    if (!(target > 0) || !(horizon > 0)) throw new Error(`AdaptiveKlController: target and horizon must be > 0, got ${target}, ${horizon}`);
    this.current = initial;
  }
  get value(): number {
    return this.current;
  }
  update(currentKl: number, steps: number): void {
    const error = Math.min(Math.max(currentKl / this.target - 1, -0.2), 0.2);
    this.current *= 1 + (error * steps) / this.horizon;
  }
}
