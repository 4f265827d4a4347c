// The runners of `repirl prm train` and `repirl prm eval` on @repirl/prm's learners and evaluation.
// The config of `prm train` holds the learner's own sections (config/prm.ts), handed over as they are.
//
// prm train: loads the starting policy (`init`), builds the method's learner and runs it:
//   online (repirl, airl-s, prime): an RlTrainer whose OnlineRewardModel updates the PRM on each
//     step's rollouts before the policy update; PRM weights, optimizer and state are in every
//     checkpoint, so Ctrl-C and --resume work as for `repirl rl`;
//   offline (orm, shepherd, implicit-offline): one fixed rollout set of the starting policy, then
//     prm.epochs passes of the PRM's own training loop over it.
// Either way the run ends with the PRM evaluated on held-out samples of the *starting* policy
// (the same samples for every method of the same seed), written to prm_eval.json, and the final
// PRM saved as <run>/prm.{safetensors,json} (and in the last checkpoint).
//
// prm eval: the same evaluation for any saved PRM, on a fresh held-out set.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, type DecoderLM, type Module } from '@repirl/autograd';
import {
  createAirlTrainer, createPrimeTrainer, createRepirlTrainer, encodeSteps, epochLosses, evaluatePrm, loadPrm, outcomeSamples, sampleEvalSet, trainImplicitPrm, trainOrm,
  supervisedConfigSchema, trainShepherd, trainSupervisedPrm, type AirlTrainerOptions, type SupervisedSample, type EvalSet, type PrimeTrainerOptions, type PrmEvalReport, type PrmValidationConfig, type ProcessRewardModel,
  type OfflineRecord, type OutcomeSample, type RepirlTrainerOptions,
} from '@repirl/prm';
import {
  TaskCodec, deriveSeed, normaliseAnswer, only, rlTrainerSchema, rollout, saveModel, type CheckpointSink, type Problem, type RlConfig, type RlTrainer,
  type RolloutBatch, type StepLabels, type StepRule, type Verifier,
} from '@repirl/rl';
import type { ExactLabelPrmTrainConfig, OfflinePrmTrainConfig, PrmEvalConfig, PrmTrainConfig, TemplateChoice } from '../config/index.js';
import { resolveCheckpoint, RunDirError } from '../run/index.js';
import type { RunContext, RunOutcome } from './context.js';
import type { ProblemSource } from './data.js';
import { checkpointPrm, readLabelled, reportSupervised, runProcessBenchEval, runSupervisedTrain, stepCounts } from './prm-labelled.js';
import {
  RL_TRAIN_PROBLEMS, VALIDATION_SEED_OFFSET, backend, checkpointCodec, loadStart, recordStart, responseBudget, runTrainer, sameTokenizer, sinkInto, splitProblems,
  type StartingPolicy,
} from './shared.js';

/** Seed offset of the held-out PRM evaluation problems (disjoint from training and from policy validation). */
export const PRM_EVAL_SEED_OFFSET = 2_000_003;
/** Seed offset of the PRM's own validation problems while it trains (prm.validation; the validation split). */
export const PRM_VALIDATION_SEED_OFFSET = 3_000_017;

/** The largest best-of-N the report has (-Infinity when none). */
const largestN = (metrics: Record<string, number>, ns: readonly number[]) => Math.max(...ns.filter((x) => metrics[`prm_eval/bo${x}/majority`] !== undefined));

/**
 * The headline numbers of an evaluation, for summaries and the terminal, each with its bootstrap
 * interval (…/lo, …/hi) where it has one: the pooled step AUROC, the position-controlled one (mean of
 * the per-position AUROCs; step scores as sums and as means of token rewards) beside the
 * length-only baseline's (the position-only baseline is 0.5 there by construction), the local one,
 * first-error F1, response AUROC (min), and at the largest best-of-N the min-aggregated pick, both
 * weighted votes and majority vote, with the official weighted vote's paired difference to majority.
 */
