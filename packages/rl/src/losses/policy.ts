// Policy-gradient losses as a named registry (verl's register_policy_loss, as a typed object):
// name → { doc, fn(inputs, options) }. Every loss takes [B, T] token tensors, builds a [B, T]
// matrix of token losses and aggregates it with the mini-batch's global normalisers (aggregate.ts),
// so calling it per micro-batch and accumulating gradients gives the mini-batch gradient.
//
// Notation: r_t = π(y_t)/π_old(y_t) = exp(logp − oldLogp) (log-ratio clamped to ±20 as verl does,
// so exp never overflows), A_t the advantage, ε_low/ε_high the clip range, c the dual-clip bound.
import { add, div, exp, max, mul, neg, noGrad, scale, sub, sum, type Tensor } from '@repirl/autograd';
import { aggregateLoss, tokenMeanNoGrad, type LossAggregation, type LossNormalisers } from './aggregate.js';
import { checkTokenShapes, clamp, detach, greater, greaterThan, lessThan, maximum, minimum } from './ops.js';

export type PolicyLossName = 'ppo-clip' | 'vanilla-pg' | 'gspo' | 'cispo';

/** [B, T] token tensors of one micro-batch (or the whole mini-batch). */
export interface PolicyLossInputs {
  /** log π(y_t) under the current policy: the tensor gradients flow into. */
  logp: Tensor;
  /** log π_old(y_t) of the policy that sampled the tokens (rollout log-probs); no gradient. */
  oldLogp: Tensor;
  /** A_t; no gradient. */
  advantages: Tensor;
  /** 1 = valid response token, 0 = padding or prompt. Masked entries of the other inputs must be finite. */
  mask: Tensor;
}

export interface PolicyLossOptions {
  aggregation: LossAggregation;
  /** Computed once for the mini-batch (lossNormalisers); the same object for every micro-batch. */
  normalisers: LossNormalisers;
  /** ε_low: the ratio is clipped below at 1 − ε_low. Default 0.2. */
  clipLow?: number;
  /** ε_high: the ratio is clipped above at 1 + ε_high (clip-higher, DAPO: 0.28). Default clipLow. */
  clipHigh?: number;
  /** ppo-clip: dual-clip bound c > 1 for negative advantages (verl's clip_ratio_c, 3 there). Default off. */
  dualClip?: number;
  /** Clamp of logp − oldLogp before exp (verl: 20). gspo clamps the sequence log-ratio at 10 above instead. */
  logRatioClamp?: number;
}

/**
 * Diagnostics, computed without gradient, as one-element tensors (read them after the step, e.g.
 * with readPolicyLossStats). Token means divide by normalisers.tokens, so the values of the
 * micro-batches of a mini-batch ADD UP to the mini-batch value; ratioMin/ratioMax combine by
 * min/max. ratio* and approxKl* always describe the token ratios r_t.
 */
export interface PolicyLossStats {
  /** Fraction of valid tokens whose clipped term is active (verl pg_clipfrac = clipFracLow + clipFracHigh). */
  clipFrac: Tensor;
  /** ppo-clip/gspo: r > 1 + ε_high with A > 0; cispo: r > 1 + ε_high. */
  clipFracHigh: Tensor;
  /** ppo-clip/gspo: r < 1 − ε_low with A < 0; cispo: r < 1 − ε_low. */
  clipFracLow: Tensor;
  /** Fraction of valid tokens capped by the dual clip (verl pg_clipfrac_lower); 0 when off. */
  dualClipFrac: Tensor;
  /** k1 estimate of KL(π_old ‖ π): mean of oldLogp − logp (verl ppo_kl). */
  approxKl: Tensor;
  /** k3 estimate of KL(π_old ‖ π): mean of r − 1 − log r (non-negative, lower variance). */
  approxKlK3: Tensor;
  ratioMean: Tensor;
  /** +inf when the micro-batch has no valid token. */
  ratioMin: Tensor;
  /** 0 when the micro-batch has no valid token. */
  ratioMax: Tensor;
}

