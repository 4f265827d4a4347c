// The problems of an experiment command, from the task's generator or from files (issue 14),
// prepared before the run directory is created: a file is read and checked in full first (bad
// rows, a mapping that fits nothing, a verifier module that does not load, a split the command
// needs that is empty all fail here, exit 2, nothing written), and `--dry-run` reports what was
// read. The runners then take their problems from ctx.data:
//
//   task   problems(split, seed, count): `count` problems of the split generated from `seed`
//          (tasks/splits.ts; train may repeat a prompt, held-out splits are distinct); the task's
//          verifier and exact step labels; steps are lines.
//   file   problems(split, seed, count): the split's first `count` problems in file order (all of
//          them when count is null; fewer when the split has fewer, said once in the run's log);
//          the verifier of the `verifier` section (by layout, or the user's module); no exact step
//          labels; steps by data.steps.
//
// A run from files writes data.json (the manifest: every file's SHA-256, size, layout and
// mapping, the problems per split and the duplicates dropped) and reports data/duplicates; a
// resumed run refuses files whose SHA-256 changed since it started.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { writeFileAtomic } from '@repirl/autograd';
import {
  SPLITS, TaskCodec, autoAnswerRule, dataFilesSpec, generateSplit, getTask, parseStepRule, readDataSplits, segmentSteps, verifierFromConfig,
  type DataSplits, type Problem, type ProblemLayout, type Split, type StepRule, type Task, type Verifier,
} from '@repirl/rl';
import type { ExperimentName } from '../config/index.js';
import type { DataFileKeys, VerifierKeys } from '../config/data.js';

/** What a run from files records in data.json. */
export interface DataManifest {
  source: 'file';
  files: DataSplits['files'];
  /** Problems per split after duplicates were dropped. */
  problems: Record<Split, number>;
  duplicates: Record<Split, number>;
  /** The hash partition of data.path (null for split files). */
  fractions: { validation: number; test: number } | null;
  steps: string;
  verifier: VerifierKeys;
}

export interface ProblemSource {
  kind: 'task' | 'file';
  /** The task's name, or the data files' names: for log lines. */
  name: string;
  /** How responses are cut into steps (tasks: lines). */
  stepRule: StepRule;
  verify: Verifier;
  /** The generated family (expert and noisy solutions, exact step labels), or null for files. */
  task: Task | null;
  /** Problems of a split (see the file comment); `count` null: all (files only). */
  problems(split: Split, seed: number, count: number | null): Problem[];
  /** Files only: what the run records (data.json). */
  manifest: DataManifest | null;
  /** Notes for the run's log (e.g. a split smaller than a count asked for); each said once. */
  notes: string[];
}

/** The config keys data preparation reads (every experiment config has them, sft's data has more). */
interface DataConfig {
  task: { name: string; difficulty: Record<string, number> };
  data?: Partial<DataFileKeys> & { source?: string };
  verifier?: VerifierKeys;
}

const isFileSource = (c: DataConfig): boolean => c.data?.source === 'file';

/** The splits a command reads, for the check that none of them is empty. */
function neededSplits(name: ExperimentName, config: Record<string, unknown>): Split[] {
  switch (name) {
    case 'sft':
      return ['train', 'validation'];
    case 'rl':
      return ['train', 'validation'];
    case 'eval':
      return [config.split as Split];
    case 'prm-train':
      return 'rl' in config ? ['train', 'validation', 'test'] : ['train', 'test'];
    case 'prm-eval':
    case 'search':
      return ['test'];
    case 'prm-ttt':
      // The online PRM's experts are demonstrations of training problems.
      return [...((config.ttt as { prm?: string } | undefined)?.prm === 'online' ? ['train' as const] : []), config.split === 'validation' ? 'validation' : 'test'];
  }
}

/** The problems of a resolved experiment config (see the file comment); throws DataError on bad data. */
export async function prepareProblems(name: ExperimentName, config: unknown): Promise<ProblemSource> {
  const c = config as DataConfig;
  if (!isFileSource(c)) return taskSource(c);
  return fileSource(name, c as Required<DataConfig> & { data: DataFileKeys });
}

/** A data problem found while preparing: the command reports it as a usage error (exit 2, nothing written). */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

