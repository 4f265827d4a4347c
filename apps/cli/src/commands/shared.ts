// What the runners of train.ts (sft, rl, eval) and prm.ts (prm train, prm eval) share: the GPU
// backend, the starting policy, the seeds of the held-out problems, and running a trainer inside
// a RunContext (context.ts) to its end or a stop request.
import { readFile } from 'node:fs/promises';
import { DecoderLM, GpuBackend } from '@repirl/autograd';
import { getRuntime } from '@repirl/kernels';
import { TaskCodec, generateSplit, loadPolicy, summaryResults, savePolicy, type CheckpointSink, type Difficulty, type Problem, type Split, type Task, type Trainer, type TrainerEvent } from '@repirl/rl';
import { resolveCheckpoint } from '../run/index.js';
import type { RunContext, RunOutcome } from './context.js';

/** Seed offset of the held-out validation problems (disjoint from the training seed; the eval default). */
export const VALIDATION_SEED_OFFSET = 1_000_003;
/** Training prompts an RL run draws from (a fixed count, so the prompt order does not depend on `steps`). */
export const RL_TRAIN_PROBLEMS = 4096;

let backendPromise: Promise<GpuBackend> | null = null;
/** One backend for the process (created on first use). */
export function backend(): Promise<GpuBackend> {
  backendPromise ??= getRuntime().then((runtime) => new GpuBackend(runtime));
  return backendPromise;
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
  let out: Record<string, unknown> = summaryResults(summary);
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

/** `maxNewTokens`, cut to what the policy's context leaves after the longest prompt; throws when nothing is left. */
export function responseBudget(policy: DecoderLM, problems: readonly Problem[], codec: TaskCodec, maxNewTokens: number): number {
  const longestPrompt = problems.reduce((m, p) => Math.max(m, codec.encodePrompt(p.prompt).length), 1);
  const budget = Math.min(maxNewTokens, policy.config.maxSeqLen - longestPrompt);
  if (budget < 1) throw new Error(`the prompts (up to ${longestPrompt} tokens) leave no room for a response in the policy's maxSeqLen ${policy.config.maxSeqLen}`);
  return budget;
}

/**
 * `count` problems of the task's `split` (train, validation or test: disjoint by construction, see
 * @repirl/rl's tasks/splits.ts). Training problems may repeat a prompt (a small difficulty has few);
 * held-out ones are distinct.
 */
export function splitProblems(task: Task, split: Split, seed: number, count: number, difficulty: Difficulty): Problem[] {
  return generateSplit(task, split, seed >>> 0, count, difficulty, { repeats: split === 'train' }).problems;
}
