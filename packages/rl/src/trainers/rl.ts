// RL fine-tuning of a policy on verifiable problems: GRPO, Dr.GRPO, RLOO, REINFORCE++,
// REINFORCE++-baseline and PPO with GAE, as presets over one loop (config.ts RL_PRESETS).
//
// One step:
//  1. rollout   promptsPerStep prompts × k samples from the policy, with the rollout log-probs
//               (the "old" policy of the ratio) and verifier scores; optionally only groups in an
//               accuracy band, with oversampling and a carry-over buffer (rollout/filter.ts).
//  2. prepare   dense rewards from the hook (a PRM); reference log-probs (when kl.coef > 0) and
//               critic values (PPO), without gradient; token rewards = outcome on the last token +
//               dense, minus β·KL when the KL is in the reward; advantages by the named estimator.
//  3. update    ppoEpochs passes; each shuffles the batch (seed derived from the step and epoch)
//               and splits it into miniBatches; each mini-batch is one optimizer step, accumulated
//               over micro-batches with the mini-batch's global loss normalisers:
//               loss = policy loss − entropyCoef·entropy + β·KL (when in the loss); the critic
//               takes its own step on the clipped value loss.
//
// Everything random is derived from (seed, step, …) and the rest of the state (prompt cursor,
// buffer, KL coefficient, optimizers) is in the checkpoint, so a resumed run equals an
// uninterrupted one.
import { add, backward, checkTemperature, concat, noGrad, reshape, sub, tensor, tidy, type AdamW, type DecoderLM, type Tensor } from '@repirl/autograd';
import { ADVANTAGES, estimateAdvantages, type AdvantageOptions } from '../advantages/estimate.js';
import { buildTokenRewards } from '../advantages/token-rewards.js';
import { lossNormalisers, tokenMeanNoGrad, type LossNormalisers } from '../losses/aggregate.js';
import { entropyBonus } from '../losses/entropy.js';
import { AdaptiveKlController, FixedKlController, klLoss, klPenaltyInReward, type KlController } from '../losses/kl.js';
import { abs, detach } from '../losses/ops.js';
import { policyLoss } from '../losses/policy.js';
import { ValueModel, valueLoss } from '../critic/value-model.js';
import { TaskCodec } from '../rollout/codec.js';
import { filteredRollout } from '../rollout/filter.js';
import { packSequences, padRows, responseLayout, responseLogProbs, unpadRows, type PackedBatch } from '../rollout/pack.js';
import { attachDenseRewards, splitGroups, type DenseRewardFn, type RolloutBatch, type RolloutSample } from '../rollout/rollout.js';
import { ShuffledStream, deriveSeed, permutation } from '../rollout/seeds.js';
import type { Problem } from '../tasks/task.js';
import { Trainer, type EarlyEnd, type TrainerCommonOptions } from './base.js';
import { resolveRlConfig, type RlConfig, type RlConfigInput } from './config.js';
import { makeOptimizer } from './optim.js';
import { bytesPerSequence, fittingRows, withBatchHint } from './faults.js';
import { correlation } from './stats.js';
import type { TrainingCheckpoint } from './checkpoint.js';
import type { GreedyResult } from './evaluate.js';

export interface RlTrainerOptions extends TrainerCommonOptions {
  config?: RlConfigInput | RlConfig;
  /** Training prompts (with answers for the verifier). */
  train: readonly Problem[];
  /** Dense (per-token) rewards for each step's batch, e.g. from a frozen process reward model. */
  denseRewards?: DenseRewardFn;
  /**
   * A reward model trained inside the RL loop (rePIRL, AIRL-S, PRIME): each step it may update
   * itself on the fresh rollouts, then gives their dense rewards; its weights, optimizer and state
   * travel in the trainer's checkpoint. Excludes denseRewards.
   */
  rewardModel?: OnlineRewardModel;
}

/**
 * The reward half of a dual loop (docs/research/papers.md §1(c) steps 5–6, §3(c)): `score` is called once per
 * step, after the rollout and before the advantages, with the batch the policy will train on.
 */
