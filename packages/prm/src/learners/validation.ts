// Validation of an online learner's PRM while it trains, the best PRM kept, and early stopping —
// what it takes to train a PRM "until its held-out step AUROC stops improving" and to end with the
// best one (rePIRL's code keeps the best checkpoint by validation; docs/research/papers.md §1(c) step 9).
//
// withPrmValidation(learner, set, config) wraps any online learner (rePIRL, AIRL-S, PRIME) as the
// RlTrainer's reward model. At each of the trainer's validation points it scores a fixed
// validation set (EvalSet: samples drawn once, before training, from the starting policy on
// validation-split problems, with exact step labels where the task has them) with the learner's
// current PRM and reports `val/prm/<metric>` (evaluatePrm's metrics without best-of-N or intervals).
// A fixed set makes the values comparable across steps: a rising curve is the PRM, not new samples.
//   - best: the highest value of `metric` so far; with keepBest a copy of the PRM's weights at that
//     point is kept (in the checkpoint as `prm-best`, so a resumed run still knows it), and
//     finish() writes it back into the learner's PRM at the end of the run;
//   - patience: after `patience` validations in a row without an improvement of more than
//     `minDelta`, converged() tells the RlTrainer to end the run ('converged' in its summary).
// The set must come from the validation split, never the test split (the CLI draws it so).
import { copyParameters, type Module } from '@repirl/autograd';
import { s, type Infer, type OnlineRewardModel, type RolloutBatch, type TaskCodec, type TrainingCheckpoint } from '@repirl/rl';
import { evaluatePrm, type EvalSet } from '../eval/evaluate.js';
import type { ProcessRewardModel } from '../models/prm.js';

/** The metric 'auto' picks: position-controlled step AUROC with step labels, else response AUROC of the min aggregation. */
export const PRM_VALIDATION_METRICS = ['auto', 'step_auroc_position_controlled/sum', 'step_auroc/sum', 'step_auroc_local/sum', 'step_auroc_position_controlled/mean', 'response_auroc/min', 'response_auroc/mean'] as const;
export type PrmValidationMetric = (typeof PRM_VALIDATION_METRICS)[number];

export const prmValidationSchema = s.object("the PRM's own validation at the policy's validation points (rl.validation.every): a fixed set of samples of the starting policy on validation problems", {
  problems: s.integer('validation problems the set samples (0: no PRM validation)', { default: 0, min: 0 }),
  samplesPerProblem: s.integer('samples per validation problem', { default: 8, min: 1, max: 1024 }),
  metric: s.enum("what 'best' means ('auto': step_auroc_position_controlled/sum where the samples have step labels, else response_auroc/min)", PRM_VALIDATION_METRICS, { default: 'auto' }),
  keepBest: s.boolean('end with the PRM of the best validation (kept in memory and in checkpoints), not the last', { default: true }),
  patience: s.integer('end the run after this many validations in a row without improvement (0: never end early)', { default: 0, min: 0 }),
  minDelta: s.number('the least rise of the metric that counts as an improvement', { default: 0, min: 0 }),
});
export type PrmValidationConfig = Infer<typeof prmValidationSchema>;

/** The PRM a learner trains, with what the wrapper needs of it. */
type ValidatedPrm = ProcessRewardModel & Module<unknown>;

/** An online learner: the reward model the trainer drives, holding the PRM it trains. */
export interface OnlineLearner extends OnlineRewardModel {
  readonly prm: ValidatedPrm;
}

/** The learner as a reward model with validation, best-PRM keeping and early stopping (see the file comment). */
export class ValidatedRewardModel implements OnlineRewardModel {
  readonly metric: Exclude<PrmValidationMetric, 'auto'>;
  private best: { step: number; value: number } | null = null;
  private sinceBest = 0;
  private bestWeights: ValidatedPrm | null = null;

  private constructor(
    readonly learner: OnlineLearner,
    private readonly set: EvalSet,
    private readonly config: PrmValidationConfig,
    private readonly codec: TaskCodec,
  ) {
    const labelled = set.samples.every((x) => x.labels !== null);
    const metric = config.metric === 'auto' ? (labelled ? 'step_auroc_position_controlled/sum' : 'response_auroc/min') : config.metric;
    if (metric.startsWith('step_') && !labelled) {
      throw new Error(`prm.validation.metric "${metric}" needs step labels, which the validation samples do not have (problems from a file); use "response_auroc/min" or "auto"`);
    }
    this.metric = metric;
  }

  static async create(learner: OnlineLearner, set: EvalSet, config: PrmValidationConfig, codec: TaskCodec): Promise<ValidatedRewardModel> {
    if (set.samples.length === 0) throw new Error('withPrmValidation: the validation set has no samples');
    const model = new ValidatedRewardModel(learner, set, config, codec);
    if (config.keepBest) model.bestWeights = await learner.prm.copy({ frozen: true });
    return model;
  }

  /** The best validation so far (null before the first). */
  get bestValidation(): { step: number; value: number } | null {
    return this.best;
  }

  score(batch: RolloutBatch, step: number) {
    return this.learner.score(batch, step);
  }

  async validate(step: number): Promise<Record<string, number>> {
    const report = await evaluatePrm(this.learner.prm, this.set, { codec: this.codec, ns: [], bootstrap: false, seed: step });
    const value = report.metrics[`prm_eval/${this.metric}`];
    const out: Record<string, number> = {};
    for (const [key, v] of Object.entries(report.metrics)) {
      if (/^prm_eval\/(step_auroc|response_auroc)/.test(key) && !key.includes('baseline')) out[`val/prm/${key.slice('prm_eval/'.length)}`] = v;
    }
    if (value !== undefined && Number.isFinite(value) && (this.best === null || value > this.best.value + this.config.minDelta)) {
      this.best = { step, value };
      this.sinceBest = 0;
      if (this.bestWeights) copyParameters(this.learner.prm.parameters(), this.bestWeights.parameters());
    } else {
      this.sinceBest++;
    }
    out['val/prm/best'] = this.best?.value ?? Number.NaN;
    out['val/prm/best_step'] = this.best?.step ?? Number.NaN;
    return out;
  }

  converged(): boolean {
    return this.config.patience > 0 && this.best !== null && this.sinceBest >= this.config.patience;
  }

  /** With keepBest, writes the best validation's weights into the learner's PRM (call it after the run). Returns the best validation. */
  finish(): { step: number; value: number } | null {
    if (this.bestWeights && this.best !== null) copyParameters(this.bestWeights.parameters(), this.learner.prm.parameters());
    return this.best;
  }

  checkpointContent(): TrainingCheckpoint {
    const inner = this.learner.checkpointContent();
    return {
      models: { ...inner.models, ...(this.bestWeights ? { 'prm-best': this.bestWeights } : {}) },
      optimizers: inner.optimizers,
      state: { ...inner.state, prmValidation: { best: this.best, sinceBest: this.sinceBest } },
    };
  }

  restoreState(state: Record<string, unknown>): void {
    const { prmValidation, ...rest } = state as { prmValidation?: { best: { step: number; value: number } | null; sinceBest: number } };
    this.learner.restoreState(rest);
    this.best = prmValidation?.best ?? null;
    this.sinceBest = prmValidation?.sinceBest ?? 0;
  }

  /** Frees the kept best weights (the learner is freed by its owner). */
  dispose(): void {
    this.bestWeights?.dispose();
    this.bestWeights = null;
  }
}

