// The experiment configs of `repirl sft`, `repirl rl` and `repirl eval`: every key, its type,
// default and one-line doc. `repirl config <command>` prints this; `--dry-run` prints a resolved one.
import { checkMicroBatch, checkSchedule, checkpointEvery, fillDifficulty, optimFields, seed, taskSchema, U32_MAX } from './common.js';
import { prmEvalSchema, prmTrainSchema, prmTrainSteps, type PrmEvalConfig, type PrmTrainConfig } from './prm.js';
import { s, type Infer, type Issue, type ObjectSchema } from '@repirl/rl';

// ---------------------------------------------------------------------------------------------
// sft

export const sftSchema = s.object(
  'supervised fine-tuning of a small decoder LM on expert or noisy solutions',
  {
    init: s.optional(s.string(
      'continue from this policy (an SFT run directory or a checkpoint directory) instead of a fresh one; the model section must describe it',
      { nonEmpty: true },
    )),
    task: taskSchema(),
    model: s.object('the decoder LM (byte-level tokenizer)', {
      dModel: s.integer('width of the residual stream', { default: 64, min: 8, max: 8192 }),
      nLayers: s.integer('transformer blocks', { default: 2, min: 1, max: 128 }),
      nHeads: s.integer('attention heads (must divide dModel)', { default: 4, min: 1, max: 256 }),
      dFF: s.integer('hidden width of the feed-forward block', { default: 256, min: 8, max: 65536 }),
      maxSeqLen: s.integer('longest prompt + response in tokens (bytes)', { default: 128, min: 8, max: 32768 }),
      norm: s.enum('normalisation layer', ['rms', 'layer'], { default: 'rms' }),
      mlp: s.enum('feed-forward block', ['swiglu', 'gelu'], { default: 'swiglu' }),
    }, {
      check: (m) => (m.dModel % m.nHeads === 0 ? [] : [{ path: 'nHeads', message: `${m.nHeads} must divide dModel (${m.dModel})` }]),
    }),
    data: s.object('the training solutions', {
      source: s.enum("task-expert: the task's expert solutions; task-noisy: expert solutions with slips at errorRate; jsonl: trajectories from path", [
        'task-expert', 'task-noisy', 'jsonl',
      ], { default: 'task-expert' }),
      errorRate: s.number('per-step slip probability of task-noisy solutions', { default: 0.2, min: 0, max: 1 }),
      problems: s.integer('training problems generated from the task (task-* sources)', { default: 2000, min: 1 }),
      path: s.optional(s.string('JSONL trajectories or problems with solutions (source jsonl; docs/DESIGN.md §7)', { nonEmpty: true })),
    }, {
      check: (d) => {
        if (d.source === 'jsonl' && d.path === null) return [{ path: 'path', message: 'is required when data.source is "jsonl"' }];
        if (d.source !== 'jsonl' && d.path !== null) return [{ path: 'path', message: `is only read when data.source is "jsonl" (it is ${JSON.stringify(d.source)})` }];
        return [];
      },
    }),
    train: s.object('the optimisation', {
      steps: s.integer('optimizer steps', { default: 500, min: 1 }),
      batchSize: s.integer('sequences per optimizer step', { default: 32, min: 1 }),
      microBatchSize: s.optional(s.integer('sequences per forward/backward pass (gradient accumulation); null: the whole batch', { min: 1 })),
      ...optimFields({ lr: 1e-3, warmup: 20, schedule: 'cosine', weightDecay: 0.01 }),
    }, {
      check: (t) => [...checkMicroBatch(t.microBatchSize, t.batchSize, 'train.batchSize'), ...checkSchedule(t, t.steps, 'train.steps')],
    }),
    eval: s.object('periodic validation on held-out problems', {
      every: s.integer('steps between validations (0: only at the start and the end)', { default: 100, min: 0 }),
      problems: s.integer('held-out problems (a seed disjoint from training)', { default: 200, min: 1 }),
      k: s.integer('samples per problem for pass@k (greedy pass@1 is always reported)', { default: 1, min: 1, max: 1024 }),
      temperature: s.number('sampling temperature of the pass@k samples', { default: 1, min: 0, max: 10, minExclusive: true }),
    }),
    seed: seed(),
    checkpointEvery: checkpointEvery(),
  },
);
export type SftConfig = Infer<typeof sftSchema>;

