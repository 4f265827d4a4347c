// PRIME (docs/research/papers.md §3(b)–(c)) as an OnlineRewardModel of @repirl/rl's RlTrainer. Each RL step, on
// the rollout batch the policy will train on (after the accuracy-band filter):
//   (a) the implicit PRM (models/implicit.ts, π_φ against a frozen π_ref) takes `epochs` ×
//       `miniBatches` AdamW steps on the cross-entropy of its sequence reward
//       r(y) = β Σ_t log π_φ/π_ref (y_t) against the verifier's outcome (losses/implicit.ts);
//   (b) it returns the token rewards r_t = β log π_φ/π_ref (y_t), in one of PRIME's two orders:
//       'single-forward'  (the original PRIME script, `update: after`): the rewards come from the
//                         forward pass of the update itself, i.e. from the PRM *before* its
//                         gradient step (no second forward);
//       'double-forward'  (the verl recipe's default, `update: before`): update first, then a
//                         second forward of the updated PRM gives the rewards.
//   (c) the RlTrainer turns them into advantages with a 'prime-rloo-*' estimator (process rewards
//       batch-normalised by max |reward-to-go|, then a leave-one-out baseline per source, summed
//       with the outcome's and whitened), so the β on the token rewards cancels (docs/research/papers.md §3(f)).
// createPrimeTrainer builds it all: the PRM from the policy, this learner, and the RlTrainer.
//
// Defaults (docs/research/papers.md §3(d)), and how they are scaled to this project's tiny byte-level policies:
//   kept as in PRIME: K = 4 samples per prompt, the accuracy filter [0.2, 0.8], β = 0.05, PRM grad
//     clip 10, PRM weight decay 0, 1 PRM pass with the whole batch as the mini-batch, PPO clip 0.2,
//     1 PPO epoch, KL 0, entropy 0, γ = 1, and the original repo's estimator (prime-rloo-code) with
//     its unweighted sum of the two sources (c_prm = c_gt = 1; verl's recipe uses 5/5);
//   scaled: PRIME's learning rates (policy 5e-7, PRM 1e-6) are for 7B models; we keep their 2 : 1
//     PRM : policy ratio on rl's tiny-model scale (actor 1e-4), so the PRM's lr is 2e-4, constant;
//   the default order is 'single-forward', the script that produced PRIME's reported runs.
import { backward, noGrad, tidy, type AdamW, type Tensor } from '@repirl/autograd';
import {
  TaskCodec, deriveSeed, loraOf, loraSchema, makeOptimizer, packSequences, rlConfigFor, s, unpadRows, type Given, type Infer,
  type OnlineRewardModel, type OptimizerConfig, type RolloutBatch, type TrainingCheckpoint,
} from '@repirl/rl';
import { detach, implicitPrmCeLoss, implicitTokenRewards } from '../losses/index.js';
import { ImplicitPrm } from '../models/implicit.js';
import { scoreSamples } from '../models/prm.js';
import { MeanAccumulator, average, miniBatchRows, onlineRun, prmUpdateFields, resolveOnline, type OnlineConfig, type OnlineConfigInput, type OnlineRun, type OnlineTrainerOptions, type PrmUpdateConfig } from './common.js';

export const PRIME_UPDATE_ORDERS = ['single-forward', 'double-forward'] as const;
export type PrimeUpdateOrder = (typeof PRIME_UPDATE_ORDERS)[number];

export const PRIME_ESTIMATORS = ['prime-rloo-code', 'prime-rloo-paper'] as const;

/** The `prm` section of PRIME: the PRM update (common.ts) and the method's own keys. */
export const primePrmSchema = s.object("PRIME's implicit PRM β·log(π_φ/π_ref), learned online with cross-entropy on outcome labels", {
  beta: s.number('β of r = β·log π_φ/π_ref (beta_train); used when the factory builds the PRM', { default: 0.05, min: 0, max: 100, minExclusive: true }),
  update: s.enum("'single-forward': rewards from the pre-update PRM; 'double-forward': update, then rescore (see the file comment)", PRIME_UPDATE_ORDERS, {
    default: 'single-forward',
  }),
  ...prmUpdateFields({ lr: 2e-4 }),
  lora: loraSchema(),
});
export type PrimePrmConfig = Omit<Infer<typeof primePrmSchema>, 'seed'> & PrmUpdateConfig;