export interface OnlineRewardModel {
  /** Updates the reward model on the batch (or not), then returns one reward per response token of each sample, plus metrics (`prm/…`). */
  score(batch: RolloutBatch, step: number): Promise<{ rewards: readonly (readonly number[])[]; metrics: Record<string, number> }>;
  /** Models and optimizers (names must not clash with 'policy' / 'critic') and JSON state for the checkpoint. */
  checkpointContent(): TrainingCheckpoint;
  restoreState(state: Record<string, unknown>): void;
  /**
   * Held-out metrics of the reward model (`val/prm/…`), computed at the trainer's validation points;
   * `greedy` holds the policy's greedy responses to the validation problems at that point.
   */
  validate?(step: number, greedy: readonly GreedyResult[]): Promise<Record<string, number>>;
  /** True when the trainer should end the run now (its validation stopped improving). */
  converged?(): boolean;
}

/** Per-sample host arrays the update needs, one value per response token. */
interface Prepared {
  samples: RolloutSample[];
  oldLogp: number[][];
  advantages: number[][];
  returns: number[][] | null;
  oldValues: number[][] | null;
  refLogp: number[][] | null;
}

export class RlTrainer extends Trainer {
  protected readonly trainerName = 'rl' as const;
  readonly config: RlConfig;
  private readonly train: readonly Problem[];
  private readonly denseRewards: DenseRewardFn | undefined;
  private readonly rewardModel: OnlineRewardModel | undefined;
  private readonly stream: ShuffledStream;
  private readonly reference: DecoderLM | null;
  private readonly critic: ValueModel | null;
  private readonly actorOptimizer: AdamW;
  private readonly criticOptimizer: AdamW | null;
  private kl: KlController;
  /** Position of the next prompt in the shuffled prompt stream (checkpointed). */
  private promptCursor = 0;
  /** Kept groups carried to the next step by the accuracy filter (checkpointed). */
  private buffer: RolloutSample[][] = [];

  private constructor(options: RlTrainerOptions, config: RlConfig, reference: DecoderLM | null) {
    super(options);
    this.config = config;
    this.train = options.train;
    this.denseRewards = options.denseRewards;
    this.rewardModel = options.rewardModel;
    this.stream = new ShuffledStream(this.train.length, config.seed, 'prompts');
    this.reference = reference;
    this.critic = config.advantage.estimator === 'gae' ? ValueModel.fromPolicy(this.policy) : null;
    const updatesPerStep = config.actor.ppoEpochs * config.actor.miniBatches;
    this.actorOptimizer = makeOptimizer(this.trainableParameters(config.lora, config.seed), config.actor, config.steps * updatesPerStep);
    this.criticOptimizer = this.critic ? makeOptimizer(this.critic.trainableParameters(), config.critic, config.steps * updatesPerStep) : null;
    this.kl = config.kl.target > 0 ? new AdaptiveKlController(config.kl.coef, config.kl.target, config.kl.horizon) : new FixedKlController(config.kl.coef);
  }

  /** Builds the trainer: checks config and data, and copies the reference policy when the KL is on. */
  static async create(options: RlTrainerOptions): Promise<RlTrainer> {
    const config = resolveRlConfig(options.config ?? {});
    if (options.train.length === 0) throw new Error('RlTrainer: no training problems');
    const needs = ADVANTAGES[config.advantage.estimator].needs;
    if (options.denseRewards && options.rewardModel) throw new Error('RlTrainer: give denseRewards or rewardModel, not both');
    if (needs.includes('outcome') && !options.denseRewards && !options.rewardModel) {
      throw new Error(`advantage.estimator "${config.advantage.estimator}" combines process and outcome rewards: give the trainer a denseRewards function or a rewardModel`);
    }
    checkLengths(options, config);
    checkTemperature('rollout.temperature', config.rollout.temperature);
    checkTemperature('validation.temperature', config.validation.temperature);
    // The reference is the policy as it is now (before any RL update); with β = 0 it is not loaded.
    const reference = config.kl.coef > 0 ? await options.policy.copy({ frozen: true }) : null;
    return new RlTrainer(options, config, reference);
  }

  get resolvedConfig(): RlConfig {
    return this.config;
  }

  /**
   * The run ends early once it has sampled budget.sampledSequences sequences (0: no budget), or when
   * the reward model says its validation stopped improving.
   */
  protected override earlyEnd(pending: Record<string, number> = {}): EarlyEnd | null {
    const budget = this.config.budget.sampledSequences;
    if (budget > 0 && (this.computeTotals(pending)['compute/sampled_sequences'] ?? 0) >= budget) return 'budget';
    return this.rewardModel?.converged?.() === true ? 'converged' : null;
  }