// ---------------------------------------------------------------------------------------------
// rl

export const RL_ALGORITHMS = ['grpo', 'dr-grpo', 'rloo', 'reinforce++', 'reinforce++-baseline', 'ppo'] as const;
export type RlAlgorithm = (typeof RL_ALGORITHMS)[number];
/** Algorithms whose baseline is the group of K samples of a prompt: they need k ≥ 2. */
const GROUP_ALGORITHMS: readonly RlAlgorithm[] = ['grpo', 'dr-grpo', 'rloo', 'reinforce++-baseline'];

export const rlSchema = s.object(
  'policy-gradient RL from an SFT checkpoint with verifier rewards',
  {
    task: taskSchema(),
    init: s.string('the starting policy: an SFT run directory (its latest checkpoint) or a checkpoint directory', { nonEmpty: true }),
    algorithm: s.enum('advantage estimator and trainer', RL_ALGORITHMS, { default: 'grpo' }),
    steps: s.integer('RL steps (one rollout batch each)', { default: 200, min: 1 }),
    rollout: s.object('sampling the policy', {
      promptsPerStep: s.integer('prompts per RL step', { default: 16, min: 1 }),
      k: s.integer('samples per prompt (the group of GRPO/RLOO)', { default: 8, min: 1, max: 1024 }),
      temperature: s.number('sampling temperature', { default: 1, min: 0, max: 10, minExclusive: true }),
      maxNewTokens: s.integer('longest response in tokens (bytes); longer ones are cut and score 0', { default: 64, min: 1 }),
      filter: s.object('drop prompts whose group accuracy is outside [low, high] (DAPO dynamic sampling)', {
        enabled: s.boolean('filter prompts by group accuracy', { default: false }),
        low: s.number('keep prompts with accuracy ≥ low', { default: 0, min: 0, max: 1 }),
        high: s.number('keep prompts with accuracy ≤ high', { default: 1, min: 0, max: 1 }),
        oversample: s.number('sample this many times promptsPerStep prompts to refill after filtering', { default: 2, min: 1, max: 64 }),
      }, {
        check: (f) => (f.enabled && f.low > f.high ? [{ path: 'low', message: `${f.low} is above rollout.filter.high (${f.high}): no prompt would pass` }] : []),
      }),
    }),
    loss: s.object('the policy loss', {
      clipLow: s.number('PPO ratio clip below: ratio ≥ 1 - clipLow', { default: 0.2, min: 0, max: 1 }),
      clipHigh: s.number('PPO ratio clip above: ratio ≤ 1 + clipHigh (clip-higher: > clipLow, e.g. 0.28)', { default: 0.2, min: 0, max: 10 }),
      dualClip: s.optional(s.number('dual-clip constant c for negative advantages (e.g. 3); null: off', { min: 1, max: 100, minExclusive: true })),
      entropyCoef: s.number('entropy bonus coefficient', { default: 0, min: 0, max: 1 }),
      kl: s.object('KL penalty to the reference (initial) policy', {
        coef: s.number('KL coefficient (0: no reference model)', { default: 0, min: 0, max: 10 }),
        estimator: s.enum('KL estimator (Schulman: k1 = log-ratio, k2 = squared/2, k3 = unbiased low-variance; abs = |log-ratio|)', [
          'k1', 'k2', 'k3', 'abs',
        ], { default: 'k3' }),
        placement: s.enum('subtract the KL from the reward (PPO/RLHF) or add it to the loss (GRPO)', ['reward', 'loss'], { default: 'loss' }),
      }),
      aggregation: s.enum(
        "per-token losses to one scalar (verl's loss_agg_mode; seq-mean-token-sum-norm is Dr.GRPO's constant normaliser)",
        ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm'],
        { default: 'token-mean' },
      ),
    }),
    optim: s.object('the policy optimisation', {
      ...optimFields({ lr: 1e-4, warmup: 0, schedule: 'constant', weightDecay: 0 }),
      epochs: s.integer('passes over each rollout batch (1: on-policy; more makes the clip matter)', { default: 1, min: 1, max: 64 }),
      miniBatches: s.integer('optimizer steps per pass over a rollout batch', { default: 1, min: 1 }),
      microBatchSize: s.optional(s.integer('sequences per forward/backward pass (gradient accumulation); null: the whole mini-batch', { min: 1 })),
    }),
    critic: s.object('the value model of ppo (ignored by the other algorithms)', {
      lr: s.number('critic learning rate', { default: 1e-4, min: 0, max: 1, minExclusive: true }),
      gamma: s.number('discount γ of GAE', { default: 1, min: 0, max: 1 }),
      lambda: s.number('λ of GAE', { default: 1, min: 0, max: 1 }),
      valueClip: s.optional(s.number('clip the value update to ± this; null: off', { min: 0, minExclusive: true }), { default: 0.2 }),
    }),
    eval: s.object('periodic validation on held-out problems', {
      every: s.integer('steps between validations (0: only at the start and the end)', { default: 20, min: 0 }),
      problems: s.integer('held-out problems (a seed disjoint from training)', { default: 200, min: 1 }),
      k: s.integer('samples per problem for pass@k (greedy pass@1 is always reported)', { default: 1, min: 1, max: 1024 }),
      temperature: s.number('sampling temperature of the pass@k samples', { default: 1, min: 0, max: 10, minExclusive: true }),
    }),
    seed: seed(),
    checkpointEvery: checkpointEvery(),
  },
  {
    check: (c) => {
      const issues: Issue[] = [];
      if (GROUP_ALGORITHMS.includes(c.algorithm) && c.rollout.k < 2) {
        issues.push({ path: 'rollout.k', message: `${c.rollout.k} sample per prompt leaves ${c.algorithm} no group baseline: use k ≥ 2` });
      }
      if (c.rollout.filter.enabled && c.rollout.k < 2) {
        issues.push({ path: 'rollout.filter.enabled', message: 'filtering by group accuracy needs rollout.k ≥ 2' });
      }
      const rows = c.rollout.promptsPerStep * c.rollout.k;
      if (rows % c.optim.miniBatches !== 0) {
        issues.push({ path: 'optim.miniBatches', message: `${c.optim.miniBatches} must divide the rollout batch (promptsPerStep × k = ${rows})` });
      } else {
        issues.push(...checkMicroBatch(c.optim.microBatchSize, rows / c.optim.miniBatches, 'the mini-batch').map((i) => ({ ...i, path: `optim.${i.path}` })));
      }
      issues.push(...checkSchedule(c.optim, c.steps, 'steps').map((i) => ({ ...i, path: `optim.${i.path}` })));
      return issues;
    },
  },
);
export type RlConfig = Infer<typeof rlSchema>;

