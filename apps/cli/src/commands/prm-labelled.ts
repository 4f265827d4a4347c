// The PRM runners on step-labelled files and ProcessBench (issue 14; config/prm-labelled.ts):
//
//   supervised   prm train with method=supervised: the labelled file (data.path) is read and
//                checked, the PRM trained on its step labels (@repirl/prm trainSupervisedPrm: held
//                out by prompt, step AUROC after every epoch, the best epoch kept), one metrics line
//                per epoch; the PRM is saved as <run>/prm.{safetensors,json} and in a checkpoint;
//                with processbench.path it is then scored on ProcessBench.
//   processbench prm eval with processbench.path: the PRM scores every step of the file's
//                solutions; ProcessBench's metrics per subset with bootstrap intervals, written to
//                processbench.json (metrics, subsets, each sample's prediction) and summarised.
import { writeFileAtomic, type DecoderLM } from '@repirl/autograd';
import {
  epochLosses, evaluateProcessBench, loadProcessBench, loadStepLabelledFile, processBenchText, trainSupervisedPrm, type ProcessBenchReport, type ProcessRewardModel, type SupervisedResult,
  type StepLabelledSample,
} from '@repirl/prm';
import { DataFormatError, saveModel, type TaskCodec } from '@repirl/rl';
import type { ExperimentName } from '../config/index.js';
import type { LabelledDataConfig, ProcessBenchConfig } from '../config/prm-labelled.js';
import type { RunContext, RunOutcome } from './context.js';
import { DataError } from './data.js';

/** Labelled files read while preparing (prepareLabelledFiles), handed to the runner once. */
const prepared = new Map<string, StepLabelledSample[]>();
/** How a labelled file is read: the supervised method's data section, or the offline learners' labelled section. */
type LabelledRead = Pick<LabelledDataConfig, 'format' | 'layout' | 'neutral'>;
const preparedKey = (path: string, d: LabelledRead) => JSON.stringify([path, d.format, d.layout, d.neutral]);

/**
 * Reads and checks the step-labelled file(s) of `prm train` with method=supervised and the
 * ProcessBench file(s) of `prm train` / `prm eval` before the run directory exists, as the problem
 * files are (commands/data.ts): a bad file is a DataError (exit 2, nothing written). Returns what
 * `--dry-run` prints (per file: format, layout, samples, steps, wrong steps, one example), or null
 * when the config names none. The labelled samples are kept for the runner.
 */
export async function prepareLabelledFiles(name: ExperimentName, config: unknown): Promise<string | null> {
  const c = config as { method?: string; data?: LabelledDataConfig; labelled?: LabelledRead & { path: string | null }; processbench?: ProcessBenchConfig };
  const lines: string[] = [];
  try {
    // The supervised method's data.path / data.validation, or an offline outcome learner's labelled.path.
    const files: [string, string | null, LabelledRead][] =
      name !== 'prm-train' ? []
      : c.method === 'supervised' && c.data !== undefined ? [['data.path', c.data.path, c.data], ['data.validation', c.data.validation, c.data]]
      : c.labelled !== undefined ? [['labelled.path', c.labelled.path, c.labelled]]
      : [];
    for (const [key, path, d] of files) {
      if (path === null) continue;
      const { samples, info } = await loadStepLabelledFile(path, { format: d.format, layout: d.layout, neutral: d.neutral });
      prepared.set(preparedKey(path, d), samples);
      const { steps, wrong } = stepCounts(samples);
      const x = samples[0]!;
      lines.push(`${key} ${path}: ${info.format}, layout ${info.layout}: ${samples.length} samples, ${steps} steps (${wrong} wrong)`,
        `  example ${x.id}: prompt ${JSON.stringify(shorten(x.prompt))}; steps ${x.steps.map((t, k) => `${JSON.stringify(shorten(t))} ${x.labels[k] ? '+' : '-'}`).join(', ')}`);
    }
    const pb = c.processbench;
    if ((name === 'prm-train' || name === 'prm-eval') && pb !== undefined && pb.path !== null) {
      for (const [key, path] of [['processbench.path', pb.path], ['processbench.validation', pb.validation]] as const) {
        if (path === null) continue;
        const samples = await loadProcessBench(path, { format: pb.format });
        const subsets = [...new Set(samples.map((x) => x.subset))].map((s) => {
          const part = samples.filter((x) => x.subset === s);
          return `${s} (${part.filter((x) => x.label >= 0).length} erroneous, ${part.filter((x) => x.label < 0).length} correct)`;
        });
        lines.push(`${key} ${path}: ${samples.length} ProcessBench samples; subsets ${subsets.join(', ')}`);
      }
    }
  } catch (err) {
    if (err instanceof DataFormatError) throw new DataError(err.message);
    throw err;
  }
  return lines.length === 0 ? null : `${lines.join('\n')}\n`;
}

