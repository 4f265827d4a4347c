// `prm eval`: how well a PRM scores steps and picks answers, on held-out policy samples whose
// every step has an exact label (the tasks know the truth of each line).
//
//   1. sampleEvalSet   M samples per held-out problem from the policy (one seeded rollout), each
//                      with its verdict and its exact local/global step labels (task.stepLabels).
//                      Problems without exact step labels (read from a file: only the answer is
//                      known) give samples with labels null: then only the outcome metrics
//                      (policy_acc, response_auroc, bo<n>) are computed, every step metric is absent.
//   2. evaluatePrm     the PRM's token rewards on them, aggregated per step, then every metric below,
//                      each with a bootstrap interval over problems.
//
// Step scores. A step is one non-blank line (the `#### a` answer line included); its span is the
// token after the previous step's end up to its own end token (models/prm.ts). Two aggregations:
//   sum   Σ_{t in span} r_t     (the PRM's step score as trained/used; what `stepScores` holds)
//   mean  sum / |span|          (per-token: takes length out of a summed score)
// For models that put one number on each step's end token (ORM, Math-Shepherd, AIRL-S's step head)
// the sum is that number and the mean divides it by the step's length, so for them `sum` is the
// meaningful one and `mean` mixes in length; for token-level PRMs (rePIRL, PRIME) both are meaningful.
// ORMs (OutcomeHeadPrm read 'last') are scored as PRMs: their head is read at every step end
// (`ormRead` 'every-step', the default), so step k's score is P(correct | prefix up to step k), as the
// implicit-PRM paper scores its ORM baselines; `report.read` says which read was used.
//
// Metrics (`prm_eval/` names; AUROC = P(score of a positive > a negative) + ½ P(tie), positives =
// correct steps / responses; NaN where a class is missing). <s> is a step scorer: `sum`, `mean`,
// `baseline-position` (score = −step index) or `baseline-length` (score = sign × step tokens, sign =
// `baseline_length_sign`, +1 when longer steps score higher, chosen once as the better orientation
// on the pooled AUROC — in the baseline's favour).
//
//   samples, problems            counts (no interval).
//   policy_acc                   fraction of samples whose final answer is right.
//   step_auroc/<s>               every step of every sample pooled, global labels (global[k]: the
//                                state after step k is the true one). Confounded: errors carry
//                                forward, so late steps are wrong more often (position), and the
//                                answer line's label is the outcome.
//   step_auroc, step_auroc_local the same as step_auroc/sum and step_auroc_local/sum (kept names).
//   step_auroc_local/<s>         pooled against local labels (local[k]: step k is right from the
//                                state the response itself had written). Controls for error
//                                propagation: a PRM that only tracks "has gone wrong somewhere"
//                                loses here.
//   step_auroc_no_answer/<s>     pooled global, the answer lines (`####…`) left out. Controls for
//                                outcome knowledge: an ORM-like scorer is good on the answer line only.
//   step_auroc_pos<k>/<s>        (s = sum, mean) only the k-th step (1-based) of each sample having one.
//   step_auroc_position_controlled/<s>  unweighted mean of the defined pos<k> AUROCs (the positions
//                                with both classes): position carries no signal inside a pos<k>.
//                                For baseline-position it is 0.5 by construction.
//   response_auroc/<agg>         one score per response (agg = min, product, last, mean, sum of the
//                                summed step scores; product on σ(score) when scores leave [0, 1],
//                                see `product`) against correctness.
//   first_error_f1               ProcessBench F1 (harmonic mean of "finds the first wrong step" on
//                                erroneous samples and "accepts every step" on all-correct ones),
//                                threshold cross-fitted over two halves of the problems (chosen on
//                                one half, scored on the other); first_error_f1_oracle and
//                                first_error_threshold: the in-sample best threshold and its F1.
//   bo<n>/<agg>                  best-of-n accuracy picking the argmax of the aggregated score,
//                                estimated without bias from the M-sample pool (search/best-of-n.ts).
//   bo<n>/majority               majority vote over the n answers.
//   bo<n>/weighted               (kept name) Σ exp(mean step score), τ = 1 fixed.
//   bo<n>/weighted/official      Σ exp(mean token reward / τ): rePIRL's released vote; τ from the
//                                grid (`temperatures`) chosen on the other half of the problems
//                                (two-fold cross-fitting, as first_error_f1): never on the problems
//                                it is scored on. bo<n>/weighted/official/tau<f>: the τ used on half f.
//   bo<n>/weighted/step-mean     Σ exp(mean step score / τ), τ chosen the same way (ours).
//   diff/…                       paired differences on the same problems (value = a − b):
//                                diff/bo<n>/<method>-minus-majority (weighted-official, weighted-step-mean,
//                                min, last) and diff/<step variant>/<sum|mean>-minus-baseline-<position|length>;
//                                …/separated = 1 when the interval excludes 0, else 0.
//
// Intervals. Every metric m above except the counts, the signs and the τs has m/lo and m/hi: the
// 95% percentile bootstrap over problems (resample the P problems with replacement, B = 1000,
// seeded; eval/bootstrap.ts), every metric on the same replicates so differences are paired.
// Choices made on the data are held fixed in the replicates for the vote τs and the length
// baseline's sign, so those intervals are slightly narrow; the F1 thresholds are re-chosen in
// every replicate (among the full data's candidate thresholds, first-error.ts WeightedFirstError).
import { deriveSeed, rollout, type Problem, type StepLabels, type Task, type TaskCodec } from '@repirl/rl';
import type { DecoderLM } from '@repirl/autograd';
import { scoreSamples, type ProcessRewardModel } from '../models/prm.js';
import { OutcomeHeadPrm } from '../models/outcome-head.js';
import {
  DEFAULT_TEMPERATURES, bestOfNAccuracy, crossFittedWeightedVote, type BestOfNProblem, type Candidate, type SelectionMethod, type WeightedVoteForm,
} from '../search/best-of-n.js';
import { aggregateSteps, type Aggregation } from './aggregate.js';
import {
  intervalOver, pairedDifferenceOver, problemMean, problemRatio, resampleProblems, type BootstrapInterval, type BootstrapOptions, type DifferenceInterval,
  type ProblemWeights, type WeightedStatistic,
} from './bootstrap.js';
import { WeightedFirstError, type FirstErrorSample } from './first-error.js';
import { GroupedAuroc, STEP_AUROC_VARIANTS, baselineScores, stepAurocStatistics, stepSumsAndMeans, type StepMetricSample } from './step-metrics.js';

