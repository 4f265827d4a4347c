// `prm eval`: how well a PRM scores steps and picks answers, on held-out policy samples whose
// every step has an exact label (the tasks know the truth of each line).
//
//   1. sampleEvalSet   M samples per held-out problem from the policy (one seeded rollout), each
//                      with its verdict and its exact local/global step labels (task.stepLabels).
//   2. evaluatePrm     the PRM's step scores (sums of token rewards within each step) on them, then
//      - step AUROC against the global labels (and against the local ones),
//      - response AUROC of each aggregation against correctness,
//      - first-error F1 (ProcessBench: harmonic mean of "finds the first wrong step" on erroneous
//        samples and "accepts every step" on all-correct ones) with the threshold calibrated by
//        two-fold cross-fitting over problems: the threshold chosen on one half is scored on the
//        other, so the number is not an oracle's. The oracle (in-sample) value is reported beside it.
//      - best-of-N accuracy for each aggregation, PRM-weighted vote and majority vote at each N,
//        estimated without bias from the M-sample pool (search/best-of-n.ts).
// 'product' needs probabilities: for PRMs whose step scores leave [0, 1] it is computed on
// σ(score) ('product-sigmoid'), and the report says which it used.
import { deriveSeed, rollout, type Problem, type StepLabels, type Task, type TaskCodec } from '@repirl/rl';
import type { DecoderLM } from '@repirl/autograd';
import { scoreSamples, type ProcessRewardModel } from '../models/prm.js';
import { bestOfNAccuracy, type Candidate, type SelectionMethod } from '../search/best-of-n.js';
import { aggregateSteps, type Aggregation } from './aggregate.js';
import { responseAuroc, stepAuroc } from './auroc.js';
import { bestThreshold, firstErrorF1 } from './first-error.js';

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
  labels: StepLabels;
}

export interface EvalSet {
  problems: Problem[];
  /** samplesPerProblem samples of problem 0, then of problem 1, … */
  samples: LabelledSample[];
  samplesPerProblem: number;
}

export interface SampleEvalSetOptions {
  task: Task;
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
    labels: task.stepLabels(s.problem, s.response),
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
}

export const REPORTED_AGGREGATIONS = ['min', 'product', 'last', 'mean', 'sum'] as const;
export type ReportedAggregation = (typeof REPORTED_AGGREGATIONS)[number];

export interface PrmEvalReport {
  /** Flat metrics with `prm_eval/` names, for metrics.jsonl and tables. */
  metrics: Record<string, number>;
  /** 'product' or 'product-sigmoid': what the 'product' entries were computed with. */
  product: Aggregation;
  /** Per-sample step scores (same order as the eval set), for plots and further analysis. */
  stepScores: number[][];
}

/** Scores the eval set with the PRM and computes every metric of the file comment. */
export async function evaluatePrm(prm: ProcessRewardModel, set: EvalSet, options: EvaluatePrmOptions): Promise<PrmEvalReport> {
  const { samples } = set;
  if (samples.length === 0) throw new Error('evaluatePrm: the eval set has no samples');
  const scored = await scoreSamples(prm, samples, options.codec, options.batchSize ?? 32);
  const stepScores = scored.map((s) => s.steps);
  samples.forEach((s, i) => {
    if (stepScores[i]!.length !== s.labels.steps.length) {
      throw new Error(`evaluatePrm: sample ${i} has ${stepScores[i]!.length} scored steps but ${s.labels.steps.length} labelled steps (tokenizer and step split disagree)`);
    }
  });
  const metrics: Record<string, number> = {};
  const m = set.samplesPerProblem;
  metrics['prm_eval/samples'] = samples.length;
  metrics['prm_eval/policy_acc'] = samples.filter((s) => s.correct).length / samples.length;

  // Step AUROC: every step of every sample pooled.
  metrics['prm_eval/step_auroc'] = stepAuroc(samples.map((s, i) => ({ stepScores: stepScores[i]!, stepLabels: s.labels.global }))).value;
  metrics['prm_eval/step_auroc_local'] = stepAuroc(samples.map((s, i) => ({ stepScores: stepScores[i]!, stepLabels: s.labels.local }))).value;

  const all = stepScores.flat();
  const product: Aggregation = all.every((v) => v >= 0 && v <= 1) ? 'product' : 'product-sigmoid';
  const aggregationOf = (name: ReportedAggregation): Aggregation => (name === 'product' ? product : name);

  // Response AUROC per aggregation (samples without steps are left out: they cannot be aggregated).
  const withSteps = samples.map((s, i) => ({ s, scores: stepScores[i]! })).filter((x) => x.scores.length > 0);
  for (const name of REPORTED_AGGREGATIONS) {
    metrics[`prm_eval/response_auroc/${name}`] = responseAuroc(withSteps.map((x) => ({ score: aggregateSteps(x.scores, aggregationOf(name)), correct: x.s.correct }))).value;
  }

  // First-error F1, threshold cross-fitted over two halves of the problems. F1 needs erroneous and
  // all-correct samples in each split where a threshold is chosen; without them it is NaN.
  const fe = samples.map((s, i) => ({ stepScores: stepScores[i]!, firstError: s.labels.firstError, half: s.problem % 2 }));
  const calibratable = (xs: typeof fe) => xs.some((x) => x.firstError >= 0) && xs.some((x) => x.firstError === -1);
  const halves = [fe.filter((x) => x.half === 0), fe.filter((x) => x.half === 1)];
  metrics['prm_eval/first_error_f1'] = Number.NaN;
  if (halves.every(calibratable)) {
    // Each half scored at the other half's best threshold; the two F1s weighted by half size.
    const f1s = halves.map((h, k) => firstErrorF1(h, bestThreshold(halves[1 - k]!).threshold).f1);
    metrics['prm_eval/first_error_f1'] = (f1s[0]! * halves[0]!.length + f1s[1]! * halves[1]!.length) / fe.length;
  }
  const oracle = calibratable(fe) ? bestThreshold(fe) : { f1: Number.NaN, threshold: Number.NaN };
  metrics['prm_eval/first_error_f1_oracle'] = oracle.f1;
  metrics['prm_eval/first_error_threshold'] = oracle.threshold;

  // Best-of-N.
  const ns = (options.ns ?? [4, 16, 64]).filter((n) => n <= m);
  const pools: Candidate[][] = set.problems.map(() => []);
  samples.forEach((s, i) => pools[s.problem]!.push({ answer: s.answer, stepScores: stepScores[i]! }));
  const problems = set.problems.map((p, pi) => ({ correctAnswer: p.answer, candidates: pools[pi]! }));
  const methods: { key: string; method: SelectionMethod }[] = [
    ...REPORTED_AGGREGATIONS.map((name) => ({ key: name, method: aggregationOf(name) as SelectionMethod })),
    { key: 'weighted', method: 'weighted-exp' },
    { key: 'majority', method: 'majority' },
  ];
  for (const n of ns) {
    for (const { key, method } of methods) {
      metrics[`prm_eval/bo${n}/${key}`] = bestOfNAccuracy(problems, { n, method, subsets: options.subsets ?? 256, seed: options.seed ?? 0 }).accuracy;
    }
  }
  return { metrics, product, stepScores };
}
