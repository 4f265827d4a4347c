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
//
// WGSL program builders of the advantages family. Every estimator is a short sequence of these:
//
//   groups      one invocation per row: scans all B group ids and writes (first member, next
//               member, group size), a linked list of each group's rows. O(B²) compares, which is
//               small next to the B·T token work for the batches an RL step uses (B ≤ a few 1000).
//   row-stats   one invocation per row: valid-token count, sum of valid rewards, last valid index.
//   sequence    one invocation per row: walks its group's list and turns the sequence scores into
//               the row's advantage (grpo / dr-grpo / rloo / group-mean baseline).
//   broadcast   row value × mask per token (optionally whitened with finished statistics).
//   scan        one invocation per row: a reverse scan over the row's tokens (reward-to-go, GAE,
//               PRIME's two sources, rePIRL's combined reward-to-go, max |reward-to-go|).
//   loo-t       one workgroup per row: rePIRL's per-timestep leave-one-out over the siblings
//               active at the same position (walks the group list; K reads per token).
//   max         one workgroup: max over rows → 1/(max + eps) (PRIME/rePIRL batch normalisation).
//   whitening   a two-stage reduction. Stage 1 writes partial moments (count, mean, M2) with
//               Welford's update and no barrier: the producing kernels do it on the fly (one
//               partial per row for the scans, per invocation for loo-t), and the moments kernel
//               does it for maskedWhiten. Stage 2 (finalize) is one workgroup combining all
//               partials exactly (Chan et al.) with ops/shared/workgroup-reduce.ts ('subgroup' or
//               'shared'). Then an elementwise apply.
//
// Measured on lavapipe: per-invocation overhead and barriers dominate these light kernels, so the
// scans run one row per invocation (a 1024-step loop is cheaper than a barrier-based parallel
// scan) and the elementwise kernels handle ELEMENT_ITEMS elements per invocation.
//
// The registry of token-level advantage estimators (verl's register_adv_est, as a typed object):
// name → { doc, needs, compute(rt, inputs, options), reference(inputs, options) }. `compute` runs
// the WGSL kernels; `reference` is the float64 CPU definition the tests hold it to.
//
// Inputs are [B, T] token arrays with a response mask; outcome rewards are either already on the
// last valid token of `rewards` (grpo, rloo, …; see placeOutcome) or given as [B] scores
// (`outcome`, for the two-source estimators). Where the papers are silent we follow verl, and say so.
//
// Launchers of the advantages family's building blocks: argument checks, uniforms, dispatches.
// The estimators (the registry in launcher.ts) are sequences of these; the helpers are public on their own.
//
// Float64 CPU references for every advantage estimator and helper of this family. They define the
// semantics the WGSL kernels must reproduce (tests compare the two), and they are usable on their
// own (the rl package's CPU path).
//
// Shared conventions (see index.ts for the full list):
// - a token is valid when its mask entry is non-zero; outputs are 0 at every masked token;
// - scans over tokens skip masked tokens: a masked token neither adds a reward nor counts as a
//   discount step (verl's GAE convention for multi-turn observation tokens). For the usual masks
//   (a valid prefix, or left padding) this is the same as zeroing masked rewards;
// - group membership comes from equal group ids, in any order; a group may have one member.
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export {
  ADVANTAGE_ESTIMATORS,
  ADVANTAGE_ESTIMATOR_NAMES,
  advantagesReference,
  computeAdvantages,
  getAdvantageEstimator,
  maskedWhiten,
  normalizeByMaxReturn,
  placeOutcome,
  rewardToGo,
  type AdvantageEstimator,
  type AdvantageEstimatorName,
  type AdvantageInputName,
  type AdvantageInputs,
  type AdvantageResult,
} from './launcher.js';
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