  /** The reward model's own validation (its held-out metrics), at the policy's validation points. */
  protected override async extraValidationMetrics(_problems: readonly Problem[], greedy: readonly GreedyResult[]): Promise<Record<string, number>> {
    return (await this.rewardModel?.validate?.(this.step, greedy)) ?? {};
  }

  /** Validation generates up to the rollout's budget unless validation.maxNewTokens says otherwise. */
  protected override validationMaxNewTokens(): number {
    return this.config.validation.maxNewTokens || this.config.rollout.maxNewTokens;
  }

  protected async trainStep(): Promise<Record<string, number>> {
    const step = this.step + 1;
    const c = this.config;
    const metrics: Record<string, number> = {};
    if (this.reference) metrics['actor/kl_coef'] = this.kl.value;
    this.loraStep(c.seed, step);

    // 1. Rollout (with the accuracy filter when enabled).
    let t = performance.now();
    const rolloutRows = c.rollout.batchSize > 0 ? c.rollout.batchSize : c.rollout.promptsPerStep * c.rollout.k;
    const filtered = await withBatchHint(() => filteredRollout(this.policy, {
      groups: c.rollout.promptsPerStep,
      nextPrompts: (count) => this.nextPrompts(count),
      seed: deriveSeed(c.seed, 'rollout', step),
      k: c.rollout.k,
      maxNewTokens: c.rollout.maxNewTokens,
      temperature: c.rollout.temperature,
      topK: c.rollout.topK,
      topP: c.rollout.topP,
      batchSize: c.rollout.batchSize,
      codec: this.codec,
      verify: this.verify,
      ...(c.filter.enabled
        ? { band: { low: c.filter.low, high: c.filter.high }, oversample: c.filter.oversample, maxRounds: c.filter.maxRounds, buffer: this.buffer, maxBuffer: c.filter.maxBuffer ?? c.rollout.promptsPerStep }
        : {}),
    }), (err) => `the rollout generates up to ${rolloutRows} sequences at once; set rollout.batchSize to ${fittingRows(rolloutRows, err)} or less`);
    this.buffer = filtered.buffer;
    const samples = filtered.groups.flat();
    Object.assign(metrics, rolloutMetrics(filtered.stats.sampled, samples));
    // The compute this step spent on sampling: every sequence drawn, the filter's oversampling
    // included (carried groups were counted in the step that drew them). Totals: RunSummary.compute.
    metrics['compute/sampled_sequences'] = filtered.stats.sampled.length;
    metrics['compute/sampled_tokens'] = filtered.stats.sampled.reduce((n, s) => n + s.responseIds.length, 0);
    // Then group ids 0 … G−1 in batch order (carried groups had ids from their own step).
    filtered.groups.forEach((group, g) => group.forEach((s) => (s.group = g)));
    if (c.filter.enabled) {
      Object.assign(metrics, {
        'filter/sampled_groups': filtered.stats.sampledGroups,
        'filter/kept_groups': filtered.stats.keptGroups,
        'filter/carried_groups': filtered.stats.carriedGroups,
        'filter/short_groups': filtered.stats.shortGroups,
        'filter/rounds': filtered.stats.rounds,
        'filter/buffer': this.buffer.length,
      });
    }
    metrics['timing/rollout_s'] = (performance.now() - t) / 1000;
    await this.emit({
      type: 'samples',
      step,
      samples: samples.map((s) => ({
        id: s.problem.id, prompt: s.problem.prompt, response: s.response, responseIds: s.responseIds, correct: s.verdict.correct,
        score: s.score, group: s.group, finishReason: s.finishReason,
      })),
    });
    if (samples.length === 0) return metrics; // every sampled group fell outside the band: nothing to learn from

    // 2. Prepare rewards, reference log-probs, values and advantages.
    t = performance.now();
    const batch: RolloutBatch = { samples, temperature: c.rollout.temperature, maxNewTokens: c.rollout.maxNewTokens };
    if (this.denseRewards) await attachDenseRewards(batch, this.denseRewards);
    if (this.rewardModel) {
      const scored = await this.rewardModel.score(batch, step);
      Object.assign(metrics, scored.metrics);
      await attachDenseRewards(batch, () => scored.rewards);
    }
    const prepared = await this.prepare(batch, metrics);
    metrics['timing/prepare_s'] = (performance.now() - t) / 1000;

    // 3. Updates.
    t = performance.now();
    const updates = await this.update(prepared, step, metrics);
    metrics['timing/update_s'] = (performance.now() - t) / 1000;
    // The step counts as skipped when a model that tried to learn (the policy, PPO's critic, an
    // online reward model) had every update skipped for a non-finite loss or gradient norm.
    const allSkipped = (u: { updates: number; skipped: number }) => u.updates > 0 && u.skipped === u.updates;
    metrics['train/skipped'] = allSkipped(updates.actor) || allSkipped(updates.critic) || metrics['prm/skipped_steps'] === 1 ? 1 : 0;
    // An adaptive β follows the KL measured this step (in the reward or in the loss).
    if (this.reference && metrics['actor/kl'] !== undefined) this.kl.update(metrics['actor/kl'], samples.length);
    return metrics;
  }