const shorten = (text: string, max = 60) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** The headline numbers of a ProcessBench report: the average F1 and each subset's F1 and accuracies. */
export function processBenchHeadline(report: ProcessBenchReport): Record<string, number> {
  const out: Record<string, number> = { 'processbench/avg_f1': report.averageF1.value };
  for (const [name, r] of Object.entries(report.subsets)) {
    out[`processbench/${name}/f1`] = r.f1.value;
    out[`processbench/${name}/error_acc`] = r.errorAccuracy.value;
    out[`processbench/${name}/correct_acc`] = r.correctAccuracy.value;
  }
  out['processbench/threshold'] = report.threshold;
  return out;
}

/** Scores the PRM on `pb.path` (threshold given or calibrated on `pb.validation`), writes `file`, returns the report. */
export async function scoreProcessBenchFiles(
  ctx: RunContext<unknown>, prm: ProcessRewardModel, pb: ProcessBenchConfig & { path: string }, codec: TaskCodec, file: string,
): Promise<ProcessBenchReport & { tooLong: number }> {
  // Step-head PRMs find step ends by decoding responses with their own codec: the one the steps are written with.
  if ('codec' in prm) (prm as { codec: TaskCodec }).codec = codec;
  const samples = await loadProcessBench(pb.path, { format: pb.format });
  const calibration = pb.validation === null ? undefined : await loadProcessBench(pb.validation, { format: pb.format });
  const report = await evaluateProcessBench(prm, samples, {
    codec, threshold: pb.threshold, ...(calibration !== undefined ? { calibration } : {}), resamples: pb.resamples, seed: pb.seed,
  });
  await writeFileAtomic(file, `${JSON.stringify({
    threshold: report.threshold, threshold_source: report.thresholdSource, too_long: report.tooLong, metrics: report.metrics, subsets: report.subsets, average_f1: report.averageF1,
    predictions: report.predictions.map((p) => ({ id: p.id, subset: p.subset, label: p.label, prediction: p.prediction, step_scores: p.stepScores })),
  }, null, 1)}\n`);
  if (report.tooLong > 0) ctx.log(`processbench: ${report.tooLong} of ${samples.length} samples are longer than the PRM's context and were not scored`);
  if (report.calibrationTooLong > 0) ctx.log(`processbench: ${report.calibrationTooLong} calibration samples are longer than the PRM's context and were not scored`);
  return report;
}

export interface SupervisedRunConfig {
  data: LabelledDataConfig;
  prm: { seed: number; epochs: number } & Record<string, unknown>;
  processbench: ProcessBenchConfig;
}

/** A labelled file's samples: as prepared before the run (once), else read now. */
export async function readLabelled(path: string, d: LabelledRead): Promise<StepLabelledSample[]> {
  const key = preparedKey(path, d);
  const cached = prepared.get(key);
  if (cached !== undefined) {
    prepared.delete(key);
    return cached;
  }
  return (await loadStepLabelledFile(path, { format: d.format, layout: d.layout, neutral: d.neutral })).samples;
}

/**
 * prm train with method=supervised (see the file comment). `policy` is the starting policy (the
 * PRM's backbone is a copy), `codec` its codec, `record` writes what else a directory holding the
 * PRM needs (the starting model's codec record); returns the trained PRM with the outcome, or null
 * when stopped before training.
 */
export async function runSupervisedTrain(
  ctx: RunContext<unknown>, c: SupervisedRunConfig, policy: DecoderLM, baseCodec: TaskCodec, record: (dir: string) => Promise<void> = async () => {},
): Promise<{ prm: ProcessRewardModel & { dispose(): void }; outcome: RunOutcome } | null> {
  const codec = baseCodec.withStepRule(c.data.steps);
  const samples = await readLabelled(c.data.path, c.data);
  const validation = c.data.validation === null ? undefined : await readLabelled(c.data.validation, c.data);
  const { steps, wrong } = stepCounts(samples);
  ctx.log(`supervised: ${samples.length} labelled samples (${steps} steps, ${wrong} wrong) from ${c.data.path}${validation ? `, ${validation.length} held out from ${c.data.validation}` : ''}`);
  if (ctx.signal.aborted) return null;
  const t = performance.now();
  const result = await trainSupervisedPrm({ policy, samples, ...(validation !== undefined ? { validation } : {}), config: c.prm, codec });
  try {
    const results = await reportSupervised(ctx, result, c.prm.epochs, (performance.now() - t) / 1000, policy.config.maxSeqLen, {});
    const epochs = c.prm.epochs;
    await checkpointPrm(ctx, epochs, result.prm, record);
    await saveModel(ctx.run.path, 'prm', result.prm);
    await record(ctx.run.path);
    if (c.processbench.path !== null) {
      const report = await scoreProcessBenchFiles(ctx, result.prm, { ...c.processbench, path: c.processbench.path }, codec, ctx.run.file('processbench.json'));
      await ctx.report(epochs, report.metrics);
      ctx.log(processBenchText(report));
      Object.assign(results, processBenchHeadline(report));
    }
    return { prm: result.prm, outcome: { status: 'finished', step: epochs, results } };
  } catch (error) {
    result.prm.dispose();
    throw error;
  }
}