/** The RL trainer's config (its keys; the method's defaults apply under it) and the PRM's. */
export type PrimeConfig = OnlineConfig<PrimePrmConfig>;
export type PrimeConfigInput = OnlineConfigInput<PrimePrmConfig>;

/** The RL settings PRIME runs with unless the config says otherwise (docs/research/papers.md §3(b)–(d)). */
export const PRIME_RL_DEFAULTS: Readonly<Record<string, unknown>> = Object.freeze({
  'rollout.k': 4,
  'filter.enabled': true, 'filter.low': 0.2, 'filter.high': 0.8,
  'advantage.estimator': 'prime-rloo-code', 'advantage.gamma': 1, 'advantage.cPrm': 1, 'advantage.cGt': 1,
  'actor.entropyCoef': 0, 'actor.clipLow': 0.2, 'actor.ppoEpochs': 1,
  'kl.coef': 0,
});

/** PRIME's config schema: { rl, prm }, the RL section with the algorithm preset the user chose (rl.algorithm) and PRIME's defaults. */
export const primeConfigSchema = (given: Given) =>
  s.object('PRIME: an implicit PRM learned online from outcome labels, RLOO on both reward sources', {
    rl: rlConfigFor(given, 'rl.algorithm', 'grpo', PRIME_RL_DEFAULTS),
    prm: primePrmSchema,
  }, {
    check: ({ rl }) => {
      if (!(PRIME_ESTIMATORS as readonly string[]).includes(rl.advantage.estimator)) {
        return [{ path: 'rl.advantage.estimator', message: `must be one of ${PRIME_ESTIMATORS.join(', ')} for PRIME (RLOO on the implicit process rewards and on the outcome), got "${rl.advantage.estimator}"` }];
      }
      if (rl.rollout.k < 2) return [{ path: 'rl.rollout.k', message: `must be ≥ 2 for PRIME: the leave-one-out baseline needs other samples of the same prompt, got ${rl.rollout.k}` }];
      return [];
    },
  });

/** The full PRIME config, every key checked; errors name the key (e.g. "prm.update", "rl.advantage.estimator"). */
export function resolvePrimeConfig(input: PrimeConfigInput | Record<string, unknown> = {}): PrimeConfig {
  return resolveOnline<Infer<typeof primePrmSchema>>(primeConfigSchema, input, 'the PRIME config');
}

export interface PrimeLearnerOptions {
  config: PrimePrmConfig;
  codec?: TaskCodec;
  /** Optimizer steps the PRM's schedule spans (RL steps × epochs × miniBatches). */
  totalUpdates: number;
}

/** The PRM half of PRIME (see the file comment); pass it to RlTrainer as `rewardModel`. */
export class PrimeLearner implements OnlineRewardModel {
  readonly optimizer: AdamW;
  private readonly codec: TaskCodec;
  private readonly config: PrimePrmConfig;
  private updates = 0;

  constructor(
    readonly prm: ImplicitPrm,
    options: PrimeLearnerOptions,
  ) {
    this.config = options.config;
    this.codec = options.codec ?? new TaskCodec();
    this.optimizer = makeOptimizer(prm.trainableParameters(), options.config.optim, options.totalUpdates);
  }

  async score(batch: RolloutBatch, step: number): Promise<{ rewards: number[][]; metrics: Record<string, number> }> {
    const labels = batch.samples.map((s) => (s.verdict.correct ? 1 : 0));
    const { metrics, firstRewards } = await this.update(batch, labels, step);
    let rewards = firstRewards;
    if (this.config.update === 'double-forward') {
      rewards = (await scoreSamples(this.prm, batch.samples, this.codec, this.config.scoreBatchSize)).map((s) => s.tokens);
      // The CE loss of the updated PRM on the same batch (what the update lowered).
      metrics['prm/loss_after'] = average(rewards.map((row, i) => bce(row.reduce((a, b) => a + b, 0), labels[i]!)));
    }
    const sequence = rewards.map((row) => row.reduce((a, b) => a + b, 0));
    const meanOf = (correct: boolean) => average(sequence.filter((_, i) => (labels[i] === 1) === correct));
    for (const [key, value] of [['prm/reward_correct', meanOf(true)], ['prm/reward_incorrect', meanOf(false)]] as const) {
      if (Number.isFinite(value)) metrics[key] = value;
    }
    return { rewards, metrics };
  }

