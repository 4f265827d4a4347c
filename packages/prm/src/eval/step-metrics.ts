// Step AUROC without the confounds (issue 15): the pooled step AUROC mixes what a PRM knows about
// a step with where the step is and how long it is. On the chain tasks a global error carries to
// every later step, so later steps are wrong more often and "−position" alone already separates
// the classes; the answer line is wrong exactly when the outcome is, so an outcome model scores
// it well without judging any step. The variants here hold those apart (definitions in
// eval/evaluate.ts's header):
//
//   pooled               every step of every sample, global labels (today's step AUROC);
//   local                the same against local labels (a step is wrong only if its own
//                        computation is wrong from the state the response had written);
//   no_answer            global labels, the answer line (`#### …`, answerPrefix) left out;
//   pos{k}               only the k-th step (1-based) of every sample that has one;
//   position_controlled  the unweighted mean of the pos{k} AUROCs that are defined (both classes
//                        present at position k), so position itself carries no signal.
//
// Two trivial scorers give each variant its floor: position-only (score = −step index) and
// length-only (score = ±the step's token count, the orientation chosen once on the pooled
// variant and kept — which favours the baseline, so beating it is harder, not easier).
//
// Everything is a weighted statistic over problems (eval/bootstrap.ts), so the same code gives the
// value (all weights 1) and every bootstrap replicate. GroupedAuroc sorts once and then computes
// the weighted Mann–Whitney U in one pass per replicate, with ties counted ½ as in auroc().
import { answerPrefix } from '@repirl/rl';
import { checkFinite } from './ranks.js';
import type { ProblemWeights, WeightedStatistic } from './bootstrap.js';

/**
 * AUROC of points that belong to groups (problems), as a function of per-group multiplicities:
 * value(w) is exactly auroc() of the multiset in which group g's points appear w_g times.
 */
export class GroupedAuroc {
  readonly size: number;
  private readonly label: Uint8Array;
  private readonly group: Int32Array;
  /** End (exclusive) of each run of tied scores, in ascending score order. */
  private readonly runEnds: Int32Array;

  constructor(scores: readonly number[], labels: readonly boolean[], groups: readonly number[]) {
    if (scores.length !== labels.length || scores.length !== groups.length) {
      throw new Error(`GroupedAuroc: ${scores.length} scores, ${labels.length} labels and ${groups.length} groups; they must be parallel`);
    }
    checkFinite('GroupedAuroc', 'scores', scores);
    const order = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
    this.size = scores.length;
    this.label = Uint8Array.from(order, (i) => (labels[i] ? 1 : 0));
    this.group = Int32Array.from(order, (i) => groups[i]!);
    const ends: number[] = [];
    for (let k = 1; k <= order.length; k++) {
      if (k === order.length || scores[order[k]!] !== scores[order[k - 1]!]) ends.push(k);
    }
    this.runEnds = Int32Array.from(ends);
  }

  /** Values already computed per weights object (a replicate's weights are shared by many metrics; do not mutate weights once used). */
  private readonly memo = new WeakMap<ProblemWeights, number>();

  /** The AUROC with group g's points counted weights[g] times (all once when omitted); NaN without both classes. */
  value(weights?: ProblemWeights): number {
    if (weights === undefined) return this.compute(undefined);
    let v = this.memo.get(weights);
    if (v === undefined) {
      v = this.compute(weights);
      this.memo.set(weights, v);
    }
    return v;
  }

  private compute(weights: ProblemWeights | undefined): number {
    let u = 0;
    let below = 0; // weighted negatives with a lower score
    let positives = 0;
    let start = 0;
    for (let r = 0; r < this.runEnds.length; r++) {
      const end = this.runEnds[r]!;
      let pos = 0;
      let neg = 0;
      for (let k = start; k < end; k++) {
        const w = weights === undefined ? 1 : weights[this.group[k]!]!;
        if (this.label[k] === 1) pos += w;
        else neg += w;
      }
      u += pos * (below + neg / 2);
      below += neg;
      positives += pos;
      start = end;
    }
    return positives === 0 || below === 0 ? NaN : u / (positives * below);
  }
}

/** One labelled sample as the step metrics need it. */
export interface StepMetricSample {
  /** Index of its problem (0 … problems − 1). */
  problem: number;
  /** The step texts (to find the answer line) and the exact labels, parallel to the scores. */
  labels: { steps: readonly string[]; local: readonly boolean[]; global: readonly boolean[] };
  /** Tokens in each step's span (the tokens its score sums over). */
  stepTokens: readonly number[];
}

/** Whether a step is the answer line (`#### …`, answered or not). */
export function isAnswerLine(step: string): boolean {
  return step.trim().startsWith(answerPrefix);
}

export const STEP_AUROC_VARIANTS = ['step_auroc', 'step_auroc_local', 'step_auroc_no_answer', 'step_auroc_position_controlled'] as const;
export type StepAurocVariant = (typeof STEP_AUROC_VARIANTS)[number];

export interface BaselineScores {
  /** −(step index), per sample and step. */
  position: number[][];
  /** lengthSign × (step token count), per sample and step. */
  length: number[][];
  /** +1: longer steps score higher; −1: shorter steps score higher (the better-oriented one on the pooled variant). */
  lengthSign: 1 | -1;
}

