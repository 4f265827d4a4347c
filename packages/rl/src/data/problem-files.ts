// Problems from data files people have: JSONL or Parquet, in the layouts of the common data sets,
// read incrementally (JSONL line by line, Parquet row group by row group) as an async iterator,
// so a file of millions of rows is read in memory bounded by one line or one row group.
//
//   layout    columns                                       → Problem
//   gsm8k     question, answer ("…\n#### 72")               prompt = question; answer = the text after
//                                                           "####"; solution = the whole worked answer
//                                                           (a §4 solution: steps, then "#### 72")
//   math      problem, solution (…\boxed{…}…), answer?      prompt = problem; solution; answer = the
//                                                           answer column, or the last \boxed{} of the
//                                                           solution
//   verl      data_source, prompt [{role, content}, …],     prompt = the last user message's content
//             reward_model.ground_truth, extra_info, …      (the whole chat in meta.messages); answer =
//                                                           reward_model.ground_truth
//   generic   prompt, answer and/or solution, id?, meta?    a string prompt or a chat list as in verl;
//                                                           an answer holding "####" is split as GSM8K's;
//                                                           a solution alone gives its answer by '####'
//                                                           then \boxed{}
//
// `layout: 'auto'` (the default) picks the layout from the first record's columns, in the order
// verl, gsm8k, math, generic. `columns` maps the fields to other column names (dotted paths reach
// into nested objects: { prompt: 'q', answer: 'reward.gt' }) for any other file; given without a
// layout it reads the file as generic. Every column the mapping does not use is kept under
// `meta` by name (a `meta` object column is merged into it), Parquet's 64-bit integers as numbers
// (as decimal strings beyond 2^53), dates as ISO strings.
//
// Ids: the `id` column (mapped) when the record has one — then they must be unique, which costs a
// set of the ids seen — otherwise "<file name>:<line>" (JSONL) or "<file name>#<row>" (Parquet,
// 0-based row index). Errors are DataFormatErrors naming the file and line (JSONL) or row
// (Parquet) and the field; when the first record does not fit the layout or mapping, the error
// shows the mapping tried and the columns the file has.
import { basename, extname } from 'node:path';
import type { Problem } from '../tasks/task.js';
import { extractAnswer, type AnswerRule } from '../verify/extract.js';
import { answersEquivalent } from '../verify/normalize.js';
import { DataFormatError, isPlainObject, jsonType, streamJsonl } from './jsonl.js';
import { streamParquet } from './parquet.js';

export const PROBLEM_LAYOUTS = ['gsm8k', 'math', 'verl', 'generic'] as const;
export type ProblemLayout = (typeof PROBLEM_LAYOUTS)[number];

/** Column names (dotted paths into nested objects) of a Problem's fields. */
export interface ColumnMapping {
  prompt?: string;
  answer?: string;
  solution?: string;
  id?: string;
}

export interface ReadProblemsOptions {
  /** 'auto' (default): by extension, .parquet / .pq is Parquet, anything else JSONL. */
  format?: 'auto' | 'jsonl' | 'parquet';
  /** 'auto' (default): from the first record's columns. */
  layout?: ProblemLayout | 'auto';
  /** Other column names for the layout's fields; without a layout, a generic mapping. */
  columns?: ColumnMapping;
}

/** What a reader found, for messages and for choosing the verifier (`autoAnswerRule`). */
export interface ProblemFileInfo {
  format: 'jsonl' | 'parquet';
  layout: ProblemLayout;
  mapping: Required<Pick<ColumnMapping, 'prompt'>> & ColumnMapping;
}

const LAYOUT_COLUMNS: Record<ProblemLayout, Required<Pick<ColumnMapping, 'prompt'>> & ColumnMapping> = {
  gsm8k: { prompt: 'question', answer: 'answer', id: 'id' },
  math: { prompt: 'problem', solution: 'solution', answer: 'answer', id: 'id' },
  verl: { prompt: 'prompt', answer: 'reward_model.ground_truth', id: 'id' },
  generic: { prompt: 'prompt', answer: 'answer', solution: 'solution', id: 'id' },
};

/** The layout's required fields: which mapped columns must be present in every record. */
const REQUIRED: Record<ProblemLayout, (keyof ColumnMapping)[]> = {
  gsm8k: ['prompt', 'answer'],
  math: ['prompt', 'solution'],
  verl: ['prompt', 'answer'],
  generic: ['prompt'], // and answer or solution
};

/** A record of a file with where it is: `line` (JSONL, 1-based) or `row` (Parquet, 0-based). */
export interface SourceRecord {
  value: Record<string, unknown>;
  line: number | null;
  row: number | null;
}