function taskSource(c: DataConfig): ProblemSource {
  const task = getTask(c.task.name);
  const difficulty = c.task.difficulty;
  return {
    kind: 'task',
    name: task.name,
    stepRule: 'lines',
    verify: task.verify.bind(task) as Verifier,
    task,
    problems: (split, seed, count) => {
      if (count === null) throw new Error(`${task.name}: a generated split has no end; give a count`);
      return generateSplit(task, split, seed >>> 0, count, difficulty, { repeats: split === 'train' }).problems;
    },
    manifest: null,
    notes: [],
  };
}

async function fileSource(name: ExperimentName, c: Required<DataConfig> & { data: DataFileKeys }): Promise<ProblemSource> {
  const d = c.data;
  let data: DataSplits;
  try {
    data = await readDataSplits(dataFilesSpec(d));
  } catch (err) {
    throw new DataError(`data: ${(err as Error).message}`);
  }
  const layouts = [...new Set(data.files.map((f) => f.layout))];
  let verify: Verifier;
  if (c.verifier.module === null && c.verifier.rule === 'auto' && layouts.length > 1) {
    throw new DataError(
      `data: the files have different layouts (${data.files.map((f) => `${f.key} ${f.layout}`).join(', ')}), so verifier.rule=auto has no one answer rule; ` +
        'set verifier.rule (####, boxed, answer-is, last-number)',
    );
  }
  try {
    verify = await verifierFromConfig(c.verifier as Parameters<typeof verifierFromConfig>[0], layouts[0] as ProblemLayout);
  } catch (err) {
    throw new DataError(`verifier: ${(err as Error).message}`);
  }
  const where = data.files[0]!.key === 'path' ? `data.path (${d.path})` : 'the split files';
  for (const split of neededSplits(name, c as unknown as Record<string, unknown>)) {
    if (data.splits[split].length > 0) continue;
    const problems = SPLITS.reduce((n, s) => n + data.splits[s].length, 0);
    throw new DataError(data.files[0]!.key === 'path'
      ? `data: the ${split} split of ${where} is empty: none of its ${problems} problems falls in the ${split} part of the hash space ` +
        `(${split === 'train' ? 'the rest' : `data.fractions.${split} = ${d.fractions[split as 'validation' | 'test']}`}); give more problems, ` +
        `${split === 'train' ? 'lower data.fractions' : `raise data.fractions.${split}`}, or give split files (data.train / validation / test)`
      : `data: \`repirl ${name.replace('-', ' ')}\` reads the ${split} split, but data.${split} is not given`);
  }
  if (name === 'sft') {
    const bare = data.splits.train.find((p) => p.solution === undefined);
    if (bare !== undefined) {
      const file = data.files.find((f) => f.key === 'path' || f.key === 'train')!;
      throw new DataError(
        `data: sft trains on worked solutions, but ${file.path} problem ${JSON.stringify(bare.id)} has none (layout ${file.layout}: ` +
          `${Object.entries(file.mapping).map(([k, v]) => `${k} ← ${JSON.stringify(v)}`).join(', ')}); map a solution column with data.columns.solution ` +
          "(e.g. extra_info.answer in verl's GSM8K files), or train on trajectories (data.source=jsonl)",
      );
    }
  }
  const stepRule = parseStepRule(d.steps);
  const notes: string[] = [];
  const manifest: DataManifest = {
    source: 'file',
    files: data.files,
    problems: { train: data.splits.train.length, validation: data.splits.validation.length, test: data.splits.test.length },
    duplicates: data.duplicates,
    fractions: data.files[0]!.key === 'path' ? { ...d.fractions } : null,
    steps: d.steps,
    verifier: c.verifier,
  };
  return {
    kind: 'file',
    name: data.files.map((f) => basename(f.path)).join(', '),
    stepRule,
    verify,
    task: null,
    problems: (split, _seed, count) => {
      const all = data.splits[split];
      if (count !== null && count > all.length) {
        const note = `the ${split} split has ${all.length} problems, fewer than the ${count} asked for: using all ${all.length}`;
        if (!notes.includes(note)) notes.push(note);
      }
      return count === null ? all : all.slice(0, count);
    },
    manifest,
    notes,
  };
}

