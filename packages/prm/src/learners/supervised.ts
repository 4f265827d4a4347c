// The supervised PRM, the field's standard baseline (TRL's PRMTrainer; "Let's Verify Step by Step"'s
// PRM; the ProcessBench paper's PRM800K-trained PRM): a PRM trained directly on human or automatic
// step labels (data/step-labelled.ts: TRL's stepwise format, Math-Shepherd, PRM800K).
//
// Model: the step-end logit head on a copy of the policy's backbone (models/outcome-head.ts with
// read 'step-ends', the same head as Math-Shepherd's), so step scores are P(step correct) = σ(s_k).
// Each sample is prompt + its steps written in the codec's step layout (data/render.ts: one step
// per line by default, as TRL joins steps with its "\n" step separator) and the head is read at
// each step's end token, where TRL puts the step's label:
//   L = −mean_k[ y_k log σ(s_k) + (1 − y_k) log(1 − σ(s_k)) ]     (losses: 'supervised-step-bce')
// over every step of the mini-batch. TRL's PRMTrainer is a 2-way token classifier read at the
// separator token: softmax over {wrong, right} = σ(logit_right − logit_wrong), the same model.
// TRL's `train_on_last_step_only` has no equivalent here (every step is trained).
//
// Validation: a held-out share of the prompts (validation.fraction, by a hash of the normalised
// prompt, so the samples of one prompt — PRM800K's branches — fall on one side), or given
// samples, scored after every epoch (and before training) by step AUROC; with validation.keepBest
// the weights of the best epoch are restored at the end (the best checkpoint kept).
// Samples longer than the PRM's context are left out and counted.
import type { DecoderLM } from '@repirl/autograd';
import { TaskCodec, deriveSeed, normalisePrompt, resolveConfig, s, type DeepPartial, type Infer, type SequencePart } from '@repirl/rl';
import { encodeSteps, type StepSequence } from '../data/render.js';
import type { StepLabelledSample } from '../data/step-labelled.js';
import { stepAuroc } from '../eval/auroc.js';
import { PRM_LOSSES } from '../losses/index.js';
import { OutcomeHeadPrm } from '../models/outcome-head.js';
import { scoreSamples, stepEndTokens } from '../models/prm.js';
import { freezeBackboneSchema, offlineLoopFields, trainOffline } from './offline.js';
import type { OfflineResult } from './orm.js';

export const supervisedConfigSchema = s.object("the supervised PRM (TRL's PRMTrainer): a logit head read at each step's end, BCE on the step labels of a labelled file", {
  ...offlineLoopFields,
  freezeBackbone: freezeBackboneSchema(),
  validation: s.object('the held-out split scored by step AUROC after every epoch', {
    fraction: s.number('share of the prompts held out (by a hash of the prompt: every sample of a prompt on one side); 0 = none', { default: 0.1, min: 0, max: 0.9 }),
    keepBest: s.boolean('restore the weights of the epoch with the best validation step AUROC at the end (else keep the last epoch)', { default: true }),
  }),
});
export type SupervisedConfig = Infer<typeof supervisedConfigSchema>;
export type SupervisedConfigInput = DeepPartial<SupervisedConfig>;

/** Checks a supervised PRM config (errors name the key). */
export function resolveSupervisedConfig(input: SupervisedConfigInput | Record<string, unknown> = {}): SupervisedConfig {
  return resolveConfig<SupervisedConfig>(supervisedConfigSchema, { file: { value: input, name: 'the supervised PRM config' } });
}

/** Whether a prompt is in the held-out share `fraction` (a hash of its normalised text). */
export function isHeldOutPrompt(prompt: string, fraction: number): boolean {
  return fraction > 0 && deriveSeed(0, 'prm-supervised-validation', normalisePrompt(prompt)) / 2 ** 32 < fraction;
}

/** The samples of a labelled file split into train and validation by prompt (isHeldOutPrompt). */
export function splitByPrompt<T extends { prompt: string }>(samples: readonly T[], fraction: number): { train: T[]; validation: T[] } {
  const train: T[] = [];
  const validation: T[] = [];
  for (const x of samples) (isHeldOutPrompt(x.prompt, fraction) ? validation : train).push(x);
  return { train, validation };
}

/**
 * A labelled sample; with `tokens` (a policy's own rollout) the PRM trains on exactly those tokens,
 * else on the steps written by the codec's step rule (data/render.ts).
 */
export type SupervisedSample = StepLabelledSample & { tokens?: SequencePart };

export interface SupervisedTrainOptions {
  /** The backbone starts as a copy of this policy. */
  policy: DecoderLM;
  /** Labelled samples (all of them train when `validation` is given). */
  samples: readonly SupervisedSample[];
  /** Held-out samples; default: validation.fraction of the prompts of `samples`. */
  validation?: readonly SupervisedSample[];
  config?: SupervisedConfigInput;
  codec?: TaskCodec;
}

