// What SFT and RL training share: the step loop with periodic validation and checkpoints, the
// metrics stream (listeners + metrics.jsonl), resume, and the end-of-run summary.
//
// The loop, for step = current + 1 … steps:
//   metrics = trainStep()                       (the subclass: one batch, one or more updates)
//   + validation metrics when due                (every `validation.every` steps and after the last)
//   → one record {step, time, ...} to listeners and metrics.jsonl
//   → a checkpoint when due                      (every `checkpoint.every` steps, at the end, on stop)
// Step 0 holds the validation before training. A run stopped through an AbortSignal (the CLI's
// Ctrl-C) or `stopAtStep` saves a checkpoint first, and resume() continues it as if it had never
// stopped: all randomness is derived from (seed, step), and the rest of the state is in the
// checkpoint.
//
// Two ways to own the files: give `runDir` and the trainer keeps a run directory there (the one
// layout of ../run/run-dir.ts: run.json, config.json, metrics.jsonl, checkpoints/ keeping the
// newest `checkpoint.keep`, the final policy, summary.json/md), locked while run() is in progress;
// resume() continues it. Or, when the caller keeps its own run directory (the CLI), give a
// CheckpointSink, forward the 'metrics' events, and call restore(checkpointDir) to continue a run.
import { applyLora, type DecoderLM, type LoraAdapters, type Module, type Tensor } from '@repirl/autograd';
import { loraOf, type CheckpointConfig, type LoraSection, type ValidationConfig } from './config.js';
import { evaluatePolicy, type GreedyResult } from './evaluate.js';
import type { Problem } from '../tasks/task.js';
import { TaskCodec } from '../rollout/codec.js';
import { verifierFor, type Verifier } from '../rollout/rollout.js';
import { deriveSeed } from '../rollout/seeds.js';
import { checkFiniteWeights, checkSkips, fittingRows, stepSkipped, withBatchHint } from './faults.js';
import { RunDir, readLatestCheckpoint, readRunInfo, type MetricValue, type MetricsRecord, type RunMode } from '../run/index.js';
import { loadTrainingCheckpoint, savePolicy, saveTrainingCheckpoint, type TrainingCheckpoint } from './checkpoint.js';

/** A finished sample, as listeners receive it (RL: every sample of the step's training batch). */
export interface SampleRecord {
  id: string;
  prompt: string;
  response: string;
  responseIds: number[];
  correct: boolean;
  score: number;
  group: number;
  finishReason: 'stop' | 'length';
}

export type TrainerEvent =
  /** One per step (and step 0 for the validation before training); `totalSteps` for progress bars. */
  | { type: 'metrics'; record: MetricsRecord; totalSteps: number }
  | { type: 'samples'; step: number; samples: SampleRecord[] }
  | { type: 'checkpoint'; step: number; dir: string }
  | { type: 'done'; summary: RunSummary };

/** Called in order for every event; an async listener is awaited before training continues. */
export type TrainerListener = (event: TrainerEvent) => void | Promise<void>;

export interface RunOptions {
  /** Stop between steps when aborted (saving a checkpoint first): wire Ctrl-C here. */
  signal?: AbortSignal;
  /** Stop (with a checkpoint) once this step is done, as if interrupted there. */
  stopAtStep?: number;
}

/** Why a run may end before its step count (see RunSummary.endedEarly). */
export type EarlyEnd = 'budget' | 'converged';

