// What the runners of train.ts (sft, rl, eval) and prm.ts (prm train, prm eval) share: the GPU
// backend, the starting policy and its codec, the seeds of the held-out problems, and running a
// trainer inside a RunContext (context.ts) to its end or a stop request.
//
// The starting policy (docs/config.md "Starting policy") comes from a repirl checkpoint (`init`)
// or a Hugging Face model directory (`model=DIR`: loadHfModel's weights, loadHfTokenizer's
// tokenizer, prompts through its chat template unless `template=raw`, stopping at its eos ids).
// Every checkpoint and final policy of a run that started from a Hugging Face model carries what
// it needs to be resumed, evaluated and exported without that directory:
//   hf/          the model's config.json and tokenizer files (tokenizer.json, tokenizer_config.json,
//                generation_config.json, chat_template.jinja, …), copied; exportHfModel's `source`
//   codec.json   {"kind": "repirl-codec", "tokenizer": "hf", "template": "chat" | "raw", "source": DIR}
// A checkpoint without codec.json is a byte-level toy policy.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DecoderLM, GpuBackend, checkVocab, loadHfModel, loadHfTokenizer, readHfConfig, writeFileAtomic, type HfTokenizer } from '@repirl/autograd';
import { getRuntime } from '@repirl/kernels';
import { TaskCodec, loadPolicy, summaryResults, savePolicy, type CheckpointSink, type Problem, type Split, type Trainer, type TrainerEvent } from '@repirl/rl';
import type { TemplateChoice } from '../config/index.js';
import { resolveCheckpoint } from '../run/index.js';
import type { RunContext, RunOutcome } from './context.js';
import type { ProblemSource } from './data.js';

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

/**
 * Checkpoints into the run directory; each one also gets the starting policy's Hugging Face files
 * (recordStart), so it can be resumed and evaluated on its own.
 */
export function sinkInto<C>(ctx: RunContext<C>, start: StartingPolicy | null = null): CheckpointSink {
  return {
    dirFor: (step) => ctx.run.checkpointDir(step),
    commit: async (step) => {
      if (start !== null) await recordStart(await ctx.run.checkpointDir(step), start);
      return ctx.run.commitCheckpoint(step);
    },
  };
}

function forwardMetrics<C>(ctx: RunContext<C>) {
  return async (event: TrainerEvent) => {
    if (event.type !== 'metrics') return;
    const { step, time: _time, ...metrics } = event.record;
    await ctx.report(step, metrics);
  };
}

// ---------------------------------------------------------------------------------------------
// The starting policy

/** How a checkpoint's text becomes tokens (codec.json beside a policy started from a Hugging Face model). */
export interface CodecRecord {
  kind: 'repirl-codec';
  tokenizer: 'hf';
  template: 'chat' | 'raw';
  /** The Hugging Face directory the run started from (for the record; hf/ holds its files). */
  source: string;
}

/** A policy, the codec it reads and writes text with, and (Hugging Face starts) what its checkpoints must carry. */
export interface StartingPolicy {
  policy: DecoderLM;
  codec: TaskCodec;
  /** null for byte-level toy policies; else the directory holding config.json and the tokenizer files, and the codec record. */
  hf: { dir: string; record: CodecRecord } | null;
}

/** The files of a Hugging Face directory a checkpoint copies into hf/ (config.json and the tokenizer's), when present. */
export const HF_START_FILES = [
  'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json', 'vocab.json', 'merges.txt',
  'tokenizer.model', 'chat_template.jinja', 'chat_template.json',
] as const;

const CODEC_FILE = 'codec.json';
const HF_DIR = 'hf';

/** The codec of a Hugging Face tokenizer under the `template` choice ('auto': chat when it has a template). */
export function hfCodec(tokenizer: HfTokenizer, template: TemplateChoice, where: string): TaskCodec {
  const hasTemplate = tokenizer.chatTemplates.has('default');
  if (template === 'chat' && !hasTemplate) throw new Error(`template is "chat" but ${where} has no chat_template (set template=raw)`);
  const chosen = template === 'auto' ? (hasTemplate ? 'chat' : 'raw') : template;
  return new TaskCodec({ tokenizer, template: chosen, bos: tokenizer.addBosToken });
}

