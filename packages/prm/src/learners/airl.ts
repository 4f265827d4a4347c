// AIRL-S (docs/research/papers.md §2(b)–(c), the reconstructed LLM adaptation) as an OnlineRewardModel of
// @repirl/rl's RlTrainer. Each RL step, on the rollout batch:
//   (a) experts: the verifier-accepted rollouts go into a replay buffer (bounded, FIFO, duplicates
//       dropped, checkpointed); the update's experts are `expertsPerStep` traces drawn from it
//       (seeded) and/or the demonstrations of the batch's prompts ('correct' | 'demos' | 'both');
//       negatives: the batch's policy samples (all of them, as AIRL does, or only the wrong ones);
//   (b) the discriminator D = exp(f)/(exp(f) + π) = σ(f − log π) takes `epochs` × `miniBatches`
//       AdamW steps of step-level BCE on the logit f − log π (losses/airl.ts), label 1 on expert
//       steps and 0 on policy steps. f is the step head (models/step-head.ts) read at step ends;
//       log π of a step = the sum of the policy's token log-probs within it: the rollout's old
//       log-probs for the batch's samples, and the current policy's (no gradient, at the rollout
//       temperature) for experts, whose stored log-probs would be stale;
//   (c) the policy reward per step r̂_k = f_k − log π_k (updated f, old log-probs), scaled by
//       `rewardScale` ('batch-max': divided by the batch's largest |r̂|, so every r̂ lies in
//       [−1, 1]) and combined with the outcome r_o by `combination` with weight λ
//       (combineAirlReward): the paper's rule was not found, so this is an option. The learner
//       returns the process part P = R − r_o as
//       token rewards — on each step's end token for the additive modes (r̂_k·λ for 'outcome-plus-
//       sum', r̂_k·λ/K for '-mean', r̂_k for 'process-only'), on the weakest step's end for '-min',
//       nothing for 'outcome-only' — and the RlTrainer adds r_o on the last token, so a sequence-
//       level estimator (GRPO by default) sees exactly R. 'process-only' needs rl.reward.outcomeCoef 0.
// At inference the PRM is f alone (StepHeadPrm.tokenRewards), not r̂.
//
// Defaults: AIRL-S publishes no hyperparameters (docs/research/papers.md §2(d)). We use GRPO's group baseline
// without its std division (Dr.GRPO, 'dr-grpo'), K = 4, no KL; the discriminator on the
// PRIME/rePIRL scale of this package (lr 2e-4 constant, grad clip 10, weight decay 0, 1 pass, whole
// batch); 'both' experts, a buffer of 256 traces, as many experts per step as policy samples;
// 'outcome-plus-mean' with λ = 0.1 and 'batch-max' scaling, so a long response earns no more than
// a short one and the outcome stays the main signal — which then holds by construction: R = r_o +
// λ·mean_k r̂_k/max|r̂| lies within λ of r_o, so within a group a right answer's advantage exceeds a
// wrong one's by at least 1 − 2λ, and where every outcome of a group is equal the advantages stay
// within ±2λ (test: airl.test.ts). Under plain GRPO the std division of such a group rescales
// λ·mean r̂ to unit advantages — as large as an outcome's — and unscaled r̂ = f − log π grows with a
// step's length and unlikeliness (−log π), so both are options, not defaults.
import { backward, noGrad, tidy, type AdamW, type DecoderLM } from '@repirl/autograd';
import {
  ADVANTAGES, TaskCodec, choose, deriveSeed, makeOptimizer, packSequences, permutation, responseLogProbs, rlConfigFor, s, unpadRows,
  type Given, type Infer, type OnlineRewardModel, type OptimizerConfig, type Problem, type RolloutBatch, type TrainingCheckpoint,
} from '@repirl/rl';
import { AIRL_REWARD_COMBINATIONS, airlDiscriminatorLoss, combineAirlReward, detach, type AirlRewardCombination } from '../losses/index.js';
import { stepEndTokens, stepScores } from '../models/prm.js';
import { StepHeadPrm } from '../models/step-head.js';
import { MeanAccumulator, average, miniBatchRows, onlineRun, prmUpdateFields, resolveOnline, type OnlineConfig, type OnlineConfigInput, type OnlineRun, type OnlineTrainerOptions, type PrmUpdateConfig } from './common.js';
import { solutionDemonstrations, type Demonstrations } from './repirl.js';

