// ProcessBench-format files (Qwen/ProcessBench; issue 14), JSONL or Parquet:
//
//   {"id", "generator", "problem", "steps": [...], "final_answer_correct", "label"}
//
// `label` is the index of the first wrong step, or -1 when every step is correct; `id`,
// `generator` and `final_answer_correct` are optional here. The benchmark's subsets (gsm8k, math,
// olympiadbench, omnimath) come one per file (the Hugging Face splits), so a record's subset is its
// `subset` column when it has one, else the file's name (subsetOfFile). JSONL, a JSON array or
// Parquet (data/records.ts).
import { basename, dirname, extname } from 'node:path';
import { DataFormatError } from '@repirl/rl';
import { columnsText, fieldError, fileError, fileFormat, fileRecords, idOf, whereOf, typeName, type DataFileFormat } from './records.js';
import { processBenchFields } from './step-labelled.js';

export interface ProcessBenchSample {
  id: string;
  subset: string;
  problem: string;
  steps: string[];
  /** Index of the first wrong step, or -1. */
  label: number;
  generator?: string;
  finalAnswerCorrect?: boolean;
}

/**
 * The subset of a file's records without a `subset` column: the file name without its extension
 * and without a shard suffix ("gsm8k-00000-of-00001" → gsm8k); a shard or split name alone
 * ("0000", "test", "train-00000-of-00002": the Hugging Face Parquet layout <config>/<split>/0000.parquet)
 * gives the folder's name.
 */
export function subsetOfFile(path: string): string {
  const name = basename(path, extname(path)).replace(/-\d{5}-of-\d{5}$/, '');
  if (/^\d+$/.test(name) || ['train', 'test', 'validation', 'dev', 'data'].includes(name)) {
    const folder = basename(dirname(path));
    if (folder !== '' && folder !== '.' && folder !== '/') return folder;
  }
  return name;
}

/** The samples of a ProcessBench-format file, one at a time. */
export async function* readProcessBenchFile(path: string, options: { format?: 'auto' | DataFileFormat } = {}): AsyncIterable<ProcessBenchSample> {
  const format = await fileFormat(path, options.format);
  const name = basename(path);
  const fileSubset = subsetOfFile(path);
  const seen = new Map<string, string>();
  let records = 0;
  for await (const record of fileRecords(path, format)) {
    const where = whereOf(path, record);
    const r = record.value;
    if (records++ === 0 && (r.problem === undefined || r.steps === undefined || r.label === undefined)) {
      const missing = ['problem', 'steps', 'label'].filter((k) => r[k] === undefined);
      throw fileError(where, `the first record (${where.short}) is not a ProcessBench record: it has no ${missing.map((m) => JSON.stringify(m)).join(', ')}; ` +
        `columns found: ${columnsText(r)}; expected id, generator, problem, steps (a list of step texts), final_answer_correct, label (first wrong step or -1)`);
    }
    const { problem, steps, label } = processBenchFields(r, where);
    const id = idOf(r, where, record.line !== null ? `${name}:${record.line}` : `${name}#${record.row}`);
    let subset = fileSubset;
    if (r.subset !== undefined && r.subset !== null) {
      if (typeof r.subset !== 'string' || r.subset.trim() === '') throw fieldError(where, 'subset', `must be a non-empty string, got ${typeName(r.subset)}`);
      subset = r.subset;
    }
    const key = `${subset}\u0000${id}`;
    const previous = seen.get(key);
    if (previous !== undefined) throw fieldError(where, 'id', `${JSON.stringify(id)} is already the id of ${previous} in subset ${JSON.stringify(subset)}; ids must be unique`);
    seen.set(key, where.short);
    const sample: ProcessBenchSample = { id, subset, problem, steps, label };
    if (r.generator !== undefined && r.generator !== null) {
      if (typeof r.generator !== 'string') throw fieldError(where, 'generator', `must be a string, got ${typeName(r.generator)}`);
      sample.generator = r.generator;
    }
    if (r.final_answer_correct !== undefined && r.final_answer_correct !== null) {
      if (typeof r.final_answer_correct !== 'boolean') throw fieldError(where, 'final_answer_correct', `must be true or false, got ${typeName(r.final_answer_correct)}`);
      sample.finalAnswerCorrect = r.final_answer_correct;
    }
    yield sample;
  }
  if (records === 0) throw new DataFormatError(`${path}: has no records; a ProcessBench file has one {problem, steps, label} record per line (or Parquet row)`, path, null);
}

/** Every sample of one or more ProcessBench files, in order. */
export async function loadProcessBench(paths: string | readonly string[], options: { format?: 'auto' | DataFileFormat } = {}): Promise<ProcessBenchSample[]> {
  const out: ProcessBenchSample[] = [];
  for (const path of typeof paths === 'string' ? [paths] : paths) for await (const s of readProcessBenchFile(path, options)) out.push(s);
  return out;
}
