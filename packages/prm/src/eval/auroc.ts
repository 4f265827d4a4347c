// Area under the ROC curve: how well a score separates positives (label true: a correct step or
// a correct response) from negatives. Higher scores should mean "more likely correct".
//
//   AUROC = P(score of a random positive > score of a random negative) + ½·P(tie)
//         = U / (P·N),   U = Σ_{positives} rank − P(P+1)/2   (Mann–Whitney U)
//
// with ranks ascending and tied scores given their average rank, which is exactly the ½ for ties.
// 1 = perfect separation, 0.5 = chance (or all scores equal), 0 = perfectly inverted.
//
// When one class is empty the AUROC is undefined: we return value NaN with a `reason` rather than
// throw, so an evaluation over many runs can report "undefined" for one of them and go on.
// Malformed input (length mismatch, non-finite scores, non-boolean labels) throws.
import { averageRanks, checkFinite } from './ranks.js';

export interface AurocResult {
  /** AUROC in [0, 1], or NaN when there are no positives or no negatives. */
  value: number;
  positives: number;
  negatives: number;
  /** Why `value` is NaN; absent when it is defined. */
  reason?: string;
}

export function auroc(scores: readonly number[], labels: readonly boolean[]): AurocResult {
  if (scores.length !== labels.length) {
    throw new Error(`auroc: ${scores.length} scores but ${labels.length} labels; they must be parallel`);
  }
  checkFinite('auroc', 'scores', scores);
  labels.forEach((l, i) => {
    if (typeof l !== 'boolean') throw new Error(`auroc: labels[${i}] must be a boolean, got ${String(l)}`);
  });
  const positives = labels.filter((l) => l).length;
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) {
    const missing = positives === 0 ? 'positive (true)' : 'negative (false)';
    return { value: NaN, positives, negatives, reason: `AUROC is undefined: no ${missing} labels among ${labels.length}` };
  }
  const ranks = averageRanks(scores);
  let rankSum = 0;
  labels.forEach((l, i) => {
    if (l) rankSum += ranks[i]!;
  });
  const u = rankSum - (positives * (positives + 1)) / 2;
  return { value: u / (positives * negatives), positives, negatives };
}

/** One scored response with its exact per-step labels (true = the step is correct). */
export interface StepScoredSample {
  stepScores: readonly number[];
  stepLabels: readonly boolean[];
}

/** Step-level AUROC: every step of every sample pooled into one AUROC. */
export function stepAuroc(samples: readonly StepScoredSample[]): AurocResult {
  const scores: number[] = [];
  const labels: boolean[] = [];
  samples.forEach((s, i) => {
    if (s.stepScores.length !== s.stepLabels.length) {
      throw new Error(`stepAuroc: sample ${i} has ${s.stepScores.length} step scores but ${s.stepLabels.length} step labels`);
    }
    scores.push(...s.stepScores);
    labels.push(...s.stepLabels);
  });
  return auroc(scores, labels);
}

/** Response-level AUROC: one score per response (e.g. an aggregated PRM score) against correctness. */
export function responseAuroc(samples: readonly { score: number; correct: boolean }[]): AurocResult {
  return auroc(
    samples.map((s) => s.score),
    samples.map((s) => s.correct),
  );
}
