// Step-labelled data from the files the field uses (issue 14), JSONL or Parquet read incrementally
// (or a JSON array, read whole; data/records.ts):
// every record becomes one or more StepLabelledSample {prompt, steps, labels}.
//
//   layout          record                                            → samples
//   trl             prompt: string, completions: string[],             one: steps = completions,
//                   labels: bool[] (TRL's stepwise format,              labels as given (0/1 read as
//                   trl-lib/math_shepherd, trl-lib/prm800k)              false/true)
//   math-shepherd   input: "<question> Step 1: … ки\nStep 2: … ки…",    one: the steps are the pieces
//                   label: the same text with each tag "ки" replaced    ending in the tag, each labelled
//                   by "+" (correct) or "-" (wrong)                     by the label's character at
//                                                                       the tag's place; the prompt is
//                                                                       the text before "Step 1:" (TRL's
//                                                                       rule; a tag before it is an
//                                                                       annotation slip and is dropped
//                                                                       with its label), else up to the
//                                                                       last "?" before the first tag
//   prm800k         question.problem, label.steps[]: {completions:      TRL's expansion (examples/datasets/
//                   [{text, rating: -1|0|1|null}], chosen_completion:    prm800k.py): the path of chosen
//                   int|null, human_completion: {text}|null}            completions (a human completion
//                   (OpenAI's PRM800K phase 1 / phase 2 JSONL)           counts as correct) as one sample,
//                                                                       and every other rated completion of
//                                                                       a step as a sample that ends there
//   processbench    problem, steps: string[], label: index of the       one: the steps up to the first
//                   first wrong step or -1                              error (labelled true, then false)
//                                                                       or all steps (all true)
//
// PRM800K ratings: 1 is correct, -1 wrong; a neutral 0 is wrong by default (`neutral: 'negative'`,
// as TRL's conversion: label = rating == 1) or correct with `neutral: 'positive'`. An unrated
// (null) completion gives no sample, and the path stops before an unrated chosen completion.
//
// `layout: 'auto'` (the default) picks the layout from the first record. Ids: the record's `id`
// when it has one, else "<file name>:<line>" (JSONL) or "<file name>#<row>" (Parquet); PRM800K's
// extra samples of a record add "/<step>.<completion>". Errors name file:line (or the Parquet row)
// and the field; a file whose first record fits no layout, or that gives no sample at all, says
// which layouts were tried and which columns it has.
import { basename } from 'node:path';
import { DataFormatError, type SourceRecord } from '@repirl/rl';
import { columnsText, fieldError, fileError, fileFormat, fileRecords, idOf, integerOf, isObject, listOf, textField, typeName, whereOf, type DataFileFormat, type Where } from './records.js';

export const STEP_LABEL_LAYOUTS = ['trl', 'math-shepherd', 'prm800k', 'processbench'] as const;
export type StepLabelLayout = (typeof STEP_LABEL_LAYOUTS)[number];

export const PRM800K_NEUTRAL = ['negative', 'positive'] as const;
export type Prm800kNeutral = (typeof PRM800K_NEUTRAL)[number];

/** The Math-Shepherd step tag. */
export const SHEPHERD_TAG = 'ки';

/** One response cut into steps, each with its label (true = the step is correct). */
export interface StepLabelledSample {
  id: string;
  prompt: string;
  steps: string[];
  labels: boolean[];
}

export interface ReadStepLabelsOptions {
  format?: 'auto' | DataFileFormat;
  layout?: 'auto' | StepLabelLayout;
  /** PRM800K: what a neutral (0) rating means. Default 'negative' (TRL's conversion). */
  neutral?: Prm800kNeutral;
}

export interface StepLabelFileInfo {
  format: DataFileFormat;
  layout: StepLabelLayout;
}

const LAYOUT_TEXT: Record<StepLabelLayout, string> = {
  trl: 'trl (prompt: string, completions: string[], labels: bool[])',
  'math-shepherd': `math-shepherd (input: text whose steps end in "${SHEPHERD_TAG}", label: the same text with "+" / "-" in their place)`,
  prm800k: 'prm800k (question.problem, label.steps[].completions[].rating, chosen_completion)',
  processbench: 'processbench (problem, steps: string[], label: first wrong step or -1)',
};

