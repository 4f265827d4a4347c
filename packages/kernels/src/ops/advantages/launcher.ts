// advantages: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import type { GpuArray } from '../../runtime/array.js';
import type { Runtime } from '../../runtime/runtime.js';
import { ArgumentError } from '../../runtime/errors.js';
import { expectDType, expectFinite, expectRank, expectShape } from '../validate.js';
import { reduceVariant } from '../shared/workgroup-reduce.js';
import { broadcastProgram, ELEMENT_CHUNK, groupIndexProgram, LOO_WORKGROUP, looTimestepProgram, type MaskType, maxReduceProgram, MOMENT_CHUNK, MOMENT_WORKGROUP, placeOutcomeProgram, ROW_WORKGROUP, rowStatsProgram, scaleProgram, type ScanKind, scanProgram, sequenceAdvantageProgram, type SequenceKind, whitenApplyProgram, whitenFinalizeProgram, whitenMomentsProgram } from './program.js';
import { type AdvantageOptions, type AdvantageReferenceInputs, type AdvantageReferenceResult, drGrpoReference, gaeReference, grpoReference, type MaskedWhitenOptions, MAX_RETURN_EPS, primeRlooCodeReference, primeRlooPaperReference, reinforcePlusPlusBaselineReference, reinforcePlusPlusReference, repirlLooReference, resolveAdvantageOptions, rlooReference, WHITEN_EPS } from './reference.js';

/** GPU inputs of an advantage estimator. */
export interface AdvantageInputs {
  /** f32 [B, T] token rewards (prime-rloo*, repirl-loo: the process rewards). */
  rewards: GpuArray;
  /** f32 or u32 [B, T], non-zero = valid response token. Rows may have any length, or none. */
  mask: GpuArray;
  /**
   * i32 [B] group id per sample (the prompt it answers). Any values, in any order: groups need not
   * be contiguous or sorted, and may have one member. Membership is computed on the GPU.
   */
  groups?: GpuArray;
  /** f32 [B, T] critic values (gae). */
  values?: GpuArray;
  /** f32 [B] outcome scores (prime-rloo*, repirl-loo); placed on each row's last valid token. */
  outcome?: GpuArray;
}

export interface AdvantageResult {
  /** f32 [B, T], 0 at masked tokens. */
  advantages: GpuArray;
  /** f32 [B, T], 0 at masked tokens: where the estimator defines returns apart from the advantages. */
  returns?: GpuArray;
}

export type AdvantageEstimatorName =
  | 'grpo'
  | 'dr-grpo'
  | 'rloo'
  | 'reinforce++'
  | 'reinforce++-baseline'
  | 'gae'
  | 'prime-rloo-paper'
  | 'prime-rloo-code'
  | 'repirl-loo';

export type AdvantageInputName = 'groups' | 'values' | 'outcome';

