// The trainers' configs, declared once in the config language (../config): every key's name,
// default, validator and doc line live here, and the CLI's `repirl sft` / `repirl rl` configs are
// these schemas with the task, the starting policy and the data added around them. config.json
// records the resolved object; `repirl config rl` prints this declaration.
//
// Names follow verl where one exists (ppoEpochs = ppo_epochs, clipLow/clipHigh = clip_ratio_low/
// high, dualClip = clip_ratio_c, aggregation = loss_agg_mode, kl.placement 'reward' =
// use_kl_in_reward, critic.valueClip = cliprange_value, critic.freezeActorSteps = critic_warmup).
//
// Defaults are sized for this project's small byte-level policies (d = 32–256), not for 7B models:
// learning rates are higher than verl's 1e-6. The RL defaults depend on `algorithm`, a preset:
// rlConfigSchema(algorithm) is the schema with that preset's defaults (RL_PRESETS).
import { LORA_TARGET_MODULES, type LoraConfig } from '@repirl/autograd';
import { ADVANTAGE_ESTIMATOR_NAMES } from '../advantages/estimate.js';
import { choose, resolveConfig, type Given } from '../config/load.js';
import { s, withDefaults, type Infer, type Issue, type ObjectSchema } from '../config/schema.js';
import { LOSS_AGGREGATION_NAMES } from '../losses/aggregate.js';
import { KL_ESTIMATOR_NAMES } from '../losses/kl.js';
import { POLICY_LOSS_NAMES } from '../losses/policy.js';

export const RL_ALGORITHMS = ['grpo', 'dr-grpo', 'rloo', 'reinforce++', 'reinforce++-baseline', 'ppo'] as const;
export type RlAlgorithm = (typeof RL_ALGORITHMS)[number];
/** Algorithms whose baseline is the group of k samples of a prompt: they need k ≥ 2. */
const GROUP_ALGORITHMS: readonly RlAlgorithm[] = ['grpo', 'dr-grpo', 'rloo', 'reinforce++-baseline'];

export const LR_SCHEDULES = ['constant', 'cosine', 'linear'] as const;
export type LrScheduleName = (typeof LR_SCHEDULES)[number];

export const U32_MAX = 0xffffffff;

// ---------------------------------------------------------------------------------------------
// Sections the trainers (and the PRM learners) share

interface OptimizerDefaults {
  lr: number;
  schedule?: LrScheduleName;
  warmupSteps?: number;
  minLrRatio?: number;
  weightDecay?: number;
  maxGradNorm?: number;
}

/** An AdamW optimizer with its learning-rate schedule (optim.ts builds it). */
export function optimizerSchema(doc: string, d: OptimizerDefaults) {
  return s.object(doc, {
    lr: s.number('peak learning rate (AdamW)', { default: d.lr, min: 0, max: 1, minExclusive: true }),
    schedule: s.enum('learning rate after warmup: constant, or decaying to minLrRatio·lr at the last optimizer step (cosine or linear)', LR_SCHEDULES, {
      default: d.schedule ?? 'constant',
    }),
    warmupSteps: s.integer('optimizer steps of linear warmup from 0 to lr (as long as the run or longer: the whole run warms up)', {
      default: d.warmupSteps ?? 0, min: 0,
    }),
    minLrRatio: s.number('floor of the decaying schedules, as a fraction of lr', { default: d.minLrRatio ?? 0, min: 0, max: 1 }),
    weightDecay: s.number('decoupled weight decay (AdamW)', { default: d.weightDecay ?? 0, min: 0, max: 1 }),
    maxGradNorm: s.number('clip the global gradient norm to this (0: no clipping; the norm is still reported); non-finite steps are skipped', {
      default: d.maxGradNorm ?? 1, min: 0,
    }),
    beta1: s.number("Adam's β1", { default: 0.9, min: 0, max: 1, minExclusive: false }),
    beta2: s.number("Adam's β2", { default: 0.999, min: 0, max: 1 }),
    eps: s.number("Adam's ε", { default: 1e-8, min: 0, max: 1, minExclusive: true }),
  });
}
export type OptimizerConfig = Infer<ReturnType<typeof optimizerSchema>>;