/** The layout the first record of a file fits, or null. */
export function detectStepLabelLayout(r: Record<string, unknown>): StepLabelLayout | null {
  if (typeof r.prompt === 'string' && listOf(r.completions) !== null && listOf(r.labels) !== null) return 'trl';
  if (typeof r.input === 'string' && typeof r.label === 'string') return 'math-shepherd';
  if (isObject(r.question) && isObject(r.label) && listOf(r.label.steps) !== null) return 'prm800k';
  if (typeof r.problem === 'string' && listOf(r.steps) !== null && r.label !== undefined) return 'processbench';
  return null;
}

/** The samples of a step-labelled file, one at a time (see the file comment). */
export async function* readStepLabelledFile(path: string, options: ReadStepLabelsOptions = {}, onInfo?: (info: StepLabelFileInfo) => void): AsyncIterable<StepLabelledSample> {
  const format = await fileFormat(path, options.format);
  const layoutOption = options.layout ?? 'auto';
  if (layoutOption !== 'auto' && !STEP_LABEL_LAYOUTS.includes(layoutOption)) {
    throw new DataFormatError(`${path}: layout must be auto, ${STEP_LABEL_LAYOUTS.join(', ')}; got ${JSON.stringify(layoutOption)}`, path, null);
  }
  const neutral = options.neutral ?? 'negative';
  if (!PRM800K_NEUTRAL.includes(neutral)) throw new DataFormatError(`${path}: neutral must be ${PRM800K_NEUTRAL.join(' or ')}, got ${JSON.stringify(neutral)}`, path, null);
  const name = basename(path);
  let layout: StepLabelLayout | undefined;
  let records = 0;
  let samples = 0;
  let firstWhere: Where | undefined;
  let firstColumns = '';
  for await (const record of fileRecords(path, format)) {
    const where = whereOf(path, record);
    records++;
    if (layout === undefined) {
      firstWhere = where;
      firstColumns = columnsText(record.value);
      layout = layoutOption === 'auto' ? detectStepLabelLayout(record.value) ?? undefined : layoutOption;
      if (layout === undefined) {
        throw fileError(where, `no step-label layout fits the first record (${where.short}); columns found: ${firstColumns}; layouts tried: ` +
          `${STEP_LABEL_LAYOUTS.map((l) => LAYOUT_TEXT[l]).join('; ')}. Pass layout=${STEP_LABEL_LAYOUTS.join('|')} or convert the file to one of them`);
      }
      onInfo?.({ format, layout });
    }
    const fallback = record.line !== null ? `${name}:${record.line}` : `${name}#${record.row}`;
    for (const sample of readRecord(layout, record, where, fallback, neutral)) {
      samples++;
      yield sample;
    }
  }
  if (samples === 0) {
    const why = records === 0
      ? 'has no records'
      : `gave no step-labelled sample from its ${records} record(s) as ${LAYOUT_TEXT[layout!]} (columns of ${firstWhere!.short}: ${firstColumns})`;
    throw new DataFormatError(`${path}: ${why}; layouts tried: ${layoutOption === 'auto' ? STEP_LABEL_LAYOUTS.join(', ') : layoutOption}`, path, null);
  }
}

/** Every sample of a file (readStepLabelledFile collected), with what the reader found. */
export async function loadStepLabelledFile(path: string, options: ReadStepLabelsOptions = {}): Promise<{ samples: StepLabelledSample[]; info: StepLabelFileInfo }> {
  const samples: StepLabelledSample[] = [];
  let info: StepLabelFileInfo | undefined;
  for await (const s of readStepLabelledFile(path, options, (i) => (info = i))) samples.push(s);
  return { samples, info: info! };
}

function readRecord(layout: StepLabelLayout, record: SourceRecord, where: Where, fallback: string, neutral: Prm800kNeutral): StepLabelledSample[] {
  const r = record.value;
  switch (layout) {
    case 'trl':
      return [trlSample(r, where, idOf(r, where, fallback))];
    case 'math-shepherd':
      return [shepherdSample(r, where, idOf(r, where, fallback))];
    case 'prm800k':
      return prm800kSamples(r, where, idOf(r, where, fallback), neutral);
    case 'processbench':
      return [processBenchSample(r, where, idOf(r, where, fallback))];
  }
}