export interface PolicyLossResult {
  /** Scalar, differentiable in logp. */
  loss: Tensor;
  stats: PolicyLossStats;
}

export interface PolicyLoss {
  readonly name: PolicyLossName;
  /** The token loss formula and its provenance. */
  readonly doc: string;
  /** The options it reads besides aggregation and normalisers. */
  readonly options: readonly (keyof PolicyLossOptions)[];
  readonly fn: (inputs: PolicyLossInputs, options: PolicyLossOptions) => PolicyLossResult;
}

interface Resolved {
  clipLow: number;
  clipHigh: number;
  dualClip: number | null;
  logRatioClamp: number;
}

function resolve(name: PolicyLossName, inputs: PolicyLossInputs, options: PolicyLossOptions): Resolved {
  checkTokenShapes(name, { logp: inputs.logp, oldLogp: inputs.oldLogp, advantages: inputs.advantages, mask: inputs.mask });
  const clipLow = options.clipLow ?? 0.2;
  const clipHigh = options.clipHigh ?? clipLow;
  const logRatioClamp = options.logRatioClamp ?? 20;
  for (const [key, v] of [['clipLow', clipLow], ['clipHigh', clipHigh], ['logRatioClamp', logRatioClamp]] as const) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name}: ${key} must be a finite number ≥ 0, got ${v}`);
  }
  const dualClip = options.dualClip ?? null;
  if (dualClip !== null && !(dualClip > 1)) throw new Error(`${name}: dualClip must be > 1 (verl's clip_ratio_c), got ${dualClip}`);
  return { clipLow, clipHigh, dualClip, logRatioClamp };
}

/** r_t and log r_t (clamped), with gradient. */
function tokenRatio(inputs: PolicyLossInputs, bound: number): { logRatio: Tensor; ratio: Tensor } {
  const logRatio = clamp(sub(inputs.logp, inputs.oldLogp), { min: -bound, max: bound });
  return { logRatio, ratio: exp(logRatio) };
}

/** The ratio diagnostics shared by every loss (no gradient). */
function ratioStats(logRatio: Tensor, ratio: Tensor, mask: Tensor, n: LossNormalisers) {
  return noGrad(() => {
    const one = scale(sum(mask), 0, 1); // a scalar 1 on the inputs' backend
    return {
      approxKl: tokenMeanNoGrad(neg(logRatio), mask, n),
      approxKlK3: tokenMeanNoGrad(sub(scale(ratio, 1, -1), logRatio), mask, n),
      ratioMean: tokenMeanNoGrad(ratio, mask, n),
      // r > 0, so the zeros of masked tokens never win the max, and min r = 1 / max(M / r).
      ratioMax: max(mul(ratio, mask)),
      ratioMin: div(one, max(div(mask, ratio))),
    };
  });
}

const zeroLike = (mask: Tensor): Tensor => noGrad(() => scale(sum(mask), 0));

/**
 * The clip indicators of a ratio s against ε_low/ε_high for PPO-style objectives: high = s > 1 + ε_high
 * with A > 0, low = s < 1 − ε_low with A < 0 (exactly the tokens where max(−A·s, −A·clip(s)) takes
 * the clipped term).
 */
function ppoClipStats(s: Tensor, advantages: Tensor, mask: Tensor, n: LossNormalisers, o: Resolved) {
  return noGrad(() => {
    const high = tokenMeanNoGrad(mul(greaterThan(s, 1 + o.clipHigh), greaterThan(advantages, 0)), mask, n);
    const low = tokenMeanNoGrad(mul(lessThan(s, 1 - o.clipLow), lessThan(advantages, 0)), mask, n);
    return { clipFrac: add(high, low), clipFracHigh: high, clipFracLow: low };
  });
}