export function headline(report: PrmEvalReport, ns: readonly number[]): Record<string, number> {
  const m = report.metrics;
  const n = largestN(m, ns);
  const keys = [
    'prm_eval/step_auroc', 'prm_eval/step_auroc_position_controlled/sum', 'prm_eval/step_auroc_position_controlled/mean',
    'prm_eval/step_auroc_position_controlled/baseline-length', 'prm_eval/step_auroc_local', 'prm_eval/first_error_f1', 'prm_eval/response_auroc/min',
    ...(Number.isFinite(n)
      ? [`prm_eval/bo${n}/min`, `prm_eval/bo${n}/weighted/official`, `prm_eval/bo${n}/weighted/step-mean`, `prm_eval/bo${n}/majority`, `prm_eval/diff/bo${n}/weighted-official-minus-majority`]
      : []),
  ];
  const out: Record<string, number> = {};
  for (const key of keys) {
    if (m[key] === undefined) continue;
    out[key] = m[key];
    for (const suffix of ['lo', 'hi', 'separated']) if (m[`${key}/${suffix}`] !== undefined) out[`${key}/${suffix}`] = m[`${key}/${suffix}`]!;
  }
  return out;
}

/** One line for the terminal: the headline with intervals, baselines beside the PRM's numbers. */
export function headlineText(report: PrmEvalReport, ns: readonly number[]): string {
  const h = headline(report, ns);
  const f = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(3));
  const ci = (key: string) => (h[`${key}/lo`] === undefined ? f(h[key]) : `${f(h[key])} [${f(h[`${key}/lo`])}, ${f(h[`${key}/hi`])}]`);
  const parts: string[] = [];
  if (h['prm_eval/step_auroc'] !== undefined) {
    parts.push(`step AUROC ${ci('prm_eval/step_auroc')} pooled, position-controlled ${ci('prm_eval/step_auroc_position_controlled/sum')} (sums) / ${f(h['prm_eval/step_auroc_position_controlled/mean'])} (means) vs length-only ${f(h['prm_eval/step_auroc_position_controlled/baseline-length'])}, local ${f(h['prm_eval/step_auroc_local'])}`);
    parts.push(`first-error F1 ${f(h['prm_eval/first_error_f1'])}`);
  }
  parts.push(`response AUROC (min) ${ci('prm_eval/response_auroc/min')}`);
  const n = largestN(h, ns);
  if (Number.isFinite(n)) {
    const d = `prm_eval/diff/bo${n}/weighted-official-minus-majority`;
    const verdict = h[`${d}/separated`] === undefined ? '' : h[`${d}/separated`] === 1 ? ', separated' : ', not separated';
    parts.push(`best-of-${n}: min-aggregated ${f(h[`prm_eval/bo${n}/min`])}, weighted vote ${ci(`prm_eval/bo${n}/weighted/official`)} (official) / ${f(h[`prm_eval/bo${n}/weighted/step-mean`])} (step-mean), majority vote ${ci(`prm_eval/bo${n}/majority`)}; weighted − majority ${ci(d)}${verdict}`);
  }
  return parts.join('; ');
}

interface EvalSettings {
  source: ProblemSource;
  seed: number;
  problems: number;
  samplesPerProblem: number;
  temperature: number;
  maxNewTokens: number;
  /** The split the problems come from (default test; the PRM's validation set while it trains: validation). */
  split?: 'validation' | 'test';
}

/**
 * Held-out problems and the policy's samples on them: labelled step by step when the problems are
 * a task's; from files (no exact step labels) with their verdicts only. Best-of-N and the votes
 * compare answers with answersMatch (numbers by value, else text), while a file's verifier is more
 * lenient (\frac{1}{2} = 0.5, 1,000 = 1000 …): so each file sample's answer is recorded as the
 * verifier judged it — a correct one as the reference answer, a wrong one normalised
 * (normaliseAnswer) — and a pick is right exactly when the verifier said so.
 */
export async function heldOutSet(policy: DecoderLM, e: EvalSettings, codec: TaskCodec): Promise<EvalSet> {
  const problems = heldOutProblems(e.source, e.split ?? 'test', e.seed, e.problems);
  const maxNewTokens = responseBudget(policy, problems, codec, e.maxNewTokens);
  const set = await sampleEvalSet(policy, problems, {
    task: e.source.task ?? { verify: e.source.verify }, codec, samplesPerProblem: e.samplesPerProblem, maxNewTokens, temperature: e.temperature, seed: e.seed, batchSize: 256,
  });
  if (e.source.kind === 'file') {
    for (const s of set.samples) s.answer = s.correct ? set.problems[s.problem]!.answer : s.answer === null ? null : normaliseAnswer(s.answer);
  }
  return set;
}

