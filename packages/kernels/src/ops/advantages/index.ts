// Token-level advantage estimators over [B, T] token rewards, a response mask and group ids, each a
// named registry entry with a WGSL implementation and a float64 CPU reference.
//
// Conventions shared by every estimator and helper (the references in reference.ts define them):
// - valid token ⇔ mask ≠ 0 (f32 or u32 mask); every output is 0 at masked tokens;
// - scans skip masked tokens (no reward, no discount step), which equals zeroing masked rewards
//   for a valid prefix or left padding;
// - groups: i32 ids in any order, not necessarily contiguous, groups of any size ≥ 1;
// - whitening is verl's masked_whiten over all valid tokens of the batch, Bessel-corrected by
//   default, eps 1e-8 inside the square root.
export {
  ADVANTAGE_ESTIMATORS,
  ADVANTAGE_ESTIMATOR_NAMES,
  advantagesReference,
  computeAdvantages,
  getAdvantageEstimator,
  type AdvantageEstimator,
  type AdvantageEstimatorName,
  type AdvantageInputName,
  type AdvantageInputs,
  type AdvantageResult,
} from './estimators.js';
export { maskedWhiten, normalizeByMaxReturn, placeOutcome, rewardToGo } from './launchers.js';
export {
  MAX_RETURN_EPS,
  WHITEN_EPS,
  drGrpoReference,
  gaeReference,
  groupMembersReference,
  grpoReference,
  lastValidReference,
  maskedWhitenReference,
  maxAbsReturnReference,
  normalizeByMaxReturnReference,
  perTimestepLooReference,
  placeOutcomeReference,
  primeRlooCodeReference,
  primeRlooPaperReference,
  reinforcePlusPlusBaselineReference,
  reinforcePlusPlusReference,
  repirlLooReference,
  resolveAdvantageOptions,
  rewardToGoReference,
  rlooReference,
  type AdvantageOptions,
  type AdvantageReferenceInputs,
  type AdvantageReferenceResult,
  type MaskedWhitenOptions,
} from './reference.js';
