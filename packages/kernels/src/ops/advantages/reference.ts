// advantages: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import type { CpuTensor } from '../../reference.js';
import type { SequenceKind } from './program.js';

/** Host inputs of an advantage estimator (the float64 mirror of AdvantageInputs). */
export interface AdvantageReferenceInputs {
  /** Token rewards [B, T] (PRIME / rePIRL: the process rewards). */
  rewards: CpuTensor;
  /** Response mask [B, T]: non-zero = valid response token. */
  mask: CpuTensor;
  /** Group id per sample [B] (samples of the same prompt share one). */
  groups?: ArrayLike<number>;
  /** Critic values [B, T] (gae). */
  values?: CpuTensor;
  /** Outcome score per sample [B] (prime-rloo*, repirl-loo): the verifier's reward. */
  outcome?: ArrayLike<number>;
}

export interface AdvantageReferenceResult {
  advantages: CpuTensor;
  /** Present where the estimator defines returns distinct from the advantages. */
  returns?: CpuTensor;
}

/** Options shared by the estimators; each reads the ones its formula has. */
export interface AdvantageOptions {
  /** Discount γ (reinforce++, gae, prime-rloo*, repirl-loo). Default 1. */
  gamma?: number;
  /** GAE λ. Default 1. */
  lambda?: number;
  /** GRPO: A = (r − mean)/(std + epsilon). Default 1e-6 (verl). */
  epsilon?: number;
  /** Whiten the advantages over all valid tokens of the batch (estimators that do so in verl/PRIME/rePIRL). Default true. */
  whiten?: boolean;
  /** Bessel-corrected variance in the whitening (verl's masked_whiten). Default true. */
  unbiased?: boolean;
  /** Coefficient of the process-reward source (prime-rloo*, repirl-loo). Default 1. */
  cPrm?: number;
  /** Coefficient of the outcome source (prime-rloo*, repirl-loo). Default 1. */
  cGt?: number;
  /** prime-rloo*, repirl-loo: divide the process rewards by max |reward-to-go| + 1e-6 over the batch first. Default true. */
  batchNorm?: boolean;
  /**
   * Sequence-level group estimators (grpo, dr-grpo, rloo, reinforce++-baseline) on a group of one:
   * 'verl' (default) uses baseline 0 and std 1 as verl does, so A = r/(1 + ε) for grpo and A = r
   * for the others; 'zero' gives such a sample advantage 0.
   */
  singletonGroups?: 'verl' | 'zero';
}

/** Defaults of AdvantageOptions, applied in one place for the kernels and the references. */
export function resolveAdvantageOptions(options: AdvantageOptions = {}): Required<AdvantageOptions> {
  return {
    gamma: options.gamma ?? 1,
    lambda: options.lambda ?? 1,
    epsilon: options.epsilon ?? 1e-6,
    whiten: options.whiten ?? true,
    unbiased: options.unbiased ?? true,
    cPrm: options.cPrm ?? 1,
    cGt: options.cGt ?? 1,
    batchNorm: options.batchNorm ?? true,
    singletonGroups: options.singletonGroups ?? 'verl',
  };
}

/** The batch-normalisation constant of PRIME/rePIRL: r / (max |reward-to-go| + MAX_RETURN_EPS). */
export const MAX_RETURN_EPS = 1e-6;

/** verl's masked_whiten: (v − mean) · rsqrt(var + WHITEN_EPS). */
export const WHITEN_EPS = 1e-8;

function dims(t: CpuTensor, name: string): [number, number] {
  if (t.shape.length !== 2) throw new Error(`advantages reference: ${name} must be [B, T], got [${t.shape.join(', ')}]`);
  return [t.shape[0]!, t.shape[1]!];
}

function tensor(rows: number, cols: number): CpuTensor {
  return { shape: [rows, cols], data: new Float64Array(rows * cols) };
}