/** Evaluates `prm` on the set, writes prm_eval.json (metrics + per-sample step scores and labels) atomically. */
export async function evaluateAndWrite(prm: ProcessRewardModel, set: EvalSet, ns: number[], seed: number, file: string, codec: TaskCodec): Promise<PrmEvalReport> {
  const report = await evaluatePrm(prm, set, { codec, ns, seed });
  const samples = set.samples.map((s, i) => ({
    problem: set.problems[s.problem]!.id, response: s.response, correct: s.correct, step_labels: s.labels?.global ?? null, step_scores: report.stepScores[i],
  }));
  await writeFileAtomic(file, `${JSON.stringify({ metrics: report.metrics, product: report.product, samples }, null, 1)}\n`);
  return report;
}

// ---------------------------------------------------------------------------------------------
// prm eval

export async function runPrmEval(ctx: RunContext<PrmEvalConfig>): Promise<RunOutcome> {
  const c = ctx.config;
  if (c.processbench.path !== null) {
    // ProcessBench brings its own solutions: the PRM alone scores them (prm-labelled.ts), reading
    // text as it was trained to (its checkpoint's codec.json and hf/, or bytes).
    const prmRef = await resolveCheckpoint(c.prm);
    const trained = await checkpointCodec(prmRef.dir);
    const pbPrm = await loadPrm(await backend(), prmRef.dir).catch((err: Error) => {
      throw new Error(`${c.prm}: cannot load a PRM (${err.message})`);
    });
    try {
      await checkPrmSteps(c.prm, c.processbench.steps ?? 'lines', 'processbench.steps');
      return await runProcessBenchEval(ctx, pbPrm, { ...c.processbench, path: c.processbench.path }, trained.codec.withStepRule(c.processbench.steps ?? 'lines'));
    } finally {
      pbPrm.dispose();
    }
  }
  const { start, prm, codec } = await loadPrmAndPolicy(c.prm, { policy: c.policy, model: c.model, template: 'auto', steps: c.data.steps, stepsKey: 'data.steps', stepRule: ctx.data.stepRule });
  const { policy } = start;
  try {
    await ctx.report(1, {});
    const set = await heldOutSet(policy, { ...c, source: ctx.data }, codec);
    await ctx.report(2, { 'prm_eval/policy_acc': set.samples.filter((s) => s.correct).length / set.samples.length });
    const report = await evaluateAndWrite(prm, set, c.ns, c.seed, ctx.run.file('prm_eval.json'), codec);
    await ctx.report(3, report.metrics);
    ctx.log(`${ctx.data.name}: ${headlineText(report, c.ns)} (${set.samples.length} samples of ${set.problems.length} problems)`);
    return { status: 'finished', step: 3, results: headline(report, c.ns) };
  } finally {
    policy.dispose();
    prm.dispose();
  }
}

/**
 * The held-out problems the PRM commands share: the test split as `prm eval`, `search` and `prm ttt`
 * draw it (seed + PRM_EVAL_SEED_OFFSET), or the validation split as `prm train` draws the PRM's own
 * validation set (seed + PRM_VALIDATION_SEED_OFFSET).
 */
export function heldOutProblems(source: ProblemSource, split: 'validation' | 'test', seed: number, problems: number): Problem[] {
  return splitProblems(source, split, seed + (split === 'test' ? PRM_EVAL_SEED_OFFSET : PRM_VALIDATION_SEED_OFFSET), problems);
}

/**
 * A PRM (a `repirl prm train` run directory or a checkpoint holding prm.safetensors) and the policy
 * that writes what it scores, as `prm eval`, `search` and `prm ttt` load them: the policy is
 * `policy` or `model`, else the PRM run's own start; the PRM's steps must be cut by `steps` (the
 * command's `stepsKey`), and the policy must write with the PRM's tokenizer and template. `codec` is
 * the policy's, cutting steps by `stepRule` (the parsed `steps`); a step-head PRM is given it, as it
 * finds step ends by decoding responses.
 */