  /**
   * The CE update; returns its metrics and each sample's token rewards from the first forward
   * that saw it (the pre-update PRM when there is one mini-batch and one epoch: PRIME's setting).
   */
  private async update(batch: RolloutBatch, labels: readonly number[], step: number): Promise<{ metrics: Record<string, number>; firstRewards: number[][] }> {
    const c = this.config;
    const { samples } = batch;
    const stats = new MeanAccumulator();
    const firstRewards: number[][] = new Array(samples.length);
    let first: number | undefined;
    let correctSign = 0;
    for (let epoch = 0; epoch < c.epochs; epoch++) {
      for (const rows of miniBatchRows(samples.length, c.miniBatches, deriveSeed(c.seed, 'prm-minibatch', step, epoch))) {
        const packed = packSequences(rows.map((i) => samples[i]!), this.codec.padId);
        const y = rows.map((i) => labels[i]!);
        const out = tidy(() => {
          const inputs = this.prm.logRatioInputs(packed);
          const { loss, rewards } = implicitPrmCeLoss({ ...inputs, labels: y }, { beta: this.prm.beta });
          const tokens: Tensor = noGrad(() => implicitTokenRewards(inputs, this.prm.beta));
          backward(loss);
          return { loss: detach(loss), rewards: detach(rewards), tokens };
        });
        const [loss, sequence, tokens] = await Promise.all([out.loss.item(), out.rewards.data(), out.tokens.data()]);
        for (const t of Object.values(out)) t.dispose();
        const report = await this.optimizer.step();
        this.updates++;
        if (epoch === 0) {
          unpadRows(tokens, packed).forEach((row, j) => (firstRewards[rows[j]!] = row));
          y.forEach((label, j) => (correctSign += (sequence[j]! > 0 ? 1 : 0) === label ? 1 : 0));
        }
        first ??= loss;
        stats.add({ 'prm/loss': loss, 'prm/grad_norm': report.gradNorm, 'prm/lr': report.lr, 'prm/skipped_steps': report.skipped ? 1 : 0 });
      }
    }
    const metrics = stats.mean();
    if (first !== undefined) metrics['prm/loss_first'] = first;
    // Outcome accuracy of the implicit reward before this step's update: σ(r) > ½ ⇔ r > 0.
    metrics['prm/acc'] = correctSign / samples.length;
    metrics['prm/updates'] = this.updates;
    return { metrics, firstRewards };
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

/** −[y log σ(x) + (1 − y) log(1 − σ(x))] on the host, stable for any x. */
function bce(x: number, y: number): number {
  const softplus = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
  return y * softplus(-x) + (1 - y) * softplus(x);
}

export interface PrimeTrainerOptions extends OnlineTrainerOptions {
  config?: PrimeConfigInput;
  /** The implicit PRM to train (default ImplicitPrm.fromPolicy(policy, { beta: prm.beta }): π_φ = π_ref = the policy). */
  prm?: ImplicitPrm;
}

export type PrimeRun = OnlineRun<PrimeLearner, PrimeConfig>;

/** PRIME: the implicit PRM (two copies of the policy), its learner and the RL trainer around them. */
export async function createPrimeTrainer(options: PrimeTrainerOptions): Promise<PrimeRun> {
  const { config: input, prm: given, ...rest } = options;
  const config = resolvePrimeConfig(input ?? {});
  const p = config.prm;
  const prm = given ?? ImplicitPrm.fromPolicy(options.policy, { beta: p.beta, lora: loraOf(p.lora), seed: p.seed });
  const learner = new PrimeLearner(prm, { config: p, codec: options.codec ?? new TaskCodec(), totalUpdates: config.rl.steps * p.epochs * p.miniBatches });
  return onlineRun(learner, config, rest);
}