  private nextPrompts(count: number): Problem[] {
    const indices = this.stream.slice(this.promptCursor, count);
    this.promptCursor += count;
    return indices.map((i) => this.train[i]!);
  }

  /** Micro-batches of sample indices for forward passes (the whole list when microBatchSize is 0). */
  private microBatches(rows: readonly number[]): number[][] {
    const size = this.config.actor.microBatchSize > 0 ? this.config.actor.microBatchSize : rows.length;
    const out: number[][] = [];
    for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
    return out;
  }

  /** Runs one micro-batch's forward (and backward); a tensor over a device limit says to lower actor.microBatchSize. */
  private withMicroBatchHint<T>(samples: readonly RolloutSample[], rows: readonly number[], fn: () => Promise<T>): Promise<T> {
    const now = this.config.actor.microBatchSize;
    return withBatchHint(fn, (err) => {
      const length = rows.reduce((m, i) => Math.max(m, samples[i]!.promptIds.length + samples[i]!.responseIds.length), 0);
      const responseLength = rows.reduce((m, i) => Math.max(m, samples[i]!.responseIds.length), 0);
      const fits = fittingRows(rows.length, err, { bytesPerRow: bytesPerSequence(this.policy, length, responseLength) });
      return `a micro-batch of ${rows.length} sequences × ${length} tokens is too large for this device; ` +
        `set actor.microBatchSize to ${fits} or less (now ${now > 0 ? now : '0: the whole mini-batch'})`;
    });
  }

  private pack(samples: readonly RolloutSample[], rows: readonly number[]): PackedBatch {
    return packSequences(rows.map((i) => samples[i]!), this.codec.padId);
  }

  /** A no-gradient forward over the batch, micro-batch by micro-batch, returning per-sample rows. */
  private async forwardRows(samples: readonly RolloutSample[], fn: (packed: PackedBatch) => Tensor): Promise<number[][]> {
    const rows: number[][] = [];
    for (const micro of this.microBatches(samples.map((_, i) => i))) {
      const packed = this.pack(samples, micro);
      const out = await this.withMicroBatchHint(samples, micro, async () => noGrad(() => tidy(() => fn(packed))));
      for (const row of unpadRows(await out.data(), packed)) rows.push(row);
      out.dispose();
    }
    return rows;
  }