/** The policy of a Hugging Face model directory: its weights, tokenizer and chat template. */
export async function loadHfStart(dir: string, template: TemplateChoice): Promise<StartingPolicy> {
  const tokenizer = await loadHfTokenizer(dir);
  const codec = hfCodec(tokenizer, template, dir);
  const { model } = await loadHfModel(await backend(), dir);
  try {
    checkVocab(tokenizer, model.config.vocabSize, join(dir, 'config.json'));
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { policy: model, codec, hf: { dir, record: { kind: 'repirl-codec', tokenizer: 'hf', template: codec.template, source: resolve(dir) } } };
}

/** The codec record of a checkpoint folder (null: none, a byte-level policy). */
export async function readCodecRecord(dir: string): Promise<CodecRecord | null> {
  const file = join(dir, CODEC_FILE);
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new Error(`${file}: cannot be read (${err.message})`);
  });
  if (text === null) return null;
  let value: Partial<CodecRecord>;
  try {
    value = JSON.parse(text) as Partial<CodecRecord>;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (value.kind !== 'repirl-codec' || value.tokenizer !== 'hf') throw new Error(`${file}: expected {"kind": "repirl-codec", "tokenizer": "hf", …}, got kind ${JSON.stringify(value.kind)}, tokenizer ${JSON.stringify(value.tokenizer)}`);
  if (value.template !== 'chat' && value.template !== 'raw') throw new Error(`${file}: template must be "chat" or "raw", got ${JSON.stringify(value.template)}`);
  return { kind: 'repirl-codec', tokenizer: 'hf', template: value.template, source: typeof value.source === 'string' ? value.source : '' };
}

/**
 * The codec a checkpoint folder records (the byte codec when it records none), with `template`
 * checked against the recorded choice ('auto' takes it; another choice is refused).
 */
export async function checkpointCodec(dir: string, template: TemplateChoice = 'auto'): Promise<{ codec: TaskCodec; hf: StartingPolicy['hf'] }> {
  const record = await readCodecRecord(dir);
  if (record === null) {
    if (template === 'chat') throw new Error(`template is "chat" but ${dir} holds a byte-level policy (no ${CODEC_FILE}): only policies started from a Hugging Face model (model=DIR) have a chat template`);
    return { codec: new TaskCodec(), hf: null };
  }
  if (template !== 'auto' && template !== record.template) {
    throw new Error(`template is "${template}" but the policy in ${dir} was trained with template "${record.template}" (${join(dir, CODEC_FILE)}); leave template at auto`);
  }
  const tokenizerDir = join(dir, HF_DIR);
  const tokenizer = await loadHfTokenizer(tokenizerDir);
  return { codec: hfCodec(tokenizer, record.template, tokenizerDir), hf: { dir: tokenizerDir, record } };
}

/** The policy of a repirl checkpoint (a run directory's latest, or a checkpoint folder) and its codec. */
export async function loadCheckpointStart(path: string, template: TemplateChoice = 'auto'): Promise<StartingPolicy> {
  const ref = await resolveCheckpoint(path);
  const { codec, hf } = await checkpointCodec(ref.dir, template);
  const policy = await loadPolicy(await backend(), ref.dir);
  try {
    checkVocab(codec.tokenizer, policy.config.vocabSize, join(ref.dir, 'policy.json'));
  } catch (err) {
    policy.dispose();
    throw err;
  }
  return { policy, codec, hf };
}

/** The starting policy of a config with `init` (a checkpoint) or `model` (a Hugging Face directory): exactly one is set (the schemas check). */
export function loadStart(c: { init?: string | null; model?: unknown; template?: TemplateChoice }, initKey: 'init' | 'checkpoint' = 'init'): Promise<StartingPolicy> {
  const init = (c as Record<string, unknown>)[initKey];
  const template = c.template ?? 'auto';
  if (typeof init === 'string') return loadCheckpointStart(init, template);
  if (typeof c.model === 'string') return loadHfStart(c.model, template);
  throw new Error(`no starting policy: set ${initKey}=CHECKPOINT or model=DIR`);
}

/** Writes the starting policy's hf/ files and codec.json into `dir` (nothing for byte-level policies). */
export async function recordStart(dir: string, start: Pick<StartingPolicy, 'hf'>): Promise<void> {
  if (start.hf === null) return;
  const target = join(dir, HF_DIR);
  if (resolve(target) !== resolve(start.hf.dir)) {
    await mkdir(target, { recursive: true });
    for (const name of HF_START_FILES) {
      const from = join(start.hf.dir, name);
      if ((await stat(from).catch(() => null))?.isFile() !== true) continue;
      await writeFileAtomic(join(target, name), await readFile(from));
    }
  }
  await writeFileAtomic(join(dir, CODEC_FILE), `${JSON.stringify(start.hf.record, null, 1)}\n`);
}

