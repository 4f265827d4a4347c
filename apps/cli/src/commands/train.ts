// The real runners of `repirl sft|rl|eval`: the CLI's configs mapped onto @repirl/rl's trainers.
//
// Each runner builds the problems from the task (seeded), the policy (sft: fresh from the model
// section; rl and eval: loaded from a checkpoint), the trainer with a CheckpointSink into the
// CLI's run directory, forwards the trainer's 'metrics' events to ctx.report, restores
// ctx.resumeFrom, and runs until the end or ctx.signal; a finished run also saves its final
// policy as <run>/policy.{safetensors,json} (so `repirl rl --set init=<sft run>` starts from it). The config mappings (sftTrainerConfig, rlTrainerConfig) are plain functions so the
// resolved trainer config is easy to check.
import { readFile, writeFile } from 'node:fs/promises';
import { DecoderLM, GpuBackend } from '@repirl/autograd';
import { getRuntime } from '@repirl/kernels';
import {
  RlTrainer, SftTrainer, TaskCodec, deriveSeed, evaluatePolicy, getTask, loadPolicy, loadProblems, loadTrajectories, savePolicy, sftExamplesFromProblems, sftExamplesFromTrajectories,
  type CheckpointSink, type Problem, type RlConfigInput, type RunSummary, type SftConfigInput, type SftExample, type Task, type Trainer, type TrainerEvent,
  type Verifier,
} from '@repirl/rl';
import type { EvalConfig, RlConfig, SftConfig } from '../config/index.js';
import { resolveCheckpoint } from '../run/run-dir.js';
import type { RunContext, RunOutcome } from './runners.js';

/** Seed offset of the held-out validation problems (disjoint from the training seed; the eval default). */
export const VALIDATION_SEED_OFFSET = 1_000_003;
/** Training prompts an RL run draws from (a fixed count, so the prompt order does not depend on `steps`). */
export const RL_TRAIN_PROBLEMS = 4096;
/** Problems per evaluatePolicy call of `repirl eval` (one progress update each). */
const EVAL_CHUNK = 64;

let backendPromise: Promise<GpuBackend> | null = null;
/** One backend for the process (created on first use). */
export function backend(): Promise<GpuBackend> {
  backendPromise ??= getRuntime().then((runtime) => new GpuBackend(runtime));
  return backendPromise;
}

// ---------------------------------------------------------------------------------------------
// Config mappings

/** k samples for pass@k: the CLI's k = 1 means greedy pass@1 only (the trainer's k = 0). */
const passK = (k: number) => (k <= 1 ? 0 : k);

export function sftTrainerConfig(c: SftConfig): SftConfigInput {
  const t = c.train;
  return {
    seed: c.seed,
    steps: t.steps,
    batchSize: t.batchSize,
    microBatchSize: t.microBatchSize ?? 0,
    optim: { lr: t.lr, warmupSteps: t.warmup, schedule: t.schedule, weightDecay: t.weightDecay, maxGradNorm: t.maxGradNorm, minLrRatio: 0 },
    validation: { every: c.eval.every, k: passK(c.eval.k), temperature: c.eval.temperature },
    checkpoint: { every: c.checkpointEvery },
  };
}

export function rlTrainerConfig(c: RlConfig): RlConfigInput {
  const o = c.optim;
  return {
    algorithm: c.algorithm,
    seed: c.seed,
    steps: c.steps,
    rollout: { promptsPerStep: c.rollout.promptsPerStep, k: c.rollout.k, temperature: c.rollout.temperature, maxNewTokens: c.rollout.maxNewTokens },
    filter: { enabled: c.rollout.filter.enabled, low: c.rollout.filter.low, high: c.rollout.filter.high, oversample: c.rollout.filter.oversample },
    actor: {
      lr: o.lr, warmupSteps: o.warmup, schedule: o.schedule, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm, minLrRatio: 0,
      ppoEpochs: o.epochs, miniBatches: o.miniBatches, microBatchSize: o.microBatchSize ?? 0,
      clipLow: c.loss.clipLow, clipHigh: c.loss.clipHigh, dualClip: c.loss.dualClip, aggregation: c.loss.aggregation, entropyCoef: c.loss.entropyCoef,
    },
    advantage: { gamma: c.critic.gamma, lambda: c.critic.lambda },
    kl: { coef: c.loss.kl.coef, estimator: c.loss.kl.estimator, placement: c.loss.kl.placement },
    critic: { lr: c.critic.lr, valueClip: c.critic.valueClip },
    validation: { every: c.eval.every, k: passK(c.eval.k), temperature: c.eval.temperature },
    checkpoint: { every: c.checkpointEvery },
  };
}

// ---------------------------------------------------------------------------------------------
// Shared plumbing

function taskOf(c: { task: { name: string; difficulty: Record<string, number> } }): { task: Task; verify: Verifier } {
  const task = getTask(c.task.name);
  return { task, verify: task.verify.bind(task) as Verifier };
}