export interface RunSummary {
  trainer: 'sft' | 'rl';
  /** The last step done. */
  step: number;
  totalSteps: number;
  /** True when the run was stopped before totalSteps (resume it to continue). */
  stopped: boolean;
  /** Validation metrics of the first and the last validation, and the best greedy accuracy. */
  firstValidation: { step: number; metrics: Record<string, number> } | null;
  lastValidation: { step: number; metrics: Record<string, number> } | null;
  best: { step: number; 'val/acc': number } | null;
  /** The last step's record. */
  last: MetricsRecord | null;
  /** Seconds spent in training steps (validation excluded), summed over every session of the run. */
  trainSeconds: number;
  /** Steps whose update was skipped for a non-finite loss or gradient norm ('train/skipped' = 1), over every session of the run. */
  skippedSteps: number;
  /** Where the final policy was written (run directory, name 'policy'), when there is one. */
  policyDir: string | null;
  /**
   * The compute the run spent, summed over its steps and sessions: every per-step `compute/*` metric
   * (the RL trainer's sampled sequences and tokens, filter oversampling included; a reward model's own).
   */
  compute: Record<string, number>;
  /**
   * Why the run ended before totalSteps without a stop request: 'budget' (rl's budget.*: the
   * compute budget was spent) or 'converged' (an online reward model's validation stopped improving);
   * null otherwise.
   */
  endedEarly: EarlyEnd | null;
}

/**
 * Where checkpoints go when the caller owns the run directory (the CLI): the trainer writes the
 * checkpoint of `step` into dirFor(step), then calls commit(step) (which makes it the one to
 * resume from). Metrics reach such a caller through onEvent.
 */
export interface CheckpointSink {
  dirFor(step: number): string | Promise<string>;
  commit(step: number): Promise<unknown>;
}

/** Options every trainer takes besides its config and data. */
export interface TrainerCommonOptions {
  /** Trained in place. */
  policy: DecoderLM;
  /** Held-out problems for validation (greedy pass@1, pass@k); none = no validation. */
  validation?: readonly Problem[];
  /** Default: the generic final-answer check (`#### <answer>`). */
  verify?: Verifier;
  codec?: TaskCodec;
  /**
   * The run directory (../run/run-dir.ts) for metrics, config ({ trainer, config }), checkpoints,
   * the final policy and the summary; none = nothing is written. run() starts a new run there
   * (refusing a directory that holds another), resume() continues the one there.
   */
  runDir?: string;
  /** Instead of runDir: only checkpoints are written, where the sink says. */
  checkpoints?: CheckpointSink;
  onEvent?: TrainerListener;
}

export abstract class Trainer {
  readonly policy: DecoderLM;
  readonly codec: TaskCodec;
  readonly verify: Verifier;
  protected readonly validationProblems: readonly Problem[];
  private readonly runDirPath: string | undefined;
  /** The open run directory (between resume()/run() and the end of run()). */
  private runDir: RunDir | null = null;
  /** This trainer opened its run directory before: opening again continues that run. */
  private runDirUsed = false;
  /** performance.now() when the first run() began: metrics' time without a run directory. */
  private clockStart: number | null = null;
  private readonly checkpointSink: CheckpointSink | undefined;
  private readonly listeners: TrainerListener[] = [];
  /** Records of this run so far (restored from metrics.jsonl on resume). */
  protected records: MetricsRecord[] = [];
  private currentStep = 0;
  /** The policy's LoRA adapters when the config's lora.rank > 0 (the policy itself is then frozen). */
  protected lora: LoraAdapters | null = null;

  protected constructor(options: TrainerCommonOptions) {
    this.policy = options.policy;
    this.codec = options.codec ?? new TaskCodec();
    this.verify = options.verify ?? verifierFor();
    this.validationProblems = options.validation ?? [];
    this.runDirPath = options.runDir;
    this.checkpointSink = options.checkpoints;
    if (options.onEvent) this.listeners.push(options.onEvent);
    if (this.policy.config.vocabSize < this.codec.tokenizer.vocabSize) {
      throw new Error(`the policy's vocabSize (${this.policy.config.vocabSize}) is smaller than the tokenizer's (${this.codec.tokenizer.vocabSize})`);
    }
  }

  /** The policy's LoRA adapters (attached to it) when training with LoRA, else null. */
  get loraAdapters(): LoraAdapters | null {
    return this.lora;
  }