/** max(−A·s, −A·clip(s, 1 − ε_low, 1 + ε_high)): the pessimistic clipped surrogate, per token. */
function clippedSurrogate(s: Tensor, advantages: Tensor, o: Resolved): Tensor {
  const negA = neg(advantages);
  return maximum(mul(negA, s), mul(negA, clamp(s, { min: 1 - o.clipLow, max: 1 + o.clipHigh })));
}

const ppoClip: PolicyLoss = {
  name: 'ppo-clip',
  doc:
    'L_t = max(−A·r, −A·clip(r, 1 − ε_low, 1 + ε_high)) (PPO; ε_high > ε_low is DAPO\'s clip-higher). ' +
    'Dual-clip (c > 1, verl clip_ratio_c): where A < 0, L_t = min(L_t, −c·A), so a huge ratio on a bad token cannot blow up the loss. ' +
    "TRL's two-sided δ is the same cap as dual-clip with c = δ. Gradient: −A·r·∇logp where unclipped, 0 where clipped or capped.",
  options: ['clipLow', 'clipHigh', 'dualClip', 'logRatioClamp'],
  fn(inputs, options) {
    const o = resolve('ppo-clip', inputs, options);
    const { advantages: A, mask } = inputs;
    const { logRatio, ratio } = tokenRatio(inputs, o.logRatioClamp);
    const surrogate = clippedSurrogate(ratio, A, o);
    let tokenLoss = surrogate;
    let dualClipFrac = zeroLike(mask);
    if (o.dualClip !== null) {
      const cap = scale(A, -o.dualClip); // −c·A, positive where A < 0
      const isNeg = lessThan(A, 0);
      const isNonNeg = noGrad(() => scale(isNeg, -1, 1));
      // where(A < 0, min(L, −c·A), L), written as a 0/1 blend so each branch keeps its own gradient.
      tokenLoss = add(mul(isNeg, minimum(surrogate, cap)), mul(isNonNeg, surrogate));
      dualClipFrac = noGrad(() => tokenMeanNoGrad(mul(greater(surrogate, cap), isNeg), mask, options.normalisers));
    }
    return {
      loss: aggregateLoss(tokenLoss, mask, options.aggregation, options.normalisers),
      stats: {
        ...ppoClipStats(ratio, A, mask, options.normalisers, o),
        dualClipFrac,
        ...ratioStats(logRatio, ratio, mask, options.normalisers),
      },
    };
  },
};

const vanillaPg: PolicyLoss = {
  name: 'vanilla-pg',
  doc: 'L_t = −A·logp (REINFORCE; on-policy, no ratio, no clipping). Gradient: −A·∇logp. The ratio statistics still describe π/π_old.',
  options: ['logRatioClamp'],
  fn(inputs, options) {
    const o = resolve('vanilla-pg', inputs, options);
    const { advantages: A, mask } = inputs;
    const tokenLoss = mul(neg(A), inputs.logp);
    const { logRatio, ratio } = noGrad(() => tokenRatio(inputs, o.logRatioClamp));
    const zero = zeroLike(mask);
    return {
      loss: aggregateLoss(tokenLoss, mask, options.aggregation, options.normalisers),
      stats: { clipFrac: zero, clipFracHigh: zero, clipFracLow: zero, dualClipFrac: zero, ...ratioStats(logRatio, ratio, mask, options.normalisers) },
    };
  },
};

