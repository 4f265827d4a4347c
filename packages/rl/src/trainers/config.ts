// Trainer configs: plain JSON objects (what config.json records and the CLI's --set edits), every
// key defaulted and checked by resolveRlConfig / resolveSftConfig. Functions (verifiers, dense
// reward hooks, listeners) are not config: they are trainer options.
//
// Names follow verl where one exists (ppoEpochs = ppo_epochs, clipLow/clipHigh = clip_ratio_low/
// high, dualClip = clip_ratio_c, aggregation = loss_agg_mode, kl.placement 'reward' =
// use_kl_in_reward, critic.valueClip = cliprange_value, critic.freezeActorSteps = critic_warmup).
//
// Defaults are sized for this project's small byte-level policies (d = 32–256), not for 7B models:
// learning rates are higher than verl's 1e-6.
import { ADVANTAGE_ESTIMATOR_NAMES, type AdvantageEstimatorName } from '../advantages/estimate.js';
import { LOSS_AGGREGATION_NAMES, type LossAggregation } from '../losses/aggregate.js';
import { KL_ESTIMATOR_NAMES, type KlEstimatorName } from '../losses/kl.js';
import { POLICY_LOSS_NAMES, type PolicyLossName } from '../losses/policy.js';
import { ConfigError, SectionReader } from './config-reader.js';

export const RL_ALGORITHMS = ['grpo', 'dr-grpo', 'rloo', 'reinforce++', 'reinforce++-baseline', 'ppo'] as const;
export type RlAlgorithm = (typeof RL_ALGORITHMS)[number];

export const LR_SCHEDULES = ['constant', 'cosine', 'linear'] as const;
export type LrScheduleName = (typeof LR_SCHEDULES)[number];