/** One held-out policy sample with its exact labels. */
export interface LabelledSample {
  /** Index into the eval set's problems. */
  problem: number;
  promptIds: number[];
  responseIds: number[];
  response: string;
  /** The final answer it wrote (null when none). */
  answer: string | null;
  correct: boolean;
  /** Exact step labels, or null when the problems have none (problems from a file). */
  labels: StepLabels | null;
}

export interface EvalSet {
  problems: Problem[];
  /** samplesPerProblem samples of problem 0, then of problem 1, … */
  samples: LabelledSample[];
  samplesPerProblem: number;
}

export interface SampleEvalSetOptions {
  /** The verifier, and the exact step labeller when the problems have one (a task family; without it every sample's labels are null). */
  task: Pick<Task, 'verify'> & Partial<Pick<Task, 'stepLabels'>>;
  codec: TaskCodec;
  /** M: samples per problem; the largest best-of-N is M. */
  samplesPerProblem: number;
  maxNewTokens: number;
  temperature?: number;
  seed: number;
  /** Sequences per generate() call (0 = all). */
  batchSize?: number;
}

/** Draws the held-out samples and labels every step of each. */
export async function sampleEvalSet(policy: DecoderLM, problems: readonly Problem[], options: SampleEvalSetOptions): Promise<EvalSet> {
  if (problems.length === 0) throw new Error('sampleEvalSet: no problems');
  const { task, codec } = options;
  const batch = await rollout(policy, problems, {
    k: options.samplesPerProblem,
    maxNewTokens: options.maxNewTokens,
    temperature: options.temperature ?? 1,
    seed: deriveSeed(options.seed, 'prm-eval'),
    codec,
    verify: (p, r) => task.verify(p, r),
    batchSize: options.batchSize ?? 0,
  });
  const samples = batch.samples.map((s) => ({
    problem: s.group,
    promptIds: s.promptIds,
    responseIds: s.responseIds,
    response: s.response,
    answer: s.verdict.parsedAnswer,
    correct: s.verdict.correct,
    labels: task.stepLabels === undefined ? null : task.stepLabels(s.problem, s.response),
  }));
  return { problems: [...problems], samples, samplesPerProblem: options.samplesPerProblem };
}