function stepTexts(value: unknown, where: Where, field: string): string[] {
  const list = listOf(value);
  if (list === null) throw fieldError(where, field, `must be a list of strings (one per step), got ${typeName(value)}`);
  if (list.length === 0) throw fieldError(where, field, 'is empty; a sample needs at least one step');
  return list.map((step, i) => {
    if (typeof step !== 'string') throw fieldError(where, `${field}[${i}]`, `must be a string, got ${typeName(step)}`);
    if (step.trim() === '') throw fieldError(where, `${field}[${i}]`, 'is an empty step');
    return step.trim();
  });
}

function trlSample(r: Record<string, unknown>, where: Where, id: string): StepLabelledSample {
  const prompt = textField(r, 'prompt', where);
  const steps = stepTexts(r.completions, where, 'completions');
  const list = listOf(r.labels);
  if (list === null) throw fieldError(where, 'labels', `must be a list of booleans (one per completion), got ${typeName(r.labels)}`);
  const labels = list.map((l, i) => {
    if (typeof l === 'boolean') return l;
    const n = integerOf(l);
    if (n === 0 || n === 1) return n === 1;
    throw fieldError(where, `labels[${i}]`, `must be true or false (or 1 / 0), got ${typeName(l) === 'number' ? String(l) : typeName(l)}`);
  });
  if (labels.length !== steps.length) throw fieldError(where, 'labels', `has ${labels.length} labels but "completions" has ${steps.length} steps; give one label per step`);
  return { id, prompt, steps, labels };
}

const STEP_ONE = /step 1:/i;

function shepherdSample(r: Record<string, unknown>, where: Where, id: string): StepLabelledSample {
  const input = textField(r, 'input', where);
  const label = textField(r, 'label', where);
  const pieces = input.split(SHEPHERD_TAG);
  const tags = pieces.length - 1;
  if (tags === 0) throw fieldError(where, 'input', `has no step tag "${SHEPHERD_TAG}"; Math-Shepherd steps end with it`);
  // With each tag one character long the label text lines up with the input (TRL's check).
  const expected = pieces.join('?').length;
  if (label.length !== expected) {
    throw fieldError(where, 'label', `is ${label.length} characters but "input" with each "${SHEPHERD_TAG}" as one "+" / "-" is ${expected}; ` +
      `the label must be the input with every tag replaced by "+" or "-"`);
  }
  const labels: boolean[] = [];
  let at = 0;
  for (let k = 0; k < tags; k++) {
    at += pieces[k]!.length;
    const c = label[at]!;
    if (c !== '+' && c !== '-') throw fieldError(where, 'label', `has ${JSON.stringify(c)} where "input" has step tag ${k + 1} (character ${at + 1}); it must be "+" or "-"`);
    labels.push(c === '+');
    at += 1;
  }
  if (pieces.at(-1)!.trim() !== '') throw fieldError(where, 'input', `has text after its last step tag ("${shorten(pieces.at(-1)!.trim())}"); every step must end with "${SHEPHERD_TAG}"`);
  const segments = pieces.slice(0, -1);
  // The prompt is the text before "Step 1:"; tags before it are annotation slips (dropped with their labels).
  const first = segments.findIndex((s) => STEP_ONE.test(s));
  let prompt: string;
  let steps: string[];
  let kept: boolean[];
  if (first >= 0) {
    const cut = segments[first]!.search(STEP_ONE);
    prompt = (segments.slice(0, first).join('') + segments[first]!.slice(0, cut)).trim();
    steps = [segments[first]!.slice(cut), ...segments.slice(first + 1)].map((s) => s.trim());
    kept = labels.slice(first);
  } else {
    const q = segments[0]!.lastIndexOf('?');
    if (q < 0) throw fieldError(where, 'input', 'has no "Step 1:" and no "?" ending the question before its first tag, so the prompt cannot be told from the first step');
    prompt = segments[0]!.slice(0, q + 1).trim();
    steps = [segments[0]!.slice(q + 1), ...segments.slice(1)].map((s) => s.trim());
    kept = labels;
  }
  if (prompt === '') throw fieldError(where, 'input', 'has no question before its first step');
  steps.forEach((s, k) => {
    if (s === '') throw fieldError(where, 'input', `step ${k + 1} is empty (two tags with nothing between them)`);
  });
  return { id, prompt, steps, labels: kept };
}