  private async prepare(batch: RolloutBatch, metrics: Record<string, number>): Promise<Prepared> {
    const c = this.config;
    const { samples } = batch;
    const backend = this.policy.backend;
    const temperature = batch.temperature;
    let oldLogp = samples.map((s) => s.logprobs);
    if (c.actor.recomputeOldLogProbs) {
      const recomputed = await this.forwardRows(samples, (p) => responseLogProbs(this.policy, p, { temperature }).logp);
      metrics['rollout/logprob_diff'] = meanAbsDiff(oldLogp, recomputed);
      oldLogp = recomputed;
    }
    const refLogp = this.reference ? await this.forwardRows(samples, (p) => responseLogProbs(this.reference!, p, { temperature }).logp) : null;
    const oldValues = this.critic ? await this.forwardRows(samples, (p) => this.critic!.values(p)) : null;

    // Token rewards [B, T] in the response layout.
    const lengths = samples.map((s) => s.responseIds.length);
    const needsOutcome = ADVANTAGES[c.advantage.estimator].needs.includes('outcome');
    const scores = samples.map((s) => s.score * c.reward.outcomeCoef);
    const dense = samples[0]!.dense ? samples.map((s) => s.dense!.map((r) => r * c.reward.denseCoef)) : undefined;
    const layout = responseLayout(lengths);
    const pad = (rows: readonly (readonly number[])[]) => tensor(backend, padRows(rows, layout), [layout.B, layout.T]);

    const result = tidy(() => {
      let { rewards, mask } = buildTokenRewards(backend, { lengths, maxLength: layout.T, ...(needsOutcome ? {} : { scores }), ...(dense ? { dense } : {}) });
      let meanKl: Tensor | undefined;
      if (refLogp && c.kl.placement === 'reward' && this.kl.value > 0) {
        const penalised = klPenaltyInReward(rewards, pad(oldLogp), pad(refLogp), mask, { estimator: c.kl.estimator, coef: this.kl.value });
        rewards = penalised.rewards;
        meanKl = penalised.meanKl;
      }
      const options: AdvantageOptions = { gamma: c.advantage.gamma, lambda: c.advantage.lambda, epsilon: c.advantage.epsilon, whiten: c.advantage.whiten, cPrm: c.advantage.cPrm, cGt: c.advantage.cGt };
      const out = estimateAdvantages(backend, c.advantage.estimator, {
        rewards,
        mask,
        groups: samples.map((s) => s.group),
        ...(oldValues ? { values: pad(oldValues) } : {}),
        ...(needsOutcome ? { outcome: scores } : {}),
      }, options);
      return { rewards, advantages: out.advantages, ...(out.returns ? { returns: out.returns } : {}), ...(meanKl ? { meanKl } : {}) };
    });
    const [rewardData, advData, retData, klValue] = await Promise.all([
      result.rewards.data(), result.advantages.data(), result.returns?.data(), result.meanKl?.item(),
    ]);
    for (const tensorOut of [result.rewards, result.advantages, result.returns, result.meanKl]) tensorOut?.dispose();
    const advantages = unpadRows(advData, layout);
    // PPO regresses the critic on the estimator's returns; estimators without returns (grpo, …) train no critic.
    const returns = retData ? unpadRows(retData, layout) : null;

    const tokens = lengths.reduce((a, b) => a + b, 0);
    const flat = (rows: number[][]) => rows.flat();
    const advFlat = flat(advantages);
    metrics['critic/rewards/mean'] = unpadRows(rewardData, layout).reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0) / samples.length;
    metrics['critic/advantages/mean'] = advFlat.reduce((a, b) => a + b, 0) / Math.max(1, tokens);
    // reduce, not Math.max(...xs): a spread of B·T arguments overflows the stack on large batches.
    metrics['critic/advantages/max'] = advFlat.reduce((a, b) => Math.max(a, b), -Infinity);
    metrics['critic/advantages/min'] = advFlat.reduce((a, b) => Math.min(a, b), Infinity);
    if (returns) metrics['critic/returns/mean'] = flat(returns).reduce((a, b) => a + b, 0) / Math.max(1, tokens);
    if (oldValues) metrics['critic/values/mean'] = flat(oldValues).reduce((a, b) => a + b, 0) / Math.max(1, tokens);
    if (oldValues && returns) metrics['critic/vf_explained_var'] = explainedVariance(flat(returns), flat(oldValues));
    if (dense) {
      metrics['critic/dense/mean'] = flat(dense).reduce((a, b) => a + b, 0) / Math.max(1, tokens);
      // How well the reward model's sequence reward tracks the verifier: falling while the dense
      // reward rises is the signature of reward hacking.
      const corr = correlation(dense.map((row) => row.reduce((a, b) => a + b, 0)), samples.map((s) => s.score));
      if (Number.isFinite(corr)) metrics['critic/dense_outcome_corr'] = corr;
    }
    if (klValue !== undefined) metrics['actor/kl'] = klValue; // KL in the reward: measured on the rollout
    return { samples, oldLogp, advantages, returns, oldValues, refLogp };
  }

  /** The step's optimizer updates; returns how many each model took and how many of them were skipped. */
  private async update(p: Prepared, step: number, metrics: Record<string, number>): Promise<Record<'actor' | 'critic', { updates: number; skipped: number }>> {
    const c = this.config;
    const counts = { actor: { updates: 0, skipped: 0 }, critic: { updates: 0, skipped: 0 } };
    const B = p.samples.length;
    const miniBatches = Math.min(c.actor.miniBatches, B);
    const actorActive = step > c.critic.freezeActorSteps || !this.critic;
    const actor = new StatsAccumulator();
    const critic = new StatsAccumulator();
    for (let epoch = 0; epoch < c.actor.ppoEpochs; epoch++) {
      const order = miniBatches > 1 ? permutation(B, deriveSeed(c.seed, 'minibatch', step, epoch)) : p.samples.map((_, i) => i);
      for (let m = 0; m < miniBatches; m++) {
        // Near-equal mini-batches: sizes differ by at most one sample.
        const rows = order.slice(Math.floor((m * B) / miniBatches), Math.floor(((m + 1) * B) / miniBatches));
        const normalisers = lossNormalisers(rows.map((i) => p.samples[i]!.responseIds.length), { maxLength: c.rollout.maxNewTokens });
        if (actorActive) {
          const sums: Record<string, number>[] = [];
          for (const micro of this.microBatches(rows)) sums.push(await this.withMicroBatchHint(p.samples, micro, () => this.actorMicroBatch(p, micro, normalisers, epoch === 0 && m === 0)));
          const report = await this.actorOptimizer.step();
          counts.actor.updates++;
          if (report.skipped) counts.actor.skipped++;
          actor.add(combineMicro(sums), { 'actor/grad_norm': report.gradNorm, 'actor/lr': report.lr, 'actor/grad_clipped': report.clipped ? 1 : 0, 'actor/skipped_steps': report.skipped ? 1 : 0 });
        }
        if (this.critic && p.returns && p.oldValues) {
          const sums: Record<string, number>[] = [];
          for (const micro of this.microBatches(rows)) sums.push(await this.withMicroBatchHint(p.samples, micro, () => this.criticMicroBatch(p, micro, normalisers)));
          const report = await this.criticOptimizer!.step();
          counts.critic.updates++;
          if (report.skipped) counts.critic.skipped++;
          critic.add(combineMicro(sums), { 'critic/grad_norm': report.gradNorm, 'critic/lr': report.lr });
        }
      }
    }
    Object.assign(metrics, actor.mean(), critic.mean());
    return counts;
  }

  /** Forward + backward of the actor loss on one micro-batch; returns its (additive) statistics. */
  private async actorMicroBatch(p: Prepared, rows: number[], normalisers: LossNormalisers, measureRolloutGap: boolean): Promise<Record<string, number>> {
    const c = this.config;
    const packed = this.pack(p.samples, rows);
    const backend = this.policy.backend;
    const host = (data: readonly (readonly number[])[]) => tensor(backend, padRows(rows.map((i) => data[i]), packed), [packed.B, packed.T]);
    const klCoef = this.kl.value;
    const stats = tidy(() => {
      const mask = tensor(backend, packed.mask, [packed.B, packed.T]);
      const oldLogp = host(p.oldLogp);
      const { logp, entropy } = responseLogProbs(this.policy, packed, { temperature: c.rollout.temperature, entropy: true });
      const pg = policyLoss(c.actor.policyLoss, { logp, oldLogp, advantages: host(p.advantages), mask }, {
        aggregation: c.actor.aggregation,
        normalisers,
        clipLow: c.actor.clipLow,
        clipHigh: c.actor.clipHigh ?? c.actor.clipLow,
        ...(c.actor.dualClip !== null ? { dualClip: c.actor.dualClip } : {}),
      });
      let total = pg.loss;
      if (c.actor.entropyCoef > 0) total = add(total, entropyBonus(entropy!, mask, { coef: c.actor.entropyCoef, aggregation: c.actor.aggregation, normalisers }).loss);
      const out: Record<string, Tensor> = {
        'actor/pg_loss': detach(pg.loss),
        'actor/entropy': tokenMeanNoGrad(entropy!, mask, normalisers),
        'actor/clip_frac': pg.stats.clipFrac,
        'actor/clip_frac_high': pg.stats.clipFracHigh,
        'actor/clip_frac_low': pg.stats.clipFracLow,
        'actor/dual_clip_frac': pg.stats.dualClipFrac,
        'actor/ppo_kl': pg.stats.approxKl,
        'actor/ratio_mean': pg.stats.ratioMean,
        'actor/ratio_min': pg.stats.ratioMin,
        'actor/ratio_max': pg.stats.ratioMax,
      };
      if (p.refLogp && c.kl.placement === 'loss' && klCoef > 0) {
        const k = klLoss(logp, host(p.refLogp), mask, { estimator: c.kl.estimator, coef: klCoef, aggregation: c.actor.aggregation, normalisers });
        total = add(total, k.loss);
        out['actor/kl'] = k.kl;
      }
      // Before the first update of the step the policy is the rollout policy: the gap between the
      // trainer's and the sampler's log-probs of the same tokens should be float rounding only.
      if (measureRolloutGap && !c.actor.recomputeOldLogProbs) out['rollout/logprob_diff'] = tokenMeanNoGrad(noGrad(() => abs(sub(logp, oldLogp))), mask, normalisers);
      backward(total);
      return out;
    });
    return readScalars(stats);
  }

  private async criticMicroBatch(p: Prepared, rows: number[], normalisers: LossNormalisers): Promise<Record<string, number>> {
    const packed = this.pack(p.samples, rows);
    const backend = this.policy.backend;
    const host = (data: readonly (readonly number[])[]) => tensor(backend, padRows(rows.map((i) => data[i]), packed), [packed.B, packed.T]);
    const stats = tidy(() => {
      const mask = tensor(backend, packed.mask, [packed.B, packed.T]);
      const values = this.critic!.values(packed);
      const vl = valueLoss(values, host(p.oldValues!), host(p.returns!), mask, { clip: this.config.critic.valueClip, normalisers });
      backward(vl.loss);
      return { 'critic/vf_loss': detach(vl.loss), 'critic/vf_clipfrac': vl.clipFrac, 'critic/vpred_mean': tokenMeanNoGrad(values, mask, normalisers) };
    });
    return readScalars(stats);
  }

  protected checkpointContent(): TrainingCheckpoint {
    const rm = this.rewardModel?.checkpointContent();
    return {
      models: { ...this.policyModels(), ...(this.critic ? { critic: this.critic } : {}), ...rm?.models },
      optimizers: { policy: this.actorOptimizer, ...(this.criticOptimizer ? { critic: this.criticOptimizer } : {}), ...rm?.optimizers },
      state: { promptCursor: this.promptCursor, klCoef: this.kl.value, buffer: this.buffer, ...(rm ? { rewardModel: rm.state } : {}) },
    };
  }

  protected restoreState(state: Record<string, unknown>): void {
    if (this.rewardModel) this.rewardModel.restoreState((state.rewardModel as Record<string, unknown> | undefined) ?? {});
    this.promptCursor = state.promptCursor as number;
    this.buffer = (state.buffer as RolloutSample[][] | undefined) ?? [];
    const klCoef = state.klCoef as number;
    const k = this.config.kl;
    this.kl = k.target > 0 ? new AdaptiveKlController(klCoef, k.target, k.horizon) : new FixedKlController(klCoef);
  }

  dispose(): void {
    this.actorOptimizer.dispose();
    this.criticOptimizer?.dispose();
    this.reference?.dispose();
    this.critic?.dispose();
  }
}