export interface EvaluatePrmOptions {
  codec: TaskCodec;
  /** Best-of-N sizes (each ≤ samplesPerProblem); default [4, 16, 64] cut to the pool size. */
  ns?: readonly number[];
  /** Random N-subsets per problem for the best-of-N estimate (default 256). */
  subsets?: number;
  seed?: number;
  /** Sequences per PRM forward pass (default 32). */
  batchSize?: number;
  /** Bootstrap over problems: B (default 1000), seed (default `seed`), level (0.95); false = no intervals. */
  bootstrap?: BootstrapOptions | false;
  /** τ grid of the weighted votes (default DEFAULT_TEMPERATURES of search/best-of-n.ts). */
  temperatures?: readonly number[];
  /** Where an ORM (OutcomeHeadPrm read 'last') is read: at every step end (default) or only at the last token. */
  ormRead?: 'last' | 'every-step';
}

export const REPORTED_AGGREGATIONS = ['min', 'product', 'last', 'mean', 'sum'] as const;
export type ReportedAggregation = (typeof REPORTED_AGGREGATIONS)[number];

/** The step scorers of the step AUROC variants (see the file comment). */
export const STEP_SCORERS = ['sum', 'mean', 'baseline-position', 'baseline-length'] as const;

export interface PrmEvalReport {
  /** Flat metrics with `prm_eval/` names, for metrics.jsonl and tables; `…/lo`, `…/hi` are their intervals. */
  metrics: Record<string, number>;
  /** 'product' or 'product-sigmoid': what the 'product' entries were computed with. */
  product: Aggregation;
  /** Per-sample step scores, sums of token rewards (same order as the eval set), for plots and further analysis. */
  stepScores: number[][];
  /** Per-sample step scores, means of token rewards over each step's span. */
  stepMeans: number[][];
  /** The bootstrap interval of each metric that has one (empty without bootstrap). */
  intervals: Record<string, BootstrapInterval>;
  /** The paired differences (`prm_eval/diff/…`) with their intervals. */
  differences: Record<string, DifferenceInterval>;
  /** For an ORM: where its head was read ('every-step' or 'last'); absent for other PRMs. */
  read?: 'last' | 'every-step';
}

/** Scores samples with the PRM; an ORM is read at `ormRead` for the duration. */
async function scoreForEval(prm: ProcessRewardModel, set: EvalSet, options: EvaluatePrmOptions) {
  const orm = prm instanceof OutcomeHeadPrm && prm.config.read === 'last' ? prm : null;
  const read = options.ormRead ?? 'every-step';
  const before = orm?.scoreRead;
  if (orm !== null) orm.scoreRead = read;
  try {
    const scored = await scoreSamples(prm, set.samples, options.codec, options.batchSize ?? 32);
    return { scored, read: orm === null ? undefined : read };
  } finally {
    if (orm !== null) orm.scoreRead = before;
  }
}

/**
 * First-error F1 (cross-fitted and in-sample) as weighted statistics: a replicate counts problem
 * p's samples w_p times and re-chooses the thresholds (WeightedFirstError, on the candidates of
 * the full data). The three share one computation per weights object.
 */
function firstErrorStatistics(fe: readonly (FirstErrorSample & { problem: number })[]) {
  const halfIdx = [0, 1].map((h) => fe.filter((x) => x.problem % 2 === h));
  const halves = halfIdx.map((xs) => new WeightedFirstError(xs, xs.map((x) => x.problem)));
  const all = new WeightedFirstError(fe, fe.map((x) => x.problem));
  const size = (xs: readonly { problem: number }[], w: ProblemWeights) => xs.reduce((a, x) => a + w[x.problem]!, 0);
  const cache = new WeakMap<ProblemWeights, { f1: number; oracle: number; threshold: number }>();
  const compute = (w: ProblemWeights) => {
    const hit = cache.get(w);
    if (hit !== undefined) return hit;
    let f1 = NaN;
    if (halves.every((h) => h.calibratable(w))) {
      // Each half scored at the other half's best threshold; the two F1s weighted by half size.
      const f1s = halves.map((h, k) => h.f1At(halves[1 - k]!.best(w).threshold, w).f1);
      const sizes = halfIdx.map((xs) => size(xs, w));
      f1 = (f1s[0]! * sizes[0]! + f1s[1]! * sizes[1]!) / (sizes[0]! + sizes[1]!);
    }
    const oracle = all.calibratable(w) ? all.best(w) : { f1: NaN, threshold: NaN };
    const out = { f1, oracle: oracle.f1, threshold: oracle.threshold };
    cache.set(w, out);
    return out;
  };
  return {
    first_error_f1: (w: ProblemWeights) => compute(w).f1,
    first_error_f1_oracle: (w: ProblemWeights) => compute(w).oracle,
    first_error_threshold: (w: ProblemWeights) => compute(w).threshold,
  };
}

