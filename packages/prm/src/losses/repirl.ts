// rePIRL's reward-model loss (docs/research/papers.md §1(b), recipe/irl/irl_dp_rm.py::update_rm), to minimise:
//
//   R(τ)  = Σ_t r_φ(s_t, a_t)              (sum of the PRM's token rewards over the response)
//   R̄(τ) = R(τ) / |τ|                     (length-normalised; the only place gradients flow)
//   w_j   = softmax_{j ∈ P∩g}( R(τ_j) − log π_old(τ_j) )     (no gradient, log-sum-exp)
//   L     = Σ_g Σ_{j ∈ P∩g} w_j R̄(τ_j)  −  mean_{i ∈ E} R̄(τ_i)
//
// P = policy samples, E = expert samples (demonstrations and/or verified-correct rollouts), g the
// softmax groups (a micro-batch in the released code; per prompt or per batch are natural choices).
// The weights are self-normalised importance weights estimating ∇ log z(φ) with the policy as the
// proposal. R − log π_old is dominated by −log π_old, so the softmax is extremely peaked; it runs
// through the softmax kernel, which subtracts the row maximum (log-sum-exp) and is finite for
// values like ±1e4 or 1e30.
//
// Mode 'uniform' reproduces the released runs: micro_batch_size_per_gpu = 1, so every micro-batch
// holds one sample, w ≡ 1 and, averaged over the micro-batches of a mini-batch,
//   L = (1/S) Σ_k s_k R̄(τ_k),   s_k = +1 for policy (incorrect) samples, −1 for expert samples,
// a linear, WGAN-critic-like contrast. R and log π_old are then unused.
import { add, mul, noGrad, reshape, scale, softmax, sub, sum, tensor, type Tensor } from '@repirl/autograd';
import { checkVector, constant, detach, isTensor, type ConstantInput } from './common.js';

export type RepirlWeightMode = 'importance' | 'uniform';
export const REPIRL_WEIGHT_MODES: readonly RepirlWeightMode[] = ['importance', 'uniform'];

export interface RepirlLossInputs {
  /** R: sum of the PRM's token rewards over each response, [S]. Used (detached) only for the weights. */
  R: Tensor;
  /** R̄: R divided by the response length, [S]; the tensor gradients flow into. */
  Rbar: Tensor;
  /**
   * Σ_t log π_old(a_t | s_t) over each response (rollout-time policy), [S]; no gradient. Expert entries
   * are ignored (as plain numbers they may be anything; in a tensor they must not be NaN).
   */
  oldLogProb: ConstantInput;
  /** true = expert sample, false = policy sample, [S]. */
  isExpert: ArrayLike<boolean>;
  /** Softmax group of each sample, [S] (e.g. the prompt index); only the policy samples' ids matter. Default: one group. */
  groups?: ArrayLike<number>;
}

export interface RepirlLossOptions {
  /** 'importance' (the paper and the code's general formula; default) or 'uniform' (the released runs). */
  mode?: RepirlWeightMode;
  /**
   * How the per-group policy terms combine: 'sum' (the formula above; each group contributes weight 1)
   * or 'mean' (divided by the number of groups, so the policy and expert terms have equal total weight).
   * Default 'sum'. Ignored by 'uniform'.
   */
  groupReduction?: 'sum' | 'mean';
}

export interface RepirlLossResult {
  loss: Tensor;
  /**
   * The weight each sample's R̄ gets in the policy term, [S], no gradient: importance mode — the
   * group softmax (sums to 1 within each group, 0 for experts); uniform mode — 1 for policy samples,
   * 0 for experts. Read it for logging (effectiveSampleSize).
   */
  weights: Tensor;
}