export async function loadPrmAndPolicy(
  prmPath: string, o: { policy: string | null; model: string | null; template: TemplateChoice; steps: string; stepsKey: string; stepRule: StepRule },
): Promise<{ start: StartingPolicy; prm: Awaited<ReturnType<typeof loadPrm>>; codec: TaskCodec }> {
  const learned = await resolveCheckpoint(prmPath);
  const trained = await checkpointCodec(learned.dir);
  await checkPrmSteps(prmPath, o.steps, o.stepsKey);
  const source = o.model !== null ? { model: o.model } : o.policy !== null ? { init: o.policy } : await startOfPrmRun(prmPath);
  const start = await loadStart({ ...source, template: trained.hf?.record.template ?? o.template });
  try {
    await sameTokenizer(trained, start, `the PRM ${learned.dir}`, `the policy ${source.model ?? source.init}`);
    const prm = await loadPrm(await backend(), learned.dir).catch((err: Error) => {
      throw new Error(`${prmPath}: cannot load a PRM (${err.message})`);
    });
    const codec = start.codec.withStepRule(o.stepRule);
    if ('codec' in prm) prm.codec = codec;
    return { start, prm, codec };
  } catch (err) {
    start.policy.dispose();
    throw err;
  }
}

/** The `init` or `model` of a `repirl prm train` run directory (its config.json), for `prm eval` without `policy` or `model`. */
export async function startOfPrmRun(path: string): Promise<{ init?: string; model?: string }> {
  const text = await readFile(join(path, 'config.json'), 'utf8').catch(() => null);
  const config = text === null ? {} : (JSON.parse(text) as { init?: unknown; model?: unknown });
  if (typeof config.init === 'string') return { init: config.init };
  if (typeof config.model === 'string') return { model: config.model };
  throw new RunDirError(`${path} is not a \`repirl prm train\` run directory with an init policy or model in config.json: give the policy to sample with --set policy=DIR (or model=DIR)`);
}

/**
 * Refuses to read a PRM's steps under another rule than it was trained with: a `repirl prm train`
 * run directory records its `data.steps` in config.json (a checkpoint folder given directly has no
 * record and is not checked). `key` names the setting of this command that gives the rule.
 */
export async function checkPrmSteps(prmPath: string, given: string, key: string): Promise<void> {
  const text = await readFile(join(prmPath, 'config.json'), 'utf8').catch(() => null);
  if (text === null) return;
  const trained = (JSON.parse(text) as { data?: { steps?: unknown } }).data?.steps;
  if (typeof trained === 'string' && trained !== given) {
    throw new Error(`${key} is ${JSON.stringify(given)} but the PRM in ${prmPath} was trained on steps cut by ${JSON.stringify(trained)} (data.steps in its config.json): set --set ${key}=${trained}`);
  }
}

// ---------------------------------------------------------------------------------------------
// prm train

interface OnlineRun {
  trainer: RlTrainer;
  learner: { prm: ProcessRewardModel & Module<unknown> };
  /** Puts the best validation's PRM back (prm.validation.keepBest); the best validation, or null. */
  finish(): { step: number; value: number } | null;
  dispose(): void;
}

type OnlineFactory = (options: {
  policy: DecoderLM; train: Problem[]; validation: Problem[]; verify: Verifier; codec: TaskCodec; checkpoints: CheckpointSink; config: { rl: RlConfig; prm: Record<string, unknown> };
  prmValidationSet?: EvalSet;
}) => Promise<OnlineRun>;

/** The online learners: each builds its PRM from the policy, its learner, and the RlTrainer around them. */
const ONLINE_LEARNERS: Record<'repirl' | 'prime' | 'airl-s', OnlineFactory> = {
  repirl: (o) => createRepirlTrainer(o as RepirlTrainerOptions),
  prime: (o) => createPrimeTrainer(o as PrimeTrainerOptions),
  'airl-s': (o) => createAirlTrainer(o as AirlTrainerOptions),
};

/**
 * An offline learner: one rollout set of the starting policy (problems × rollout.k samples, both
 * drawn with prm.seed) — or, for orm and implicit-offline with labelled.path, a step-labelled
 * file's solutions labelled by their outcome —, then prm.epochs passes of the method's loss over
 * it; one metrics line per epoch. The loop runs to its end once started (a stop request is honoured before and after it;
 * no checkpoint of a partial run).
 */