/**
 * Problems of a JSONL or Parquet file, one at a time (see the file comment). `onInfo`, when given,
 * is called once with the format, layout and mapping, before the first problem.
 */
export async function* readProblemFile(
  path: string,
  options: ReadProblemsOptions = {},
  onInfo?: (info: ProblemFileInfo) => void,
): AsyncIterable<Problem> {
  const format = options.format === undefined || options.format === 'auto' ? formatOf(path) : options.format;
  if (format !== 'jsonl' && format !== 'parquet') throw new DataFormatError(`${path}: format must be auto, jsonl or parquet, got ${JSON.stringify(format)}`, path, null);
  const layoutOption = options.layout ?? 'auto';
  if (layoutOption !== 'auto' && !PROBLEM_LAYOUTS.includes(layoutOption)) {
    throw new DataFormatError(`${path}: layout must be auto, ${PROBLEM_LAYOUTS.join(', ')}; got ${JSON.stringify(layoutOption)}`, path, null);
  }
  checkMapping(path, options.columns);
  const records = format === 'jsonl' ? jsonlRecords(path) : streamParquet(path);
  const name = basename(path);
  let reader: RecordReader | undefined;
  const seenIds = new Map<string, string>();
  for await (const record of records) {
    const where = whereOf(path, record);
    if (reader === undefined) {
      reader = makeReader(path, record, where, layoutOption, options.columns);
      onInfo?.({ format, layout: reader.layout, mapping: reader.mapping });
    }
    const problem = reader.read(record.value, where, record.line !== null ? `${name}:${record.line}` : `${name}#${record.row}`);
    if (reader.idColumn !== undefined && get(record.value, reader.idColumn) !== undefined) {
      const previous = seenIds.get(problem.id);
      if (previous !== undefined) {
        throw fieldError(where, reader.idColumn, `${JSON.stringify(problem.id)} is already the id of ${previous}; problem ids must be unique`);
      }
      seenIds.set(problem.id, where.short);
    }
    yield problem;
  }
}

/** All problems of a file (readProblemFile collected), with what the reader found. */
export async function loadProblemFile(path: string, options: ReadProblemsOptions = {}): Promise<{ problems: Problem[]; info: ProblemFileInfo | null }> {
  const problems: Problem[] = [];
  let info: ProblemFileInfo | null = null;
  for await (const p of readProblemFile(path, options, (i) => (info = i))) problems.push(p);
  return { problems, info };
}

/**
 * The layout the first record of a file fits (auto-detection), or null with the columns found.
 * Exported for `repirl data show`-style tools; readProblemFile uses the same rule.
 */
export function detectLayout(record: Record<string, unknown>): ProblemLayout | null {
  const has = (k: string) => record[k] !== undefined && record[k] !== null;
  if (has('data_source') && Array.isArray(record.prompt) && isPlainObject(record.reward_model)) return 'verl';
  if (has('question') && has('answer') && !has('prompt')) return 'gsm8k';
  if (has('problem') && has('solution') && !has('prompt')) return 'math';
  if (has('prompt') && (has('answer') || has('solution'))) return 'generic';
  return null;
}

function formatOf(path: string): 'jsonl' | 'parquet' {
  const ext = extname(path).toLowerCase();
  return ext === '.parquet' || ext === '.pq' ? 'parquet' : 'jsonl';
}

async function* jsonlRecords(path: string): AsyncIterable<SourceRecord> {
  for await (const { line, value } of streamJsonl(path)) yield { value, line, row: null };
}

interface Where {
  /** "data/x.jsonl:17" or "data/x.parquet: row 16". */
  label: string;
  /** "line 17" or "row 16", for "already used on …". */
  short: string;
  file: string;
  line: number | null;
  row: number | null;
}

function whereOf(path: string, record: SourceRecord): Where {
  return record.line !== null
    ? { label: `${path}:${record.line}`, short: `line ${record.line}`, file: path, line: record.line, row: null }
    : { label: `${path}: row ${record.row}`, short: `row ${record.row}`, file: path, line: null, row: record.row };
}

function fieldError(where: Where, field: string, problem: string): DataFormatError {
  return new DataFormatError(`${where.label}: field "${field}" ${problem}`, where.file, where.line, field, where.row);
}

function checkMapping(path: string, columns: ColumnMapping | undefined): void {
  if (columns === undefined) return;
  if (!isPlainObject(columns)) throw new DataFormatError(`${path}: columns must be an object like { prompt: 'q', answer: 'a' }`, path, null);
  for (const [key, value] of Object.entries(columns)) {
    if (!['prompt', 'answer', 'solution', 'id'].includes(key)) {
      throw new DataFormatError(`${path}: columns.${key} is not a field of a problem (map prompt, answer, solution, id)`, path, null, key);
    }
    if (typeof value !== 'string' || value === '') throw new DataFormatError(`${path}: columns.${key} must be a column name, got ${JSON.stringify(value)}`, path, null, key);
  }
}