/** Steps and wrong steps of labelled samples (the counts the logs print). */
export function stepCounts(samples: readonly { steps: readonly string[]; labels: readonly boolean[] }[]): { steps: number; wrong: number } {
  return {
    steps: samples.reduce((n, x) => n + x.steps.length, 0),
    wrong: samples.reduce((n, x) => n + x.labels.filter((l) => !l).length, 0),
  };
}

/**
 * The checkpoint of a PRM trained in one go (the supervised method, the offline learners): the PRM
 * at `step` with what `record` adds (the starting model's codec record), committed so a resume
 * finds it whole.
 */
export async function checkpointPrm(ctx: RunContext<unknown>, step: number, prm: Parameters<typeof saveModel>[2], record: (dir: string) => Promise<void>): Promise<void> {
  const dir = await ctx.run.checkpointDir(step);
  await saveModel(dir, 'prm', prm);
  await record(dir);
  await ctx.run.commitCheckpoint(step);
}

/**
 * The metrics lines of a supervised PRM's training (one per epoch: loss, gradient norm, learning
 * rate, held-out step AUROC; the first also the AUROC before training, the counts and `first`) and
 * its log line; returns the run's results (the kept epoch, the counts, its held-out step AUROC).
 */
export async function reportSupervised(
  ctx: RunContext<unknown>, result: SupervisedResult, epochs: number, trainSeconds: number, maxSeqLen: number, first: Record<string, number>,
): Promise<Record<string, number>> {
  const { counts } = result;
  if (counts.tooLong > 0) ctx.log(`supervised: ${counts.tooLong} samples are longer than the policy's context (${maxSeqLen} tokens) and were left out`);
  if (counts.validation === 0) ctx.log('supervised: no held-out sample (prm.validation.fraction = 0 or no prompt fell in it): the last epoch is kept');
  const losses = epochLosses(result.metrics);
  const auroc = (epoch: number) => result.validation.find((v) => v.epoch === epoch)?.stepAuroc;
  for (const [e, loss] of losses.entries()) {
    const last = result.metrics.filter((r) => r.epoch === e).at(-1)!;
    await ctx.report(e + 1, {
      'prm/loss': loss, 'prm/grad_norm': last.gradNorm, 'prm/lr': last.lr, 'val/prm/step_auroc': auroc(e),
      ...(e === 0 ? { ...first, 'val/prm/step_auroc_before': auroc(-1), 'data/train_samples': counts.train, 'data/validation_samples': counts.validation, 'data/too_long': counts.tooLong } : {}),
      ...(e === losses.length - 1 ? { 'timing/train_s': trainSeconds } : {}),
    });
  }
  const kept = auroc(result.keptEpoch);
  const results: Record<string, number> = { 'prm/kept_epoch': result.keptEpoch + 1, 'data/train_samples': counts.train, 'data/validation_samples': counts.validation };
  if (kept !== undefined) results['val/prm/step_auroc'] = kept;
  const fmt = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(3));
  if (counts.validation > 0) ctx.log(`supervised PRM: held-out step AUROC ${fmt(auroc(-1))} before training, ${fmt(kept)} at the kept epoch ${result.keptEpoch + 1} of ${epochs}`);
  return results;
}

/** prm eval with processbench.path: the PRM on a ProcessBench-format file (see the file comment). */
export async function runProcessBenchEval(ctx: RunContext<unknown>, prm: ProcessRewardModel, pb: ProcessBenchConfig & { path: string }, codec: TaskCodec): Promise<RunOutcome> {
  await ctx.report(1, {});
  const report = await scoreProcessBenchFiles(ctx, prm, pb, codec, ctx.run.file('processbench.json'));
  // prm eval counts three stages; scoring is the last.
  await ctx.report(3, report.metrics);
  ctx.log(processBenchText(report));
  return { status: 'finished', step: 3, results: processBenchHeadline(report) };
}