/** Periodic validation on held-out problems. */
export function validationSchema(d: { every: number }) {
  return s.object('periodic validation on held-out problems (greedy pass@1 always; pass@k when k ≥ 1)', {
    every: s.integer('steps between validations (0: only before training and after the last step)', { default: d.every, min: 0 }),
    beforeTraining: s.boolean('also validate before the first step (recorded as step 0)', { default: true }),
    k: s.integer('samples per problem for pass@k and mean@k (0: greedy pass@1 only)', { default: 0, min: 0, max: 1024 }),
    temperature: s.number('sampling temperature of the pass@k samples', { default: 1, min: 0, max: 10, minExclusive: true }),
    maxNewTokens: s.integer("generation budget (0: the rollout's for RL, the longest training response + 8 for SFT)", { default: 0, min: 0 }),
    batchSize: s.integer('most sequences per generate() call (0: all at once)', { default: 0, min: 0 }),
    limit: s.integer('validate on the first `limit` problems only (0: all)', { default: 0, min: 0 }),
  });
}
export type ValidationConfig = Infer<ReturnType<typeof validationSchema>>;

export function checkpointSchema(d: { every: number }) {
  return s.object('checkpoints in <run>/checkpoints (--resume continues from the latest)', {
    every: s.integer('steps between checkpoints (0: only at the end and when the run is stopped)', { default: d.every, min: 0 }),
    keep: s.integer('checkpoints kept on disk (the oldest are deleted)', { default: 2, min: 1 }),
  });
}
export type CheckpointConfig = Infer<ReturnType<typeof checkpointSchema>>;

/**
 * LoRA, off by default (rank 0); alpha, dropout and targets default to PEFT's (lora_alpha 8, no
 * dropout, q_proj and v_proj). The policy's own weights stay frozen and only the adapters train
 * (and are checkpointed); the final policy is saved merged, with the adapters beside it in PEFT's
 * layout (adapter/).
 */
export function loraSchema() {
  return s.object("LoRA: train low-rank adapters on the chosen projections, the policy's own weights frozen (rank 0: full fine-tuning)", {
    rank: s.integer('r: rank of the adapters (0: no LoRA, every weight trains)', { default: 0, min: 0, max: 4096 }),
    alpha: s.number('lora_alpha: the adapters\' update is scaled by alpha / rank', { default: 8, min: 0, minExclusive: true }),
    dropout: s.number("lora_dropout: dropout on the adapters' input while training", { default: 0, min: 0, max: 0.99 }),
    targetModules: s.array('adapted projections in every layer, by their Hugging Face names', s.enum('a projection', LORA_TARGET_MODULES), {
      default: ['q_proj', 'v_proj'], minItems: 1, maxItems: LORA_TARGET_MODULES.length,
    }),
  }, {
    check: (c) => (new Set(c.targetModules).size < c.targetModules.length ? [{ path: 'targetModules', message: 'lists a projection twice' }] : []),
  });
}
export type LoraSection = Infer<ReturnType<typeof loraSchema>>;

/** The LoRA settings of a trainer config, or null for full fine-tuning (rank 0). */
export function loraOf(section: LoraSection): LoraConfig | null {
  return section.rank === 0 ? null : { rank: section.rank, alpha: section.alpha, dropout: section.dropout, targetModules: [...section.targetModules] };
}

export const seedSchema = () => s.integer('seed of everything random in the run (same seed, same backend: same run)', { default: 0, min: 0, max: U32_MAX });

export const maxSkippedStepsSchema = () =>
  s.integer('stop with an error after this many consecutive steps skipped for a non-finite loss or gradient', { default: 10, min: 1 });

/** A note when the warmup is as long as the run: the learning rate then never reaches its peak. */
export function warmupNote(optim: { warmupSteps: number; schedule: string }, steps: number, path: string, stepsKey: string): Issue[] {
  if (optim.warmupSteps === 0 || optim.warmupSteps < steps) return [];
  return [{
    level: 'note', path: `${path}.warmupSteps`,
    message: `${optim.warmupSteps} warmup steps ≥ ${stepsKey} (${steps}): the whole run warms up (the learning rate never reaches its peak${optim.schedule === 'constant' ? '' : ' and never decays'})`,
  }];
}

// ---------------------------------------------------------------------------------------------
// RL