// ---------------------------------------------------------------------------------------------
// eval

export const evalSchema = s.object('accuracy of a checkpoint on held-out problems (greedy pass@1, pass@k)', {
  checkpoint: s.string('a run directory (its latest checkpoint) or a checkpoint directory', { nonEmpty: true }),
  task: taskSchema(),
  problems: s.integer('problems to evaluate', { default: 500, min: 1 }),
  k: s.integer('samples per problem for pass@k (greedy pass@1 is always reported)', { default: 1, min: 1, max: 1024 }),
  temperature: s.number('sampling temperature of the pass@k samples', { default: 1, min: 0, max: 10, minExclusive: true }),
  maxNewTokens: s.integer('longest response in tokens (bytes)', { default: 64, min: 1 }),
  seed: s.integer('seed of the problems and samples (use one disjoint from training)', { default: 1_000_003, min: 0, max: U32_MAX }),
});
export type EvalConfig = Infer<typeof evalSchema>;

// ---------------------------------------------------------------------------------------------
// The registry the commands use

export type ExperimentName = 'sft' | 'rl' | 'eval' | 'prm-train' | 'prm-eval';

export interface ConfigTypes {
  sft: SftConfig;
  rl: RlConfig;
  eval: EvalConfig;
  'prm-train': PrmTrainConfig;
  'prm-eval': PrmEvalConfig;
}

