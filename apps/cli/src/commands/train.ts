// The runners of `repirl sft|rl|eval` (the seam is described in context.ts).
//
// Each runner builds the problems from the task (seeded), the policy (sft: fresh from the model
// section; rl and eval: loaded from a checkpoint) and the trainer with a CheckpointSink into the
// run directory, then runs it (shared.ts runTrainer); a finished run also saves its final policy
// as <run>/policy.{safetensors,json} (so `repirl rl --set init=<sft run>` starts from it).
//
// The command's config is the trainer's schema with the task, the starting policy, the model and
// the data added (config/experiments.ts), so the trainer gets its own keys back, unrenamed:
// only(sftTrainerSchema, config).
import { writeFile } from 'node:fs/promises';
import { DecoderLM } from '@repirl/autograd';
import {
  RlTrainer, SftTrainer, TaskCodec, deriveSeed, evaluatePolicy, jsonlKind, loadProblems, loadTrajectories, only, rlTrainerSchema, sftExamplesFromProblems,
  sftExamplesFromTrajectories, sftTrainerSchema, type Problem, type SftExample, type Task,
} from '@repirl/rl';
import type { EvalConfig, RlConfig, SftConfig, SftHfConfig } from '../config/index.js';
import type { RunContext, RunOutcome } from './context.js';
import type { ProblemSource } from './data.js';
import {
  RL_TRAIN_PROBLEMS, VALIDATION_SEED_OFFSET, backend, checkSameHfModel, loadCheckpointStart, loadHfStart, loadStart, responseBudget, runTrainer, sinkInto, splitProblems,
  type StartingPolicy,
} from './shared.js';

/** Problems per evaluatePolicy call of `repirl eval` (one progress update each). */
const EVAL_CHUNK = 64;

function validationProblems(source: ProblemSource, c: { seed: number; validation: { problems: number } }): Problem[] {
  return splitProblems(source, 'validation', c.seed + VALIDATION_SEED_OFFSET, c.validation.problems);
}

/** The generated task family of a task source (sft's task-* and jsonl sources have one: the config checks data.source). */
const familyOf = (source: ProblemSource): Task => {
  if (source.task === null) throw new Error(`${source.name}: problems from files have no task family (no expert or noisy solutions)`);
  return source.task;
};

export async function runSft(ctx: RunContext<SftConfig>): Promise<RunOutcome> {
  // sftSchemaFor: `model` is the toy model section, or a Hugging Face directory.
  const c = ctx.config as SftConfig | SftHfConfig;
  const source = ctx.data;
  const verify = source.verify;
  const examples =
    c.data.source === 'jsonl'
      ? await jsonlExamples(c.data.path!, familyOf(source))
      : c.data.source === 'file'
      // A file's worked solutions (data.ts checked that every train problem has one).
      ? sftExamplesFromProblems(splitProblems(source, 'train', c.seed, c.data.problems))
      : sftExamplesFromProblems(splitProblems(source, 'train', c.seed, c.data.problems), {
          task: familyOf(source),
          errorRate: c.data.source === 'task-noisy' ? c.data.errorRate : 0,
          seed: c.seed,
        });
  const start = await sftStart(c);
  return trainFrom(ctx, start, () => new SftTrainer({
    policy: start.policy,
    examples,
    validation: validationProblems(source, c),
    verify,
    codec: start.codec,
    config: only(sftTrainerSchema, c),
    checkpoints: sinkInto(ctx, start),
  }));
}

/** Builds the trainer on the starting policy (freed if that fails), runs it (runTrainer), then frees both. */
async function trainFrom<C>(ctx: RunContext<C>, start: StartingPolicy, build: () => SftTrainer | Promise<RlTrainer>): Promise<RunOutcome> {
  let trainer: SftTrainer | RlTrainer;
  try {
    trainer = await build();
  } catch (err) {
    start.policy.dispose();
    throw err;
  }
  try {
    return await runTrainer(ctx, trainer, start);
  } finally {
    trainer.dispose();
    start.policy.dispose();
  }
}

/**
 * The policy SFT starts from: a fresh toy model (the model section), a Hugging Face model
 * (model=DIR), or with init a checkpoint, whose architecture the model section (toy dims, or the
 * Hugging Face directory it started from) must describe.
 */