export const AIRL_EXPERT_SOURCES = ['correct', 'demos', 'both'] as const;
export type AirlExpertSource = (typeof AIRL_EXPERT_SOURCES)[number];
export const AIRL_NEGATIVES = ['all', 'incorrect'] as const;
export const AIRL_REWARD_SCALES = ['batch-max', 'none'] as const;
export type AirlRewardScale = (typeof AIRL_REWARD_SCALES)[number];
export type AirlNegatives = (typeof AIRL_NEGATIVES)[number];

/** The `prm` section of AIRL-S: the discriminator update (common.ts) and the method's own keys. */
export const airlPrmSchema = s.object("AIRL-S's discriminator f (a step head on a copy of the policy); its reward r̂ = f − log π", {
  ...prmUpdateFields({ lr: 2e-4 }),
  freezeBackbone: s.boolean('train only the head', { default: false }),
  experts: s.enum('where experts come from: verified-correct rollouts (the replay buffer), the prompts\' demonstrations, or both', AIRL_EXPERT_SOURCES, {
    default: 'both',
  }),
  bufferSize: s.integer('traces the replay buffer keeps at most (the oldest leave first)', { default: 256, min: 1 }),
  expertsPerStep: s.integer('buffer traces per update (0: as many as the batch has policy samples)', { default: 0, min: 0 }),
  demosPerPrompt: s.integer("demonstrations per prompt of the batch at most ('demos' and 'both')", { default: 1, min: 0 }),
  negatives: s.enum('negatives: every policy sample of the batch (AIRL), or only the ones the verifier rejects', AIRL_NEGATIVES, { default: 'all' }),
  combination: s.enum('how r̂ = f − log π combines with the outcome (losses/airl.ts; process-only: no verifier reward, rl.reward.outcomeCoef defaults to 0)', AIRL_REWARD_COMBINATIONS, {
    default: 'outcome-plus-mean',
  }),
  lambda: s.number('λ of the combination', { default: 0.1, min: 0, max: 100 }),
  rewardScale: s.enum("'batch-max': r̂ divided by the batch's largest |r̂| before the combination, so the process part of R stays within λ; 'none': raw r̂ = f − log π", AIRL_REWARD_SCALES, {
    default: 'batch-max',
  }),
}, {
  check: (p) =>
    p.experts !== 'correct' && p.demosPerPrompt === 0
      ? [{ path: 'demosPerPrompt', message: `is 0 but prm.experts "${p.experts}" uses demonstrations; set it ≥ 1 or use prm.experts "correct"` }]
      : [],
});
export type AirlPrmConfig = Omit<Infer<typeof airlPrmSchema>, 'seed'> & PrmUpdateConfig;

/** The RL trainer's config (its keys; the method's defaults apply under it) and the PRM's. */
export type AirlConfig = OnlineConfig<AirlPrmConfig>;
export type AirlConfigInput = OnlineConfigInput<AirlPrmConfig>;

/** The RL settings AIRL-S runs with unless the config says otherwise. */
export const AIRL_RL_DEFAULTS: Readonly<Record<string, unknown>> = Object.freeze({ 'rollout.k': 4, 'kl.coef': 0, 'advantage.estimator': 'dr-grpo' });

/** AIRL-S's config schema: { rl, prm }; with prm.combination 'process-only' the outcome weight defaults to 0. */
export const airlConfigSchema = (given: Given) => {
  const combination = choose(given, 'prm.combination', AIRL_REWARD_COMBINATIONS, 'outcome-plus-mean');
  const defaults = combination === 'process-only' ? { ...AIRL_RL_DEFAULTS, 'reward.outcomeCoef': 0 } : AIRL_RL_DEFAULTS;
  return s.object('AIRL-S: adversarial IRL (f − log π) with GRPO; the discriminator is the PRM', {
    rl: rlConfigFor(given, 'rl.algorithm', 'grpo', defaults),
    prm: airlPrmSchema,
  }, {
    check: ({ rl, prm }) => {
      if (ADVANTAGES[rl.advantage.estimator].needs.includes('outcome')) {
        return [{
          path: 'rl.advantage.estimator',
          message: `"${rl.advantage.estimator}" takes the outcome as a separate source, so prm.combination would not be the reward it trains on; use a single-reward estimator such as grpo, dr-grpo or rloo`,
        }];
      }
      if (prm.combination === 'process-only' && rl.reward.outcomeCoef !== 0) {
        return [{ path: 'rl.reward.outcomeCoef', message: `must be 0 with prm.combination "process-only" (no verifier reward), got ${rl.reward.outcomeCoef}` }];
      }
      return [];
    },
  });
};