async function trainOfflineMethod(
  ctx: RunContext<PrmTrainConfig>, c: OfflinePrmTrainConfig, policy: DecoderLM, verify: Verifier, codec: TaskCodec, start: Pick<StartingPolicy, 'hf'>,
): Promise<{ prm: ProcessRewardModel & Module<unknown>; compute: Record<string, number> } | null> {
  if (c.labelled.path !== null) return trainOfflineOnFile(ctx, c, c.labelled.path, policy, codec, start);
  const set = await rolloutSet(ctx, c, policy, verify, codec);
  if (ctx.signal.aborted) return null;
  const { batch } = set;
  const config = c.prm;
  const t = performance.now();
  const result =
    c.method === 'orm' ? await trainOrm({ policy, samples: outcomeSamples(batch.samples), config, codec })
    : c.method === 'shepherd' ? await trainShepherd({ policy, samples: batch.samples, config, codec, verify })
    : await trainImplicitPrm({ policy, samples: outcomeSamples(batch.samples), config, codec });
  return finishOffline(ctx, c, result, start, set.first, (performance.now() - t) / 1000, () => {
    const completions = 'completions' in result && typeof result.completions === 'number' ? result.completions : 0;
    return { ...sampledCompute(batch, completions), ...(c.method === 'shepherd' ? { 'compute/mc_completions': completions } : {}) };
  });
}

/**
 * The rollout set of the offline learners and the exact-label diagnostic: `problems` of the train
 * split (a file's first ones) × rollout.k samples of the starting policy, drawn with prm.seed; with
 * the first metrics line's rollout time and accuracy.
 */
async function rolloutSet(
  ctx: RunContext<PrmTrainConfig>, c: Pick<OfflinePrmTrainConfig, 'problems' | 'rollout'> & { method: string; prm: { seed: number } }, policy: DecoderLM, verify: Verifier,
  codec: TaskCodec,
): Promise<{ batch: RolloutBatch; first: Record<string, number> }> {
  const problems = ctx.data.problems('train', c.prm.seed, c.problems);
  const started = performance.now();
  const batch = await rollout(policy, problems, {
    k: c.rollout.k, maxNewTokens: c.rollout.maxNewTokens, temperature: c.rollout.temperature, seed: deriveSeed(c.prm.seed, 'prm-offline-rollout'), codec, verify, batchSize: 256,
  });
  const rolloutSeconds = (performance.now() - started) / 1000;
  const accuracy = batch.samples.filter((s) => s.score > 0).length / batch.samples.length;
  ctx.log(`${c.method}: ${batch.samples.length} rollouts of ${problems.length} problems, accuracy ${accuracy.toFixed(3)}`);
  return { batch, first: { 'timing/rollout_s': rolloutSeconds, 'rollout/acc': accuracy } };
}

/** The sampling a run spent, counted as the RL trainer counts its own: the rollouts, plus `extra` sequences (Math-Shepherd's completions). */
const sampledCompute = (batch: RolloutBatch, extra = 0): Record<string, number> => ({
  'compute/sampled_sequences': batch.samples.length + extra,
  'compute/sampled_tokens': batch.samples.reduce((n, x) => n + x.responseIds.length, 0),
});

/**
 * method=supervised without a labelled file: the upper-bound diagnostic (docs/config.md, "The exact-label upper bound").
 * The rollout set of the offline learners, each step labelled by the task's exact labels
 * (prm.labels: global or local, the labels prm eval scores against), the PRM trained on exactly the
 * sampled tokens with the supervised loss and its best-epoch keeping; its checkpoint as the offline
 * learners'.
 */
async function trainExactLabels(
  ctx: RunContext<PrmTrainConfig>, c: ExactLabelPrmTrainConfig, policy: DecoderLM, verify: Verifier, codec: TaskCodec, start: Pick<StartingPolicy, 'hf'>,
): Promise<{ prm: ProcessRewardModel & Module<unknown>; compute: Record<string, number> } | null> {
  const labeller = ctx.data.task?.stepLabels;
  if (labeller === undefined) throw new Error(`method=supervised without data.path needs a task with exact step labels; ${ctx.data.name} has none: give a step-labelled file as data.path`);
  const set = await rolloutSet(ctx, c, policy, verify, codec);
  if (ctx.signal.aborted) return null;
  const samples = exactLabelled(set.batch, (p, r) => labeller.call(ctx.data.task, p, r), c.prm.labels);
  const { steps, wrong } = stepCounts(samples);
  ctx.log(`supervised (exact ${c.prm.labels} labels of ${ctx.data.name}): ${steps} steps, ${wrong} wrong`);
  const t = performance.now();
  const result = await trainSupervisedPrm({ policy, samples, config: only(supervisedConfigSchema, c.prm), codec });
  try {
    const results = await reportSupervised(ctx, result, c.prm.epochs, (performance.now() - t) / 1000, policy.config.maxSeqLen, set.first);
    await checkpointPrm(ctx, c.prm.epochs, result.prm, (dir) => recordStart(dir, start));
    return { prm: result.prm, compute: { ...sampledCompute(set.batch), ...results } };
  } catch (error) {
    result.prm.dispose();
    throw error;
  }
}