interface RecordReader {
  layout: ProblemLayout;
  mapping: ProblemFileInfo['mapping'];
  idColumn: string | undefined;
  read(value: Record<string, unknown>, where: Where, defaultId: string): Problem;
}

function makeReader(path: string, first: SourceRecord, where: Where, layoutOption: ProblemLayout | 'auto', columns: ColumnMapping | undefined): RecordReader {
  const found = Object.keys(first.value);
  const foundText = found.length === 0 ? '(none)' : found.join(', ');
  let layout: ProblemLayout;
  if (layoutOption !== 'auto') layout = layoutOption;
  else if (columns !== undefined) layout = 'generic';
  else {
    const detected = detectLayout(first.value);
    if (detected === null) {
      const tried = PROBLEM_LAYOUTS.map((l) => `${l} (${describeMapping(l, LAYOUT_COLUMNS[l])})`).join('; ');
      throw new DataFormatError(
        `${path}: no problem layout fits the first record (${where.short}); columns found: ${foundText}; layouts tried: ${tried}. ` +
          "Pass layout (gsm8k, math, verl, generic) or columns, e.g. { prompt: 'q', answer: 'a' }",
        path, where.line, null, where.row);
    }
    layout = detected;
  }
  const mapping = { ...LAYOUT_COLUMNS[layout], ...(columns ?? {}) };
  // The first record must have every required mapped column: otherwise nothing in the file maps.
  const missing = REQUIRED[layout].filter((k) => get(first.value, mapping[k]!) === undefined);
  if (layout === 'generic' && get(first.value, mapping.answer!) === undefined && (mapping.solution === undefined || get(first.value, mapping.solution) === undefined)) {
    missing.push('answer');
  }
  if (missing.length > 0) {
    throw new DataFormatError(
      `${path}: the first record (${where.short}) has no column ${missing.map((k) => JSON.stringify(mapping[k])).join(', ')} ` +
        `for ${missing.join(', ')}, so no record maps; mapping tried: ${layout} (${describeMapping(layout, mapping)}); columns found: ${foundText}. ` +
        "Pass layout or columns, e.g. { prompt: 'q', answer: 'a' }",
      path, where.line, missing[0]!, where.row);
  }
  const used = new Set([mapping.prompt, mapping.answer, mapping.solution, mapping.id].filter((c): c is string => c !== undefined).map((c) => c.split('.')[0]!));
  return {
    layout,
    mapping,
    idColumn: mapping.id,
    read: (value, w, defaultId) => readRecord(layout, mapping, used, value, w, defaultId),
  };
}

function describeMapping(layout: ProblemLayout, mapping: ColumnMapping): string {
  const parts = Object.entries(mapping).filter(([, v]) => v !== undefined).map(([k, v]) => {
    const optional = !REQUIRED[layout].includes(k as keyof ColumnMapping) && !(layout === 'generic' && k === 'answer');
    return `${k} ← ${JSON.stringify(v)}${optional ? '?' : ''}`;
  });
  return parts.join(', ') + (layout === 'generic' ? '; answer or solution' : '');
}