/** Prompts + maxNewTokens must fit the policy's context. */
function checkLengths(options: RlTrainerOptions, config: RlConfig): void {
  const codec = options.codec ?? new TaskCodec();
  const maxSeqLen = options.policy.config.maxSeqLen;
  const promptLength = (p: Problem) => codec.encodePrompt(p.prompt).length;
  for (const [which, problems, budget, key] of [
    ['training', options.train, config.rollout.maxNewTokens, 'rollout.maxNewTokens'],
    ['validation', options.validation ?? [], config.validation.maxNewTokens || config.rollout.maxNewTokens, 'validation.maxNewTokens'],
  ] as const) {
    const longest = problems.reduce((m, p) => Math.max(m, promptLength(p)), 0);
    if (problems.length > 0 && longest + budget > maxSeqLen) {
      throw new Error(`the longest ${which} prompt (${longest} tokens) + ${key} (${budget}) exceeds the policy's maxSeqLen (${maxSeqLen}); lower ${key} or use a policy with a longer context`);
    }
  }
}

/** Reads a record of one-element tensors with a single device read, then frees them. */
async function readScalars(tensors: Record<string, Tensor>): Promise<Record<string, number>> {
  const names = Object.keys(tensors);
  const joined = noGrad(() => tidy(() => concat(names.map((n) => reshape(tensors[n]!, [1])), 0)));
  const data = await joined.data();
  joined.dispose();
  for (const t of Object.values(tensors)) t.dispose();
  return Object.fromEntries(names.map((n, i) => [n, data[i]!]));
}