/** The full AIRL-S config, every key checked; errors name the key (e.g. "prm.combination"). */
export function resolveAirlConfig(input: AirlConfigInput | Record<string, unknown> = {}): AirlConfig {
  return resolveOnline<Infer<typeof airlPrmSchema>>(airlConfigSchema, input, 'the AIRL-S config');
}

/**
 * The process part of the trajectory reward, as token rewards: R − r_o = combineAirlReward(r̂, r_o) − r_o
 * spread over step-end tokens (see the file comment). `ends` are the steps' end tokens, `length` the response's.
 */
export function airlProcessTokenRewards(stepRewards: readonly number[], ends: readonly number[], length: number, combination: AirlRewardCombination, lambda: number): number[] {
  const row = new Array<number>(length).fill(0);
  const K = stepRewards.length;
  if (K === 0 || combination === 'outcome-only') return row;
  if (combination === 'outcome-plus-min') {
    const k = stepRewards.indexOf(Math.min(...stepRewards));
    row[ends[k]!] = combineAirlReward(stepRewards, 0, combination, lambda);
    return row;
  }
  const weight = combination === 'outcome-plus-sum' ? lambda : combination === 'outcome-plus-mean' ? lambda / K : 1;
  stepRewards.forEach((r, k) => (row[ends[k]!] = weight * r));
  return row;
}

/** r̂ of a batch (one row of step rewards per sample) under `scale` (see the file comment). */
export function scaleAirlRewards(stepRewards: readonly (readonly number[])[], scale: AirlRewardScale): number[][] {
  const max = stepRewards.reduce((m, row) => row.reduce((a, r) => Math.max(a, Math.abs(r)), m), 0);
  return stepRewards.map((row) => row.map((r) => (scale === 'batch-max' && max > 0 ? r / max : r)));
}

/** One trace of the replay buffer (token ids; JSON in the checkpoint). */
interface Trace {
  promptIds: number[];
  responseIds: number[];
}

/** One sequence of a discriminator batch. */
interface DiscriminatorExample extends Trace {
  expert: boolean;
  /** Policy samples: the rollout's log-probs per token; experts: filled in by the current policy. */
  logprobs: number[] | null;
}

export interface AirlLearnerOptions {
  config: AirlPrmConfig;
  /** The policy being trained (log π of expert steps); the learner reads it, never updates it. */
  policy: DecoderLM;
  codec?: TaskCodec;
  demonstrations?: Demonstrations;
  /** Optimizer steps the PRM's schedule spans (RL steps × epochs × miniBatches). */
  totalUpdates: number;
}

/** The discriminator half of AIRL-S (see the file comment); pass it to RlTrainer as `rewardModel`. */
export class AirlLearner implements OnlineRewardModel {
  readonly optimizer: AdamW;
  private readonly codec: TaskCodec;
  private readonly config: AirlPrmConfig;
  private readonly policy: DecoderLM;
  private readonly demonstrations: Demonstrations;
  /** Verified-correct traces, oldest first (checkpointed). */
  private buffer: Trace[] = [];
  private updates = 0;

  constructor(
    readonly prm: StepHeadPrm,
    options: AirlLearnerOptions,
  ) {
    this.config = options.config;
    this.policy = options.policy;
    this.codec = options.codec ?? new TaskCodec();
    this.prm.codec = this.codec;
    this.demonstrations = options.demonstrations ?? solutionDemonstrations;
    this.optimizer = makeOptimizer(prm.trainableParameters(), options.config.optim, options.totalUpdates);
  }

  /** The replay buffer's traces (read-only view). */
  get replay(): readonly Readonly<Trace>[] {
    return this.buffer;
  }

