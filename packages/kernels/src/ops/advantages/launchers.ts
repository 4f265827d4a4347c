// Launchers of the advantages family's building blocks: argument checks, uniforms, dispatches.
// The estimators in estimators.ts are sequences of these; the helpers are public on their own.
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import { ArgumentError } from '../../runtime/errors.js';
import { expectDType, expectFinite, expectRank, expectShape } from '../validate.js';
import { reduceVariant } from '../shared/workgroup-reduce.js';
import {
  ELEMENT_CHUNK,
  LOO_WORKGROUP,
  MOMENT_CHUNK,
  MOMENT_WORKGROUP,
  ROW_WORKGROUP,
  broadcastProgram,
  groupIndexProgram,
  looTimestepProgram,
  maxReduceProgram,
  placeOutcomeProgram,
  rowStatsProgram,
  scaleProgram,
  scanProgram,
  sequenceAdvantageProgram,
  whitenApplyProgram,
  whitenFinalizeProgram,
  whitenMomentsProgram,
  type MaskType,
  type ScanKind,
  type SequenceKind,
} from './programs.js';
import { MAX_RETURN_EPS, WHITEN_EPS, type MaskedWhitenOptions } from './reference.js';

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