/**
 * The statistics of a mini-batch from those of its micro-batches: token means computed with the
 * mini-batch normalisers add up; ratio extremes combine by min / max.
 */
function combineMicro(parts: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of parts) {
    for (const [k, v] of Object.entries(part)) {
      if (out[k] === undefined) out[k] = v;
      else if (k.endsWith('ratio_min')) out[k] = Math.min(out[k], v);
      else if (k.endsWith('ratio_max')) out[k] = Math.max(out[k], v);
      else out[k] += v;
    }
  }
  return out;
}

/** Averages per-mini-batch statistics over the step (verl logs the mean over updates). */
class StatsAccumulator {
  private readonly sums = new Map<string, { total: number; count: number; min: number; max: number }>();
  add(...records: Record<string, number>[]): void {
    for (const record of records) {
      for (const [k, v] of Object.entries(record)) {
        const s = this.sums.get(k) ?? { total: 0, count: 0, min: Infinity, max: -Infinity };
        s.total += v;
        s.count++;
        s.min = Math.min(s.min, v);
        s.max = Math.max(s.max, v);
        this.sums.set(k, s);
      }
    }
  }
  mean(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, s] of this.sums) {
      out[k] = k.endsWith('ratio_min') ? s.min : k.endsWith('ratio_max') ? s.max : k === 'actor/skipped_steps' ? s.total : s.total / s.count;
    }
    return out;
  }
}

