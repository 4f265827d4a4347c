// Baseline reward-model losses (docs/research/papers.md "Baselines"), given the labels.
//
// ORM: one logit per response (a scalar head read at the last token), BCE on final-answer correctness:
//   L = −mean_b[ y_b log σ(s_b) + (1 − y_b) log(1 − σ(s_b)) ]
// Math-Shepherd: one logit per step (read at the step's end; with a 2-way {+, −} head, s = logit₊ − logit₋
// so that σ(s) = P(+)), BCE against Monte-Carlo step labels. From c_k of N completions of prefix y_{≤k}
// reaching the correct answer:
//   hard label y_k = 1[c_k > 0]   (some completion succeeds)     soft label y_k = c_k / N
//   L = −mean_k[ y_k log σ(s_k) + (1 − y_k) log(1 − σ(s_k)) ]
import type { Tensor } from '@repirl/autograd';
import { meanBceWithLogits } from './common.js';

export interface OrmInputs {
  /** Response logits s_b, [B]; gradients flow here. */
  scores: Tensor;
  /** 1 = correct final answer, 0 = wrong, [B]. */
  labels: ArrayLike<number>;
}

/** ORM: mean BCE of the response logits against correctness. */
export function ormBceLoss(inputs: OrmInputs): { loss: Tensor } {
  return { loss: meanBceWithLogits(inputs.scores, inputs.labels) };
}

export type ShepherdLabelMode = 'hard' | 'soft';
export const SHEPHERD_LABEL_MODES: readonly ShepherdLabelMode[] = ['hard', 'soft'];

/** Math-Shepherd step labels from Monte-Carlo counts: hard 1[c > 0], soft c / N. */
export function shepherdLabels(correct: ArrayLike<number>, completions: number, mode: ShepherdLabelMode): number[] {
  if (!(completions > 0)) throw new Error(`shepherdLabels: need at least one completion, got ${completions}`);
  return Array.from(correct, (c) => {
    if (!(c >= 0 && c <= completions)) throw new Error(`shepherdLabels: ${c} correct of ${completions}`);
    return mode === 'hard' ? (c > 0 ? 1 : 0) : c / completions;
  });
}

export interface ShepherdInputs {
  /** Step logits s_k at the step ends, [N] (all steps of all samples, flattened); gradients flow here. */
  stepScores: Tensor;
  /** Step labels in [0, 1], [N]: hard (0/1) or soft (fraction correct), e.g. from shepherdLabels. */
  labels: ArrayLike<number>;
}

/** Math-Shepherd: mean BCE of the step logits against the (hard or soft) Monte-Carlo labels. */
export function shepherdBceLoss(inputs: ShepherdInputs): { loss: Tensor } {
  return { loss: meanBceWithLogits(inputs.stepScores, inputs.labels) };
}
