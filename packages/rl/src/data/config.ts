// The config keys of a problem file (docs/config.md), declared once for the commands that will
// read one (the CLI wiring of issue 14): `path`, `format`, `layout`, `columns`, `steps`.
import { s, type Infer, type Issue } from '../config/schema.js';
import { parseStepRule } from '../tasks/format.js';
import { PROBLEM_LAYOUTS, type ReadProblemsOptions } from './problem-files.js';

const MAPPED = ['prompt', 'answer', 'solution', 'id'];

export const problemFileSchema = s.object('problems read from a JSONL or Parquet file', {
  path: s.string('the file: .jsonl (one JSON object per line) or .parquet', { nonEmpty: true }),
  format: s.enum('file format: auto (by extension), jsonl, parquet', ['auto', 'jsonl', 'parquet'], { default: 'auto' }),
  layout: s.enum('record layout: auto (from the first record), gsm8k, math, verl, generic', ['auto', ...PROBLEM_LAYOUTS], { default: 'auto' }),
  columns: s.record('column names of the fields prompt, answer, solution, id (dotted paths reach into nested columns), e.g. {"prompt": "q", "answer": "a"}',
    s.string('a column name', { nonEmpty: true }), {
      default: {},
      check: (value): Issue[] => Object.keys(value).filter((k) => !MAPPED.includes(k)).map((k) => ({
        path: k, message: `is not a field of a problem; map ${MAPPED.join(', ')}`,
      })),
    }),
  steps: s.string('step segmentation: lines, paragraphs (blank-line separated), step-markers ("Step k:"), or a "/regex/flags" separator', { default: 'lines' }),
}, {
  check: (value): Issue[] => {
    try {
      parseStepRule(value.steps);
      return [];
    } catch (err) {
      return [{ path: 'steps', message: (err as Error).message }];
    }
  },
});

export type ProblemFileConfig = Infer<typeof problemFileSchema>;

/** readProblemFile's options from a resolved `problemFileSchema` section. */
export function problemFileOptions(config: ProblemFileConfig): ReadProblemsOptions {
  return { format: config.format, layout: config.layout, ...(Object.keys(config.columns).length > 0 ? { columns: config.columns } : {}) };
}