const rlFields = {
  algorithm: s.enum('a preset of the defaults below (advantage estimator, loss aggregation, KL placement and estimator, GAE λ); any key can still be set', RL_ALGORITHMS, {
    default: 'grpo',
  }),
  seed: seedSchema(),
  steps: s.integer('RL steps (one rollout batch and its updates each)', { default: 200, min: 1 }),
  maxSkippedSteps: maxSkippedStepsSchema(),
  rollout: s.object('sampling the policy', {
    promptsPerStep: s.integer('prompts (groups) per RL step', { default: 16, min: 1 }),
    k: s.integer('samples per prompt (the group of GRPO/RLOO)', { default: 8, min: 1, max: 1024 }),
    temperature: s.number('sampling temperature', { default: 1, min: 0, max: 10, minExclusive: true }),
    topK: s.integer('sample from the k most likely tokens (0: off)', { default: 0, min: 0 }),
    topP: s.number('nucleus sampling mass (1: off)', { default: 1, min: 0, max: 1, minExclusive: true }),
    maxNewTokens: s.integer('longest response in tokens; longer ones are cut and score 0', { default: 64, min: 1 }),
    batchSize: s.integer('most sequences per generate() call (0: all at once)', { default: 0, min: 0 }),
  }),
  budget: s.object('a compute budget that ends the run before `steps` (runs of different methods compare at equal budgets)', {
    sampledSequences: s.integer('stop after the step that brings the sequences sampled (filter oversampling included) to this many (0: no budget)', { default: 0, min: 0 }),
  }),
  filter: s.object('keep only groups whose accuracy is in [low, high], sampling more prompts to refill (DAPO dynamic sampling; PRIME: [0.2, 0.8])', {
    enabled: s.boolean('filter groups by accuracy', { default: false }),
    low: s.number('keep groups with accuracy ≥ low', { default: 0.2, min: 0, max: 1 }),
    high: s.number('keep groups with accuracy ≤ high', { default: 0.8, min: 0, max: 1 }),
    oversample: s.number('prompts sampled per missing group', { default: 2, min: 1, max: 64 }),
    maxRounds: s.integer('sampling rounds per step at most', { default: 3, min: 1 }),
    maxBuffer: s.optional(s.integer('kept groups carried to the next step at most (null: rollout.promptsPerStep)', { min: 0 })),
  }, {
    check: (f) => (f.low > f.high ? [{ path: 'low', message: `${f.low} is above filter.high (${f.high}): no group would pass` }] : []),
  }),
  actor: s.object('the policy update', {
    ...optimizerSchema('', { lr: 1e-4 }).fields,
    ppoEpochs: s.integer('passes over each rollout batch (1: on-policy; more makes the clip matter)', { default: 1, min: 1, max: 64 }),
    miniBatches: s.integer('optimizer steps per pass (the batch is shuffled and split into near-equal parts by a seed derived from the step)', { default: 1, min: 1 }),
    microBatchSize: s.integer('sequences per forward/backward pass (gradient accumulation, one token normaliser over the mini-batch; 0: the whole mini-batch)', { default: 0, min: 0 }),
    policyLoss: s.enum('the policy-gradient loss', POLICY_LOSS_NAMES, { default: 'ppo-clip' }),
    clipLow: s.number('PPO ratio clip below: ratio ≥ 1 − clipLow', { default: 0.2, min: 0, max: 1 }),
    clipHigh: s.optional(s.number('PPO ratio clip above: ratio ≤ 1 + clipHigh (clip-higher, DAPO: 0.28; null: clipLow)', { min: 0, max: 10 })),
    dualClip: s.optional(s.number('dual-clip bound c for negative advantages (verl clip_ratio_c: 3; null: off)', { min: 1, max: 100, minExclusive: true })),
    aggregation: s.enum("per-token losses to one scalar (verl's loss_agg_mode; seq-mean-token-sum-norm is Dr.GRPO's constant normaliser)", LOSS_AGGREGATION_NAMES, {
      default: 'token-mean',
    }),
    entropyCoef: s.number('entropy bonus coefficient', { default: 0, min: 0, max: 1 }),
    recomputeOldLogProbs: s.boolean("recompute old log-probs with a trainer forward instead of the rollout's (verl does; ours agree to rounding)", {
      default: false,
    }),
  }),
  advantage: s.object('the advantage estimator', {
    estimator: s.enum('advantage estimator (the algorithm presets one)', ADVANTAGE_ESTIMATOR_NAMES, { default: 'grpo' }),
    gamma: s.number('discount γ (GAE, returns)', { default: 1, min: 0, max: 1 }),
    lambda: s.number('λ of GAE', { default: 1, min: 0, max: 1 }),
    epsilon: s.number("GRPO's std ε", { default: 1e-6, min: 0, max: 1 }),
    whiten: s.boolean('whiten the advantages where the estimator supports it (reinforce++, gae, prime-*, repirl-loo)', { default: true }),
    cPrm: s.number('weight of the process-reward source (prime-rloo-*, repirl-loo; 0: outcome only)', { default: 1, min: 0, max: 100 }),
    cGt: s.number('weight of the outcome source (prime-rloo-*, repirl-loo; 0: process reward only, as in test-time training)', { default: 1, min: 0, max: 100 }),
  }),
  kl: s.object('KL penalty to the reference (initial) policy', {
    coef: s.number('β (0: no KL and no reference model is loaded)', { default: 0, min: 0, max: 10 }),
    estimator: s.enum('KL estimator (Schulman: k1 = log-ratio, k2 = squared/2, k3 = unbiased low-variance; abs = |log-ratio|)', KL_ESTIMATOR_NAMES, {
      default: 'k3',
    }),
    placement: s.enum("'loss': + β·agg(k) in the actor loss (GRPO); 'reward': r_t −= β·k_t before the advantages (PPO, RLOO)", ['loss', 'reward'], {
      default: 'loss',
    }),
    target: s.number('adaptive β toward this KL (Ziegler et al.; 0: fixed β)', { default: 0, min: 0 }),
    horizon: s.number('horizon of the adaptive β', { default: 10000, min: 0, minExclusive: true }),
  }),
  critic: s.object('the value model (used when advantage.estimator is gae, as with ppo)', {
    ...optimizerSchema('', { lr: 3e-4 }).fields,
    valueClip: s.optional(s.number('clip the value update to ± this (verl cliprange_value; null: unclipped)', { min: 0, minExclusive: true }), { default: 0.5 }),
    freezeActorSteps: s.integer('steps during which only the critic learns (verl critic_warmup)', { default: 0, min: 0 }),
  }),
  reward: s.object('the reward of a response', {
    outcomeCoef: s.number("weight of the verifier's outcome score (1 correct, 0 not)", { default: 1, min: 0, max: 100 }),
    denseCoef: s.number('weight of dense rewards from a DenseRewardFn', { default: 1, min: 0, max: 100 }),
  }),
  validation: validationSchema({ every: 20 }),
  checkpoint: checkpointSchema({ every: 100 }),
  lora: loraSchema(),
};

