// The implicit PRM (PRIME / "Free Process Rewards without Process Labels", docs/research/papers.md §3(b)):
// the PRM is a language model π_φ scored against a frozen reference π_ref,
//
//   token reward  r_t = β (log π_φ(y_t) − log π_ref(y_t))
//   response      r(y) = Σ_t r_t           (over valid response tokens)
//   step reward   r_k = Σ_{t ∈ step k} r_t
//
// trained with cross-entropy on outcome labels (PRIME's online update, ImplicitPRM 'ce') or with
// DPO on (correct, incorrect) pairs (ImplicitPRM 'dpo').
import { mean, mul, neg, reshape, scale, sub, sum, tensor, type Tensor } from '@repirl/autograd';
import { checkShape, constant, logSigmoid, meanBceWithLogits, type ConstantInput } from './common.js';

/** [B, T] token log-probs of one set of responses under the PRM LM and the reference. */
export interface LogRatioInputs {
  /** log π_φ(y_t), [B, T]: gradients flow here. */
  logpPolicy: Tensor;
  /** log π_ref(y_t), [B, T]; no gradient. */
  logpRef: ConstantInput;
  /** 1 = valid response token, 0 = prompt or padding, [B, T]. Masked entries must be finite. */
  mask: ConstantInput;
}

/** β · Σ_t mask_t (log π_φ − log π_ref)(y_t): the implicit response reward, [B]. */
export function implicitResponseReward(inputs: LogRatioInputs, beta: number): Tensor {
  return sum(implicitTokenRewards(inputs, beta), 1);
}

/** β · mask_t · (log π_φ − log π_ref)(y_t): the implicit token rewards, [B, T] (0 on masked tokens). */
export function implicitTokenRewards(inputs: LogRatioInputs, beta: number): Tensor {
  const { logpPolicy } = inputs;
  if (logpPolicy.rank !== 2) throw new Error(`implicit PRM: logpPolicy must be [B, T], got [${logpPolicy.shape.join(', ')}]`);
  const ref = constant(logpPolicy, inputs.logpRef);
  const mask = constant(logpPolicy, inputs.mask);
  return scale(mul(sub(logpPolicy, ref), mask), beta);
}

export interface ImplicitCeInputs extends LogRatioInputs {
  /** Outcome labels r_o ∈ [0, 1] (1 = correct), [B]. */
  labels: ArrayLike<number>;
}

/**
 * PRIME's cross-entropy loss: L = −mean_b[ y_b log σ(r_b) + (1 − y_b) log(1 − σ(r_b)) ],
 * r_b = β Σ_t (log π_φ − log π_ref)(y_t). PRIME's β (beta_train) is 0.05.
 */
export function implicitPrmCeLoss(inputs: ImplicitCeInputs, options: { beta: number }): { loss: Tensor; rewards: Tensor } {
  const rewards = implicitResponseReward(inputs, options.beta);
  return { loss: meanBceWithLogits(rewards, inputs.labels), rewards };
}

export interface ImplicitDpoInputs {
  /** The chosen (correct) responses, [B, T]. */
  chosen: LogRatioInputs;
  /** The rejected (incorrect) responses paired with them, [B, T'] (T' may differ from T). */
  rejected: LogRatioInputs;
}

/**
 * DPO on pairs: L = −mean_b log σ(β[Δ(y_w) − Δ(y_l)]), Δ(y) = Σ_t (log π_φ − log π_ref)(y_t).
 * `margins` = β(Δ_w − Δ_l), [B].
 */
export function implicitPrmDpoLoss(inputs: ImplicitDpoInputs, options: { beta: number }): { loss: Tensor; margins: Tensor } {
  const chosen = implicitResponseReward(inputs.chosen, options.beta);
  const rejected = implicitResponseReward(inputs.rejected, options.beta);
  if (chosen.shape[0] !== rejected.shape[0]) throw new Error(`implicit-prm-dpo: ${chosen.shape[0]} chosen vs ${rejected.shape[0]} rejected responses`);
  const margins = sub(chosen, rejected);
  return { loss: neg(mean(logSigmoid(margins))), margins };
}

export interface ImplicitStepRewards {
  /** β · mask · (log π_φ − log π_ref), [B, T]. */
  tokenRewards: Tensor;
  /** Σ of tokenRewards over each step's tokens, [B, K] with K = the most steps of any sample; 0 past a sample's last step. */
  stepRewards: Tensor;
  /** 1 where stepRewards holds a real step, [B, K]. */
  stepMask: Tensor;
}

/**
 * Per-step implicit rewards. stepEnds[b] lists, in increasing order, the token index (inclusive)
 * of the last token of each step of sample b; step k covers tokens (stepEnds[b][k−1], stepEnds[b][k]]
 * (step 0 starts at token 0; prompt tokens have mask 0 and add nothing). Differentiable w.r.t. logpPolicy.
 */
export function implicitStepRewards(
  logpPolicy: Tensor,
  logpRef: ConstantInput,
  mask: ConstantInput,
  stepEnds: readonly (readonly number[])[],
  beta: number,
): ImplicitStepRewards {
  const tokenRewards = implicitTokenRewards({ logpPolicy, logpRef, mask }, beta);
  const [b, t] = logpPolicy.shape as [number, number];
  if (stepEnds.length !== b) throw new Error(`implicitStepRewards: stepEnds has ${stepEnds.length} rows for ${b} samples`);
  const k = stepEnds.reduce((m, e) => Math.max(m, e.length), 1);
  // assign[b, t, k] = 1 when token t of sample b belongs to step k.
  const assign = new Array<number>(b * t * k).fill(0);
  const stepMask = new Array<number>(b * k).fill(0);
  stepEnds.forEach((ends, row) => {
    let start = 0;
    ends.forEach((end, step) => {
      if (!Number.isInteger(end) || end < start || end >= t) throw new Error(`implicitStepRewards: sample ${row} step end ${end} is out of order or outside [0, ${t})`);
      for (let tok = start; tok <= end; tok++) assign[(row * t + tok) * k + step] = 1;
      stepMask[row * k + step] = 1;
      start = end + 1;
    });
  });
  const assignment = tensor(logpPolicy.backend, assign, [b, t, k]);
  const stepRewards = sum(mul(reshape(tokenRewards, [b, t, 1]), assignment), 1);
  checkShape('implicitStepRewards', stepRewards, [b, k]);
  return { tokenRewards, stepRewards, stepMask: tensor(logpPolicy.backend, stepMask, [b, k]) };
}