function validationProblems(task: Task, c: { seed: number; task: { difficulty: Record<string, number> }; eval: { problems: number } }): Problem[] {
  return task.generate((c.seed + VALIDATION_SEED_OFFSET) >>> 0, c.eval.problems, c.task.difficulty);
}

export function sinkInto<C>(ctx: RunContext<C>): CheckpointSink {
  return { dirFor: (step) => ctx.run.checkpointDir(step), commit: (step) => ctx.run.commitCheckpoint(step) };
}

function forwardMetrics<C>(ctx: RunContext<C>) {
  return async (event: TrainerEvent) => {
    if (event.type !== 'metrics') return;
    const { step, time: _time, ...metrics } = event.record;
    await ctx.report(step, metrics);
  };
}

export async function loadInit(path: string): Promise<DecoderLM> {
  const ref = await resolveCheckpoint(path);
  return loadPolicy(await backend(), ref.dir);
}

/** Restores ctx.resumeFrom, runs to the end or the stop request, saves the final policy. */
export async function runTrainer<C>(ctx: RunContext<C>, trainer: Trainer): Promise<RunOutcome> {
  trainer.on(forwardMetrics(ctx));
  if (ctx.resumeFrom !== null) await trainer.restore(ctx.resumeFrom.dir);
  const summary = await trainer.run({ signal: ctx.signal });
  if (summary.stopped) return { status: 'stopped', step: summary.step };
  await savePolicy(ctx.run.path, trainer.policy);
  let out = results(summary);
  if (out['val/acc@start'] === undefined && ctx.resumeFrom !== null) {
    // A resumed run validated before training in an earlier session: its step-0 line is in metrics.jsonl.
    const start = await startAccuracy(ctx);
    if (start !== null) out = { 'val/acc@start': start, ...out };
  }
  return { status: 'finished', step: summary.step, results: out };
}

async function startAccuracy<C>(ctx: RunContext<C>): Promise<number | null> {
  await ctx.run.flush();
  const text = await readFile(ctx.run.file('metrics.jsonl'), 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const record = JSON.parse(line) as Record<string, unknown>;
      if (record.step === 0 && typeof record['val/acc'] === 'number') return record['val/acc'];
    } catch {
      // a torn line: ignore
    }
  }
  return null;
}

function results(s: RunSummary): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const first = s.firstValidation;
  const last = s.lastValidation;
  if (first && first.step === 0 && first.metrics['val/acc'] !== undefined) out['val/acc@start'] = first.metrics['val/acc'];
  if (last) for (const [key, value] of Object.entries(last.metrics)) if (key === 'val/acc' || key === 'val/pass@k') out[key] = value;
  if (s.best) out['val/acc@best'] = s.best['val/acc'];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Runners

export async function runSft(ctx: RunContext<SftConfig>): Promise<RunOutcome> {
  const c = ctx.config;
  const { task, verify } = taskOf(c);
  const examples =
    c.data.source === 'jsonl'
      ? await jsonlExamples(c.data.path!, task)
      : sftExamplesFromProblems(task.generate(c.seed, c.data.problems, c.task.difficulty), {
          task,
          errorRate: c.data.source === 'task-noisy' ? c.data.errorRate : 0,
          seed: c.seed,
        });
  const policy = c.init === null
    ? new DecoderLM(await backend(), { vocabSize: new TaskCodec().tokenizer.vocabSize, ...c.model }, { seed: c.seed })
    : checkModelSection(await loadInit(c.init), c);
  const trainer = new SftTrainer({
    policy,
    examples,
    validation: validationProblems(task, c),
    verify,
    config: sftTrainerConfig(c),
    checkpoints: sinkInto(ctx),
  });
  try {
    return await runTrainer(ctx, trainer);
  } finally {
    trainer.dispose();
    policy.dispose();
  }
}

/**
 * The policy an SFT run continues from, once its architecture is the one the model section names
 * (config.json then describes the model that was trained; a mismatch is an error, not ignored).
 */
function checkModelSection(policy: DecoderLM, c: SftConfig): DecoderLM {
  const saved = policy.config as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(c.model)) {
    if (saved[key] !== value) {
      policy.dispose();
      throw new Error(
        `model.${key} is ${JSON.stringify(value)} but the init policy ${c.init} has ${JSON.stringify(saved[key])}: ` +
          `set --set model.${key}=${JSON.stringify(saved[key])} (the model section must describe the policy it continues)`,
      );
    }
  }
  return policy;
}

/**
 * SFT examples from a JSONL file: trajectories ({"id", "prompt", "response", "correct"?}; those
 * marked correct: false are left out) or problems ({"id", "prompt", "answer", "solution"?}; a
 * problem without a solution gets the task's expert one). The first line decides which.
 */
