// rePIRL's dual loop (docs/research/papers.md §1(c)) as an OnlineRewardModel of @repirl/rl's RlTrainer. Each RL
// step, with the fresh rollout batch:
//   (a) the PRM batch: experts E = the demonstrations of the batch's prompts (expert solutions,
//       tokenised with the TaskCodec), plus — as the released code does (`is_expert` = score >
//       0.99) — the rollouts the verifier accepts; policy samples P = the other rollouts, with
//       their rollout-time log π_old(τ) = Σ_t log π_old(a_t | s_t);
//   (b) `epochs` passes of seeded mini-batches, each one AdamW step (own optimizer, grad clip) on
//       repirlIsMleLoss (losses/repirl.ts): importance weights softmax(R − log π_old) per prompt or
//       per batch, or the released runs' 'uniform' weights;
//   (c) the updated PRM's token rewards r_φ(s_t, a_t) for the batch, which the 'repirl-loo'
//       estimator (kernels advantages: batch-normalised, per-timestep leave-one-out per source,
//       A = c_prm·A^prm + c_gt·A^out, whitened) turns into advantages.
// createRepirlTrainer builds the whole thing: the PRM as a copy of the policy (TokenMlpPrm), this
// learner, and the RlTrainer with rePIRL's policy settings (entropy bonus, no KL).
//
// Defaults (docs/research/papers.md §1(d), scaled): the released runs train 3–4B models for thousands of steps
// with policy lr 5e-7 and PRM lr 3e-8. Our byte-level policies of d = 32–256 use rl's learning-rate
// scale (actor 1e-4 instead of verl's 1e-6), and the PRM keeps about the released PRM : policy
// ratio's order while still moving in a CI-sized run: PRM lr 1e-4 with a constant schedule. Kept
// as released: grad clip 10, weight decay 0, 1 PRM epoch, entropy 0.001, KL 0, c_gt 1, c_prm 0.1
// (Qwen3-4B-Base), correct rollouts as experts, PPO clip 0.2, 1 PPO epoch. The released
// mini-batch of 32 (of 256 samples) becomes `miniBatches` = 1 for our batches of 16–64 samples.
// The weights default to the paper's importance mode per prompt (the released runs are 'uniform').
// The released scripts also keep only prompts whose group accuracy lies in [0.2, 0.8] (the same
// accuracy filter as PRIME, with oversampling to refill the batch), so it is on by default here;
// the sequences it draws are counted in compute/sampled_sequences, so runs compare at equal budgets.
import { backward, noGrad, tidy, type AdamW, type Module, type Tensor } from '@repirl/autograd';
import {
  TaskCodec, deriveSeed, loraOf, permutation, loraSchema, makeOptimizer, packSequences, rlConfigFor, s, type Given, type Infer, type OnlineRewardModel,
  type OptimizerConfig, type Problem, type RolloutBatch, type TrainingCheckpoint,
} from '@repirl/rl';
import { REPIRL_WEIGHT_MODES, detach, effectiveSampleSize, repirlIsMleLoss, type RepirlWeightMode } from '../losses/index.js';
import { scoreSamples, type ProcessRewardModel } from '../models/prm.js';
import { TokenMlpPrm } from '../models/token-mlp.js';
import { MeanAccumulator, average, miniBatchRows, sequenceRewards, onlineRun, prmUpdateFields, resolveOnline, type OnlineConfig, type OnlineConfigInput, type OnlineRun, type OnlineTrainerOptions, type PrmUpdateConfig } from './common.js';

export type RepirlGroups = 'prompt' | 'batch';
export const REPIRL_GROUPS: readonly RepirlGroups[] = ['prompt', 'batch'];

/** The `prm` section of rePIRL: the PRM update (common.ts) and the method's own keys. */
export const repirlPrmSchema = s.object("rePIRL's PRM: a tanh MLP head on a copy of the policy, trained by the importance-weighted IRL loss", {
  ...prmUpdateFields({ lr: 1e-4 }),
  hidden: s.integer("width of the head's hidden layers (0: 2·dModel)", { default: 0, min: 0 }),
  freezeBackbone: s.boolean("train only the head (rePIRL's ffn_only)", { default: false }),
  weightMode: s.enum("'importance': self-normalised weights softmax(R − log π_old) within each group (the paper's estimator); 'uniform': w ≡ 1 (the released runs, micro-batch 1)", REPIRL_WEIGHT_MODES, {
    default: 'importance',
  }),
  groups: s.enum('softmax groups of the importance weights: the samples of one prompt, or the whole mini-batch', REPIRL_GROUPS, { default: 'prompt' }),
  groupReduction: s.enum("'mean': the policy term averaged over the groups (equal total weight to the expert term); 'sum': the formula as written", ['sum', 'mean'], {
    default: 'mean',
  }),
  correctAsExperts: s.boolean('rollouts the verifier accepts count as experts (the released code); false: only demonstrations', { default: true }),
  demosPerPrompt: s.integer('demonstrations used per prompt at most (0: none; experts are then the correct rollouts only)', { default: 4, min: 0 }),
  lora: loraSchema(),
});
export type RepirlPrmConfig = Omit<Infer<typeof repirlPrmSchema>, 'seed'> & PrmUpdateConfig;