async function sftStart(c: SftConfig | SftHfConfig): Promise<StartingPolicy> {
  if (c.init === null) {
    if (typeof c.model === 'string') return loadHfStart(c.model, c.template);
    if (c.template === 'chat') throw new Error('template is "chat" but the model section is a byte-level toy model (no chat template); give model=DIR, a Hugging Face model directory');
    return { policy: new DecoderLM(await backend(), { vocabSize: new TaskCodec().tokenizer.vocabSize, ...c.model }, { seed: c.seed }), codec: new TaskCodec(), hf: null };
  }
  const start = await loadCheckpointStart(c.init, c.template);
  try {
    if (typeof c.model === 'string') await checkSameHfModel(start, c.model, c.init);
    else if (start.hf !== null) {
      throw new Error(`the init policy ${c.init} was started from the Hugging Face model ${start.hf.record.source}: set model=DIR to that model directory (the model section must describe the policy it continues)`);
    } else checkModelSection(start.policy, c as SftConfig);
  } catch (err) {
    start.policy.dispose();
    throw err;
  }
  return start;
}

/**
 * The policy an SFT run continues from, once its architecture is the one the model section names
 * (config.json then describes the model that was trained; a mismatch is an error, not ignored).
 */
function checkModelSection(policy: DecoderLM, c: SftConfig): void {
  const saved = policy.config as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(c.model)) {
    if (saved[key] !== value) {
      throw new Error(
        `model.${key} is ${JSON.stringify(value)} but the init policy ${c.init} has ${JSON.stringify(saved[key])}: ` +
          `set --set model.${key}=${JSON.stringify(saved[key])} (the model section must describe the policy it continues)`,
      );
    }
  }
}

/**
 * SFT examples from a JSONL file: trajectories ({"id", "prompt", "response", "correct"?}; those
 * marked correct: false are left out) or problems ({"id", "prompt", "answer", "solution"?}; a
 * problem without a solution gets the task's expert one). The first line decides which.
 */
async function jsonlExamples(path: string, task: Task): Promise<SftExample[]> {
  const trajectories = (await jsonlKind(path)) === 'trajectories';
  const examples = trajectories
    ? sftExamplesFromTrajectories(await loadTrajectories(path), { onlyCorrect: true })
    : sftExamplesFromProblems(await loadProblems(path), { task });
  if (examples.length === 0) throw new Error(`${path}: no examples to train on${trajectories ? ' (every trajectory is marked correct: false)' : ''}`);
  return examples;
}

export async function runRl(ctx: RunContext<RlConfig>): Promise<RunOutcome> {
  const c = ctx.config;
  const source = ctx.data;
  const verify = source.verify;
  const start = await loadStart(c);
  return trainFrom(ctx, start, () => RlTrainer.create({
    policy: start.policy,
    train: splitProblems(source, 'train', c.seed, RL_TRAIN_PROBLEMS),
    validation: validationProblems(source, c),
    verify,
    codec: start.codec,
    config: only(rlTrainerSchema, c),
    checkpoints: sinkInto(ctx, start),
  }));
}

export async function runEval(ctx: RunContext<EvalConfig>): Promise<RunOutcome> {
  const { policy, codec } = await loadStart(ctx.config, 'checkpoint');
  try {
    return await evaluate(ctx, policy, codec);
  } finally {
    policy.dispose();
  }
}

/**
 * Greedy pass@1 (and pass@k) in chunks of EVAL_CHUNK problems: the progress bar moves per chunk, a
 * stop request ends the run between chunks, and the metrics are the running averages.
 */
async function evaluate(ctx: RunContext<EvalConfig>, policy: DecoderLM, codec: TaskCodec): Promise<RunOutcome> {
  const c = ctx.config;
  const { verify } = ctx.data;
  // `problems` of the split: generated, or a file's first ones (of its train split too: eval reads a count, not a stream).
  const problems = ctx.data.problems(c.split, c.seed, c.problems);
  const maxNewTokens = responseBudget(policy, problems, codec, c.maxNewTokens);
  const sums: Record<string, number> = {};
  const samples: string[] = [];
  let done = 0;
  let metrics: Record<string, number> = {};
  for (let start = 0, chunk = 0; start < problems.length; start += EVAL_CHUNK, chunk++) {
    const part = problems.slice(start, start + EVAL_CHUNK);
    const evaluation = await evaluatePolicy(policy, part, {
      maxNewTokens, k: c.k, temperature: c.temperature, seed: deriveSeed(c.seed, 'eval', chunk), codec, verify,
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
  ctx.log(`${ctx.data.name}: greedy pass@1 ${metrics['val/acc']!.toFixed(3)} on ${done} problems${metrics['val/pass@k'] !== undefined ? `, pass@${c.k} ${metrics['val/pass@k']!.toFixed(3)}` : ''}`);
  return { status: 'finished', step: done, results };
}
