// The config keys of problem files (docs/config.md), declared once for every command that reads
// them: one file split by the hash of each prompt (`path`, `fractions`) or one file per split
// (`train`, `validation`, `test`), how they are read (`format`, `layout`, `columns`) and how their
// solutions and responses are cut into steps (`steps`).
import { s, type Infer, type Issue } from '../config/schema.js';
import { DEFAULT_SPLIT_FRACTIONS, SPLITS } from '../tasks/splits.js';
import { parseStepRule } from '../tasks/format.js';
import { PROBLEM_LAYOUTS, type ReadProblemsOptions } from './problem-files.js';
import type { DataFilesSpec } from './splits.js';

const MAPPED = ['prompt', 'answer', 'solution', 'id'];

const fraction = (split: string, value: number) =>
  s.number(`share of the hash space (of the prompts' keys) that is the ${split} split of path`, { default: value, min: 0, max: 1, minExclusive: true });

/** The fields of problem files, for a command's data section (see problemFileSchema). */
export const problemFileFields = {
  path: s.optional(s.string('one .jsonl or .parquet file, split into train, validation and test by the hash of each prompt (fractions)', { nonEmpty: true })),
  train: s.optional(s.string("the train split's file (with validation / test: one file per split, instead of path; a prompt in two of them is refused)", { nonEmpty: true })),
  validation: s.optional(s.string("the validation split's file (instead of path)", { nonEmpty: true })),
  test: s.optional(s.string("the test split's file (instead of path)", { nonEmpty: true })),
  fractions: s.object('how path is split by the hash of each prompt (train holds the rest)', {
    validation: fraction('validation', DEFAULT_SPLIT_FRACTIONS.validation),
    test: fraction('test', DEFAULT_SPLIT_FRACTIONS.test),
  }, {
    check: (f): Issue[] => (f.validation + f.test < 1 ? [] : [{ path: 'test', message: `validation + test is ${f.validation + f.test}; they must leave room for train (< 1)` }]),
  }),
  format: s.enum('file format: auto (by extension: .parquet / .pq, else JSONL), jsonl, parquet', ['auto', 'jsonl', 'parquet'], { default: 'auto' }),
  layout: s.enum('record layout: auto (from the first record), gsm8k, math, verl, generic', ['auto', ...PROBLEM_LAYOUTS], { default: 'auto' }),
  columns: s.record('column names of the fields prompt, answer, solution, id (dotted paths reach into nested columns), e.g. {"prompt": "q", "answer": "a"}',
    s.string('a column name', { nonEmpty: true }), {
      default: {},
      check: (value): Issue[] => Object.keys(value).filter((k) => !MAPPED.includes(k)).map((k) => ({
        path: k, message: `is not a field of a problem; map ${MAPPED.join(', ')}`,
      })),
    }),
  steps: s.string('step segmentation of solutions and responses (what PRMs score): lines, paragraphs (blank-line separated), step-markers ("Step k:"), or a "/regex/flags" separator', { default: 'lines' }),
};

interface ProblemFileValue {
  path: string | null;
  train: string | null;
  validation: string | null;
  test: string | null;
  steps: string;
}

/** The step rule must parse; `path` and the split files exclude each other, and one of them is needed when `required`. */
export function checkProblemFiles(value: ProblemFileValue, required = true): Issue[] {
  const issues: Issue[] = [];
  try {
    parseStepRule(value.steps);
  } catch (err) {
    issues.push({ path: 'steps', message: (err as Error).message });
  }
  const splitFiles = SPLITS.filter((k) => value[k] !== null);
  if (value.path !== null && splitFiles.length > 0) {
    issues.push({ path: splitFiles[0]!, message: `a split file excludes path (${JSON.stringify(value.path)}, which is split by the hash of each prompt): give one or the other` });
  } else if (required && value.path === null && splitFiles.length === 0) {
    issues.push({ path: 'path', message: 'is required (one file, split by the hash of each prompt), or give train / validation / test files' });
  }
  return issues;
}

export const problemFileSchema = s.object('problems read from JSONL or Parquet files', problemFileFields, { check: (value) => checkProblemFiles(value) });

export type ProblemFileConfig = Infer<typeof problemFileSchema>;

/** readProblemFile's options from a resolved problem file section. */
export function problemFileOptions(config: Pick<ProblemFileConfig, 'format' | 'layout' | 'columns'>): ReadProblemsOptions {
  return { format: config.format, layout: config.layout, ...(Object.keys(config.columns).length > 0 ? { columns: config.columns } : {}) };
}

/** readDataSplits' spec from a resolved problem file section. */
export function dataFilesSpec(config: Omit<ProblemFileConfig, 'steps'>): DataFilesSpec {
  return {
    path: config.path, train: config.train, validation: config.validation, test: config.test,
    read: problemFileOptions(config), fractions: { validation: config.fractions.validation, test: config.fractions.test },
  };
}