/** Members of each sample's group: members[b] lists the rows sharing b's id, in row order. */
export function groupMembersReference(groups: ArrayLike<number>): number[][] {
  const byId = new Map<number, number[]>();
  for (let b = 0; b < groups.length; b++) {
    const list = byId.get(groups[b]!) ?? [];
    list.push(b);
    byId.set(groups[b]!, list);
  }
  return Array.from({ length: groups.length }, (_, b) => byId.get(groups[b]!)!);
}

/** Reward-to-go G_t = r_t + γ·G_{next valid token}, over valid tokens only (0 at masked tokens). */
export function rewardToGoReference(rewards: CpuTensor, mask: CpuTensor, gamma = 1): CpuTensor {
  const [B, T] = dims(rewards, 'rewards');
  const out = tensor(B, T);
  for (let b = 0; b < B; b++) {
    let run = 0;
    for (let t = T - 1; t >= 0; t--) {
      const i = b * T + t;
      if (mask.data[i] === 0) continue;
      run = rewards.data[i]! + gamma * run;
      out.data[i] = run;
    }
  }
  return out;
}

export interface MaskedWhitenOptions {
  /** Bessel correction n/(n − 1) of the variance (verl's default). Default true. */
  unbiased?: boolean;
  /** false: add the mean back after scaling (verl's shift_mean=False). Default true. */
  shiftMean?: boolean;
}

/**
 * Masked whitening over all valid tokens: (v − mean)·(var + 1e-8)^−½ (+ mean when shiftMean is
 * false), 0 at masked tokens. With the Bessel correction and a single valid token the variance is
 * taken as 0 (verl raises there). No valid token: all zeros.
 */
export function maskedWhitenReference(values: CpuTensor, mask: CpuTensor, options: MaskedWhitenOptions = {}): CpuTensor {
  const unbiased = options.unbiased ?? true;
  const shiftMean = options.shiftMean ?? true;
  const out: CpuTensor = { shape: [...values.shape], data: new Float64Array(values.data.length) };
  let n = 0;
  let sum = 0;
  for (let i = 0; i < values.data.length; i++) {
    if (mask.data[i] !== 0) {
      n++;
      sum += values.data[i]!;
    }
  }
  if (n === 0) return out;
  const mean = sum / n;
  let m2 = 0;
  for (let i = 0; i < values.data.length; i++) if (mask.data[i] !== 0) m2 += (values.data[i]! - mean) ** 2;
  const denom = unbiased ? n - 1 : n;
  const variance = denom > 0 ? m2 / denom : 0;
  const scale = 1 / Math.sqrt(variance + WHITEN_EPS);
  for (let i = 0; i < values.data.length; i++) {
    if (mask.data[i] !== 0) out.data[i] = (values.data[i]! - mean) * scale + (shiftMean ? 0 : mean);
  }
  return out;
}

/** max over valid tokens of |reward-to-go| (γ), 0 when no token is valid. */
export function maxAbsReturnReference(rewards: CpuTensor, mask: CpuTensor, gamma = 1): number {
  const g = rewardToGoReference(rewards, mask, gamma);
  let max = 0;
  for (let i = 0; i < g.data.length; i++) if (mask.data[i] !== 0) max = Math.max(max, Math.abs(g.data[i]!));
  return max;
}

/** PRIME/rePIRL batch normalisation: r·mask / (max_{b,t} |reward-to-go_{b,t}| + 1e-6). */
export function normalizeByMaxReturnReference(rewards: CpuTensor, mask: CpuTensor, gamma = 1): CpuTensor {
  const scale = 1 / (maxAbsReturnReference(rewards, mask, gamma) + MAX_RETURN_EPS);
  const out: CpuTensor = { shape: [...rewards.shape], data: new Float64Array(rewards.data.length) };
  for (let i = 0; i < out.data.length; i++) if (mask.data[i] !== 0) out.data[i] = rewards.data[i]! * scale;
  return out;
}