function checkRl(c: Infer<ObjectSchema<typeof rlFields>>): Issue[] {
  const issues: Issue[] = [];
  if (GROUP_ALGORITHMS.includes(c.algorithm) && c.rollout.k < 2) {
    issues.push({ path: 'rollout.k', message: `${c.rollout.k} sample per prompt leaves ${c.algorithm} no group baseline: use k ≥ 2` });
  }
  if (c.filter.enabled && c.rollout.k < 2) issues.push({ path: 'filter.enabled', message: 'filtering by group accuracy needs rollout.k ≥ 2' });
  const rows = c.rollout.promptsPerStep * c.rollout.k;
  if (c.actor.miniBatches > rows) {
    issues.push({ path: 'actor.miniBatches', message: `${c.actor.miniBatches} exceeds the samples per step (rollout.promptsPerStep × rollout.k = ${rows})` });
  }
  issues.push(...warmupNote(c.actor, c.steps * c.actor.ppoEpochs * c.actor.miniBatches, 'actor', 'the optimizer steps'));
  return issues;
}

/** The RL config with the generic (GRPO) defaults; rlConfigSchema(algorithm) has a preset's. */
export const rlTrainerSchema = s.object('policy-gradient RL with verifier rewards (GRPO, Dr.GRPO, RLOO, REINFORCE++, PPO)', rlFields, { check: checkRl });
export type RlConfig = Infer<typeof rlTrainerSchema>;