/** The rollouts as supervised samples: each step labelled by the task's exact labels (`which` of them), on the sampled tokens. */
export function exactLabelled(batch: RolloutBatch, stepLabels: (problem: Problem, response: string) => StepLabels, which: 'global' | 'local'): SupervisedSample[] {
  return batch.samples.map((s, i) => {
    const labels = stepLabels(s.problem, s.response);
    return { id: `${s.problem.id}/${i}`, prompt: s.problem.prompt, steps: labels.steps, labels: labels[which], tokens: { promptIds: s.promptIds, responseIds: s.responseIds } };
  });
}

/**
 * ORM or the offline implicit PRM on a step-labelled file (labelled.path) instead of rollouts: each
 * solution, its steps written by the data's step rule, is labelled by its outcome (every step
 * right); solutions longer than the policy's context are left out and counted. Nothing is sampled.
 */
async function trainOfflineOnFile(
  ctx: RunContext<PrmTrainConfig>, c: OfflinePrmTrainConfig, path: string, policy: DecoderLM, codec: TaskCodec, start: Pick<StartingPolicy, 'hf'>,
): Promise<{ prm: ProcessRewardModel & Module<unknown>; compute: Record<string, number> } | null> {
  const labelled = await readLabelled(path, c.labelled);
  const samples: OutcomeSample[] = [];
  for (const x of labelled) {
    const encoded = encodeSteps(x.prompt, x.steps, codec, policy.config.maxSeqLen);
    if (encoded !== null) samples.push({ promptIds: encoded.promptIds, responseIds: encoded.responseIds, correct: x.labels.every(Boolean) });
  }
  const tooLong = labelled.length - samples.length;
  const correct = samples.filter((x) => x.correct).length;
  ctx.log(`${c.method}: ${samples.length} labelled solutions from ${path} (${correct} with every step right${tooLong > 0 ? `; ${tooLong} longer than the policy's context left out` : ''})`);
  if (samples.length === 0) throw new Error(`labelled.path ${path}: no solution fits the policy's context of ${policy.config.maxSeqLen} tokens`);
  if (ctx.signal.aborted) return null;
  const t = performance.now();
  const result = c.method === 'orm' ? await trainOrm({ policy, samples, config: c.prm, codec }) : await trainImplicitPrm({ policy, samples, config: c.prm, codec });
  return finishOffline(ctx, c, result, start, { 'data/labelled_accuracy': correct / samples.length }, (performance.now() - t) / 1000, () => ({
    'compute/sampled_sequences': 0, 'data/labelled_samples': samples.length, 'data/too_long': tooLong,
  }));
}

/** An offline learner's metrics lines (one per epoch; `first` on the first) and its checkpoint; returns the PRM and what it spent. */
async function finishOffline(
  ctx: RunContext<PrmTrainConfig>, c: OfflinePrmTrainConfig, result: { prm: ProcessRewardModel & Module<unknown>; metrics: OfflineRecord[] }, start: Pick<StartingPolicy, 'hf'>,
  first: Record<string, number>, trainSeconds: number, compute: () => Record<string, number>,
): Promise<{ prm: ProcessRewardModel & Module<unknown>; compute: Record<string, number> }> {
  const losses = epochLosses(result.metrics);
  for (const [e, loss] of losses.entries()) {
    const last = result.metrics.filter((r) => r.epoch === e).at(-1)!;
    await ctx.report(e + 1, {
      'prm/loss': loss, 'prm/grad_norm': last.gradNorm, 'prm/lr': last.lr,
      ...(e === 0 ? first : {}),
      ...(e === losses.length - 1 ? { 'timing/train_s': trainSeconds } : {}),
    });
  }
  // The checkpoint of a finished offline run: the PRM (what --resume would need; nothing is left to continue).
  await checkpointPrm(ctx, c.prm.epochs, result.prm, (dir) => recordStart(dir, start));
  return { prm: result.prm, compute: compute() };
}

export async function runPrmTrain(ctx: RunContext<PrmTrainConfig>): Promise<RunOutcome> {
  const c = ctx.config;
  const source = ctx.data;
  const verify = source.verify;
  const initial = await loadStart(c);
  const { policy } = initial;
  // Every PRM model, learner and metric cuts responses into steps by the data's rule.
  if (c.method === 'supervised' && !('rollout' in c)) {
    // The PRM learns from a labelled file, not from the policy's rollouts (prm-labelled.ts).
    try {
      const trained = await runSupervisedTrain(ctx, c, policy, initial.codec, (dir) => recordStart(dir, initial));
      if (trained === null) return { status: 'stopped', step: 0 };
      trained.prm.dispose();
      return trained.outcome;
    } finally {
      policy.dispose();
    }
  }
  const codec = initial.codec.withStepRule(source.stepRule);
  // The run's seed: the RL trainer's (online) or the offline learner's.
  const seed = 'rl' in c ? c.rl.seed : c.prm.seed;
  let outcome: RunOutcome;
  let prm: (ProcessRewardModel & Module<unknown>) | null = null;
  let release = () => {};
  try {
    if ('rl' in c) {
      // The PRM's own validation set (prm.validation.problems > 0): samples of the starting policy
      // on validation problems, drawn before training changes it; scored at each validation point.
      const v = (c.prm as { validation: PrmValidationConfig }).validation;
      const prmValidationSet = v.problems > 0
        ? await heldOutSet(policy, { source, split: 'validation', seed, problems: v.problems, samplesPerProblem: v.samplesPerProblem, temperature: c.eval.temperature, maxNewTokens: c.rl.rollout.maxNewTokens }, codec)
        : undefined;
      const run = await ONLINE_LEARNERS[c.method]({
        policy,
        train: splitProblems(source, 'train', seed, RL_TRAIN_PROBLEMS),
        validation: splitProblems(source, 'validation', seed + VALIDATION_SEED_OFFSET, c.rl.validation.problems),
        verify,
        codec,
        checkpoints: sinkInto(ctx, initial),
        config: { rl: only(rlTrainerSchema, c.rl), prm: c.prm },
        ...(prmValidationSet ? { prmValidationSet } : {}),
      });
      release = () => run.dispose();
      prm = run.learner.prm;
      outcome = await runTrainer(ctx, run.trainer, initial);
      const best = outcome.status === 'finished' ? run.finish() : null;
      if (best !== null) {
        ctx.log(`${c.method}: the PRM of the best validation is kept (step ${best.step}, val/prm ${best.value.toFixed(3)})`);
        outcome = { ...outcome, results: { ...outcome.results, 'val/prm/best': best.value, 'val/prm/best_step': best.step } };
      }
    } else {
      const trained = c.method === 'supervised' ? await trainExactLabels(ctx, c, policy, verify, codec, initial) : await trainOfflineMethod(ctx, c, policy, verify, codec, initial);
      if (trained === null) return { status: 'stopped', step: 0 };
      prm = trained.prm;
      release = () => trained.prm.dispose();
      outcome = { status: 'finished', step: c.prm.epochs, results: trained.compute };
    }
    if (outcome.status === 'stopped') return outcome;
    await saveModel(ctx.run.path, 'prm', prm!);
    await recordStart(ctx.run.path, initial);
    // The PRM is judged on samples of the starting policy, the same for every method of this seed:
    // the online methods trained `policy`, so they reload it; the offline ones left it as it was.
    const start = 'rl' in c ? (await loadStart(c)).policy : policy;
    const maxNewTokens = 'rl' in c ? c.rl.rollout.maxNewTokens : c.rollout.maxNewTokens;
    try {
      const set = await heldOutSet(start, { ...c.eval, source, seed, maxNewTokens }, codec);
      const report = await evaluateAndWrite(prm!, set, c.eval.ns, seed, ctx.run.file('prm_eval.json'), codec);
      await ctx.report(outcome.step, report.metrics);
      ctx.log(`${c.method} PRM on ${source.name}: ${headlineText(report, c.eval.ns)}`);
      return { ...outcome, results: { ...outcome.results, ...headline(report, c.eval.ns) } };
    } finally {
      if (start !== policy) start.dispose();
    }
  } finally {
    release();
    policy.dispose();
  }
}