/** Reward, accuracy and length statistics (verl names) of the sampled and the trained samples. */
function rolloutMetrics(sampled: readonly RolloutSample[], trained: readonly RolloutSample[]): Record<string, number> {
  const m: Record<string, number> = {};
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  if (sampled.length > 0) {
    // The policy's accuracy on freshly drawn prompts, before any filtering: the number to watch.
    m['rollout/acc'] = mean(sampled.map((s) => s.score));
    const groups = splitGroups(sampled);
    m['rollout/zero_std_frac'] = groups.filter((g) => g.every((s) => s.score === g[0]!.score)).length / groups.length;
  }
  m['training/samples'] = trained.length;
  if (trained.length === 0) return m;
  const scores = trained.map((s) => s.score);
  const lengths = trained.map((s) => s.responseIds.length);
  Object.assign(m, {
    'critic/score/mean': mean(scores),
    'critic/score/max': scores.reduce((a, b) => Math.max(a, b), -Infinity),
    'critic/score/min': scores.reduce((a, b) => Math.min(a, b), Infinity),
    'response_length/mean': mean(lengths),
    'response_length/max': lengths.reduce((a, b) => Math.max(a, b), -Infinity),
    'response_length/min': lengths.reduce((a, b) => Math.min(a, b), Infinity),
    'response_length/clip_ratio': trained.filter((s) => s.finishReason === 'length').length / trained.length,
  });
  return m;
}

/**
 * 1 − Var(R − V) / Var(R) over all response tokens (verl's critic/vf_explained_var), with the values
 * from before this step's updates: how much of the return the critic predicts on data it has not
 * trained on. 0 for a critic that predicts a constant, 1 for a perfect one.
 */
function explainedVariance(returns: readonly number[], values: readonly number[]): number {
  const variance = (xs: readonly number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    return xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length;
  };
  return 1 - variance(returns.map((r, i) => r - values[i]!)) / (variance(returns) + 1e-8);
}

/** Mean |a − b| over all tokens of ragged rows. */
function meanAbsDiff(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number {
  let total = 0;
  let n = 0;
  a.forEach((row, i) => row.forEach((v, t) => ((total += Math.abs(v - b[i]![t]!)), n++)));
  return n === 0 ? 0 : total / n;
}