/** Index of the last valid token of each row, −1 for a fully masked row. */
export function lastValidReference(mask: CpuTensor): number[] {
  const [B, T] = dims(mask, 'mask');
  const last: number[] = [];
  for (let b = 0; b < B; b++) {
    let l = -1;
    for (let t = T - 1; t >= 0; t--) {
      if (mask.data[b * T + t] !== 0) {
        l = t;
        break;
      }
    }
    last.push(l);
  }
  return last;
}

/** Token rewards [B, T] holding scores[b] on the last valid token of row b, 0 elsewhere. */
export function placeOutcomeReference(scores: ArrayLike<number>, mask: CpuTensor): CpuTensor {
  const [B, T] = dims(mask, 'mask');
  const out = tensor(B, T);
  lastValidReference(mask).forEach((t, b) => {
    if (t >= 0) out.data[b * T + t] = scores[b]!;
  });
  return out;
}

// ---------------------------------------------------------------- sequence-level estimators

function rowSums(rewards: CpuTensor, mask: CpuTensor): { sum: number[]; count: number[] } {
  const [B, T] = dims(rewards, 'rewards');
  const sum: number[] = [];
  const count: number[] = [];
  for (let b = 0; b < B; b++) {
    let s = 0;
    let n = 0;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (mask.data[i] !== 0) {
        s += rewards.data[i]!;
        n++;
      }
    }
    sum.push(s);
    count.push(n);
  }
  return { sum, count };
}

function broadcastRowsReference(perRow: number[], mask: CpuTensor): CpuTensor {
  const [B, T] = dims(mask, 'mask');
  const out = tensor(B, T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) if (mask.data[b * T + t] !== 0) out.data[b * T + t] = perRow[b]!;
  return out;
}

/** Per-sample advantage from the sequence scores s (sum of valid token rewards) of its group. */
function sequenceAdvantages(kind: SequenceKind, scores: number[], groups: ArrayLike<number>, o: Required<AdvantageOptions>): number[] {
  const members = groupMembersReference(groups);
  return scores.map((s, b) => {
    const group = members[b]!;
    const K = group.length;
    if (K === 1) {
      if (o.singletonGroups === 'zero') return 0;
      return kind === 'grpo' ? s / (1 + o.epsilon) : s; // verl: mean 0, std 1
    }
    const mean = group.reduce((a, j) => a + scores[j]!, 0) / K;
    if (kind === 'rloo') return ((s - mean) * K) / (K - 1); // = s − mean of the other K − 1
    if (kind === 'grpo') {
      const std = Math.sqrt(group.reduce((a, j) => a + (scores[j]! - mean) ** 2, 0) / (K - 1)); // torch.std: unbiased
      return (s - mean) / (std + o.epsilon);
    }
    return s - mean; // dr-grpo, reinforce++-baseline
  });
}

function requireGroups(inputs: AdvantageReferenceInputs, name: string): ArrayLike<number> {
  if (!inputs.groups) throw new Error(`advantages reference "${name}": groups are required`);
  return inputs.groups;
}