/** rePIRL's importance-weighted max-likelihood reward loss (see the file comment for the formula). */
export function repirlIsMleLoss(inputs: RepirlLossInputs, options: RepirlLossOptions = {}): RepirlLossResult {
  const { Rbar } = inputs;
  const s = checkVector('repirl-is-mle: Rbar', Rbar);
  if (inputs.R.rank !== 1 || inputs.R.shape[0] !== s) throw new Error(`repirl-is-mle: R must be [${s}]`);
  if (inputs.isExpert.length !== s) throw new Error(`repirl-is-mle: isExpert has ${inputs.isExpert.length} entries for ${s} samples`);
  const expert = Array.from(inputs.isExpert);
  const nExpert = expert.filter(Boolean).length;
  const mode = options.mode ?? 'importance';

  if (mode === 'uniform') {
    const signs = expert.map((e) => (e ? -1 : 1) / s);
    const loss = sum(mul(Rbar, tensor(Rbar.backend, signs, [s])));
    const weights = tensor(Rbar.backend, expert.map((e) => (e ? 0 : 1)), [s]);
    return { loss, weights };
  }

  const weights = importanceWeights(inputs.R, inputs.oldLogProb, expert, inputs.groups);
  const nGroups = new Set(policyGroupIds(expert, inputs.groups)).size;
  let policyTerm = sum(mul(weights, Rbar));
  if ((options.groupReduction ?? 'sum') === 'mean' && nGroups > 0) policyTerm = scale(policyTerm, 1 / nGroups);
  if (nExpert === 0) return { loss: policyTerm, weights };
  const expertMean = tensor(Rbar.backend, expert.map((e) => (e ? 1 / nExpert : 0)), [s]);
  return { loss: sub(policyTerm, sum(mul(expertMean, Rbar))), weights };
}

/**
 * Self-normalised importance weights w_j = softmax_{j ∈ P∩g}(R_j − log π_old,j), [S], no gradient;
 * 0 for experts. Builds a [G, S] matrix of logits with −inf outside each group's policy samples and
 * takes the row softmax (max-subtracted, so extreme values stay finite), then sums the rows.
 */
export function importanceWeights(R: Tensor, oldLogProb: ConstantInput, isExpert: ArrayLike<boolean>, groups?: ArrayLike<number>): Tensor {
  const s = checkVector('importanceWeights: R', R);
  const expert = Array.from(isExpert);
  const ids = policyGroupIds(expert, groups);
  const distinct = [...new Set(ids)];
  return noGrad(() => {
    if (distinct.length === 0) return tensor(R.backend, new Array<number>(s).fill(0), [s]);
    // Expert entries are masked out below; zero them when given as numbers so a NaN or ±inf there
    // (experts' old log-probs are unused) cannot leak into the softmax through −inf + NaN.
    const old = isTensor(oldLogProb) ? oldLogProb : Array.from(oldLogProb, (v, j) => (expert[j] ? 0 : v));
    const logits = sub(detach(R), constant(R, old, [s]));
    const maskRows: number[] = [];
    for (const g of distinct) {
      for (let j = 0; j < s; j++) maskRows.push(!expert[j] && groupOf(groups, j) === g ? 0 : -Infinity);
    }
    const masked = add(reshape(logits, [1, s]), tensor(R.backend, maskRows, [distinct.length, s]));
    return sum(softmax(masked), 0);
  });
}

/** Effective sample size (Σ w)² / Σ w² of a set of weights (= 1 when one sample dominates, n when uniform). */
export function effectiveSampleSize(weights: ArrayLike<number>): number {
  let total = 0;
  let squares = 0;
  for (let i = 0; i < weights.length; i++) {
    total += weights[i]!;
    squares += weights[i]! * weights[i]!;
  }
  return squares > 0 ? (total * total) / squares : 0;
}

function groupOf(groups: ArrayLike<number> | undefined, j: number): number {
  return groups ? groups[j]! : 0;
}

function policyGroupIds(expert: boolean[], groups: ArrayLike<number> | undefined): number[] {
  if (groups && groups.length !== expert.length) throw new Error(`repirl-is-mle: groups has ${groups.length} entries for ${expert.length} samples`);
  const ids: number[] = [];
  for (let j = 0; j < expert.length; j++) if (!expert[j]) ids.push(groupOf(groups, j));
  return ids;
}