export interface OptimizerConfig {
  /** Peak learning rate. */
  lr: number;
  /** 'constant' (after warmup), 'cosine' or 'linear' decay to minLrRatio·lr at the last optimizer step. */
  schedule: LrScheduleName;
  /** Optimizer steps of linear warmup from 0. */
  warmupSteps: number;
  /** Floor of the decaying schedules, as a fraction of lr. */
  minLrRatio: number;
  weightDecay: number;
  /** Clip the global gradient norm to this; 0 = no clipping (the norm is still reported). */
  maxGradNorm: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface ValidationConfig {
  /** Validate every this many steps (and after the last); 0 = only before training and after the last step. */
  every: number;
  /** Also validate before the first step (recorded as step 0). */
  beforeTraining: boolean;
  /** Samples per problem for pass@k and mean@k; 0 = greedy pass@1 only. */
  k: number;
  /** Sampling temperature of the pass@k samples. */
  temperature: number;
  /** Generation budget; 0 = the rollout's (RL) or the longest training response + 8 (SFT). */
  maxNewTokens: number;
  /** Most sequences per generate() call; 0 = all at once. */
  batchSize: number;
  /** Validate on the first `limit` problems only; 0 = all. */
  limit: number;
}

export interface CheckpointConfig {
  /** Save every this many steps; 0 = only at the end (and when a run is stopped). */
  every: number;
  /** Checkpoints kept on disk (the oldest are deleted). */
  keep: number;
}

export interface RlConfig {
  /** A preset of the defaults below (estimator, aggregation, KL placement); any key can still be overridden. */
  algorithm: RlAlgorithm;
  seed: number;
  /** Training steps: one rollout batch and its updates each. */
  steps: number;
  rollout: {
    /** Groups (prompts) per step. */
    promptsPerStep: number;
    /** Samples per prompt. */
    k: number;
    temperature: number;
    /** 0 = off. */
    topK: number;
    /** 1 = off. */
    topP: number;
    maxNewTokens: number;
    /** Most sequences per generate() call; 0 = all at once. */
    batchSize: number;
  };
  filter: {
    /** Keep only groups whose accuracy is in [low, high] (PRIME: [0.2, 0.8]). */
    enabled: boolean;
    low: number;
    high: number;
    /** Prompts sampled per missing group. */
    oversample: number;
    /** Sampling rounds per step at most. */
    maxRounds: number;
    /** Kept groups carried to the next step at most. Default promptsPerStep. */
    maxBuffer: number;
  };
  actor: OptimizerConfig & {
    /** Passes over each rollout batch. */
    ppoEpochs: number;
    /** Optimizer steps per epoch (the batch is shuffled and split, by a seed derived from the step). */
    miniBatches: number;
    /** Samples per forward/backward (gradient accumulation); 0 = the whole mini-batch. */
    microBatchSize: number;
    policyLoss: PolicyLossName;
    clipLow: number;
    /** Clip-higher (DAPO: 0.28). Default clipLow. */
    clipHigh: number;
    /** Dual-clip bound c > 1 (verl clip_ratio_c: 3); null = off. */
    dualClip: number | null;
    aggregation: LossAggregation;
    entropyCoef: number;
    /** Recompute old log-probs with a trainer forward instead of using the rollout's (verl does; ours agree to rounding). */
    recomputeOldLogProbs: boolean;
  };
  advantage: {
    estimator: AdvantageEstimatorName;
    gamma: number;
    lambda: number;
    /** GRPO std epsilon. */
    epsilon: number;
    /** Whiten where the estimator supports it (reinforce++, gae, prime-*, repirl-loo). */
    whiten: boolean;
    /** Process-reward source coefficient (prime-rloo-*, repirl-loo). */
    cPrm: number;
    /** Outcome source coefficient (prime-rloo-*, repirl-loo). */
    cGt: number;
  };
  kl: {
    /** β; 0 = no KL and no reference model is loaded. */
    coef: number;
    estimator: KlEstimatorName;
    /** 'loss': + β·agg(k) in the actor loss (GRPO); 'reward': r_t −= β·k_t before the advantages (PPO, RLOO). */
    placement: 'loss' | 'reward';
    /** Adaptive β toward this KL (Ziegler et al.); 0 = fixed β. */
    target: number;
    horizon: number;
  };
  /** Used when advantage.estimator is 'gae'. */
  critic: OptimizerConfig & {
    /** verl cliprange_value; null = unclipped value loss. */
    valueClip: number | null;
    /** Steps during which only the critic learns (verl critic_warmup). */
    freezeActorSteps: number;
  };
  reward: {
    /** Weight of the verifier's outcome score (1 correct, 0 not). */
    outcomeCoef: number;
    /** Weight of dense rewards from a DenseRewardFn. */
    denseCoef: number;
  };
  validation: ValidationConfig;
  checkpoint: CheckpointConfig;
}

export interface SftConfig {
  seed: number;
  steps: number;
  /** Examples per optimizer step. */
  batchSize: number;
  /** Examples per forward/backward; 0 = the whole batch. */
  microBatchSize: number;
  optim: OptimizerConfig;
  validation: ValidationConfig;
  checkpoint: CheckpointConfig;
}

/** Any subset of a config, nested (what a user writes). */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type RlConfigInput = DeepPartial<RlConfig>;
export type SftConfigInput = DeepPartial<SftConfig>;

interface Preset {
  estimator: AdvantageEstimatorName;
  aggregation: LossAggregation;
  klPlacement: 'loss' | 'reward';
  klEstimator: KlEstimatorName;
  lambda: number;
}

/** What each algorithm name sets by default (verl / OpenRLHF / TRL conventions). */
export const RL_PRESETS: Readonly<Record<RlAlgorithm, Preset>> = Object.freeze({
  // GRPO: group-normalised outcome advantages, KL to the reference in the loss (k3), verl's token-mean.
  grpo: { estimator: 'grpo', aggregation: 'token-mean', klPlacement: 'loss', klEstimator: 'k3', lambda: 1 },
  // Dr.GRPO: no std division, constant normaliser (rows × maxNewTokens): no length or difficulty bias.
  'dr-grpo': { estimator: 'dr-grpo', aggregation: 'seq-mean-token-sum-norm', klPlacement: 'loss', klEstimator: 'k3', lambda: 1 },
  // RLOO (TRL): leave-one-out baseline, k1 KL subtracted from the reward.
  rloo: { estimator: 'rloo', aggregation: 'token-mean', klPlacement: 'reward', klEstimator: 'k1', lambda: 1 },
  // REINFORCE++ (OpenRLHF): returns with the KL in the reward, whitened over the batch.
  'reinforce++': { estimator: 'reinforce++', aggregation: 'token-mean', klPlacement: 'reward', klEstimator: 'k1', lambda: 1 },
  // REINFORCE++-baseline: group mean baseline, then whitening; KL as a k2 loss (the paper's recommendation).
  'reinforce++-baseline': { estimator: 'reinforce++-baseline', aggregation: 'token-mean', klPlacement: 'loss', klEstimator: 'k2', lambda: 1 },
  // PPO: GAE over a learned critic (λ = 0.95 as TRL), KL in the reward.
  ppo: { estimator: 'gae', aggregation: 'token-mean', klPlacement: 'reward', klEstimator: 'k1', lambda: 0.95 },
});

/** Reads an optimizer section (lr, schedule, warmup, decay, clipping, Adam betas) over `defaults`. */
export function readOptimizer(r: SectionReader, defaults: Partial<OptimizerConfig> & { lr: number }): OptimizerConfig {
  return {
    lr: r.number('lr', defaults.lr, { min: 0 }),
    schedule: r.oneOf('schedule', defaults.schedule ?? 'constant', LR_SCHEDULES),
    warmupSteps: r.int('warmupSteps', defaults.warmupSteps ?? 0, { min: 0 }),
    minLrRatio: r.number('minLrRatio', defaults.minLrRatio ?? 0, { min: 0, max: 1 }),
    weightDecay: r.number('weightDecay', defaults.weightDecay ?? 0, { min: 0 }),
    maxGradNorm: r.number('maxGradNorm', defaults.maxGradNorm ?? 1, { min: 0 }),
    beta1: r.number('beta1', 0.9, { min: 0, max: 1 }),
    beta2: r.number('beta2', 0.999, { min: 0, max: 1 }),
    eps: r.number('eps', 1e-8, { above: 0 }),
  };
}

function readValidation(r: SectionReader, maxNewTokens: number): ValidationConfig {
  const v: ValidationConfig = {
    every: r.int('every', 0, { min: 0 }),
    beforeTraining: r.bool('beforeTraining', true),
    k: r.int('k', 4, { min: 0 }),
    temperature: r.number('temperature', 1, { above: 0 }),
    maxNewTokens: r.int('maxNewTokens', maxNewTokens, { min: 0 }),
    batchSize: r.int('batchSize', 0, { min: 0 }),
    limit: r.int('limit', 0, { min: 0 }),
  };
  r.done();
  return v;
}

function readCheckpoint(r: SectionReader): CheckpointConfig {
  const c = { every: r.int('every', 0, { min: 0 }), keep: r.int('keep', 2, { min: 1 }) };
  r.done();
  return c;
}

/**
 * The full RL config: `input` checked key by key, the rest defaulted from the algorithm's preset.
 * `path` prefixes key names in errors (e.g. 'rl' when the CLI nests the section).
 */
export function resolveRlConfig(input: RlConfigInput | Record<string, unknown> = {}, options: { path?: string } = {}): RlConfig {
  const root = new SectionReader(input, options.path ?? '');
  const algorithm = root.oneOf('algorithm', 'grpo', RL_ALGORITHMS);
  const preset = RL_PRESETS[algorithm];
  const seed = root.int('seed', 0, { min: 0, max: 0xffffffff });
  const steps = root.int('steps', 100, { min: 0 });

  const ro = root.section('rollout');
  const rollout: RlConfig['rollout'] = {
    promptsPerStep: ro.int('promptsPerStep', 8, { min: 1 }),
    k: ro.int('k', 4, { min: 1 }),
    temperature: ro.number('temperature', 1, { above: 0 }),
    topK: ro.int('topK', 0, { min: 0 }),
    topP: ro.number('topP', 1, { above: 0, max: 1 }),
    maxNewTokens: ro.int('maxNewTokens', 32, { min: 1 }),
    batchSize: ro.int('batchSize', 0, { min: 0 }),
  };
  ro.done();

  const fi = root.section('filter');
  const filter: RlConfig['filter'] = {
    enabled: fi.bool('enabled', false),
    low: fi.number('low', 0.2, { min: 0, max: 1 }),
    high: fi.number('high', 0.8, { min: 0, max: 1 }),
    oversample: fi.number('oversample', 2, { min: 1 }),
    maxRounds: fi.int('maxRounds', 3, { min: 1 }),
    maxBuffer: fi.int('maxBuffer', rollout.promptsPerStep, { min: 0 }),
  };
  if (filter.low > filter.high) throw new ConfigError(fi.key('low'), `${fi.key('low')} (${filter.low}) must not exceed ${fi.key('high')} (${filter.high})`);
  fi.done();

  const ac = root.section('actor');
  const optimizer = readOptimizer(ac, { lr: 1e-4 });
  const clipLow = ac.number('clipLow', 0.2, { min: 0 });
  const actor: RlConfig['actor'] = {
    ...optimizer,
    ppoEpochs: ac.int('ppoEpochs', 1, { min: 1 }),
    miniBatches: ac.int('miniBatches', 1, { min: 1 }),
    microBatchSize: ac.int('microBatchSize', 0, { min: 0 }),
    policyLoss: ac.oneOf('policyLoss', 'ppo-clip', POLICY_LOSS_NAMES),
    clipLow,
    clipHigh: ac.number('clipHigh', clipLow, { min: 0 }),
    dualClip: ac.nullableNumber('dualClip', null, { above: 1 }, 'no dual clip'),
    aggregation: ac.oneOf('aggregation', preset.aggregation, LOSS_AGGREGATION_NAMES),
    entropyCoef: ac.number('entropyCoef', 0, { min: 0 }),
    recomputeOldLogProbs: ac.bool('recomputeOldLogProbs', false),
  };
  const batch = rollout.promptsPerStep * rollout.k;
  if (actor.miniBatches > batch) {
    throw new ConfigError(ac.key('miniBatches'), `${ac.key('miniBatches')} (${actor.miniBatches}) exceeds the samples per step (rollout.promptsPerStep × rollout.k = ${batch})`);
  }
  ac.done();

  const ad = root.section('advantage');
  const advantage: RlConfig['advantage'] = {
    estimator: ad.oneOf('estimator', preset.estimator, ADVANTAGE_ESTIMATOR_NAMES),
    gamma: ad.number('gamma', 1, { min: 0, max: 1 }),
    lambda: ad.number('lambda', preset.lambda, { min: 0, max: 1 }),
    epsilon: ad.number('epsilon', 1e-6, { min: 0 }),
    whiten: ad.bool('whiten', true),
    cPrm: ad.number('cPrm', 1),
    cGt: ad.number('cGt', 1),
  };
  ad.done();

  const kr = root.section('kl');
  const kl: RlConfig['kl'] = {
    coef: kr.number('coef', 0, { min: 0 }),
    estimator: kr.oneOf('estimator', preset.klEstimator, KL_ESTIMATOR_NAMES),
    placement: kr.oneOf('placement', preset.klPlacement, ['loss', 'reward'] as const),
    target: kr.number('target', 0, { min: 0 }),
    horizon: kr.number('horizon', 10000, { above: 0 }),
  };
  kr.done();

  const cr = root.section('critic');
  const critic: RlConfig['critic'] = {
    ...readOptimizer(cr, { lr: 3e-4 }),
    valueClip: cr.nullableNumber('valueClip', 0.5, { above: 0 }, 'unclipped value loss'),
    freezeActorSteps: cr.int('freezeActorSteps', 0, { min: 0 }),
  };
  cr.done();

  const rw = root.section('reward');
  const reward: RlConfig['reward'] = { outcomeCoef: rw.number('outcomeCoef', 1), denseCoef: rw.number('denseCoef', 1) };
  rw.done();

  const validation = readValidation(root.section('validation'), rollout.maxNewTokens);
  if (validation.maxNewTokens === 0) validation.maxNewTokens = rollout.maxNewTokens;
  const checkpoint = readCheckpoint(root.section('checkpoint'));
  root.done();
  return { algorithm, seed, steps, rollout, filter, actor, advantage, kl, critic, reward, validation, checkpoint };
}

/** The full SFT config (see resolveRlConfig). */
export function resolveSftConfig(input: SftConfigInput | Record<string, unknown> = {}, options: { path?: string } = {}): SftConfig {
  const root = new SectionReader(input, options.path ?? '');
  const seed = root.int('seed', 0, { min: 0, max: 0xffffffff });
  const steps = root.int('steps', 200, { min: 0 });
  const batchSize = root.int('batchSize', 16, { min: 1 });
  const microBatchSize = root.int('microBatchSize', 0, { min: 0 });
  const op = root.section('optim');
  const optim = readOptimizer(op, { lr: 1e-3, schedule: 'cosine', warmupSteps: 10, minLrRatio: 0.1, weightDecay: 0.01, maxGradNorm: 1 });
  op.done();
  const validation = readValidation(root.section('validation'), 0);
  const checkpoint = readCheckpoint(root.section('checkpoint'));
  root.done();
  return { seed, steps, batchSize, microBatchSize, optim, validation, checkpoint };
}