/** What each algorithm name sets by default (verl / OpenRLHF / TRL conventions), as dotted keys. */
export const RL_PRESETS: Readonly<Record<RlAlgorithm, Record<string, unknown>>> = Object.freeze({
  // GRPO: group-normalised outcome advantages, KL to the reference in the loss (k3), verl's token-mean.
  grpo: { 'advantage.estimator': 'grpo', 'actor.aggregation': 'token-mean', 'kl.placement': 'loss', 'kl.estimator': 'k3', 'advantage.lambda': 1 },
  // Dr.GRPO: no std division, constant normaliser (rows × maxNewTokens): no length or difficulty bias.
  'dr-grpo': { 'advantage.estimator': 'dr-grpo', 'actor.aggregation': 'seq-mean-token-sum-norm', 'kl.placement': 'loss', 'kl.estimator': 'k3', 'advantage.lambda': 1 },
  // RLOO (TRL): leave-one-out baseline, k1 KL subtracted from the reward.
  rloo: { 'advantage.estimator': 'rloo', 'actor.aggregation': 'token-mean', 'kl.placement': 'reward', 'kl.estimator': 'k1', 'advantage.lambda': 1 },
  // REINFORCE++ (OpenRLHF): returns with the KL in the reward, whitened over the batch.
  'reinforce++': { 'advantage.estimator': 'reinforce++', 'actor.aggregation': 'token-mean', 'kl.placement': 'reward', 'kl.estimator': 'k1', 'advantage.lambda': 1 },
  // REINFORCE++-baseline: group mean baseline, then whitening; KL as a k2 loss (the paper's recommendation).
  'reinforce++-baseline': {
    'advantage.estimator': 'reinforce++-baseline', 'actor.aggregation': 'token-mean', 'kl.placement': 'loss', 'kl.estimator': 'k2', 'advantage.lambda': 1,
  },
  // PPO: GAE over a learned critic (λ = 0.95 as TRL), KL in the reward.
  ppo: { 'advantage.estimator': 'gae', 'actor.aggregation': 'token-mean', 'kl.placement': 'reward', 'kl.estimator': 'k1', 'advantage.lambda': 0.95 },
});

/** The RL config schema of one algorithm: its preset's defaults, and `extra` defaults (dotted keys) over them. */
export function rlConfigSchema(algorithm: RlAlgorithm, extra: Record<string, unknown> = {}): typeof rlTrainerSchema {
  return withDefaults(rlTrainerSchema, { algorithm, ...RL_PRESETS[algorithm], ...extra });
}

/** The RL schema for the algorithm the user gave at `path` (default `fallback`), with `extra` defaults. */
export function rlConfigFor(given: Given, path = 'algorithm', fallback: RlAlgorithm = 'grpo', extra: Record<string, unknown> = {}): typeof rlTrainerSchema {
  return rlConfigSchema(choose(given, path, RL_ALGORITHMS, fallback), extra);
}

/** Any subset of a config, nested (what a user writes). */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object | null ? DeepPartial<T[K]> : T[K] };
export type RlConfigInput = DeepPartial<RlConfig>;

/** The full RL config: every key checked (errors name it), the rest defaulted from the algorithm's preset. */
export function resolveRlConfig(input: RlConfigInput | Record<string, unknown> = {}): RlConfig {
  return resolveConfig<RlConfig>((given) => rlConfigFor(given), { file: { value: input, name: 'the RL config' } });
}

// ---------------------------------------------------------------------------------------------
// SFT

const sftFields = {
  seed: seedSchema(),
  steps: s.integer('optimizer steps', { default: 500, min: 1 }),
  batchSize: s.integer('sequences per optimizer step', { default: 32, min: 1 }),
  microBatchSize: s.integer('sequences per forward/backward pass (gradient accumulation, one token normaliser over the batch; 0: the whole batch)', { default: 0, min: 0 }),
  maxSkippedSteps: maxSkippedStepsSchema(),
  optim: optimizerSchema('the optimisation', { lr: 1e-3, schedule: 'cosine', warmupSteps: 20, weightDecay: 0.01 }),
  validation: validationSchema({ every: 100 }),
  checkpoint: checkpointSchema({ every: 100 }),
  lora: loraSchema(),
};

export const sftTrainerSchema = s.object('supervised fine-tuning on solutions (cross-entropy on the response tokens)', sftFields, {
  check: (c) => warmupNote(c.optim, c.steps, 'optim', 'steps'),
});
export type SftConfig = Infer<typeof sftTrainerSchema>;
export type SftConfigInput = DeepPartial<SftConfig>;

/** The full SFT config (see resolveRlConfig). */
export function resolveSftConfig(input: SftConfigInput | Record<string, unknown> = {}): SftConfig {
  return resolveConfig<SftConfig>(sftTrainerSchema, { file: { value: input, name: 'the SFT config' } });
}