export interface ExperimentSpec<C> {
  name: ExperimentName;
  schema: ObjectSchema;
  /** One line for help texts. */
  summary: string;
  /** What the progress bar counts to. */
  totalSteps(config: C): number;
  /** Steps the command's loop counts in (for the progress bar and messages). */
  unit: string;
  /** Keys that may differ from the stored config on --resume (empty: the command cannot resume). */
  resumableKeys: readonly string[];
  /** Metrics shown next to the progress bar, the key metric first. */
  displayMetrics: readonly string[];
  /** Config keys holding paths that must exist before the run starts: a file, or a checkpoint (folder or run directory). */
  inputPaths: readonly { key: string; kind: 'file' | 'checkpoint' }[];
  /** Fills in derived defaults after validation (e.g. the task's difficulty). */
  finalize(config: C): C;
}

export const experiments: { [K in ExperimentName]: ExperimentSpec<ConfigTypes[K]> } = {
  sft: {
    name: 'sft',
    schema: sftSchema,
    summary: 'supervised fine-tuning on expert or noisy solutions',
    totalSteps: (c) => c.train.steps,
    unit: 'step',
    // The trainers refuse a resume under any other change (eval.every included: validation is part of the run's record).
    resumableKeys: ['train.steps', 'checkpointEvery'],
    displayMetrics: ['val/acc', 'train/loss'],
    inputPaths: [{ key: 'data.path', kind: 'file' }, { key: 'init', kind: 'checkpoint' }],
    finalize: fillDifficulty,
  },
  rl: {
    name: 'rl',
    schema: rlSchema,
    summary: 'RL from an SFT checkpoint: grpo, dr-grpo, rloo, reinforce++, ppo',
    totalSteps: (c) => c.steps,
    unit: 'step',
    resumableKeys: ['steps', 'checkpointEvery'],
    displayMetrics: ['val/acc', 'critic/score/mean'],
    inputPaths: [{ key: 'init', kind: 'checkpoint' }],
    finalize: fillDifficulty,
  },
  eval: {
    name: 'eval',
    schema: evalSchema,
    summary: 'greedy pass@1 and pass@k of a checkpoint',
    totalSteps: (c) => c.problems,
    unit: 'problem',
    resumableKeys: [],
    displayMetrics: ['val/acc'],
    inputPaths: [{ key: 'checkpoint', kind: 'checkpoint' }],
    finalize: fillDifficulty,
  },
  'prm-train': {
    name: 'prm-train',
    schema: prmTrainSchema,
    summary: 'learn a PRM: repirl, airl-s, prime (online, with the policy) or orm, shepherd, implicit-offline (on a fixed rollout set)',
    totalSteps: prmTrainSteps,
    unit: 'step',
    resumableKeys: ['steps', 'checkpointEvery'],
    displayMetrics: ['prm/loss', 'val/acc', 'critic/score/mean'],
    inputPaths: [{ key: 'init', kind: 'checkpoint' }],
    finalize: fillDifficulty,
  },
  'prm-eval': {
    name: 'prm-eval',
    schema: prmEvalSchema,
    summary: 'step AUROC, first-error F1, response AUROC and best-of-N vs majority vote of a trained PRM',
    totalSteps: () => 3,
    unit: 'stage',
    resumableKeys: [],
    displayMetrics: ['prm_eval/step_auroc'],
    inputPaths: [{ key: 'prm', kind: 'checkpoint' }],
    finalize: fillDifficulty,
  },
};
