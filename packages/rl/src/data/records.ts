// Problems and trajectories as JSONL (docs/DESIGN.md §7), checked field by field.
//
//   problem      {"id", "prompt", "answer", "solution"?, "meta"?}
//                or GSM8K-style {"question", "answer", "id"?, "meta"?}: a GSM8K answer holds the
//                worked solution ending in "#### <answer>"; it becomes `solution` (kept whole, so
//                it is a §4 solution) and the text after "####" becomes `answer`. A single-line
//                answer without "####" is the final answer itself (no solution). A missing id
//                becomes "<file name>:<line>".
//   trajectory   {"id", "prompt", "response", "answer"?, "correct"?, "step_labels"?, "source"?, "meta"?}
//                `id` names the problem, so the K samples of one prompt share it; `step_labels`
//                has one boolean per step of the response (its non-blank lines).
//
// "answer" may also be a JSON number (read as its decimal text). Every other mismatch is an
// error naming the file, the line and the field: wrong types, missing or unknown fields (put
// extras under "meta"), a solution whose final answer disagrees with "answer", duplicate problem
// ids, step_labels of the wrong length.
import { basename } from 'node:path';
import { answersMatch, finalAnswer, splitSteps } from '../tasks/format.js';
import { getTask } from '../tasks/registry.js';
import type { Difficulty, GeneratedProblem, Problem, Task } from '../tasks/task.js';
import { DataFormatError, jsonType, isPlainObject, readJsonl, writeJsonl } from './jsonl.js';

/** One response to a prompt: an expert demonstration or a rollout (docs/DESIGN.md §7). */
export interface Trajectory {
  /** The problem's id. */
  id: string;
  prompt: string;
  response: string;
  /** The expected final answer, when known. */
  answer?: string;
  /** The outcome verdict, when known. */
  correct?: boolean;
  /** One label per step of `response` (see `splitSteps`). */
  step_labels?: boolean[];
  /** Where it came from, e.g. "expert", "noisy-0.2", "policy-step-300". */
  source?: string;
  meta?: Record<string, unknown>;
}

/** Where a record came from, for messages: a file line, or a record passed to a save function. */
interface Where {
  /** "data/x.jsonl:17" or "saveProblems(out.jsonl): record 3". */
  label: string;
  file: string;
  line: number | null;
}

const PROBLEM_FIELDS = ['id', 'prompt', 'answer', 'solution', 'meta'];
const GSM8K_FIELDS = ['question', 'answer', 'id', 'meta'];
const TRAJECTORY_FIELDS = ['id', 'prompt', 'response', 'answer', 'correct', 'step_labels', 'source', 'meta'];

/** Problems from a JSONL file, in file order. */
export async function loadProblems(path: string): Promise<Problem[]> {
  const firstLine = new Map<string, number>();
  return (await readJsonl(path)).map(({ line, value }) => {
    const where = { label: `${path}:${line}`, file: path, line };
    const problem = problemFromRecord(value, where, `${basename(path)}:${line}`);
    const previous = firstLine.get(problem.id);
    if (previous !== undefined) {
      throw new DataFormatError(`${path}:${line}: field "id": ${JSON.stringify(problem.id)} is already used on line ${previous}; ` +
        'problem ids must be unique', path, line, 'id');
    }
    firstLine.set(problem.id, line);
    return problem;
  });
}

/** Trajectories from a JSONL file, in file order. */
export async function loadTrajectories(path: string): Promise<Trajectory[]> {
  return (await readJsonl(path)).map(({ line, value }) => trajectoryFromRecord(value, { label: `${path}:${line}`, file: path, line }));
}

/** Writes problems atomically as `{"id", "prompt", "answer", "solution"?, "meta"?}` lines. */
export async function saveProblems(path: string, problems: Iterable<Problem>): Promise<void> {
  await writeJsonl(path, checkedRecords(problems, (p, i) => problemFromRecord(p, savedRecord('saveProblems', path, i))));
}

/** Writes trajectories atomically, fields in the order of docs/DESIGN.md §7. */
export async function saveTrajectories(path: string, trajectories: Iterable<Trajectory>): Promise<void> {
  await writeJsonl(path, checkedRecords(trajectories, (t, i) => trajectoryFromRecord(t, savedRecord('saveTrajectories', path, i))));
}

/** `count` problems of a task family (by name or object); see Task.generate. */
export function problemsFromTask(task: Task | string, seed: number, count: number, difficulty?: Difficulty): GeneratedProblem[] {
  return (typeof task === 'string' ? getTask(task) : task).generate(seed, count, difficulty);
}

/** Splits a GSM8K answer ("...\n#### 72") into the whole solution and the final answer, or null. */
export function splitGsm8kAnswer(text: string): { solution: string; answer: string } | null {
  const { answer } = finalAnswer(text);
  return answer === null ? null : { solution: text.trim(), answer };
}

/** Validates one problem record and returns it with its fields in the canonical order. */
function problemFromRecord(record: unknown, where: Where, defaultId?: string): Problem {
  const r = objectOf(record, where);
  if ('question' in r && !('prompt' in r)) return gsm8kProblem(r, where, defaultId);
  checkFields(r, PROBLEM_FIELDS, where, 'a problem line');
  const problem: Problem = { id: idField(r, where), prompt: str(r, 'prompt', where), answer: answerField(r, where) };
  const solution = optStr(r, 'solution', where);
  if (solution !== undefined) {
    const { answer, reason } = finalAnswer(solution);
    if (answer === null) {
      throw fieldError(where, 'solution', `must end with a "#### <answer>" line (docs/DESIGN.md §4), but ${reason}`);
    }
    if (!answersMatch(problem.answer, answer)) {
      throw fieldError(where, 'solution', `ends with "#### ${answer}" but field "answer" is ${JSON.stringify(problem.answer)}; make them agree`);
    }
    problem.solution = solution;
  }
  const meta = optMeta(r, where);
  if (meta !== undefined) problem.meta = meta;
  return problem;
}