/** Validation step AUROC after an epoch (epoch -1: before training). */
export interface SupervisedValidation {
  epoch: number;
  stepAuroc: number;
}

export interface SupervisedResult extends OfflineResult<OutcomeHeadPrm> {
  config: SupervisedConfig;
  validation: SupervisedValidation[];
  /** The epoch whose weights the PRM holds (the best by validation AUROC, or the last). */
  keptEpoch: number;
  counts: { train: number; validation: number; trainSteps: number; validationSteps: number; tooLong: number };
}

/**
 * The tokens of a sample whose text is already encoded (a policy's rollout, labelled by its task):
 * its step ends as the PRM reads them, which must be one per label; null when longer than `maxLen`.
 */
function encodedSteps(tokens: SequencePart, steps: number, codec: TaskCodec, maxLen: number): StepSequence | null {
  if (tokens.promptIds.length + tokens.responseIds.length > maxLen) return null;
  const stepEnds = stepEndTokens(tokens.responseIds, codec);
  if (stepEnds.length !== steps) throw new Error(`trainSupervisedPrm: ${steps} labelled steps were read as ${stepEnds.length} from the sample's tokens`);
  return { promptIds: tokens.promptIds, responseIds: tokens.responseIds, stepEnds };
}

interface LabelledSequence extends StepSequence {
  labels: number[];
}

/** Trains the supervised PRM (see the file comment). */
export async function trainSupervisedPrm(options: SupervisedTrainOptions): Promise<SupervisedResult> {
  const config = resolveSupervisedConfig(options.config ?? {});
  const codec = options.codec ?? new TaskCodec();
  const split = options.validation !== undefined ? { train: [...options.samples], validation: [...options.validation] } : splitByPrompt(options.samples, config.validation.fraction);
  const maxLen = options.policy.config.maxSeqLen;
  let tooLong = 0;
  const encode = (set: readonly SupervisedSample[]): LabelledSequence[] => set.flatMap((x) => {
    if (x.labels.length !== x.steps.length) throw new Error(`trainSupervisedPrm: sample ${x.id} has ${x.steps.length} steps but ${x.labels.length} labels`);
    const seq = x.tokens === undefined ? encodeSteps(x.prompt, x.steps, codec, maxLen) : encodedSteps(x.tokens, x.steps.length, codec, maxLen);
    if (seq === null) {
      tooLong++;
      return [];
    }
    return [{ ...seq, labels: x.labels.map((l) => (l ? 1 : 0)) }];
  });
  const train = encode(split.train);
  const validation = encode(split.validation);
  if (train.length === 0) {
    throw new Error(`trainSupervisedPrm: no training sample left (${split.train.length} given, ${tooLong} longer than the policy's context of ${maxLen} tokens)`);
  }
  const prm = OutcomeHeadPrm.fromPolicy(options.policy, { read: 'step-ends', freezeBackbone: config.freezeBackbone, seed: config.seed });
  prm.codec = codec;
  try {
    const history: SupervisedValidation[] = [];
    let best: { auroc: number; epoch: number; weights: Awaited<ReturnType<OutcomeHeadPrm['stateDict']>> } | null = null;
    const validate = async (epoch: number) => {
      if (validation.length === 0) return;
      const scored = await scoreSamples(prm, validation, codec);
      const value = stepAuroc(scored.map((x, i) => ({ stepScores: x.steps, stepLabels: validation[i]!.labels.map((l) => l === 1) }))).value;
      history.push({ epoch, stepAuroc: value });
      if (epoch >= 0 && config.validation.keepBest && !Number.isNaN(value) && (best === null || value > best.auroc)) {
        best = { auroc: value, epoch, weights: await prm.stateDict() };
      }
    };
    await validate(-1);
    const metrics = await trainOffline(prm, train, (packed, part) => {
      const positions = prm.readPositions(packed);
      positions.forEach((ts, b) => {
        if (ts.length !== part[b]!.labels.length) throw new Error(`trainSupervisedPrm: a sequence has ${ts.length} step ends but ${part[b]!.labels.length} step labels`);
      });
      return PRM_LOSSES['supervised-step-bce'].fn({ stepScores: prm.logits(packed, positions), labels: part.flatMap((e) => e.labels) }).loss;
    }, config, codec.padId, validate);
    let keptEpoch = config.epochs - 1;
    const kept = best as { epoch: number; weights: Awaited<ReturnType<OutcomeHeadPrm['stateDict']>> } | null;
    if (kept !== null) {
      prm.loadStateDict(kept.weights);
      keptEpoch = kept.epoch;
    }
    const steps = (set: LabelledSequence[]) => set.reduce((n, x) => n + x.labels.length, 0);
    return {
      prm, metrics, config, validation: history, keptEpoch,
      counts: { train: train.length, validation: validation.length, trainSteps: steps(train), validationSteps: steps(validation), tooLong },
    };
  } catch (error) {
    prm.dispose();
    throw error;
  }
}