function readRecord(
  layout: ProblemLayout, mapping: ProblemFileInfo['mapping'], used: Set<string>,
  r: Record<string, unknown>, where: Where, defaultId: string,
): Problem {
  const meta: Record<string, unknown> = {};
  const { prompt, messages } = promptOf(r, mapping.prompt, where);
  if (messages !== undefined) meta.messages = messages;
  let answer = optText(r, mapping.answer, where, true);
  let solution = optText(r, mapping.solution, where, false);
  const rule: AnswerRule[] = layout === 'math' ? ['boxed'] : ['####', 'boxed'];
  if (layout === 'gsm8k' || layout === 'generic') {
    if (answer !== undefined && (answer.includes('####') || answer.includes('\n'))) {
      // A GSM8K-style worked answer: the solution is the whole text, the answer what follows "####".
      const final = extractAnswer(answer, '####');
      if (final.answer === null) {
        throw fieldError(where, mapping.answer!, `holds a worked solution (several lines) but ${final.reason}; the final answer must follow "####"`);
      }
      if (solution !== undefined) throw fieldError(where, mapping.answer!, `holds a worked solution ("####") and field "${mapping.solution}" holds another; keep one`);
      solution = answer.trim();
      answer = final.answer;
    }
  }
  if (layout === 'math' || layout === 'generic') {
    if (solution !== undefined) {
      const final = extractAnswer(solution, rule);
      if (answer === undefined) {
        if (final.answer === null) throw fieldError(where, mapping.solution!, `has no final answer (${final.reason}) and there is no "${mapping.answer}" column`);
        answer = final.answer;
      } else if (layout === 'generic' && final.answer !== null && !answersEquivalent(answer, final.answer)) {
        // (math files keep their answer column as it is: its spelling may differ from the box's)
        throw fieldError(where, mapping.solution!, `ends with the answer ${JSON.stringify(final.answer)} (${final.rule}) but field "${mapping.answer}" is ${JSON.stringify(answer)}; make them agree`);
      }
    }
  }
  if (answer === undefined) {
    throw fieldError(where, mapping.answer ?? 'answer', layout === 'generic' ? `is missing and there is no "${mapping.solution}"; give the final answer` : 'is missing; give the final answer');
  }
  const problem: Problem = { id: defaultId, prompt, answer: answer.trim() };
  if (mapping.id !== undefined && get(r, mapping.id) !== undefined) {
    const id = get(r, mapping.id);
    if (typeof id === 'string' && id.trim() !== '') problem.id = id;
    else if (typeof id === 'number' && Number.isFinite(id)) problem.id = String(id);
    else if (typeof id === 'bigint') problem.id = id.toString();
    else throw fieldError(where, mapping.id, `must be a non-empty string or a number, got ${describeValue(id)}`);
  }
  if (solution !== undefined) problem.solution = solution;
  for (const [key, value] of Object.entries(r)) {
    if (used.has(key) && !(key === mapping.answer?.split('.')[0] && mapping.answer.includes('.'))) continue;
    if (key === 'meta' && isPlainObject(value)) Object.assign(meta, plain(value));
    else meta[key] = plain(value);
  }
  if (Object.keys(meta).length > 0) problem.meta = meta;
  return problem;
}

/** The prompt: a string, or a chat list [{role, content}] whose last user message is the prompt. */
function promptOf(r: Record<string, unknown>, column: string, where: Where): { prompt: string; messages?: { role: string; content: string }[] } {
  const value = get(r, column);
  if (value === undefined || value === null) throw fieldError(where, column, 'is missing; every problem needs a prompt');
  if (typeof value === 'string') {
    if (value.trim() === '') throw fieldError(where, column, 'is empty; every problem needs a prompt');
    return { prompt: value };
  }
  const list: unknown[] | null = Array.isArray(value) ? value : null;
  if (list === null) throw fieldError(where, column, `must be a string or a list of chat messages [{role, content}], got ${describeValue(value)}`);
  const messages = list.map((m, i) => {
    if (!isPlainObject(m) || typeof m.role !== 'string' || typeof m.content !== 'string') {
      throw fieldError(where, `${column}[${i}]`, `must be a chat message {role: string, content: string}, got ${describeValue(m)}`);
    }
    return { role: m.role, content: m.content };
  });
  const user = messages.filter((m) => m.role === 'user').at(-1);
  if (user === undefined) throw fieldError(where, column, `has no message with role "user" (roles: ${messages.map((m) => m.role).join(', ') || 'none'})`);
  return { prompt: user.content, messages };
}

/** A text field: a string, or (for answers) a finite number read as its decimal text; undefined when absent. */
function optText(r: Record<string, unknown>, column: string | undefined, where: Where, numberAllowed: boolean): string | undefined {
  if (column === undefined) return undefined;
  const value = get(r, column);
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') {
    if (value.trim() === '') throw fieldError(where, column, 'is empty');
    return value;
  }
  if (numberAllowed && typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (numberAllowed && typeof value === 'bigint') return value.toString();
  throw fieldError(where, column, `must be a string${numberAllowed ? ' or a number' : ''}, got ${describeValue(value)}`);
}

/** The value at a dotted path ("reward_model.ground_truth"); a column named with the dots wins. */
function get(r: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(r, path)) return r[path];
  let v: unknown = r;
  for (const key of path.split('.')) {
    if (!isPlainObject(v) || !Object.hasOwn(v, key)) return undefined;
    v = v[key];
  }
  return v;
}

function describeValue(value: unknown): string {
  if (typeof value === 'bigint') return 'a 64-bit integer';
  if (value instanceof Uint8Array) return 'bytes';
  return jsonType(value);
}

/** A value JSON can hold: 64-bit integers as numbers (decimal strings beyond 2^53), dates as ISO text, bytes as text or numbers. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(value);
    } catch {
      return Array.from(value);
    }
  }
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  if (Array.isArray(value)) return value.map(plain);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  return value;
}