function gsm8kProblem(r: Record<string, unknown>, where: Where, defaultId: string | undefined): Problem {
  checkFields(r, GSM8K_FIELDS, where, 'a GSM8K-style line');
  const prompt = str(r, 'question', where);
  const text = answerField(r, where);
  let problem: Problem;
  if (!text.includes('\n') && !text.includes('####')) {
    problem = { id: '', prompt, answer: text.trim() };
  } else {
    const split = splitGsm8kAnswer(text);
    if (split === null) {
      throw fieldError(where, 'answer', `of a GSM8K-style line must be the worked solution ending in a "#### <answer>" line, ` +
        `but ${finalAnswer(text).reason}`);
    }
    problem = { id: '', prompt, answer: split.answer, solution: split.solution };
  }
  const id = 'id' in r ? idField(r, where) : defaultId;
  if (id === undefined) throw fieldError(where, 'id', 'is missing; every problem needs an id');
  const meta = optMeta(r, where);
  return { ...problem, id, ...(meta !== undefined ? { meta } : {}) };
}

/** Validates one trajectory record and returns it with its fields in the canonical order. */
function trajectoryFromRecord(record: unknown, where: Where): Trajectory {
  const r = objectOf(record, where);
  checkFields(r, TRAJECTORY_FIELDS, where, 'a trajectory line');
  const t: Trajectory = { id: idField(r, where), prompt: str(r, 'prompt', where), response: str(r, 'response', where) };
  if (r.answer !== undefined) t.answer = answerField(r, where);
  if (r.correct !== undefined) {
    if (typeof r.correct !== 'boolean') throw fieldError(where, 'correct', `must be true or false, got ${jsonType(r.correct)}`);
    t.correct = r.correct;
  }
  if (r.step_labels !== undefined) {
    const labels = r.step_labels;
    if (!Array.isArray(labels)) throw fieldError(where, 'step_labels', `must be an array of booleans, got ${jsonType(labels)}`);
    labels.forEach((label, i) => {
      if (typeof label !== 'boolean') throw fieldError(where, `step_labels[${i}]`, `must be true or false, got ${jsonType(label)}`);
    });
    const steps = splitSteps(t.response).length;
    if (labels.length !== steps) {
      throw fieldError(where, 'step_labels', `has ${labels.length} labels but "response" has ${steps} steps (non-blank lines); ` +
        'give one label per step');
    }
    t.step_labels = [...labels] as boolean[];
  }
  const source = optStr(r, 'source', where);
  if (source !== undefined) t.source = source;
  const meta = optMeta(r, where);
  if (meta !== undefined) t.meta = meta;
  return t;
}

function* checkedRecords<T>(items: Iterable<T>, check: (item: T, index: number) => T): Iterable<T> {
  let index = 0;
  for (const item of items) yield check(item, index++);
}

function savedRecord(fn: string, path: string, index: number): Where {
  return { label: `${fn}(${path}): record ${index}`, file: path, line: null };
}

function fieldError(where: Where, field: string, problem: string): DataFormatError {
  return new DataFormatError(`${where.label}: field "${field}" ${problem}`, where.file, where.line, field);
}

function objectOf(record: unknown, where: Where): Record<string, unknown> {
  if (!isPlainObject(record)) throw new DataFormatError(`${where.label}: must be a JSON object, got ${jsonType(record)}`, where.file, where.line);
  return record;
}

function checkFields(r: Record<string, unknown>, allowed: string[], where: Where, kind: string): void {
  for (const key of Object.keys(r)) {
    if (!allowed.includes(key)) {
      throw fieldError(where, key, `is not a field of ${kind} (allowed: ${allowed.join(', ')}); remove it or move it under "meta"`);
    }
  }
}

function str(r: Record<string, unknown>, field: string, where: Where): string {
  const value = r[field];
  if (value === undefined) throw fieldError(where, field, 'is missing; it must be a string');
  if (typeof value !== 'string') throw fieldError(where, field, `must be a string, got ${jsonType(value)}`);
  return value;
}

function idField(r: Record<string, unknown>, where: Where): string {
  const id = str(r, 'id', where);
  if (id.trim() === '') throw fieldError(where, 'id', 'is empty; give each problem a non-empty id');
  return id;
}

function optStr(r: Record<string, unknown>, field: string, where: Where): string | undefined {
  return r[field] === undefined ? undefined : str(r, field, where);
}

/** "answer" is a string, or a finite number read as its decimal text. */
function answerField(r: Record<string, unknown>, where: Where): string {
  const value = r.answer;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (value === undefined) throw fieldError(where, 'answer', 'is missing; it must be a string (or a number)');
  if (typeof value !== 'string') throw fieldError(where, 'answer', `must be a string or a number, got ${jsonType(value)}`);
  if (value.trim() === '') throw fieldError(where, 'answer', 'is empty; give the final answer');
  return value;
}

function optMeta(r: Record<string, unknown>, where: Where): Record<string, unknown> | undefined {
  if (r.meta === undefined) return undefined;
  if (!isPlainObject(r.meta)) throw fieldError(where, 'meta', `must be a JSON object, got ${jsonType(r.meta)}`);
  return r.meta;
}