/** The RL trainer's config (its keys; the method's defaults apply under it) and the PRM's. */
export type RepirlConfig = OnlineConfig<RepirlPrmConfig>;
export type RepirlConfigInput = OnlineConfigInput<RepirlPrmConfig>;

/** The RL settings rePIRL runs with unless the config says otherwise (docs/research/papers.md §1(b), §1(d)). */
export const REPIRL_RL_DEFAULTS: Readonly<Record<string, unknown>> = Object.freeze({
  'advantage.estimator': 'repirl-loo', 'advantage.cPrm': 0.1, 'advantage.cGt': 1, 'actor.entropyCoef': 0.001, 'actor.clipLow': 0.2, 'actor.ppoEpochs': 1, 'kl.coef': 0,
  'filter.enabled': true, 'filter.low': 0.2, 'filter.high': 0.8,
});

/** rePIRL's config schema: { rl, prm }, the RL section with the algorithm preset the user chose (rl.algorithm) and rePIRL's defaults. */
export const repirlConfigSchema = (given: Given) =>
  s.object('rePIRL: a PRM learned by inverse RL from expert trajectories, in a dual loop with the policy', {
    rl: rlConfigFor(given, 'rl.algorithm', 'grpo', REPIRL_RL_DEFAULTS),
    prm: repirlPrmSchema,
  }, {
    check: ({ rl }) => {
      if (rl.advantage.estimator !== 'repirl-loo') {
        return [{ path: 'rl.advantage.estimator', message: `must be "repirl-loo" for rePIRL (the PRM's token rewards and the outcome, each with a leave-one-out baseline), got "${rl.advantage.estimator}"` }];
      }
      if (rl.advantage.cPrm === 0 && rl.advantage.cGt === 0) {
        return [{ path: 'rl.advantage.cPrm', message: 'rl.advantage.cPrm and rl.advantage.cGt are both 0: the policy would get no reward; set at least one above 0' }];
      }
      return [];
    },
  });

/** The full rePIRL config, every key checked; errors name the key (e.g. "prm.weightMode", "rl.advantage.cPrm"). */
export function resolveRepirlConfig(input: RepirlConfigInput | Record<string, unknown> = {}): RepirlConfig {
  return resolveOnline<Infer<typeof repirlPrmSchema>>(repirlConfigSchema, input, 'the rePIRL config');
}

/** Expert solutions of a problem (text in the §4 format). Default: the problem's own `solution`. */
export type Demonstrations = (problem: Problem) => readonly string[];
export const solutionDemonstrations: Demonstrations = (problem) => (problem.solution ? [problem.solution] : []);

/** One sequence of a rePIRL PRM batch. */
export interface RepirlExample {
  promptIds: readonly number[];
  responseIds: readonly number[];
  expert: boolean;
  /** log π_old(τ) (policy samples; 0 for demonstrations, where it is unused). */
  oldLogProb: number;
  group: number;
}

export interface RepirlLearnerOptions {
  config: RepirlPrmConfig;
  codec?: TaskCodec;
  demonstrations?: Demonstrations;
  /**
   * Where the experts come from when the batch's prompts have no demonstrations (test-time
   * training, docs/ttt.md): each step, demosPerPrompt demonstrations per prompt of the batch are
   * drawn (seeded by the PRM seed and the step, with their own prompts) from these problems'
   * demonstrations, instead of the batch prompts' own.
   */
  expertPool?: readonly Problem[];
  /** Optimizer steps the PRM's schedule spans (RL steps × epochs × miniBatches). */
  totalUpdates: number;
}

/** The PRM half of rePIRL (see the file comment); pass it to RlTrainer as `rewardModel`. */
export class RepirlLearner implements OnlineRewardModel {
  readonly optimizer: AdamW;
  private readonly codec: TaskCodec;
  private readonly demonstrations: Demonstrations;
  private readonly config: RepirlPrmConfig;
  private readonly expertPool: readonly Problem[] | null;
  private updates = 0;