export interface AdvantageEstimator {
  readonly name: AdvantageEstimatorName;
  /** The formula, one paragraph. */
  readonly doc: string;
  /** Optional inputs this estimator requires. */
  readonly needs: readonly AdvantageInputName[];
  /** The options it reads (others are ignored). */
  readonly options: readonly (keyof AdvantageOptions)[];
  compute(rt: Runtime, inputs: AdvantageInputs, options?: AdvantageOptions): AdvantageResult;
  reference(inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult;
}

// ---------------------------------------------------------------- validation

interface Checked {
  rows: number;
  cols: number;
  o: Required<AdvantageOptions>;
}

function validate(name: AdvantageEstimatorName, needs: readonly AdvantageInputName[], inputs: AdvantageInputs, options: AdvantageOptions | undefined): Checked {
  const kernel = `advantages/${name}`;
  if (!inputs || !inputs.rewards) throw new ArgumentError(kernel, 'rewards', 'is required (f32 [B, T])');
  if (!inputs.mask) throw new ArgumentError(kernel, 'mask', 'is required (f32 or u32 [B, T])');
  const [rows, cols] = checkTokens(kernel, 'rewards', inputs.rewards);
  checkMask(kernel, inputs.mask, rows, cols);
  if (needs.includes('groups')) checkRowVector(kernel, 'groups', inputs.groups, rows, 'i32', 'one group id per sample');
  if (needs.includes('outcome')) checkRowVector(kernel, 'outcome', inputs.outcome, rows, 'f32', 'one outcome score per sample');
  if (needs.includes('values')) {
    if (!inputs.values) throw new ArgumentError(kernel, 'values', `is required (f32 [B, T] = [${rows}, ${cols}])`);
    checkTokens(kernel, 'values', inputs.values);
    expectShape(kernel, 'values', inputs.values, [rows, cols]);
  }
  const o = resolveAdvantageOptions(options);
  for (const key of ['gamma', 'lambda', 'epsilon', 'cPrm', 'cGt'] as const) {
    if (typeof o[key] !== 'number' || !Number.isFinite(o[key])) throw new ArgumentError(kernel, key, `must be a finite number, got ${o[key]}`);
  }
  if (o.epsilon < 0) throw new ArgumentError(kernel, 'epsilon', `must be ≥ 0, got ${o.epsilon}`);
  if (o.singletonGroups !== 'verl' && o.singletonGroups !== 'zero') {
    throw new ArgumentError(kernel, 'singletonGroups', `must be 'verl' or 'zero', got ${String(o.singletonGroups)}`);
  }
  return { rows, cols, o };
}

/** f32 [B, 3] partial moments for a producer to fill when the estimator whitens, else null. */
function momentsFor(rt: Runtime, rows: number, o: Required<AdvantageOptions>): GpuArray | null {
  return o.whiten ? rt.empty([rows, 3]) : null;
}

/**
 * advantages = whiten(values) from the producer's partial moments when asked, else a copy (the
 * caller owns both outputs separately). Disposes the moments.
 */
function finishWhiten(rt: Runtime, values: GpuArray, mask: GpuArray, moments: GpuArray | null, o: Required<AdvantageOptions>): GpuArray {
  if (moments) {
    const stats = whitenFinalize(rt, moments, o.unbiased);
    const out = whitenApply(rt, values, mask, stats, true);
    stats.dispose();
    moments.dispose();
    return out;
  }
  const copy = rt.empty(values.shape);
  rt.copy(values, copy);
  return copy;
}

// ---------------------------------------------------------------- estimators

function sequenceEstimator(name: AdvantageEstimatorName, kind: SequenceKind, whitened: boolean): AdvantageEstimator['compute'] {
  const needs: AdvantageInputName[] = ['groups'];
  return (rt, inputs, options) => {
    const { rows, o } = validate(name, needs, inputs, options);
    const info = groupIndex(rt, inputs.groups!);
    const stats = rowStats(rt, inputs.rewards, inputs.mask);
    // Every valid token of a row holds the row's advantage, so the whitening moments are per row.
    const moments = whitened ? momentsFor(rt, rows, o) : null;
    const rowAdv = sequenceAdvantage(rt, kind, stats, info, o.epsilon, o.singletonGroups, moments);
    const whiteStats = moments ? whitenFinalize(rt, moments, o.unbiased) : null;
    const advantages = broadcastRows(rt, rowAdv, inputs.mask, whiteStats);
    for (const a of [info, stats, rowAdv, moments, whiteStats]) a?.dispose();
    return { advantages };
  };
}

const SEQUENCE_OPTIONS = ['epsilon', 'singletonGroups'] as const;

/**
 * grpo: s_b = Σ_t r_{b,t} over valid tokens; A_b = (s_b − mean_g s)/(std_g s + ε), broadcast to
 * b's valid tokens. verl's conventions: std unbiased (torch.std), ε = 1e-6, and a group of one has
 * mean 0 and std 1, so A = s/(1 + ε) (option singletonGroups: 'zero' gives 0 instead).
 */
const grpo: AdvantageEstimator = {
  name: 'grpo',
  doc: 'A_b = (s_b − mean_g(s)) / (std_g(s) + ε), s_b = Σ_t valid rewards, std unbiased (verl); broadcast to valid tokens. Group of one: mean 0, std 1 (verl).',
  needs: ['groups'],
  options: SEQUENCE_OPTIONS,
  compute: sequenceEstimator('grpo', 'grpo', false),
  reference: grpoReference,
};

/** dr-grpo: A_b = s_b − mean_g s (no std division, Dr.GRPO); a group of one keeps s (verl: mean 0). */
const drGrpo: AdvantageEstimator = {
  name: 'dr-grpo',
  doc: 'A_b = s_b − mean_g(s) (Dr.GRPO: no std division), broadcast to valid tokens. Group of one: mean 0 (verl).',
  needs: ['groups'],
  options: SEQUENCE_OPTIONS,
  compute: sequenceEstimator('dr-grpo', 'dr-grpo', false),
  reference: drGrpoReference,
};

/** rloo: A_b = s_b − mean of the other K − 1 scores of b's group = K/(K−1)·(s_b − mean_g s); K = 1 keeps s (verl). */
const rloo: AdvantageEstimator = {
  name: 'rloo',
  doc: 'A_b = s_b − (Σ_{j≠b} s_j)/(K−1) over b\'s group of K, broadcast to valid tokens. Group of one: A = s (verl).',
  needs: ['groups'],
  options: SEQUENCE_OPTIONS,
  compute: sequenceEstimator('rloo', 'rloo', false),
  reference: rlooReference,
};

/**
 * reinforce++: G_t = r_t + γ·G_{t+1} over valid tokens (no critic, no group baseline), then
 * advantages = masked whitening of G over the whole batch (Bessel-corrected, verl); returns = G.
 * verl resets the running return at masked tokens; here masked tokens are skipped — the same for
 * a valid prefix or left padding, different only for holes inside a response.
 */
const reinforcePlusPlus: AdvantageEstimator = {
  name: 'reinforce++',
  doc: 'G_t = r_t + γ G_{t+1} over valid tokens; A = masked_whiten(G) over the batch (unbiased var); returns = G.',
  needs: [],
  options: ['gamma', 'whiten', 'unbiased'],
  compute(rt, inputs, options) {
    const { rows, cols, o } = validate('reinforce++', [], inputs, options);
    const returns = rt.empty([rows, cols]);
    const moments = momentsFor(rt, rows, o);
    rowScan(rt, 'rtg', inputs.mask, [inputs.rewards, inputs.mask, returns, ...(moments ? [moments] : [])], { gamma: o.gamma }, { moments: moments !== null });
    return { advantages: finishWhiten(rt, returns, inputs.mask, moments, o), returns };
  },
  reference: reinforcePlusPlusReference,
};

/**
 * reinforce++-baseline: A_b = s_b − mean_g s broadcast to valid tokens (no discounting, as verl
 * tiles the score), then masked whitening over the batch.
 */
const reinforcePlusPlusBaseline: AdvantageEstimator = {
  name: 'reinforce++-baseline',
  doc: 'A = masked_whiten(s_b − mean_g(s)) with s_b broadcast to valid tokens (verl: group of one → mean 0).',
  needs: ['groups'],
  options: ['singletonGroups', 'whiten', 'unbiased'],
  compute: sequenceEstimator('reinforce++-baseline', 'mean', true),
  reference: reinforcePlusPlusBaselineReference,
};

/**
 * gae: δ_t = r_t + γ·V_{t'} − V_t with t' the next valid token (V = 0 past the last one),
 * A_t = δ_t + γλ·A_{t'}; masked tokens are skipped (verl's multi-turn convention). returns = A + V
 * (before whitening); advantages = masked whitening of A (verl).
 */
const gae: AdvantageEstimator = {
  name: 'gae',
  doc: 'δ_t = r_t + γ V_{t+1} − V_t, A_t = δ_t + γλ A_{t+1} (reverse scan over valid tokens); returns = A + V; advantages = masked_whiten(A).',
  needs: ['values'],
  options: ['gamma', 'lambda', 'whiten', 'unbiased'],
  compute(rt, inputs, options) {
    const { rows, cols, o } = validate('gae', ['values'], inputs, options);
    const raw = rt.empty([rows, cols]);
    const returns = rt.empty([rows, cols]);
    const moments = momentsFor(rt, rows, o);
    rowScan(
      rt,
      'gae',
      inputs.mask,
      [inputs.rewards, inputs.values!, inputs.mask, raw, returns, ...(moments ? [moments] : [])],
      { gamma: o.gamma, lambda: o.lambda },
      { moments: moments !== null },
    );
    if (!moments) return { advantages: raw, returns };
    const advantages = finishWhiten(rt, raw, inputs.mask, moments, o);
    raw.dispose();
    return { advantages, returns };
  },
  reference: gaeReference,
};

function primeCompute(name: 'prime-rloo-paper' | 'prime-rloo-code'): AdvantageEstimator['compute'] {
  const needs: AdvantageInputName[] = ['groups', 'outcome'];
  return (rt, inputs, options) => {
    const { rows, cols, o } = validate(name, needs, inputs, options);
    const info = groupIndex(rt, inputs.groups!);
    const stats = rowStats(rt, inputs.rewards, inputs.mask);
    const scale = o.batchNorm ? maxReturnScale(rt, inputs.rewards, inputs.mask, 1) : null;
    const returns = rt.empty([rows, cols]);
    const moments = momentsFor(rt, rows, o);
    const bindings = [inputs.rewards, inputs.mask, inputs.outcome!, stats, info, ...(scale ? [scale] : []), returns, ...(moments ? [moments] : [])];
    const uniforms = { gamma: o.gamma, cPrm: o.cPrm, cGt: o.cGt };
    rowScan(rt, name === 'prime-rloo-code' ? 'prime-code' : 'prime-paper', inputs.mask, bindings, uniforms, { scaled: scale !== null, moments: moments !== null });
    for (const a of [info, stats, scale]) a?.dispose();
    return { advantages: finishWhiten(rt, returns, inputs.mask, moments, o), returns };
  };
}

const PRIME_OPTIONS = ['gamma', 'cPrm', 'cGt', 'batchNorm', 'whiten', 'unbiased'] as const;

/**
 * prime-rloo-paper (PRIME paper/README, docs/research/papers.md §3b): with m_j the mean process reward of
 * sample j and K the group size,
 *   A_{b,t} = c_prm·Σ_{s≥t} γ^{s−t}[r_{b,s} − mean_{j≠b} m_j] + c_gt·(o_b − mean_{j≠b} o_j),
 * the outcome term undiscounted on every valid token; returns = that, advantages = its masked
 * whitening (PRIME's trainer whitens; whiten: false gives the bare formula). Process rewards are
 * batch-normalised first (batchNorm). A group of one has no baseline.
 */
const primeRlooPaper: AdvantageEstimator = {
  name: 'prime-rloo-paper',
  doc: 'A_t = c_prm Σ_{s≥t} γ^{s−t} (r_s − mean_{j≠b} m_j) + c_gt (o_b − mean_{j≠b} o_j), m_j = mean process reward of j; then masked_whiten.',
  needs: ['groups', 'outcome'],
  options: PRIME_OPTIONS,
  compute: primeCompute('prime-rloo-paper'),
  reference: primeRlooPaperReference,
};

/**
 * prime-rloo-code (PRIME's released compute_rloo_returns, docs/research/papers.md §3b): for each source
 * (process rewards on every valid token; the outcome on the last valid token, its m_j = o_j),
 *   r'_{b,t} = r_{b,t}·K/(K−1) − Σ_j m_j/(K−1),
 * G = reward-to-go of r' (γ), returns = c_prm·G_prm + c_gt·G_gt, advantages = masked_whiten(returns).
 * The original repo sums the sources unweighted (c = 1, the defaults); verl's recipe uses 5/5 and
 * γ = 1. Process rewards are batch-normalised first (batchNorm, PRIME's prime_norm=batch_norm).
 * A group of one has no baseline (r' = r; the code would divide by zero). An empty row's m is 0.
 */
const primeRlooCode: AdvantageEstimator = {
  name: 'prime-rloo-code',
  doc: "r' = r·K/(K−1) − Σ_j m_j/(K−1) per source (process: all valid tokens; outcome: last token); returns = c_prm G(r'_prm) + c_gt G(r'_gt); advantages = masked_whiten(returns).",
  needs: ['groups', 'outcome'],
  options: PRIME_OPTIONS,
  compute: primeCompute('prime-rloo-code'),
  reference: primeRlooCodeReference,
};

/**
 * repirl-loo (rePIRL, irl_core_algos.compute_advantage_return with 'rloo', docs/research/papers.md §1b): for each
 * source (process rewards batch-normalised by max |reward-to-go| + 1e-6; the outcome on the last
 * valid token), G_{k,t} = reward-to-go (γ, 1 in rePIRL), then the per-timestep leave-one-out over
 * the siblings active at t: A^src_{k,t} = G_{k,t} − Σ_{k'≠k active} G_{k',t} / max(1, #active others);
 * A = c_prm·A^prm + c_gt·A^out, then masked whitening (unbiased). rePIRL: c_gt = 1, c_prm = 0.05–0.1.
 * No returns (rePIRL's code returns the advantages again).
 */
const repirlLoo: AdvantageEstimator = {
  name: 'repirl-loo',
  doc: 'A = masked_whiten(c_prm·LOO_t(G(r/norm)) + c_gt·LOO_t(G(o on last token))), LOO_t(G)_{k,t} = G_{k,t} − mean of G_{k\',t} over siblings k\' active at t.',
  needs: ['groups', 'outcome'],
  options: ['gamma', 'cPrm', 'cGt', 'batchNorm', 'whiten', 'unbiased'],
  compute(rt, inputs, options) {
    const { rows, cols, o } = validate('repirl-loo', ['groups', 'outcome'], inputs, options);
    const info = groupIndex(rt, inputs.groups!);
    const scale = o.batchNorm ? maxReturnScale(rt, inputs.rewards, inputs.mask, 1) : null;
    // The leave-one-out is linear and both sources share the active set, so the sources are
    // combined first (c_prm·s·G_prm + c_gt·G_out) and the baseline is taken once.
    const combined = rt.empty([rows, cols]);
    const bindings = [inputs.rewards, inputs.mask, inputs.outcome!, ...(scale ? [scale] : []), combined];
    rowScan(rt, 'repirl', inputs.mask, bindings, { gamma: o.gamma, cPrm: o.cPrm, cGt: o.cGt }, { scaled: scale !== null });
    const { out: raw, moments } = looTimestep(rt, combined, inputs.mask, info, o.whiten);
    for (const a of [info, scale, combined]) a?.dispose();
    if (!moments) return { advantages: raw };
    const advantages = finishWhiten(rt, raw, inputs.mask, moments, o);
    raw.dispose();
    return { advantages };
  },
  reference: repirlLooReference,
};

/** Every estimator by name. */
export const ADVANTAGE_ESTIMATORS: Readonly<Record<AdvantageEstimatorName, AdvantageEstimator>> = Object.freeze({
  grpo,
  'dr-grpo': drGrpo,
  rloo,
  'reinforce++': reinforcePlusPlus,
  'reinforce++-baseline': reinforcePlusPlusBaseline,
  gae,
  'prime-rloo-paper': primeRlooPaper,
  'prime-rloo-code': primeRlooCode,
  'repirl-loo': repirlLoo,
});

export const ADVANTAGE_ESTIMATOR_NAMES = Object.keys(ADVANTAGE_ESTIMATORS) as AdvantageEstimatorName[];

/** The estimator called `name`; an unknown name throws an error listing the known ones. */
export function getAdvantageEstimator(name: string): AdvantageEstimator {
  if (!Object.prototype.hasOwnProperty.call(ADVANTAGE_ESTIMATORS, name)) {
    throw new ArgumentError('advantages', 'estimator', `unknown estimator "${name}" (known: ${ADVANTAGE_ESTIMATOR_NAMES.join(', ')})`);
  }
  return ADVANTAGE_ESTIMATORS[name as AdvantageEstimatorName];
}

/** Runs the named estimator on the GPU. */
export function computeAdvantages(rt: Runtime, name: string, inputs: AdvantageInputs, options?: AdvantageOptions): AdvantageResult {
  return getAdvantageEstimator(name).compute(rt, inputs, options);
}

/** The named estimator's float64 CPU reference. */
export function advantagesReference(name: string, inputs: AdvantageReferenceInputs, options?: AdvantageOptions): AdvantageReferenceResult {
  return getAdvantageEstimator(name).reference(inputs, options);
}

// ---------------------------------------------------------------- validation

/** Checks a [B, T] f32 token array and returns [B, T]. */
export function checkTokens(kernel: string, name: string, array: GpuArray): [number, number] {
  expectDType(kernel, name, array, 'f32');
  expectRank(kernel, name, array, 2);
  return [array.shape[0]!, array.shape[1]!];
}

/** Checks a response mask: f32 or u32, shape [B, T]. */
export function checkMask(kernel: string, mask: GpuArray, rows: number, cols: number): MaskType {
  expectDType(kernel, 'mask', mask, 'f32', 'u32');
  expectShape(kernel, 'mask', mask, [rows, cols]);
  return mask.dtype as MaskType;
}

export function checkRowVector(kernel: string, name: string, array: GpuArray | undefined, rows: number, dtype: 'f32' | 'i32', what: string): GpuArray {
  if (!array) throw new ArgumentError(kernel, name, `is required (${dtype} [B] = [${rows}]: ${what})`);
  expectDType(kernel, name, array, dtype);
  expectShape(kernel, name, array, [rows]);
  return array;
}

export function checkGamma(kernel: string, name: string, value: number): void {
  expectFinite(kernel, name, value);
}

function rowGrid(rt: Runtime, rows: number): [number, number, number] {
  return rt.grid(Math.ceil(rows / ROW_WORKGROUP));
}

function elementGrid(rt: Runtime, n: number): [number, number, number] {
  return rt.grid(Math.ceil(n / ELEMENT_CHUNK));
}

// ---------------------------------------------------------------- building blocks (internal)

/** i32 [B, 3]: (first row of the group, next row of the group or −1, group size) per row. */
export function groupIndex(rt: Runtime, groups: GpuArray): GpuArray {
  const rows = groups.shape[0]!;
  const info = rt.empty([rows, 3], 'i32');
  rt.dispatch(groupIndexProgram(), { bindings: [groups, info], uniforms: { rows }, workgroups: rowGrid(rt, rows) });
  return info;
}

/** f32 [B, 4]: (valid count, sum of valid rewards, last valid index or −1, 0) per row. */
export function rowStats(rt: Runtime, rewards: GpuArray, mask: GpuArray): GpuArray {
  const [rows, cols] = [rewards.shape[0]!, rewards.shape[1]!];
  const stats = rt.empty([rows, 4]);
  rt.dispatch(rowStatsProgram(mask.dtype as MaskType), { bindings: [rewards, mask, stats], uniforms: { rows, cols }, workgroups: rowGrid(rt, rows) });
  return stats;
}

/**
 * f32 [B]: the row advantage of a sequence-level estimator. With `moments` (f32 [B, 3]), also the
 * rows' partial moments for whitening the broadcast advantages.
 */
export function sequenceAdvantage(
  rt: Runtime,
  kind: SequenceKind,
  stats: GpuArray,
  info: GpuArray,
  epsilon: number,
  singleton: 'verl' | 'zero',
  moments: GpuArray | null = null,
): GpuArray {
  const rows = stats.shape[0]!;
  const rowAdv = rt.empty([rows]);
  rt.dispatch(sequenceAdvantageProgram(kind, singleton, moments !== null), {
    bindings: [stats, info, rowAdv, ...(moments ? [moments] : [])],
    uniforms: { rows, epsilon },
    workgroups: rowGrid(rt, rows),
  });
  return rowAdv;
}

/** [B, T]: rowValue[b] at the valid tokens of row b, whitened with `stats` (mean, istd) when given. */
export function broadcastRows(rt: Runtime, rowValue: GpuArray, mask: GpuArray, stats: GpuArray | null = null): GpuArray {
  const [rows, cols] = [mask.shape[0]!, mask.shape[1]!];
  const out = rt.empty([rows, cols]);
  const chunks = Math.max(1, Math.ceil(cols / ELEMENT_CHUNK));
  rt.dispatch(broadcastProgram(mask.dtype as MaskType, stats !== null), {
    bindings: [rowValue, mask, ...(stats ? [stats] : []), out],
    uniforms: { rows, cols, chunks },
    workgroups: rt.grid(cols === 0 ? 0 : rows * chunks),
  });
  return out;
}

/** f32 [1]: 1/(max_{b,t} |reward-to-go| + eps) over valid tokens. */
export function maxReturnScale(rt: Runtime, rewards: GpuArray, mask: GpuArray, gamma: number, eps = MAX_RETURN_EPS): GpuArray {
  const [rows, cols] = [rewards.shape[0]!, rewards.shape[1]!];
  const rowMax = rt.empty([rows]);
  rt.dispatch(scanProgram('max-rtg', mask.dtype as MaskType), {
    bindings: [rewards, mask, rowMax],
    uniforms: { rows, cols, gamma },
    workgroups: rowGrid(rt, rows),
  });
  const scale = rt.empty([1]);
  rt.dispatch(maxReduceProgram(reduceVariant(rt)), { bindings: [rowMax, scale], uniforms: { rows, eps }, workgroups: [1] });
  rowMax.dispose();
  return scale;
}

/**
 * Dispatches one row-scan program (see scanProgram) over rows × cols; `bindings` in the program's
 * order (the scale binding when `scaled`, the f32 [B, 3] moments last when `moments`).
 */
export function rowScan(
  rt: Runtime,
  kind: ScanKind,
  mask: GpuArray,
  bindings: GpuArray[],
  uniforms: Record<string, number>,
  flags: { scaled?: boolean; moments?: boolean } = {},
): void {
  const [rows, cols] = [mask.shape[0]!, mask.shape[1]!];
  rt.dispatch(scanProgram(kind, mask.dtype as MaskType, flags.scaled ?? false, flags.moments ?? false), {
    bindings,
    uniforms: { rows, cols, ...uniforms },
    workgroups: rowGrid(rt, rows),
  });
}

/**
 * [B, T]: rePIRL's per-timestep leave-one-out of h over the active siblings; with `withMoments`,
 * also the partial moments of the result (f32 [B·LOO_WORKGROUP, 3]).
 */
export function looTimestep(rt: Runtime, h: GpuArray, mask: GpuArray, info: GpuArray, withMoments: boolean): { out: GpuArray; moments: GpuArray | null } {
  const [rows, cols] = [mask.shape[0]!, mask.shape[1]!];
  const out = rt.empty([rows, cols]);
  const moments = withMoments ? rt.empty([rows * LOO_WORKGROUP, 3]) : null;
  rt.dispatch(looTimestepProgram(mask.dtype as MaskType, withMoments), {
    bindings: [h, mask, info, out, ...(moments ? [moments] : [])],
    uniforms: { rows, cols },
    workgroups: rt.grid(rows),
  });
  return { out, moments };
}

/** f32 [2] = (mean, (var + 1e-8)^−½) from partial moments f32 [P, 3] (count, mean, M2). */
export function whitenFinalize(rt: Runtime, moments: GpuArray, unbiased: boolean): GpuArray {
  const stats = rt.empty([2]);
  rt.dispatch(whitenFinalizeProgram(reduceVariant(rt)), {
    bindings: [moments, stats],
    uniforms: { parts: moments.shape[0]!, unbiased: unbiased ? 1 : 0, eps: WHITEN_EPS },
    workgroups: [1],
  });
  return stats;
}

/** (v − mean)·istd (+ mean when !shiftMean) at valid tokens, 0 elsewhere. */
export function whitenApply(rt: Runtime, values: GpuArray, mask: GpuArray, stats: GpuArray, shiftMean: boolean): GpuArray {
  const n = values.size;
  const out = rt.empty(values.shape);
  rt.dispatch(whitenApplyProgram(mask.dtype as MaskType), {
    bindings: [values, mask, stats, out],
    uniforms: { n, keepMean: shiftMean ? 0 : 1 },
    workgroups: elementGrid(rt, n),
  });
  return out;
}

/** Whitening from scratch without argument checks: moments pass, finalize, apply. */
export function whitenUnchecked(rt: Runtime, values: GpuArray, mask: GpuArray, unbiased: boolean, shiftMean: boolean): GpuArray {
  const n = values.size;
  const groups = Math.ceil(n / MOMENT_CHUNK);
  const moments = rt.empty([groups * MOMENT_WORKGROUP, 3]);
  rt.dispatch(whitenMomentsProgram(mask.dtype as MaskType), { bindings: [values, mask, moments], uniforms: { n }, workgroups: rt.grid(groups) });
  const stats = whitenFinalize(rt, moments, unbiased);
  const out = whitenApply(rt, values, mask, stats, shiftMean);
  moments.dispose();
  stats.dispose();
  return out;
}

// ---------------------------------------------------------------- public helpers

/**
 * Masked whitening over every valid token of the batch (verl's masked_whiten):
 * out = (v − mean)·(var + 1e-8)^−½ (+ mean when `shiftMean` is false) at valid tokens, 0 at
 * masked ones. var is Bessel-corrected by default (`unbiased`); with one valid token that
 * variance is taken as 0 (verl raises). Two-stage reduction, then an elementwise pass.
 * values: f32 [B, T] (any shape); mask: f32 or u32, same shape.
 */
export function maskedWhiten(rt: Runtime, values: GpuArray, mask: GpuArray, options: MaskedWhitenOptions = {}): GpuArray {
  const kernel = 'masked-whiten';
  expectDType(kernel, 'values', values, 'f32');
  expectDType(kernel, 'mask', mask, 'f32', 'u32');
  expectShape(kernel, 'mask', mask, values.shape);
  return whitenUnchecked(rt, values, mask, options.unbiased ?? true, options.shiftMean ?? true);
}

/**
 * Reward-to-go G_t = r_t + γ·G_{next valid token} per row, over valid tokens only (masked tokens
 * add nothing and do not count as a discount step); 0 at masked tokens. rewards f32 [B, T].
 */
export function rewardToGo(rt: Runtime, rewards: GpuArray, mask: GpuArray, options: { gamma?: number } = {}): GpuArray {
  const kernel = 'reward-to-go';
  const [rows, cols] = checkTokens(kernel, 'rewards', rewards);
  checkMask(kernel, mask, rows, cols);
  const gamma = options.gamma ?? 1;
  checkGamma(kernel, 'gamma', gamma);
  const out = rt.empty([rows, cols]);
  rowScan(rt, 'rtg', mask, [rewards, mask, out], { gamma });
  return out;
}

/**
 * PRIME/rePIRL batch normalisation: r / (max_{b,t} |reward-to-go_{b,t}| + 1e-6), one scalar for
 * the whole batch (0 at masked tokens). Both codebases use the undiscounted reward-to-go (γ = 1,
 * the default). rewards f32 [B, T].
 */
export function normalizeByMaxReturn(rt: Runtime, rewards: GpuArray, mask: GpuArray, options: { gamma?: number } = {}): GpuArray {
  const kernel = 'normalize-by-max-return';
  const [rows, cols] = checkTokens(kernel, 'rewards', rewards);
  const maskType = checkMask(kernel, mask, rows, cols);
  const gamma = options.gamma ?? 1;
  checkGamma(kernel, 'gamma', gamma);
  const scale = maxReturnScale(rt, rewards, mask, gamma);
  const out = rt.empty([rows, cols]);
  const n = rows * cols;
  rt.dispatch(scaleProgram(maskType), { bindings: [rewards, mask, scale, out], uniforms: { n }, workgroups: elementGrid(rt, n) });
  scale.dispose();
  return out;
}

/** Token rewards [B, T] holding scores[b] on the last valid token of row b (none for a fully masked row). */
export function placeOutcome(rt: Runtime, scores: GpuArray, mask: GpuArray): GpuArray {
  const kernel = 'place-outcome';
  expectDType(kernel, 'mask', mask, 'f32', 'u32');
  expectRank(kernel, 'mask', mask, 2);
  const [rows, cols] = [mask.shape[0]!, mask.shape[1]!];
  checkRowVector(kernel, 'scores', scores, rows, 'f32', 'one score per row of mask');
  const out = rt.empty([rows, cols]);
  rt.dispatch(placeOutcomeProgram(mask.dtype as MaskType), { bindings: [scores, mask, out], uniforms: { rows, cols }, workgroups: rowGrid(rt, rows) });
  return out;
}