/** The total of problems dropped as duplicates. */
export const droppedDuplicates = (m: DataManifest): number => SPLITS.reduce((n, s) => n + m.duplicates[s], 0);

/**
 * For --resume, before the run directory is opened: every data file the run read (its data.json)
 * must still have the SHA-256 it had (a changed file would change the problems mid-run).
 */
export async function checkResumedData(source: ProblemSource, file: string): Promise<void> {
  if (source.manifest === null) return;
  const before = await readFile(file, 'utf8').then((t) => JSON.parse(t) as DataManifest, () => null);
  for (const f of before?.files ?? []) {
    const now = source.manifest.files.find((g) => g.key === f.key);
    if (now !== undefined && now.sha256 !== f.sha256) {
      throw new DataError(`data.${f.key} (${now.path}) changed since the run started (sha256 ${f.sha256.slice(0, 12)}… → ${now.sha256.slice(0, 12)}…): resume with the same file, or start a new run`);
    }
  }
}

/** Writes data.json (the manifest) into the run directory. */
export async function recordData(source: ProblemSource, file: string): Promise<void> {
  if (source.manifest !== null) await writeFileAtomic(file, `${JSON.stringify(source.manifest, null, 2)}\n`);
}

/** The dry run's report on the data read: files, problems per split, duplicates, the verifier, one rendered example. */
export function describeData(source: ProblemSource): string {
  const m = source.manifest;
  if (m === null) return '';
  const lines: string[] = [];
  for (const f of m.files) {
    const mapping = Object.entries(f.mapping).map(([k, v]) => `${k} ← ${JSON.stringify(v)}`).join(', ');
    lines.push(`data.${f.key}: ${f.path}: ${f.format}, layout ${f.layout} (${mapping}), ${f.problems} problems, ${f.bytes} bytes, sha256 ${f.sha256}`);
  }
  const dropped = droppedDuplicates(m);
  lines.push(
    `problems: train ${m.problems.train}, validation ${m.problems.validation}, test ${m.problems.test}` +
      (m.fractions !== null ? ` (split by the hash of each prompt: validation ${m.fractions.validation}, test ${m.fractions.test})` : ' (one file per split)') +
      `; ${dropped} duplicate${dropped === 1 ? '' : 's'} dropped${dropped > 0 ? ` (${SPLITS.filter((s) => m.duplicates[s] > 0).map((s) => `${s} ${m.duplicates[s]}`).join(', ')})` : ''}`,
  );
  const layout = m.files[0]!.layout;
  const example = SPLITS.map((s) => source.problems(s, 0, 1)[0]).find((p) => p !== undefined)!;
  const auto = autoAnswerRule(layout, example);
  lines.push(m.verifier.module !== null
    ? `verifier: the module ${m.verifier.module}`
    : `verifier: rule ${m.verifier.rule === 'auto' ? `auto (${auto.rule} for ${layout})` : m.verifier.rule}, percent ${m.verifier.percent === 'auto' ? `auto (${auto.percent})` : m.verifier.percent}` +
      (m.verifier.relTol > 0 ? `, relTol ${m.verifier.relTol}` : ''));
  const codec = new TaskCodec();
  lines.push(`example (${JSON.stringify(example.id)}, answer ${JSON.stringify(example.answer)}), as the policy reads it:`);
  lines.push(...indent(codec.promptText(example.prompt).trimEnd()).map((l) => `  prompt  │ ${l}`));
  if (example.solution !== undefined) {
    const steps = segmentSteps(example.solution, source.stepRule);
    steps.forEach((step, k) => indent(step.text).forEach((l, i) => lines.push(`  ${i === 0 ? `step ${String(k + 1).padStart(2)}` : '       '} │ ${l}`)));
    lines.push(`  (${steps.length} step${steps.length === 1 ? '' : 's'} by data.steps = ${m.steps}; verdict of the solution: ${source.verify(example, codec.responseText(example.solution)).reason})`);
  } else {
    lines.push(`  (no worked solution; steps by data.steps = ${m.steps})`);
  }
  return `${lines.join('\n')}\n`;
}

function indent(text: string, width = 100): string[] {
  return text.split('\n').map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
}