  constructor(
    readonly prm: ProcessRewardModel & Module<unknown>,
    options: RepirlLearnerOptions,
  ) {
    this.config = options.config;
    this.codec = options.codec ?? new TaskCodec();
    this.demonstrations = options.demonstrations ?? solutionDemonstrations;
    this.expertPool = options.expertPool ?? null;
    if (this.expertPool !== null && !this.expertPool.some((p) => this.demonstrations(p).length > 0)) {
      throw new Error(`rePIRL: none of the ${this.expertPool.length} problems of the expert pool has a demonstration`);
    }
    this.optimizer = makeOptimizer(prm.trainableParameters(), options.config.optim, options.totalUpdates);
  }

  async score(batch: RolloutBatch, step: number): Promise<{ rewards: number[][]; metrics: Record<string, number> }> {
    const examples = this.prmBatch(batch, step);
    const metrics = await this.update(examples, step);
    const scored = await scoreSamples(this.prm, batch.samples, this.codec, this.config.scoreBatchSize);
    const rewards = scored.map((s) => s.tokens);
    const meanReward = (correct: boolean) =>
      average(batch.samples.flatMap((s, i) => (s.verdict.correct === correct ? [average(rewards[i]!)] : [])));
    for (const [key, value] of [['prm/reward_correct', meanReward(true)], ['prm/reward_incorrect', meanReward(false)]] as const) {
      if (Number.isFinite(value)) metrics[key] = value;
    }
    return { rewards, metrics };
  }

  /**
   * Demonstrations of the batch's prompts (or, with an expert pool, as many drawn from the pool for
   * `step`), then every rollout (expert when correct and correctAsExperts).
   */
  prmBatch(batch: RolloutBatch, step = 0): RepirlExample[] {
    const c = this.config;
    const groupOf = (g: number) => (c.groups === 'prompt' ? g : 0);
    const examples: RepirlExample[] = [];
    const seen = new Set<number>();
    const maxSeqLen = (this.prm.config as { decoder?: { maxSeqLen: number } }).decoder?.maxSeqLen ?? Infinity;
    const pushDemo = (problem: Problem, promptIds: readonly number[], demo: string, group: number) => {
      const responseIds = this.codec.encodeResponse(demo);
      if (promptIds.length + responseIds.length > maxSeqLen) {
        throw new Error(`rePIRL: the demonstration of problem ${problem.id} (${promptIds.length} + ${responseIds.length} tokens) exceeds the PRM's maxSeqLen (${maxSeqLen})`);
      }
      examples.push({ promptIds, responseIds, expert: true, oldLogProb: 0, group: groupOf(group) });
    };
    const pool = this.expertPool === null ? null : this.expertPool.flatMap((p) => this.demonstrations(p).map((demo) => ({ problem: p, demo })));
    const order = pool === null ? [] : permutation(pool.length, deriveSeed(c.seed, 'expert-pool', step));
    let drawn = 0;
    for (const s of batch.samples) {
      if (seen.has(s.group)) continue;
      seen.add(s.group);
      if (pool === null) {
        for (const demo of this.demonstrations(s.problem).slice(0, c.demosPerPrompt)) pushDemo(s.problem, s.promptIds, demo, s.group);
        continue;
      }
      for (let d = 0; d < c.demosPerPrompt; d++) {
        const { problem, demo } = pool[order[drawn++ % pool.length]!]!;
        pushDemo(problem, this.codec.encodePrompt(problem.prompt), demo, s.group);
      }
    }
    for (const s of batch.samples) {
      const expert = c.correctAsExperts && s.verdict.correct;
      examples.push({ promptIds: s.promptIds, responseIds: s.responseIds, expert, oldLogProb: s.logprobs.reduce((a, b) => a + b, 0), group: groupOf(s.group) });
    }
    return examples;
  }

  /**
   * The rePIRL loss and mean R̄ of experts and policy samples on a batch's PRM batch (all of it as
   * one mini-batch), without gradient or update: a fixed yardstick for tests and evaluations.
   */
  async evaluate(batch: RolloutBatch): Promise<{ loss: number; expertReward: number; policyReward: number }> {
    const part = this.prmBatch(batch);
    const packed = packSequences(part, this.codec.padId);
    const out = noGrad(() => tidy(() => {
      const { R, Rbar } = sequenceRewards(this.prm.tokenRewards(packed), packed);
      const { loss } = this.loss(part, R, Rbar);
      return { loss, Rbar };
    }));
    const [loss, rbar] = await Promise.all([out.loss.item(), out.Rbar.data()]);
    out.loss.dispose();
    out.Rbar.dispose();
    return {
      loss,
      expertReward: average(part.flatMap((e, j) => (e.expert ? [rbar[j]!] : []))),
      policyReward: average(part.flatMap((e, j) => (e.expert ? [] : [rbar[j]!]))),
    };
  }

