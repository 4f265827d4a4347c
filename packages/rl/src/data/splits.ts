// Problems from files, split into train, validation and test without leaks (issue 14).
//
// Two ways to say which problem is in which split:
//
//   one file (`path`)        every problem goes to the split its key falls in (tasks/splits.ts
//                            splitOf: a hash of the normalised prompt), so no two splits can hold
//                            the same prompt, whatever the file's order or size;
//   split files (`train`,    each file is one split, as the data set ships it (GSM8K's train/test,
//   `validation`, `test`)    MATH's train/test); a prompt in two of them is refused, naming both
//                            places (a leak the data set itself has must be fixed, not trained on).
//
// Within a split a prompt read again (the same key) is dropped and counted as a duplicate. Every
// file's SHA-256 is computed (streamed) so that a run can record exactly which bytes it read.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { SPLITS, normalisePrompt, problemKey, splitOf, type Split, type SplitFractions } from '../tasks/splits.js';
import type { Problem } from '../tasks/task.js';
import { DataFormatError } from './jsonl.js';
import { readProblemFile, type ProblemFileInfo, type ReadProblemsOptions } from './problem-files.js';

export interface DataFilesSpec {
  /** One file whose problems are split by the hash of their prompts; excludes the split files. */
  path?: string | null;
  /** One file per split. */
  train?: string | null;
  validation?: string | null;
  test?: string | null;
  /** How each file is read (format, layout, columns). */
  read?: ReadProblemsOptions;
  /** The hash partition of `path` (default DEFAULT_SPLIT_FRACTIONS: validation 0.1, test 0.1). */
  fractions?: SplitFractions;
}

/** What a run records about each data file it read. */
export interface DataFileRecord {
  /** The config key that named it: path, train, validation or test. */
  key: 'path' | Split;
  path: string;
  sha256: string;
  bytes: number;
  format: ProblemFileInfo['format'];
  layout: ProblemFileInfo['layout'];
  /** The fields as read: field → column. */
  mapping: ProblemFileInfo['mapping'];
  /** Problems (rows) read from it, duplicates included. */
  problems: number;
}

export interface DataSplits {
  /** Each split's distinct problems, in file order. */
  splits: Record<Split, Problem[]>;
  files: DataFileRecord[];
  /** Problems dropped because their split already held their prompt, per split. */
  duplicates: Record<Split, number>;
}

/** The SHA-256 of a file's bytes (hex), read as a stream. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads the files of `spec` into disjoint, de-duplicated splits (see the file comment). */
export async function readDataSplits(spec: DataFilesSpec): Promise<DataSplits> {
  const given = SPLITS.filter((s) => typeof spec[s] === 'string');
  const hasPath = typeof spec.path === 'string';
  if (hasPath && given.length > 0) {
    throw new Error(`give either one data file (path), split by the hash of each prompt, or split files (${given.join(', ')}), not both`);
  }
  if (!hasPath && given.length === 0) throw new Error('no data file: give path (one file, split by the hash of each prompt) or train / validation / test files');
  const splits: Record<Split, Problem[]> = { train: [], validation: [], test: [] };
  const duplicates: Record<Split, number> = { train: 0, validation: 0, test: 0 };
  const files: DataFileRecord[] = [];
  /** Where each key was first read: its split and "file: problem id". */
  const owner = new Map<string, { split: Split; where: string }>();
  const sources: { key: 'path' | Split; path: string }[] = hasPath ? [{ key: 'path', path: spec.path! }] : given.map((s) => ({ key: s, path: spec[s]! }));
  for (const source of sources) {
    let info: ProblemFileInfo | null = null;
    let count = 0;
    for await (const problem of readProblemFile(source.path, spec.read ?? {}, (i) => (info = i))) {
      count++;
      const split = source.key === 'path' ? splitOf(problem.prompt, spec.fractions) : source.key;
      const key = problemKey(problem.prompt);
      const where = `${source.path} problem ${JSON.stringify(problem.id)}`;
      const first = owner.get(key);
      if (first === undefined) {
        owner.set(key, { split, where });
        splits[split].push(problem);
      } else if (first.split === split) {
        duplicates[split]++;
      } else {
        throw new DataFormatError(
          `the ${first.split} and ${split} files overlap: ${first.where} and ${where} have the same prompt ` +
            `${JSON.stringify(shorten(normalisePrompt(problem.prompt)))} (compared with whitespace collapsed); remove it from one of them`,
          source.path, null, 'prompt');
      }
    }
    if (info === null || count === 0) throw new DataFormatError(`${source.path}: holds no problems (an empty file)`, source.path, null);
    const { format, layout, mapping } = info as ProblemFileInfo;
    const { size } = await stat(source.path);
    files.push({ key: source.key, path: source.path, sha256: await fileSha256(source.path), bytes: size, format, layout, mapping, problems: count });
  }
  return { splits, files, duplicates };
}

function shorten(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