  async score(batch: RolloutBatch, step: number): Promise<{ rewards: number[][]; metrics: Record<string, number> }> {
    const c = this.config;
    if (c.experts !== 'demos') this.remember(batch);
    const examples = await this.discriminatorBatch(batch, step);
    const metrics = examples.some((e) => e.expert) ? await this.update(examples, batch.temperature, step) : {};
    metrics['prm/buffer'] = this.buffer.length;
    metrics['prm/experts'] = examples.filter((e) => e.expert).length;
    metrics['prm/policy_samples'] = examples.filter((e) => !e.expert).length;

    // Policy rewards from the updated f and the rollout's log-probs.
    const rHats: number[][] = [];
    const allEnds: number[][] = [];
    const size = c.scoreBatchSize > 0 ? c.scoreBatchSize : batch.samples.length;
    for (let i = 0; i < batch.samples.length; i += size) {
      const part = batch.samples.slice(i, i + size);
      const { f, ends } = await this.stepF(part);
      let n = 0;
      part.forEach((s, b) => {
        rHats.push(stepScores(s.logprobs, ends[b]!).map((lp) => f[n++]! - lp));
        allEnds.push(ends[b]!);
      });
    }
    const scaled = scaleAirlRewards(rHats, c.rewardScale);
    const rewards = batch.samples.map((s, b) => airlProcessTokenRewards(scaled[b]!, allEnds[b]!, s.responseIds.length, c.combination, c.lambda));
    metrics['prm/policy_reward'] = average(rHats.flat());
    metrics['prm/policy_reward_absmax'] = rHats.flat().reduce((m, r) => Math.max(m, Math.abs(r)), 0);
    return { rewards, metrics };
  }

  /** Adds the batch's verifier-accepted rollouts to the replay buffer (bounded, no duplicates). */
  private remember(batch: RolloutBatch): void {
    const key = (t: Trace) => `${t.promptIds.join(',')}|${t.responseIds.join(',')}`;
    const known = new Set(this.buffer.map(key));
    for (const s of batch.samples) {
      if (!s.verdict.correct) continue;
      const trace = { promptIds: [...s.promptIds], responseIds: [...s.responseIds] };
      if (known.has(key(trace))) continue;
      known.add(key(trace));
      this.buffer.push(trace);
    }
    if (this.buffer.length > this.config.bufferSize) this.buffer = this.buffer.slice(this.buffer.length - this.config.bufferSize);
  }

  /** Experts (buffer draws and/or demonstrations) and negatives (the batch's policy samples). */
  private async discriminatorBatch(batch: RolloutBatch, step: number): Promise<DiscriminatorExample[]> {
    const c = this.config;
    const negatives = batch.samples.filter((s) => c.negatives === 'all' || !s.verdict.correct);
    const examples: DiscriminatorExample[] = negatives.map((s) => ({ promptIds: s.promptIds, responseIds: s.responseIds, expert: false, logprobs: s.logprobs }));
    if (c.experts !== 'correct') {
      const maxSeqLen = this.prm.config.decoder.maxSeqLen ?? Infinity;
      const seen = new Set<number>();
      for (const s of batch.samples) {
        if (seen.has(s.group)) continue;
        seen.add(s.group);
        for (const demo of this.demonstrations(s.problem as Problem).slice(0, c.demosPerPrompt)) {
          const responseIds = this.codec.encodeResponse(demo);
          if (s.promptIds.length + responseIds.length <= maxSeqLen) examples.push({ promptIds: s.promptIds, responseIds, expert: true, logprobs: null });
        }
      }
    }
    if (c.experts !== 'demos' && this.buffer.length > 0) {
      const count = Math.min(this.buffer.length, c.expertsPerStep > 0 ? c.expertsPerStep : negatives.length);
      for (const i of permutation(this.buffer.length, deriveSeed(c.seed, 'airl-experts', step)).slice(0, count)) {
        examples.push({ ...this.buffer[i]!, expert: true, logprobs: null });
      }
    }
    return examples;
  }