/**
 * Refuses an init policy whose architecture is not the one a Hugging Face `model` directory
 * describes, or whose recorded tokenizer differs from the directory's (sft with init and model=DIR).
 */
export async function checkSameHfModel(start: StartingPolicy, dir: string, init: string): Promise<void> {
  const hf = await readHfConfig(dir);
  const saved = start.policy.config as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(hf.config)) {
    if (key === 'maxSeqLen') continue;
    if (JSON.stringify(saved[key]) !== JSON.stringify(value)) {
      throw new Error(`model ${dir} has ${key} ${JSON.stringify(value)} but the init policy ${init} has ${JSON.stringify(saved[key])}: model must be the Hugging Face model the init run started from`);
    }
  }
  if (start.hf === null) throw new Error(`the init policy ${init} is a byte-level policy, not one started from a Hugging Face model; leave model out (or give its toy dimensions)`);
  const [ours, theirs] = await Promise.all([readFile(join(start.hf.dir, 'tokenizer.json')), readFile(join(dir, 'tokenizer.json'))]);
  if (!ours.equals(theirs)) throw new Error(`the tokenizer.json of model ${dir} differs from the one the init policy ${init} was trained with (${join(start.hf.dir, 'tokenizer.json')})`);
}

/**
 * Refuses two text conventions that differ (a PRM and the policy whose samples it scores): byte
 * level against a Hugging Face tokenizer, tokenizer.json files that differ, or another template.
 */
export async function sameTokenizer(a: Pick<StartingPolicy, 'hf'>, b: Pick<StartingPolicy, 'hf'>, whereA: string, whereB: string): Promise<void> {
  const kind = (x: Pick<StartingPolicy, 'hf'>) => (x.hf === null ? 'the byte-level tokenizer' : `the tokenizer of ${x.hf.record.source} (template ${x.hf.record.template})`);
  if (a.hf === null && b.hf === null) return;
  const differ = () => new Error(`${whereA} reads ${kind(a)} but ${whereB} writes ${kind(b)}: score a policy with the PRM's own tokenizer`);
  if (a.hf === null || b.hf === null || a.hf.record.template !== b.hf.record.template) throw differ();
  const [x, y] = await Promise.all([readFile(join(a.hf.dir, 'tokenizer.json')), readFile(join(b.hf.dir, 'tokenizer.json'))]);
  if (!x.equals(y)) throw differ();
}

/** Restores ctx.resumeFrom, runs to the end or the stop request, saves the final policy (and the start's Hugging Face files). */
export async function runTrainer<C>(ctx: RunContext<C>, trainer: Trainer, start: Pick<StartingPolicy, 'hf'> | null = null): Promise<RunOutcome> {
  trainer.on(forwardMetrics(ctx));
  if (ctx.resumeFrom !== null) await trainer.restore(ctx.resumeFrom.dir);
  const summary = await trainer.run({ signal: ctx.signal });
  if (summary.stopped) return { status: 'stopped', step: summary.step };
  await savePolicy(ctx.run.path, trainer.policy, { lora: trainer.loraAdapters }); // LoRA: merged, with adapter/
  if (start !== null) await recordStart(ctx.run.path, start);
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
  let longestPrompt = 1;
  let longest: Problem | undefined;
  for (const p of problems) {
    const length = codec.encodePrompt(p.prompt).length;
    if (length > longestPrompt) [longestPrompt, longest] = [length, p];
  }
  const budget = Math.min(maxNewTokens, policy.config.maxSeqLen - longestPrompt);
  if (budget < 1) {
    throw new Error(`the prompts (up to ${longestPrompt} tokens, problem ${JSON.stringify(longest?.id)}) leave no room for a response in the policy's maxSeqLen ${policy.config.maxSeqLen}`);
  }
  return budget;
}

/**
 * Problems of `split` (train, validation or test: disjoint by construction, see @repirl/rl's
 * tasks/splits.ts and data/splits.ts) from the run's problems (ctx.data): `count` generated by the
 * task from `seed` (training problems may repeat a prompt, a small difficulty has few; held-out
 * ones are distinct), or a file's split — all of the train split, the first `count` of a held-out one.
 */
export function splitProblems(source: ProblemSource, split: Split, seed: number, count: number): Problem[] {
  return source.problems(split, seed, source.kind === 'file' && split === 'train' ? null : count);
}