async function jsonlExamples(path: string, task: Task): Promise<SftExample[]> {
  const first = (await readFile(path, 'utf8')).split('\n').find((line) => line.trim() !== '');
  let trajectories = false;
  try {
    trajectories = first !== undefined && typeof (JSON.parse(first) as Record<string, unknown>).response === 'string';
  } catch {
    // loadTrajectories / loadProblems report the bad line
  }
  const examples = trajectories
    ? sftExamplesFromTrajectories(await loadTrajectories(path), { onlyCorrect: true })
    : sftExamplesFromProblems(await loadProblems(path), { task });
  if (examples.length === 0) throw new Error(`${path}: no examples to train on${trajectories ? ' (every trajectory is marked correct: false)' : ''}`);
  return examples;
}

export async function runRl(ctx: RunContext<RlConfig>): Promise<RunOutcome> {
  const c = ctx.config;
  const { task, verify } = taskOf(c);
  const policy = await loadInit(c.init);
  const trainer = await RlTrainer.create({
    policy,
    train: task.generate(c.seed, RL_TRAIN_PROBLEMS, c.task.difficulty),
    validation: validationProblems(task, c),
    verify,
    config: rlTrainerConfig(c),
    checkpoints: sinkInto(ctx),
  });
  try {
    return await runTrainer(ctx, trainer);
  } finally {
    trainer.dispose();
    policy.dispose();
  }
}

export async function runEval(ctx: RunContext<EvalConfig>): Promise<RunOutcome> {
  const c = ctx.config;
  const { task, verify } = taskOf(c);
  const policy = await loadInit(c.checkpoint);
  try {
    return await evaluate(ctx, policy, task, verify);
  } finally {
    policy.dispose();
  }
}

/** `maxNewTokens`, cut to what the policy's context leaves after the longest prompt; throws when nothing is left. */
export function responseBudget(policy: DecoderLM, problems: readonly Problem[], codec: TaskCodec, maxNewTokens: number): number {
  const longestPrompt = problems.reduce((m, p) => Math.max(m, codec.encodePrompt(p.prompt).length), 1);
  const budget = Math.min(maxNewTokens, policy.config.maxSeqLen - longestPrompt);
  if (budget < 1) throw new Error(`the prompts (up to ${longestPrompt} tokens) leave no room for a response in the policy's maxSeqLen ${policy.config.maxSeqLen}`);
  return budget;
}

/**
 * Greedy pass@1 (and pass@k) in chunks of EVAL_CHUNK problems: the progress bar moves per chunk, a
 * stop request ends the run between chunks, and the metrics are the running averages.
 */
async function evaluate(ctx: RunContext<EvalConfig>, policy: DecoderLM, task: Task, verify: Verifier): Promise<RunOutcome> {
  const c = ctx.config;
  const problems = task.generate(c.seed, c.problems, c.task.difficulty);
  const codec = new TaskCodec();
  const maxNewTokens = responseBudget(policy, problems, codec, c.maxNewTokens);
  const sums: Record<string, number> = {};
  const samples: string[] = [];
  let done = 0;
  let metrics: Record<string, number> = {};
  for (let start = 0, chunk = 0; start < problems.length; start += EVAL_CHUNK, chunk++) {
    const part = problems.slice(start, start + EVAL_CHUNK);
    const evaluation = await evaluatePolicy(policy, part, {
      maxNewTokens, k: passK(c.k), temperature: c.temperature, seed: deriveSeed(c.seed, 'eval', chunk), codec, verify,
    });
    for (const [key, value] of Object.entries(evaluation.metrics)) if (key !== 'val/k') sums[key] = (sums[key] ?? 0) + value * part.length;
    for (const g of evaluation.greedy) samples.push(JSON.stringify({ id: g.problem.id, prompt: g.problem.prompt, response: g.response, correct: g.correct }));
    done += part.length;
    metrics = Object.fromEntries(Object.entries(sums).map(([key, sum]) => [key, sum / done]));
    if (evaluation.metrics['val/k'] !== undefined) metrics['val/k'] = evaluation.metrics['val/k'];
    await ctx.report(done, metrics);
    if (ctx.signal.aborted && done < problems.length) break;
  }
  await writeFile(ctx.run.file('samples.jsonl'), samples.map((line) => `${line}\n`).join(''));
  const results: Record<string, unknown> = { 'val/acc': metrics['val/acc'] };
  if (metrics['val/pass@k'] !== undefined) results['val/pass@k'] = metrics['val/pass@k'];
  if (done < problems.length) return { status: 'stopped', step: done, results };
  ctx.log(`${c.task.name}: greedy pass@1 ${metrics['val/acc']!.toFixed(3)} on ${done} problems${metrics['val/pass@k'] !== undefined ? `, pass@${c.k} ${metrics['val/pass@k']!.toFixed(3)}` : ''}`);
  return { status: 'finished', step: done, results };
}