export function grpoReference(inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult {
  const { sum } = rowSums(inputs.rewards, inputs.mask);
  const adv = sequenceAdvantages('grpo', sum, requireGroups(inputs, 'grpo'), resolveAdvantageOptions(options));
  return { advantages: broadcastRowsReference(adv, inputs.mask) };
}

export function drGrpoReference(inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult {
  const { sum } = rowSums(inputs.rewards, inputs.mask);
  const adv = sequenceAdvantages('dr-grpo', sum, requireGroups(inputs, 'dr-grpo'), resolveAdvantageOptions(options));
  return { advantages: broadcastRowsReference(adv, inputs.mask) };
}

export function rlooReference(inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult {
  const { sum } = rowSums(inputs.rewards, inputs.mask);
  const adv = sequenceAdvantages('rloo', sum, requireGroups(inputs, 'rloo'), resolveAdvantageOptions(options));
  return { advantages: broadcastRowsReference(adv, inputs.mask) };
}

export function reinforcePlusPlusBaselineReference(inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult {
  const o = resolveAdvantageOptions(options);
  const { sum } = rowSums(inputs.rewards, inputs.mask);
  const adv = broadcastRowsReference(sequenceAdvantages('mean', sum, requireGroups(inputs, 'reinforce++-baseline'), o), inputs.mask);
  return { advantages: o.whiten ? maskedWhitenReference(adv, inputs.mask, { unbiased: o.unbiased }) : adv };
}

// ---------------------------------------------------------------- token-level estimators

export function reinforcePlusPlusReference(inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult {
  const o = resolveAdvantageOptions(options);
  const returns = rewardToGoReference(inputs.rewards, inputs.mask, o.gamma);
  return { advantages: o.whiten ? maskedWhitenReference(returns, inputs.mask, { unbiased: o.unbiased }) : { ...returns, data: returns.data.slice() }, returns };
}

export function gaeReference(inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult {
  const o = resolveAdvantageOptions(options);
  const { rewards, mask } = inputs;
  if (!inputs.values) throw new Error('advantages reference "gae": values are required');
  const values = inputs.values;
  const [B, T] = dims(rewards, 'rewards');
  const adv = tensor(B, T);
  const returns = tensor(B, T);
  for (let b = 0; b < B; b++) {
    let nextValue = 0;
    let lastGae = 0;
    for (let t = T - 1; t >= 0; t--) {
      const i = b * T + t;
      if (mask.data[i] === 0) continue; // carried over unchanged, as verl does
      const delta = rewards.data[i]! + o.gamma * nextValue - values.data[i]!;
      lastGae = delta + o.gamma * o.lambda * lastGae;
      nextValue = values.data[i]!;
      adv.data[i] = lastGae;
      returns.data[i] = lastGae + values.data[i]!;
    }
  }
  return { advantages: o.whiten ? maskedWhitenReference(adv, mask, { unbiased: o.unbiased }) : adv, returns };
}

function requireOutcome(inputs: AdvantageReferenceInputs, name: string): ArrayLike<number> {
  if (!inputs.outcome) throw new Error(`advantages reference "${name}": outcome scores are required`);
  return inputs.outcome;
}

/** 1/(max |rtg| + 1e-6) of the process rewards (undiscounted, as both codebases do), or 1. */
function processScale(inputs: AdvantageReferenceInputs, o: Required<AdvantageOptions>): number {
  return o.batchNorm ? 1 / (maxAbsReturnReference(inputs.rewards, inputs.mask, 1) + MAX_RETURN_EPS) : 1;
}

/** PRIME, released-code form (compute_rloo_returns). */
export function primeRlooCodeReference(inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult {
  const o = resolveAdvantageOptions(options);
  const { rewards, mask } = inputs;
  const outcome = requireOutcome(inputs, 'prime-rloo-code');
  const members = groupMembersReference(requireGroups(inputs, 'prime-rloo-code'));
  const [B, T] = dims(rewards, 'rewards');
  const scale = processScale(inputs, o);
  const { sum, count } = rowSums(rewards, mask);
  const meanReward = sum.map((s, b) => (count[b]! > 0 ? (s * scale) / count[b]! : 0));
  const last = lastValidReference(mask);
  // Each source separately: r' = r·K/(K−1) − Σ_j m_j/(K−1) on the source's positions (the
  // process source: every valid token; the outcome source: the last valid token, m_j = o_j).
  // A group of one has no baseline (r' = r).
  const shapedPrm = tensor(B, T);
  const shapedOut = tensor(B, T);
  for (let b = 0; b < B; b++) {
    const group = members[b]!;
    const K = group.length;
    const factor = K > 1 ? K / (K - 1) : 1;
    const baseP = K > 1 ? group.reduce((a, j) => a + meanReward[j]!, 0) / (K - 1) : 0;
    const baseO = K > 1 ? group.reduce((a, j) => a + outcome[j]!, 0) / (K - 1) : 0;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (mask.data[i] !== 0) shapedPrm.data[i] = rewards.data[i]! * scale * factor - baseP;
    }
    if (last[b]! >= 0) shapedOut.data[b * T + last[b]!] = outcome[b]! * factor - baseO;
  }
  const gPrm = rewardToGoReference(shapedPrm, mask, o.gamma);
  const gOut = rewardToGoReference(shapedOut, mask, o.gamma);
  const returns = tensor(B, T);
  for (let i = 0; i < returns.data.length; i++) returns.data[i] = o.cPrm * gPrm.data[i]! + o.cGt * gOut.data[i]!;
  return { advantages: o.whiten ? maskedWhitenReference(returns, mask, { unbiased: o.unbiased }) : { ...returns, data: returns.data.slice() }, returns };
}

/** PRIME, paper/README form. */
export function primeRlooPaperReference(inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult {
  const o = resolveAdvantageOptions(options);
  const { rewards, mask } = inputs;
  const outcome = requireOutcome(inputs, 'prime-rloo-paper');
  const members = groupMembersReference(requireGroups(inputs, 'prime-rloo-paper'));
  const [B, T] = dims(rewards, 'rewards');
  const scale = processScale(inputs, o);
  const { sum, count } = rowSums(rewards, mask);
  const meanReward = sum.map((s, b) => (count[b]! > 0 ? (s * scale) / count[b]! : 0));
  const returns = tensor(B, T);
  for (let b = 0; b < B; b++) {
    const others = members[b]!.filter((j) => j !== b);
    const baseP = others.length > 0 ? others.reduce((a, j) => a + meanReward[j]!, 0) / others.length : 0;
    const advO = outcome[b]! - (others.length > 0 ? others.reduce((a, j) => a + outcome[j]!, 0) / others.length : 0);
    let run = 0;
    for (let t = T - 1; t >= 0; t--) {
      const i = b * T + t;
      if (mask.data[i] === 0) continue;
      run = o.cPrm * (rewards.data[i]! * scale - baseP) + o.gamma * run;
      returns.data[i] = run + o.cGt * advO;
    }
  }
  return { advantages: o.whiten ? maskedWhitenReference(returns, mask, { unbiased: o.unbiased }) : { ...returns, data: returns.data.slice() }, returns };
}

/** Per-timestep leave-one-out over the active siblings: A_{k,t} = H_{k,t} − mean_{k'≠k active at t} H_{k',t}. */
export function perTimestepLooReference(h: CpuTensor, mask: CpuTensor, groups: ArrayLike<number>): CpuTensor {
  const [B, T] = dims(h, 'h');
  const members = groupMembersReference(groups);
  const out = tensor(B, T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (mask.data[i] === 0) continue;
      let sum = 0;
      let n = 0;
      for (const j of members[b]!) {
        if (j === b || mask.data[j * T + t] === 0) continue;
        sum += h.data[j * T + t]!;
        n++;
      }
      out.data[i] = h.data[i]! - sum / Math.max(1, n);
    }
  }
  return out;
}

/** rePIRL's per-timestep leave-one-out (irl_core_algos.compute_advantage_return, 'rloo'). */
export function repirlLooReference(inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult {
  const o = resolveAdvantageOptions(options);
  const { rewards, mask } = inputs;
  const outcome = requireOutcome(inputs, 'repirl-loo');
  const groups = requireGroups(inputs, 'repirl-loo');
  const [B, T] = dims(rewards, 'rewards');
  const scale = processScale(inputs, o);
  // Each source separately: reward-to-go, then the per-timestep leave-one-out; then combined.
  const aPrm = perTimestepLooReference(rewardToGoReference(rewards, mask, o.gamma), mask, groups);
  const aOut = perTimestepLooReference(rewardToGoReference(placeOutcomeReference(outcome, mask), mask, o.gamma), mask, groups);
  const adv = tensor(B, T);
  for (let i = 0; i < adv.data.length; i++) adv.data[i] = o.cPrm * scale * aPrm.data[i]! + o.cGt * aOut.data[i]!;
  return { advantages: o.whiten ? maskedWhitenReference(adv, mask, { unbiased: o.unbiased }) : adv };
}