function checkSamples(fn: string, samples: readonly StepMetricSample[], scores?: readonly (readonly number[])[], name = 'scores'): void {
  samples.forEach((s, i) => {
    const k = s.labels.global.length;
    if (s.labels.local.length !== k || s.labels.steps.length !== k || s.stepTokens.length !== k) {
      throw new Error(`${fn}: sample ${i} has ${s.labels.steps.length} steps, ${s.labels.global.length} global labels, ${s.labels.local.length} local labels and ${s.stepTokens.length} step token counts; they must be parallel`);
    }
    if (!Number.isInteger(s.problem) || s.problem < 0) throw new Error(`${fn}: sample ${i} has problem ${s.problem}; it must be a non-negative integer`);
    if (scores !== undefined && scores[i]?.length !== k) throw new Error(`${fn}: sample ${i} has ${scores[i]?.length} ${name} but ${k} steps`);
  });
  if (scores !== undefined && scores.length !== samples.length) throw new Error(`${fn}: ${scores.length} rows of ${name} for ${samples.length} samples`);
}

/** The two trivial scorers: position-only and length-only (orientation chosen on the pooled global AUROC). */
export function baselineScores(samples: readonly StepMetricSample[]): BaselineScores {
  checkSamples('baselineScores', samples);
  const position = samples.map((s) => s.labels.global.map((_, k) => -k));
  const longer = samples.map((s) => s.stepTokens.map((t) => t));
  const pooled = new GroupedAuroc(longer.flat(), samples.flatMap((s) => s.labels.global), samples.flatMap((s) => s.labels.global.map(() => s.problem))).value();
  const lengthSign: 1 | -1 = Number.isNaN(pooled) || pooled >= 0.5 ? 1 : -1;
  return { position, length: longer.map((row) => row.map((t) => lengthSign * t)), lengthSign };
}

export interface StepMetricOptions {
  /** Also give `step_auroc_pos{k}/<name>` for every position k (default true). */
  perPosition?: boolean;
}

/**
 * The step AUROC variants of the file comment for one scorer, as weighted statistics over
 * problems, named `<variant>/<name>` (and `step_auroc_pos{k}/<name>` for k = 1 … the longest
 * response's step count).
 */
export function stepAurocStatistics(
  samples: readonly StepMetricSample[], scores: readonly (readonly number[])[], name: string, options: StepMetricOptions = {},
): Record<string, WeightedStatistic> {
  checkSamples('stepAurocStatistics', samples, scores, `scores of "${name}"`);
  const flat = { score: [] as number[], global: [] as boolean[], local: [] as boolean[], answer: [] as boolean[], position: [] as number[], problem: [] as number[] };
  samples.forEach((s, i) => {
    s.labels.global.forEach((g, k) => {
      flat.score.push(scores[i]![k]!);
      flat.global.push(g);
      flat.local.push(s.labels.local[k]!);
      flat.answer.push(isAnswerLine(s.labels.steps[k]!));
      flat.position.push(k);
      flat.problem.push(s.problem);
    });
  });
  const subset = (keep: (j: number) => boolean, labels: readonly boolean[]): GroupedAuroc => {
    const idx = flat.score.map((_, j) => j).filter(keep);
    return new GroupedAuroc(idx.map((j) => flat.score[j]!), idx.map((j) => labels[j]!), idx.map((j) => flat.problem[j]!));
  };
  const pooled = subset(() => true, flat.global);
  const local = subset(() => true, flat.local);
  const noAnswer = subset((j) => !flat.answer[j], flat.global);
  const positions = Math.max(0, ...samples.map((s) => s.labels.global.length));
  const perPosition = Array.from({ length: positions }, (_, k) => subset((j) => flat.position[j] === k, flat.global));
  const out: Record<string, WeightedStatistic> = {
    [`step_auroc/${name}`]: (w) => pooled.value(w),
    [`step_auroc_local/${name}`]: (w) => local.value(w),
    [`step_auroc_no_answer/${name}`]: (w) => noAnswer.value(w),
    [`step_auroc_position_controlled/${name}`]: (w) => positionControlled(perPosition, w),
  };
  if (options.perPosition ?? true) perPosition.forEach((a, k) => (out[`step_auroc_pos${k + 1}/${name}`] = (w) => a.value(w)));
  return out;
}

/** The unweighted mean of the per-position AUROCs that are defined under these weights (NaN when none is). */
export function positionControlled(perPosition: readonly GroupedAuroc[], weights?: ProblemWeights): number {
  let sum = 0;
  let count = 0;
  for (const a of perPosition) {
    const v = a.value(weights);
    if (Number.isNaN(v)) continue;
    sum += v;
    count++;
  }
  return count === 0 ? NaN : sum / count;
}

/**
 * Step scores from token rewards, aggregated two ways over each step's span (the token after the
 * previous step's end … this step's end, as models/prm.ts's stepScores): the sum, and the mean
 * (sum / tokens in the span), with the token counts.
 */
export function stepSumsAndMeans(tokenRewards: readonly number[], stepEnds: readonly number[]): { sum: number[]; mean: number[]; tokens: number[] } {
  const sum: number[] = [];
  const mean: number[] = [];
  const tokens: number[] = [];
  let start = 0;
  for (const end of stepEnds) {
    let s = 0;
    let n = 0;
    for (let t = start; t <= end && t < tokenRewards.length; t++) {
      s += tokenRewards[t]!;
      n++;
    }
    sum.push(s);
    mean.push(n === 0 ? 0 : s / n);
    tokens.push(n);
    start = end + 1;
  }
  return { sum, mean, tokens };
}