  private loss(part: readonly RepirlExample[], R: Tensor, Rbar: Tensor) {
    return repirlIsMleLoss(
      { R, Rbar, oldLogProb: part.map((e) => e.oldLogProb), isExpert: part.map((e) => e.expert), groups: part.map((e) => e.group) },
      { mode: this.config.weightMode, groupReduction: this.config.groupReduction },
    );
  }

  /** `epochs` × mini-batches of the rePIRL loss, one optimizer step each; the step's PRM metrics. */
  private async update(examples: readonly RepirlExample[], step: number): Promise<Record<string, number>> {
    const c = this.config;
    const stats = new MeanAccumulator();
    let first: number | undefined;
    for (let epoch = 0; epoch < c.epochs; epoch++) {
      for (const rows of miniBatchRows(examples.length, c.miniBatches, deriveSeed(c.seed, 'prm-minibatch', step, epoch))) {
        const part = rows.map((i) => examples[i]!);
        const packed = packSequences(part, this.codec.padId);
        const out = tidy(() => {
          const { R, Rbar } = sequenceRewards(this.prm.tokenRewards(packed), packed);
          const { loss, weights } = this.loss(part, R, Rbar);
          backward(loss);
          return { loss: detach(loss), weights, Rbar: detach(Rbar) };
        });
        const [loss, weights, rbar] = await Promise.all([out.loss.item(), out.weights.data(), out.Rbar.data()]);
        for (const t of Object.values(out)) t.dispose();
        const report = await this.optimizer.step();
        this.updates++;
        first ??= loss;
        stats.add({
          'prm/loss': loss,
          'prm/expert_reward': average(part.flatMap((e, j) => (e.expert ? [rbar[j]!] : []))),
          'prm/policy_reward': average(part.flatMap((e, j) => (e.expert ? [] : [rbar[j]!]))),
          'prm/ess': average([...new Set(part.filter((e) => !e.expert).map((e) => e.group))].map((g) =>
            effectiveSampleSize(part.flatMap((e, j) => (!e.expert && e.group === g ? [weights[j]!] : []))))),
          'prm/grad_norm': report.gradNorm,
          'prm/lr': report.lr,
          'prm/skipped_steps': report.skipped ? 1 : 0,
        });
      }
    }
    const metrics = stats.mean();
    if (first !== undefined) metrics['prm/loss_first'] = first;
    metrics['prm/experts'] = examples.filter((e) => e.expert).length;
    metrics['prm/policy_samples'] = examples.filter((e) => !e.expert).length;
    if (metrics['prm/expert_reward'] !== undefined && metrics['prm/policy_reward'] !== undefined) {
      metrics['prm/reward_gap'] = metrics['prm/expert_reward'] - metrics['prm/policy_reward'];
    }
    return metrics;
  }

  checkpointContent(): TrainingCheckpoint {
    return { models: { prm: this.prm }, optimizers: { prm: this.optimizer }, state: { updates: this.updates } };
  }

  restoreState(state: Record<string, unknown>): void {
    this.updates = typeof state.updates === 'number' ? state.updates : 0;
  }

  /** Frees the optimizer and the PRM (the RlTrainer frees neither). */
  dispose(): void {
    this.optimizer.dispose();
    this.prm.dispose();
  }
}

export interface RepirlTrainerOptions extends OnlineTrainerOptions {
  config?: RepirlConfigInput;
  /** Expert solutions of each training problem (default: the problem's `solution`). */
  demonstrations?: Demonstrations;
  /** The PRM to train (default TokenMlpPrm.fromPolicy(policy) with prm.hidden / freezeBackbone / seed). */
  prm?: ProcessRewardModel & Module<unknown>;
}

export type RepirlRun = OnlineRun<RepirlLearner, RepirlConfig>;

/** rePIRL: the PRM (a copy of the policy + tanh MLP head), its learner and the RL trainer around them. */
export async function createRepirlTrainer(options: RepirlTrainerOptions): Promise<RepirlRun> {
  const { config: input, demonstrations, prm: given, ...rest } = options;
  const config = resolveRepirlConfig(input ?? {});
  const p = config.prm;
  const prm = given ?? TokenMlpPrm.fromPolicy(options.policy, { ...(p.hidden > 0 ? { hidden: p.hidden } : {}), freezeBackbone: p.freezeBackbone, seed: p.seed, lora: loraOf(p.lora) });
  const learner = new RepirlLearner(prm, {
    config: p,
    codec: options.codec ?? new TaskCodec(),
    ...(demonstrations ? { demonstrations } : {}),
    totalUpdates: config.rl.steps * p.epochs * p.miniBatches,
  });
  return onlineRun(learner, config, rest);
}