  /** `epochs` × mini-batches of the discriminator BCE, one optimizer step each; the step's metrics. */
  private async update(examples: DiscriminatorExample[], temperature: number, step: number): Promise<Record<string, number>> {
    const c = this.config;
    await this.fillExpertLogProbs(examples, temperature);
    const stats = new MeanAccumulator();
    let first: number | undefined;
    for (let epoch = 0; epoch < c.epochs; epoch++) {
      for (const rows of miniBatchRows(examples.length, c.miniBatches, deriveSeed(c.seed, 'prm-minibatch', step, epoch))) {
        const part = rows.map((i) => examples[i]!);
        const packed = packSequences(part, this.codec.padId);
        const ends = this.prm.stepEnds(packed);
        const logPi = part.flatMap((e, b) => stepScores(e.logprobs!, ends[b]!));
        const labels = part.flatMap((e, b) => ends[b]!.map(() => (e.expert ? 1 : 0)));
        if (labels.length === 0) continue;
        const out = tidy(() => {
          const { loss, logits } = airlDiscriminatorLoss({ f: this.prm.stepValues(packed).f, logPi, labels });
          backward(loss);
          return { loss: detach(loss), logits: detach(logits) };
        });
        const [loss, logits] = await Promise.all([out.loss.item(), out.logits.data()]);
        out.loss.dispose();
        out.logits.dispose();
        const report = await this.optimizer.step();
        this.updates++;
        first ??= loss;
        const d = Array.from(logits, (l) => 1 / (1 + Math.exp(-l)));
        stats.add({
          'prm/loss': loss,
          'prm/d_expert': average(d.filter((_, j) => labels[j] === 1)),
          'prm/d_policy': average(d.filter((_, j) => labels[j] === 0)),
          'prm/d_acc': average(d.map((v, j) => ((v > 0.5 ? 1 : 0) === labels[j] ? 1 : 0))),
          'prm/grad_norm': report.gradNorm,
          'prm/lr': report.lr,
          'prm/skipped_steps': report.skipped ? 1 : 0,
        });
      }
    }
    const metrics = stats.mean();
    if (first !== undefined) metrics['prm/loss_first'] = first;
    return metrics;
  }

  /** log π of the experts' tokens under the current policy (no gradient, at the rollout temperature). */
  private async fillExpertLogProbs(examples: DiscriminatorExample[], temperature: number): Promise<void> {
    const experts = examples.filter((e) => e.logprobs === null);
    const size = this.config.scoreBatchSize > 0 ? this.config.scoreBatchSize : experts.length;
    for (let i = 0; i < experts.length; i += size) {
      const part = experts.slice(i, i + size);
      const packed = packSequences(part, this.codec.padId);
      const logp = noGrad(() => tidy(() => responseLogProbs(this.policy, packed, { temperature }).logp));
      const rows = unpadRows(await logp.data(), packed);
      logp.dispose();
      part.forEach((e, j) => (e.logprobs = rows[j]!));
    }
  }

  /** f per step (no gradient) of some samples, flattened, with their step ends. */
  private async stepF(samples: readonly Trace[]): Promise<{ f: number[]; ends: number[][] }> {
    const packed = packSequences(samples, this.codec.padId);
    const ends = this.prm.stepEnds(packed);
    if (ends.every((row) => row.length === 0)) return { f: [], ends };
    const values = noGrad(() => tidy(() => this.prm.stepValues(packed).f));
    const f = Array.from(await values.data());
    values.dispose();
    return { f, ends };
  }

  checkpointContent(): TrainingCheckpoint {
    return { models: { prm: this.prm }, optimizers: { prm: this.optimizer }, state: { updates: this.updates, buffer: this.buffer } };
  }

  restoreState(state: Record<string, unknown>): void {
    this.updates = typeof state.updates === 'number' ? state.updates : 0;
    this.buffer = Array.isArray(state.buffer) ? (state.buffer as Trace[]) : [];
  }

  /** Frees the optimizer and the PRM (the RlTrainer frees neither). */
  dispose(): void {
    this.optimizer.dispose();
    this.prm.dispose();
  }
}

export interface AirlTrainerOptions extends OnlineTrainerOptions {
  config?: AirlConfigInput;
  /** Expert solutions of each training problem (default: the problem's `solution`). */
  demonstrations?: Demonstrations;
  /** The f to train (default StepHeadPrm.fromPolicy(policy) with prm.freezeBackbone / seed). */
  prm?: StepHeadPrm;
}

export type AirlRun = OnlineRun<AirlLearner, AirlConfig>;

/** AIRL-S: f (a copy of the policy + scalar step head), the discriminator learner and the GRPO trainer around them. */
export async function createAirlTrainer(options: AirlTrainerOptions): Promise<AirlRun> {
  const { config: input, demonstrations, prm: given, ...rest } = options;
  const config = resolveAirlConfig(input ?? {});
  const p = config.prm;
  const codec = options.codec ?? new TaskCodec();
  const prm = given ?? StepHeadPrm.fromPolicy(options.policy, { freezeBackbone: p.freezeBackbone, seed: p.seed, codec });
  const learner = new AirlLearner(prm, {
    config: p, policy: options.policy, codec, ...(demonstrations ? { demonstrations } : {}), totalUpdates: config.rl.steps * p.epochs * p.miniBatches,
  });
  return onlineRun(learner, config, rest);
}