function prm800kSamples(r: Record<string, unknown>, where: Where, id: string, neutral: Prm800kNeutral): StepLabelledSample[] {
  const question = r.question as Record<string, unknown>;
  const prompt = textField(question, 'problem', where, 'question.problem');
  const label = r.label as Record<string, unknown>;
  const stepList = listOf(label.steps)!;
  const good = (rating: number) => rating === 1 || (neutral === 'positive' && rating === 0);
  const out: StepLabelledSample[] = [];
  const path: string[] = [];
  const pathLabels: boolean[] = [];
  const ratingOf = (c: Record<string, unknown>, field: string): number | null => {
    if (c.rating === null || c.rating === undefined) return null;
    const n = integerOf(c.rating);
    if (n === null || n < -1 || n > 1) throw fieldError(where, `${field}.rating`, `must be -1, 0, 1 or null, got ${JSON.stringify(typeof c.rating === 'bigint' ? String(c.rating) : c.rating)}`);
    return n;
  };
  const textOf = (c: Record<string, unknown>, field: string): string => textField(c, 'text', where, `${field}.text`).trim();
  for (const [k, stepValue] of stepList.entries()) {
    const field = `label.steps[${k}]`;
    if (!isObject(stepValue)) throw fieldError(where, field, `must be an object {completions, chosen_completion, human_completion}, got ${typeName(stepValue)}`);
    const completions = stepValue.completions === null || stepValue.completions === undefined ? [] : listOf(stepValue.completions);
    if (completions === null) throw fieldError(where, `${field}.completions`, `must be a list or null, got ${typeName(stepValue.completions)}`);
    const chosenValue = stepValue.chosen_completion;
    const chosen = chosenValue === null || chosenValue === undefined ? null : integerOf(chosenValue);
    if (chosenValue !== null && chosenValue !== undefined && (chosen === null || chosen < 0 || chosen >= completions.length)) {
      throw fieldError(where, `${field}.chosen_completion`, `must be null or an index into its ${completions.length} completions, got ${JSON.stringify(typeof chosenValue === 'bigint' ? String(chosenValue) : chosenValue)}`);
    }
    // Every other rated completion ends a sample here.
    completions.forEach((c, j) => {
      const cf = `${field}.completions[${j}]`;
      if (!isObject(c)) throw fieldError(where, cf, `must be an object {text, rating}, got ${typeName(c)}`);
      if (j === chosen) return;
      const rating = ratingOf(c, cf);
      if (rating === null) return;
      out.push({ id: `${id}/${k}.${j}`, prompt, steps: [...path, textOf(c, cf)], labels: [...pathLabels, good(rating)] });
    });
    if (chosen !== null) {
      const c = completions[chosen] as Record<string, unknown>;
      const cf = `${field}.completions[${chosen}]`;
      const rating = ratingOf(c, cf);
      if (rating === null) break;
      path.push(textOf(c, cf));
      pathLabels.push(good(rating));
    } else if (isObject(stepValue.human_completion)) {
      path.push(textOf(stepValue.human_completion, `${field}.human_completion`));
      pathLabels.push(true);
    } else break;
  }
  if (path.length > 0) out.unshift({ id, prompt, steps: path, labels: pathLabels });
  return out;
}

function processBenchSample(r: Record<string, unknown>, where: Where, id: string): StepLabelledSample {
  const { problem, steps, label } = processBenchFields(r, where);
  if (label === -1) return { id, prompt: problem, steps, labels: steps.map(() => true) };
  return { id, prompt: problem, steps: steps.slice(0, label + 1), labels: steps.slice(0, label + 1).map((_, k) => k < label) };
}

/** problem, steps and label of a ProcessBench record, checked (shared with the benchmark reader). */
export function processBenchFields(r: Record<string, unknown>, where: Where): { problem: string; steps: string[]; label: number } {
  const problem = textField(r, 'problem', where);
  const steps = stepTexts(r.steps, where, 'steps');
  const label = integerOf(r.label);
  if (label === null || label < -1 || label >= steps.length) {
    throw fieldError(where, 'label', `must be -1 (every step correct) or the index of the first wrong step in [0, ${steps.length - 1}], got ${JSON.stringify(typeof r.label === 'bigint' ? String(r.label) : r.label ?? null)}`);
  }
  return { problem, steps, label };
}

function shorten(text: string, max = 40): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