const gspo: PolicyLoss = {
  name: 'gspo',
  doc:
    'GSPO (sequence-level ratio): s_b = exp(mean_t∈b (logp − oldLogp)), used per token as s_{b,t} = sg[s_b]·π(y_t)/sg[π(y_t)] ' +
    '(verl compute_policy_loss_gspo; its log clamped at 10 above), L_t = max(−A·s, −A·clip(s, 1 − ε_low, 1 + ε_high)). ' +
    'Value s_b on every token of b, gradient −A·s_b·∇logp_t; the paper pairs it with seq-mean-token-mean and small ε (3e-4, 4e-4).',
  options: ['clipLow', 'clipHigh', 'logRatioClamp'],
  fn(inputs, options) {
    const o = resolve('gspo', inputs, options);
    const { logp, advantages: A, mask } = inputs;
    const seqLogRatio = noGrad(() => {
      const perRow = sum(mul(sub(logp, inputs.oldLogp), mask), 1, true);
      return div(perRow, clamp(sum(mask, 1, true), { min: 1 }));
    });
    // logp − sg(logp) is exactly 0 in value and has gradient 1: value of the sequence ratio, token gradient.
    const logS = clamp(add(sub(logp, detach(logp)), seqLogRatio), { max: 10 });
    const s = exp(logS);
    const tokenLoss = clippedSurrogate(s, A, o);
    const { logRatio, ratio } = noGrad(() => tokenRatio(inputs, o.logRatioClamp));
    return {
      loss: aggregateLoss(tokenLoss, mask, options.aggregation, options.normalisers),
      stats: {
        ...ppoClipStats(s, A, mask, options.normalisers, o),
        dualClipFrac: zeroLike(mask),
        ...ratioStats(logRatio, ratio, mask, options.normalisers),
      },
    };
  },
};

const cispo: PolicyLoss = {
  name: 'cispo',
  doc:
    'CISPO (MiniMax-M1): L_t = −sg(clip(r, 1 − ε_low, 1 + ε_high))·A·logp: the IS weight is clipped and detached, so every ' +
    'token keeps a gradient −clip(r)·A·∇logp (none is dropped by clipping). MiniMax-M1 bounds only above: pass a large clipLow.',
  options: ['clipLow', 'clipHigh', 'logRatioClamp'],
  fn(inputs, options) {
    const o = resolve('cispo', inputs, options);
    const { advantages: A, mask } = inputs;
    const { logRatio, ratio } = noGrad(() => tokenRatio(inputs, o.logRatioClamp));
    const weight = noGrad(() => clamp(ratio, { min: 1 - o.clipLow, max: 1 + o.clipHigh }));
    const tokenLoss = mul(neg(mul(A, weight)), inputs.logp);
    const stats = noGrad(() => {
      const high = tokenMeanNoGrad(greaterThan(ratio, 1 + o.clipHigh), mask, options.normalisers);
      const low = tokenMeanNoGrad(lessThan(ratio, 1 - o.clipLow), mask, options.normalisers);
      return { clipFrac: add(high, low), clipFracHigh: high, clipFracLow: low };
    });
    return {
      loss: aggregateLoss(tokenLoss, mask, options.aggregation, options.normalisers),
      stats: { ...stats, dualClipFrac: zeroLike(mask), ...ratioStats(logRatio, ratio, mask, options.normalisers) },
    };
  },
};

export const POLICY_LOSSES: Readonly<Record<PolicyLossName, PolicyLoss>> = Object.freeze({
  'ppo-clip': ppoClip,
  'vanilla-pg': vanillaPg,
  gspo,
  cispo,
});

export const POLICY_LOSS_NAMES = Object.keys(POLICY_LOSSES) as PolicyLossName[];

/** The policy loss called `name`; an unknown name throws, listing the known ones. */
export function getPolicyLoss(name: string): PolicyLoss {
  if (!Object.prototype.hasOwnProperty.call(POLICY_LOSSES, name)) {
    throw new Error(`unknown policy loss "${name}" (known: ${POLICY_LOSS_NAMES.join(', ')})`);
  }
  return POLICY_LOSSES[name as PolicyLossName];
}

/** Runs the named policy loss. */
export function policyLoss(name: string, inputs: PolicyLossInputs, options: PolicyLossOptions): PolicyLossResult {
  return getPolicyLoss(name).fn(inputs, options);
}

/** Reads every statistic into a plain number record (after the step's tidy scope). */
export async function readPolicyLossStats(stats: PolicyLossStats): Promise<Record<keyof PolicyLossStats, number>> {
  const entries = await Promise.all(Object.entries(stats).map(async ([k, t]) => [k, await (t as Tensor).item()] as const));
  return Object.fromEntries(entries) as Record<keyof PolicyLossStats, number>;
}