  /**
   * With LoRA settings (lora.rank > 0): attaches fresh adapters to the policy (seeded from the run
   * seed), freezes the policy's own weights and returns the adapters' parameters; else the policy's.
   * What the optimizer trains.
   */
  protected trainableParameters(section: LoraSection, seed: number): ReadonlyMap<string, Tensor> {
    const lora = loraOf(section);
    if (!lora) return this.policy.parameters();
    this.lora = applyLora(this.policy, lora, { seed: deriveSeed(seed, 'lora-init') }, 'lora');
    return this.lora.parameters();
  }

  /** Keys this step's LoRA dropout masks by (seed, step), so a resumed run draws the same ones. */
  protected loraStep(seed: number, step: number): void {
    this.lora?.setDropoutSeed(deriveSeed(seed, 'lora-dropout', step));
  }

  /**
   * A LoRA checkpoint also holds the policy merged (policy.safetensors, loadPolicy's form) and the
   * adapters in PEFT's layout (adapter/), so the checkpoint serves as a policy (init=, eval,
   * export) like any other; resume reads only the adapters (lora.*) and the optimizer.
   */
  private async saveLoraPolicy(dir: string): Promise<void> {
    if (this.lora) await savePolicy(dir, this.policy, { lora: this.lora });
  }

  /** The models a checkpoint holds for the policy: its adapters alone under LoRA (the frozen base is the run's starting policy). */
  protected policyModels(): Record<string, Module<unknown>> {
    return this.lora ? { lora: this.lora } : { policy: this.policy };
  }

  protected abstract readonly trainerName: 'sft' | 'rl';
  /** The resolved config (also stored in checkpoints, to refuse resuming with another one). */
  abstract get resolvedConfig(): { seed: number; steps: number; maxSkippedSteps: number; validation: ValidationConfig; checkpoint: CheckpointConfig };
  /** Metrics of step `this.step + 1`; the loop then advances the step. */
  protected abstract trainStep(): Promise<Record<string, number>>;
  protected abstract checkpointContent(): TrainingCheckpoint;
  protected abstract restoreState(state: Record<string, unknown>): void;

  /** The last completed step (0 before training). */
  get step(): number {
    return this.currentStep;
  }

