// Small pieces the learners share: seeded near-equal mini-batches, per-sample sequence rewards
// R and R̄ from token rewards, and averaging of per-update statistics.
import { mul, sum, tensor, type Tensor } from '@repirl/autograd';
import {
  RlTrainer, TaskCodec, U32_MAX, optimizerSchema, permutation, resolveConfig, s, type OnlineRewardModel, type OptimizerConfig, type PackedBatch,
  type RlConfig, type RlConfigInput, type RlTrainerOptions, type SchemaSource, type DeepPartial,
} from '@repirl/rl';
import type { EvalSet } from '../eval/evaluate.js';
import { ValidatedRewardModel, prmValidationSchema, type OnlineLearner, type PrmValidationConfig } from './validation.js';

/**
 * Indices 0…n−1 shuffled by `seed` and split into `count` near-equal mini-batches (sizes differ by
 * at most one; never more mini-batches than samples), as the RL trainer splits its batch.
 */
export function miniBatchRows(n: number, count: number, seed: number): number[][] {
  const k = Math.max(1, Math.min(count, n));
  const order = permutation(n, seed);
  return Array.from({ length: k }, (_, m) => order.slice(Math.floor((m * n) / k), Math.floor(((m + 1) * n) / k)));
}

/** R = Σ_t r_t over each response and R̄ = R / |response|, both [B], from token rewards [B, T]. */
export function sequenceRewards(tokenRewards: Tensor, packed: PackedBatch): { R: Tensor; Rbar: Tensor } {
  const backend = tokenRewards.backend;
  const R = sum(mul(tokenRewards, tensor(backend, packed.mask, [packed.B, packed.T])), 1);
  const Rbar = mul(R, tensor(backend, packed.responseLengths.map((n) => 1 / Math.max(1, n)), [packed.B]));
  return { R, Rbar };
}

/** Means of named statistics over the updates of a step (or an epoch). */
export class MeanAccumulator {
  private readonly sums = new Map<string, { total: number; count: number }>();
  add(record: Record<string, number>): void {
    for (const [k, v] of Object.entries(record)) {
      if (!Number.isFinite(v)) continue;
      const s = this.sums.get(k) ?? { total: 0, count: 0 };
      s.total += v;
      s.count++;
      this.sums.set(k, s);
    }
  }
  mean(): Record<string, number> {
    return Object.fromEntries([...this.sums].map(([k, s]) => [k, s.total / s.count]));
  }
}

export const average = (xs: readonly number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/**
 * The keys every online learner's `prm` section has: how its reward model is updated each RL
 * step (AdamW at the method's `lr`, grad clip 10, no decay, by default).
 */
export function prmUpdateFields(defaults: { lr: number }) {
  return {
    seed: s.optional(s.integer("seed of the PRM's head (where it has one), its mini-batch shuffles and its draws (null: rl.seed)", { min: 0, max: U32_MAX })),
    optim: optimizerSchema("the PRM's optimizer", { lr: defaults.lr, maxGradNorm: 10, weightDecay: 0 }),
    epochs: s.integer("passes over each step's PRM batch", { default: 1, min: 1, max: 64 }),
    miniBatches: s.integer('PRM optimizer steps per pass (the batch is shuffled and split)', { default: 1, min: 1 }),
    scoreBatchSize: s.integer('sequences per forward when scoring the batch (0: all at once)', { default: 0, min: 0 }),
    validation: prmValidationSchema,
  };
}

/** The PrmUpdateConfig keys, with the seed resolved (a learner's PRM seed defaults to its RL seed). */
export interface PrmUpdateConfig {
  seed: number;
  optim: OptimizerConfig;
  epochs: number;
  miniBatches: number;
  scoreBatchSize: number;
  validation: PrmValidationConfig;
}

/**
 * Resolves an online learner's config ({ rl, prm }) against its schema and fills the PRM seed
 * from the RL seed where it was left null.
 */
export function resolveOnline<P extends { seed: number | null }>(source: SchemaSource, input: unknown, name: string): { rl: RlConfig; prm: Omit<P, 'seed'> & { seed: number } } {
  const config = resolveConfig<{ rl: RlConfig; prm: P }>(source, { file: { value: input ?? {}, name } });
  return { rl: config.rl, prm: { ...config.prm, seed: config.prm.seed ?? config.rl.seed } };
}

/** An online learner's resolved config: the RL trainer's and the PRM's sections. */
export interface OnlineConfig<P> {
  rl: RlConfig;
  prm: P;
}

/** What a caller gives: the RL section (the method's defaults apply under it) and any PRM keys. */
export interface OnlineConfigInput<P> {
  rl?: RlConfigInput;
  prm?: DeepPartial<P>;
}

/** What the online learners' factories return: the RL trainer around a learner, and their config. */
export interface OnlineRun<L, C> {
  trainer: RlTrainer;
  learner: L;
  config: C;
  /** The PRM's validation (prm.validation.problems > 0), else null. */
  validation: ValidatedRewardModel | null;
  /**
   * Call after trainer.run(): with prm.validation.keepBest, puts the best validation's PRM weights
   * into learner.prm. Returns the best validation (null without PRM validation).
   */
  finish(): { step: number; value: number } | null;
  /** Frees the trainer, the learner and its PRM (not the policy). */
  dispose(): void;
}

/** The RL trainer options a learner factory passes through (everything but the reward wiring). */
export type OnlineTrainerOptions = Omit<RlTrainerOptions, 'config' | 'denseRewards' | 'rewardModel'> & {
  /**
   * The PRM's validation set when prm.validation.problems > 0: samples of the starting policy on
   * validation-split problems (sampleEvalSet of eval/evaluate.ts), scored at each validation point.
   */
  prmValidationSet?: EvalSet;
};

/**
 * Builds the RlTrainer with `learner` as its reward model (the dual loop of rePIRL, AIRL-S and
 * PRIME); the learner is freed if the trainer cannot be built.
 */
export async function onlineRun<L extends OnlineLearner & { dispose(): void }, C extends { rl: RlConfig; prm: { validation: PrmValidationConfig } }>(
  learner: L, config: C, options: OnlineTrainerOptions,
): Promise<OnlineRun<L, C>> {
  const { prmValidationSet, ...trainerOptions } = options;
  let trainer: RlTrainer;
  let validation: ValidatedRewardModel | null = null;
  try {
    const v = config.prm.validation;
    if (v.problems > 0) {
      if (!prmValidationSet) throw new Error(`prm.validation.problems is ${v.problems} but no PRM validation set was given (prmValidationSet)`);
      if ((options.validation ?? []).length === 0) {
        throw new Error('prm.validation runs at the policy\'s validation points, but the trainer has no validation problems; give some (rl.validation) or set prm.validation.problems to 0');
      }
      validation = await ValidatedRewardModel.create(learner, prmValidationSet, v, options.codec ?? new TaskCodec());
    }
    trainer = await RlTrainer.create({ ...trainerOptions, config: config.rl, rewardModel: validation ?? learner });
  } catch (error) {
    validation?.dispose();
    learner.dispose();
    throw error;
  }
  return {
    trainer, learner, config, validation,
    finish: () => validation?.finish() ?? null,
    dispose() {
      trainer.dispose();
      validation?.dispose();
      learner.dispose();
    },
  };
}