/** Scores the eval set with the PRM and computes every metric of the file comment. */
export async function evaluatePrm(prm: ProcessRewardModel, set: EvalSet, options: EvaluatePrmOptions): Promise<PrmEvalReport> {
  const { samples } = set;
  if (samples.length === 0) throw new Error('evaluatePrm: the eval set has no samples');
  const { scored, read } = await scoreForEval(prm, set, options);
  const stepScores = scored.map((s) => s.steps);
  // Step metrics need every sample's exact labels; without any (problems from a file) only the outcome metrics are computed.
  const labelled = samples.every((s) => s.labels !== null);
  if (!labelled && samples.some((s) => s.labels !== null)) throw new Error('evaluatePrm: some samples have step labels and some have none; label all or none');
  samples.forEach((s, i) => {
    if (s.labels !== null && stepScores[i]!.length !== s.labels.steps.length) {
      throw new Error(`evaluatePrm: sample ${i} has ${stepScores[i]!.length} scored steps but ${s.labels.steps.length} labelled steps (tokenizer and step split disagree)`);
    }
  });
  const split = scored.map((s) => stepSumsAndMeans(s.tokens, s.stepEnds));
  const stepMeans = split.map((x) => x.mean);
  const P = set.problems.length;
  const m = set.samplesPerProblem;
  const seed = options.seed ?? 0;
  const subsets = options.subsets ?? 256;

  /** Every metric with an interval, as a weighted statistic; `fixed` ones are reported without. */
  const stats: Record<string, WeightedStatistic> = {};
  const fixed: Record<string, number> = {};
  const diffs: Record<string, [WeightedStatistic, WeightedStatistic]> = {};
  fixed['prm_eval/samples'] = samples.length;
  fixed['prm_eval/problems'] = P;

  const correctPer = new Array<number>(P).fill(0);
  const samplesPer = new Array<number>(P).fill(0);
  samples.forEach((s) => {
    samplesPer[s.problem]! += 1;
    if (s.correct) correctPer[s.problem]! += 1;
  });
  stats['prm_eval/policy_acc'] = problemRatio(correctPer, samplesPer);

  // Step AUROC variants for the PRM's sums and means and for the two baselines.
  if (labelled) {
    const stepSamples: StepMetricSample[] = samples.map((s, i) => ({ problem: s.problem, labels: s.labels!, stepTokens: split[i]!.tokens }));
    const baselines = baselineScores(stepSamples);
    fixed['prm_eval/baseline_length_sign'] = baselines.lengthSign;
    const scorerRows: Record<(typeof STEP_SCORERS)[number], number[][]> = {
      sum: stepScores, mean: stepMeans, 'baseline-position': baselines.position, 'baseline-length': baselines.length,
    };
    for (const name of STEP_SCORERS) {
      const perPosition = name === 'sum' || name === 'mean';
      for (const [key, f] of Object.entries(stepAurocStatistics(stepSamples, scorerRows[name], name, { perPosition }))) stats[`prm_eval/${key}`] = f;
    }
    stats['prm_eval/step_auroc'] = stats['prm_eval/step_auroc/sum']!;
    stats['prm_eval/step_auroc_local'] = stats['prm_eval/step_auroc_local/sum']!;
    for (const variant of STEP_AUROC_VARIANTS) {
      for (const agg of ['sum', 'mean']) {
        for (const base of ['position', 'length']) {
          diffs[`prm_eval/diff/${variant}/${agg}-minus-baseline-${base}`] = [stats[`prm_eval/${variant}/${agg}`]!, stats[`prm_eval/${variant}/baseline-${base}`]!];
        }
      }
    }
  }

  const all = stepScores.flat();
  const product: Aggregation = all.every((v) => v >= 0 && v <= 1) ? 'product' : 'product-sigmoid';
  const aggregationOf = (name: ReportedAggregation): Aggregation => (name === 'product' ? product : name);

  // Response AUROC per aggregation (samples without steps are left out: they cannot be aggregated).
  const withSteps = samples.map((s, i) => ({ s, scores: stepScores[i]! })).filter((x) => x.scores.length > 0);
  for (const name of REPORTED_AGGREGATIONS) {
    const a = new GroupedAuroc(withSteps.map((x) => aggregateSteps(x.scores, aggregationOf(name))), withSteps.map((x) => x.s.correct), withSteps.map((x) => x.s.problem));
    stats[`prm_eval/response_auroc/${name}`] = (w) => a.value(w);
  }

  // First-error F1, threshold cross-fitted over two halves of the problems (by index parity). F1
  // needs erroneous and all-correct samples in each split where a threshold is chosen; without
  // them it is NaN.
  if (labelled) {
    const fe = samples.map((s, i) => ({ stepScores: stepScores[i]!, firstError: s.labels!.firstError, problem: s.problem }));
    for (const [key, f] of Object.entries(firstErrorStatistics(fe))) stats[`prm_eval/${key}`] = f;
  }

  // Best-of-N: per-problem accuracies, so a replicate is a weighted mean over problems.
  const ns = (options.ns ?? [4, 16, 64]).filter((n) => n <= m);
  const pools: Candidate[][] = set.problems.map(() => []);
  samples.forEach((s, i) => {
    const tokens = scored[i]!.tokens;
    const meanTokenReward = tokens.length === 0 ? 0 : tokens.reduce((a, b) => a + b, 0) / tokens.length;
    pools[s.problem]!.push({ answer: s.answer, stepScores: stepScores[i]!, meanTokenReward });
  });
  const problems: BestOfNProblem[] = set.problems.map((p, pi) => ({ correctAnswer: p.answer, candidates: pools[pi]! }));
  const methods: { key: string; method: SelectionMethod }[] = [
    ...REPORTED_AGGREGATIONS.map((name) => ({ key: name, method: aggregationOf(name) as SelectionMethod })),
    { key: 'weighted', method: 'weighted-exp' },
    { key: 'majority', method: 'majority' },
  ];
  const folds = set.problems.map((_, pi) => (pi % 2) as 0 | 1);
  for (const n of ns) {
    for (const { key, method } of methods) {
      stats[`prm_eval/bo${n}/${key}`] = problemMean(bestOfNAccuracy(problems, { n, method, subsets, seed }).perProblem);
    }
    for (const form of ['official', 'step-mean'] as WeightedVoteForm[]) {
      const name = `prm_eval/bo${n}/weighted/${form}`;
      if (P < 2) {
        stats[name] = () => NaN;
        continue;
      }
      const r = crossFittedWeightedVote(problems, folds, { n, form, temperatures: options.temperatures ?? DEFAULT_TEMPERATURES, subsets, seed });
      stats[name] = problemMean(r.perProblem);
      fixed[`${name}/tau0`] = r.temperatures[0];
      fixed[`${name}/tau1`] = r.temperatures[1];
    }
    for (const key of ['weighted/official', 'weighted/step-mean', 'min', 'last']) {
      diffs[`prm_eval/diff/bo${n}/${key.replace('/', '-')}-minus-majority`] = [stats[`prm_eval/bo${n}/${key}`]!, stats[`prm_eval/bo${n}/majority`]!];
    }
  }

  // Values, then the intervals on one shared set of replicates.
  const ones = new Float64Array(P).fill(1);
  const metrics: Record<string, number> = { ...fixed };
  for (const [key, f] of Object.entries(stats)) metrics[key] = f(ones);
  for (const [key, [a, b]] of Object.entries(diffs)) metrics[key] = a(ones) - b(ones);
  const intervals: Record<string, BootstrapInterval> = {};
  const differences: Record<string, DifferenceInterval> = {};
  if (options.bootstrap !== false) {
    const b = options.bootstrap ?? {};
    const level = b.level ?? 0.95;
    const replicates = resampleProblems(P, { resamples: b.resamples ?? 1000, seed: b.seed ?? seed });
    for (const [key, f] of Object.entries(stats)) {
      const r = intervalOver(f, replicates, level);
      intervals[key] = r;
      metrics[`${key}/lo`] = r.lo;
      metrics[`${key}/hi`] = r.hi;
    }
    for (const [key, [fa, fb]] of Object.entries(diffs)) {
      const r = pairedDifferenceOver(fa, fb, replicates, level);
      differences[key] = r;
      metrics[`${key}/lo`] = r.lo;
      metrics[`${key}/hi`] = r.hi;
      metrics[`${key}/separated`] = r.separated ? 1 : 0;
    }
  }
  return { metrics, product, stepScores, stepMeans, intervals, differences, ...(read === undefined ? {} : { read }) };
}