  /** Adds a listener; returns a function that removes it. */
  on(listener: TrainerListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  protected async emit(event: TrainerEvent): Promise<void> {
    for (const listener of this.listeners) await listener(event);
  }

  /**
   * Continues the run in the run directory from its newest intact checkpoint: weights, optimizer
   * state and trainer state are restored and metrics.jsonl is cut back to the checkpoint's step.
   * A directory without a run (or with one that never reached a checkpoint) starts from scratch.
   * Returns the step resumed from (0 when starting over). Build the trainer exactly as for the
   * original run (same initial policy, config and data) before calling this; then call run().
   */
  async resume(): Promise<number> {
    if (this.runDirPath === undefined) throw new Error('resume(): the trainer has no runDir to resume from');
    const dir = await this.openRunDir(await continueMode(this.runDirPath));
    if (dir.resumeFrom === null) return 0;
    try {
      return await this.restore(dir.resumeFrom.dir);
    } catch (err) {
      await dir.setStatus('failed', (err as Error).message).catch(() => undefined);
      await this.closeRunDir();
      throw err;
    }
  }

  private async openRunDir(mode: RunMode): Promise<RunDir> {
    if (this.runDir !== null) throw new Error(`the run directory ${this.runDir.path} is already open in this trainer`);
    const dir = await RunDir.open(this.runDirPath!, {
      command: this.trainerName,
      config: { trainer: this.trainerName, config: this.resolvedConfig },
      mode,
      resumableKeys: RESUMABLE_KEYS,
    });
    this.runDir = dir;
    this.runDirUsed = true;
    this.records = (await dir.readMetrics()).map(numericRecord);
    return dir;
  }

  private async closeRunDir(): Promise<void> {
    const dir = this.runDir;
    this.runDir = null;
    await dir?.close();
  }

  /**
   * Restores the checkpoint in `dir` (a folder written by saveCheckpoint: weights, optimizer and
   * trainer state) and returns its step; the next run() continues from there. resume() does this
   * with the run directory's newest checkpoint; a caller with its own run directory calls it directly.
   */
  async restore(dir: string): Promise<number> {
    const { step, state } = await loadTrainingCheckpoint(dir, this.checkpointContent());
    checkSameConfig(state.config as Record<string, unknown> | undefined, this.resolvedConfig, dir);
    this.restoreState(state);
    this.currentStep = step;
    return step;
  }

  /** Validation metrics on the held-out problems (empty when there are none), with timing/val_s. */
  async validate(): Promise<Record<string, number>> {
    if (this.validationProblems.length === 0) return {};
    const v = this.resolvedConfig.validation;
    const started = performance.now();
    const problems = v.limit > 0 ? this.validationProblems.slice(0, v.limit) : this.validationProblems;
    const rows = v.batchSize > 0 ? v.batchSize : problems.length;
    const { metrics, greedy } = await withBatchHint(() => evaluatePolicy(this.policy, problems, {
      maxNewTokens: this.validationMaxNewTokens(),
      k: v.k,
      temperature: v.temperature,
      seed: deriveSeed(this.resolvedConfig.seed, 'validation', this.step),
      batchSize: v.batchSize,
      codec: this.codec,
      verify: this.verify,
    }), (err) => `validation generates up to ${rows} sequences at once; set validation.batchSize to ${fittingRows(rows, err)} or less`);
    return { ...metrics, ...(await this.extraValidationMetrics(problems, greedy)), 'timing/val_s': (performance.now() - started) / 1000 };
  }

  /**
   * Whether the run ends now, before its step count (checked after each step): the compute budget
   * is spent (RL: budget.*, counting the records so far and `pending`, the metrics of a step not yet
   * recorded), or what it trains has converged. Null: go on.
   */
  protected earlyEnd(_pending: Record<string, number> = {}): EarlyEnd | null {
    return null;
  }

  /** Totals of the per-step `compute/*` metrics over this run's records (every session) and `pending`. */
  protected computeTotals(pending: Record<string, number> = {}): Record<string, number> {
    const totals: Record<string, number> = {};
    for (const r of [...this.records, pending]) {
      if (r.step === 0) continue;
      for (const [key, value] of Object.entries(r)) if (key.startsWith('compute/') && Number.isFinite(value)) totals[key] = (totals[key] ?? 0) + value;
    }
    return totals;
  }

  protected validationMaxNewTokens(): number {
    return this.resolvedConfig.validation.maxNewTokens;
  }

  /** Subclasses may add validation metrics (SFT: the NLL of the reference solutions; RL: the reward model's, on the greedy responses). */
  protected async extraValidationMetrics(_problems: readonly Problem[], _greedy: readonly GreedyResult[]): Promise<Record<string, number>> {
    return {};
  }

  /** Saves a checkpoint of the current step into the run directory (or the checkpoint sink); returns its folder. */
  async saveCheckpoint(): Promise<string> {
    const dir = this.runDir;
    if (!dir && this.runDirPath !== undefined) throw new Error('saveCheckpoint(): the run directory is not open; call it from run(), or after resume()');
    if (!dir && !this.checkpointSink) throw new Error('saveCheckpoint(): the trainer has neither a runDir nor a checkpoint sink');
    const content = this.checkpointContent();
    content.state = { ...content.state, config: this.resolvedConfig };
    let path: string;
    if (dir) {
      path = await dir.checkpointDir(this.step);
      await saveTrainingCheckpoint(path, this.step, content);
      await this.saveLoraPolicy(path);
      await dir.commitCheckpoint(this.step, { keep: this.resolvedConfig.checkpoint.keep });
    } else {
      path = await this.checkpointSink!.dirFor(this.step);
      await saveTrainingCheckpoint(path, this.step, content);
      await this.saveLoraPolicy(path);
      await this.checkpointSink!.commit(this.step);
    }
    await this.emit({ type: 'checkpoint', step: this.step, dir: path });
    return path;
  }

  /**
   * Trains to config.steps (or until stopped), validating and checkpointing on the way. With a
   * runDir, the run directory is open (and locked) until run() returns; a run that throws is
   * recorded as failed there.
   */
  async run(options: RunOptions = {}): Promise<RunSummary> {
    const config = this.resolvedConfig;
    this.clockStart ??= performance.now();
    const dir =
      this.runDir ?? (this.runDirPath === undefined ? null : await this.openRunDir(this.runDirUsed ? await continueMode(this.runDirPath) : 'new'));
    try {
      const summary = await this.loop(options);
      if (dir) {
        if (!summary.stopped) await savePolicy(dir.path, this.policy, { lora: this.lora });
        await dir.writeSummary({ status: summary.stopped ? 'stopped' : 'finished', step: this.step, total: config.steps, results: summaryResults(summary) });
      }
      await this.emit({ type: 'done', summary });
      return summary;
    } catch (err) {
      await dir?.writeSummary({ status: 'failed', step: this.step, total: config.steps, error: (err as Error).message }).catch(() => undefined);
      throw err;
    } finally {
      await this.closeRunDir();
    }
  }

  private async loop(options: RunOptions): Promise<RunSummary> {
    const config = this.resolvedConfig;
    const checkpoints = this.runDir !== null || this.checkpointSink !== undefined;
    const hasValidation = this.validationProblems.length > 0;
    // Loaded weights were checked by loadCheckpoint; fresh ones are checked once here.
    if (this.step === 0) await checkFiniteWeights(this.checkpointContent().models);
    if (this.step === 0 && hasValidation && config.validation.beforeTraining && !this.records.some((r) => r.step === 0)) {
      await this.record({ ...(await this.validate()) });
    }
    let checkpointedAt = -1;
    let stopped = false;
    while (this.step < config.steps && this.earlyEnd() === null) {
      if (options.signal?.aborted || (options.stopAtStep !== undefined && this.step >= options.stopAtStep)) {
        stopped = true;
        break;
      }
      const started = performance.now();
      const metrics = await this.trainStep();
      metrics['timing/step_s'] = (performance.now() - started) / 1000;
      this.currentStep++;
      const every = config.validation.every;
      const last = this.step === config.steps || this.earlyEnd(metrics) !== null;
      const validateNow = hasValidation && ((every > 0 && this.step % every === 0) || last);
      await this.record({ ...metrics, ...(validateNow ? await this.validate() : {}) });
      checkSkips(this.trainerName.toUpperCase(), this.records, this.step, config.steps, config.maxSkippedSteps);
      if (checkpoints && config.checkpoint.every > 0 && this.step % config.checkpoint.every === 0) {
        await this.saveCheckpoint();
        checkpointedAt = this.step;
      }
    }
    if (checkpoints && checkpointedAt !== this.step && this.step > 0) await this.saveCheckpoint();
    return this.summary(stopped, this.runDir !== null && !stopped ? this.runDir.path : null);
  }

  /** One metrics record: to the run directory (which stamps its time), then to the listeners. */
  private async record(metrics: Record<string, number>): Promise<void> {
    const time = this.runDir ? (await this.runDir.appendMetrics(this.step, metrics)).time : (performance.now() - this.clockStart!) / 1000;
    const record: MetricsRecord = { step: this.step, time, ...metrics };
    this.records.push(record);
    await this.emit({ type: 'metrics', record, totalSteps: this.resolvedConfig.steps });
  }

  private summary(stopped: boolean, policyDir: string | null): RunSummary {
    const validations = this.records.filter((r) => r['val/acc'] !== undefined);
    const valMetrics = (r: MetricsRecord) => Object.fromEntries(Object.entries(r).filter(([k]) => k.startsWith('val/')));
    const first = validations[0];
    const lastVal = validations.at(-1);
    const best = validations.reduce<MetricsRecord | undefined>((b, r) => (b === undefined || r['val/acc']! > b['val/acc']! ? r : b), undefined);
    return {
      trainer: this.trainerName,
      step: this.step,
      totalSteps: this.resolvedConfig.steps,
      stopped,
      firstValidation: first ? { step: first.step, metrics: valMetrics(first) } : null,
      lastValidation: lastVal ? { step: lastVal.step, metrics: valMetrics(lastVal) } : null,
      best: best ? { step: best.step, 'val/acc': best['val/acc']! } : null,
      last: this.records.filter((r) => r.step > 0).at(-1) ?? null,
      trainSeconds: this.records.reduce((s, r) => s + (r['timing/step_s'] ?? 0), 0),
      skippedSteps: this.records.filter(stepSkipped).length,
      policyDir,
      compute: this.computeTotals(),
      endedEarly: !stopped && this.step < this.resolvedConfig.steps ? this.earlyEnd() : null,
    };
  }
}

/**
 * The headline results of a run, for summary.json's `results`: greedy accuracy before training
 * (val/acc@start), at the last validation (val/acc, val/pass@k) and the best one (val/acc@best),
 * and the compute spent (compute/*: totals over the run, so runs compare at equal budgets).
 */
export function summaryResults(s: RunSummary): Record<string, number> {
  const out: Record<string, number> = {};
  const first = s.firstValidation;
  const last = s.lastValidation;
  if (first && first.step === 0 && first.metrics['val/acc'] !== undefined) out['val/acc@start'] = first.metrics['val/acc'];
  if (last) for (const [key, value] of Object.entries(last.metrics)) if (key === 'val/acc' || key === 'val/pass@k') out[key] = value;
  if (s.best) out['val/acc@best'] = s.best['val/acc'];
  for (const [key, value] of Object.entries(s.compute)) out[key] = value;
  return out;
}

/** Config keys (of config.json's { trainer, config }) a resumed run may change: the step count, to extend it, and the checkpoint settings. */
const RESUMABLE_KEYS = ['config.steps', 'config.checkpoint'];

/** How to open a run directory to continue what is there: resume a checkpoint, start over a run without one, or start new. */
async function continueMode(path: string): Promise<RunMode> {
  if ((await readRunInfo(path).catch(() => null)) === null) return 'new';
  // An unreadable latest.json counts as a checkpoint: resuming falls back to an intact one, or says why it cannot.
  const latest = await readLatestCheckpoint(path).catch(() => undefined);
  return latest === null ? 'force' : 'resume';
}

/** A record read back from metrics.jsonl, where JSON's null stood for a non-finite number. */
function numericRecord(record: MetricsRecord<MetricValue>): MetricsRecord {
  const out: MetricsRecord = { step: record.step, time: record.time };
  for (const [key, value] of Object.entries(record)) if (key !== 'step' && key !== 'time') out[key] = typeof value === 'number' ? value : Number.NaN;
  return out;
}

/**
 * Refuses to resume under a config that changes anything but the step count (to extend a run; a
 * decaying LR schedule then stretches to the new length) and the checkpoint settings.
 */
function checkSameConfig(saved: Record<string, unknown> | undefined, current: object, where: string): void {
  if (!saved) return;
  const differences: string[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) walk((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], path ? `${path}.${key}` : key);
    } else if (a !== b && path !== 'steps' && !path.startsWith('checkpoint.') && !(path === 'lora' && a === undefined && (b as { rank?: number } | null)?.rank === 0)) {
      // (A checkpoint from before the lora section existed was a full fine-tune: lora.rank 0.)
      differences.push(`${path}: ${JSON.stringify(a)} → ${JSON.stringify(b)}`);
    }
  };
  walk(saved, current, '');
  if (differences.length > 0) {
    throw new Error(`cannot resume from ${where}: the config differs from the one the run started with (${differences.join('; ')}); ` +
      'use the original config, or start a new run directory');
  }
}
