// Step-labelled files (TRL stepwise, Math-Shepherd tags, PRM800K records, ProcessBench) and
// ProcessBench-format files, JSONL and Parquet, on small files written here (the layouts of the
// real data sets, with text of our own); the steps written back as the response a PRM reads.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataFormatError, TaskCodec, segmentSteps } from '@repirl/rl';
import { detectStepLabelLayout, encodeSteps, loadProcessBench, loadStepLabelledFile, renderSteps, subsetOfFile, type ReadStepLabelsOptions } from '../src/index.js';

let dir = '';
let count = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prm-step-data-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function jsonl(name: string, rows: readonly unknown[]): Promise<string> {
  const path = join(dir, `${count++}-${name}`);
  await writeFile(path, rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
  return path;
}

async function failure(promise: Promise<unknown>): Promise<DataFormatError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(DataFormatError);
    return err as DataFormatError;
  }
  throw new Error('expected a failure');
}

const load = (path: string, options: ReadStepLabelsOptions = {}) => loadStepLabelledFile(path, options);

describe("TRL's stepwise format", () => {
  it('reads prompt / completions / labels, 0/1 as booleans, ids from the file and line', async () => {
    const path = await jsonl('trl.jsonl', [
      { prompt: 'Add 2 and 3, then double.', completions: ['2 + 3 = 5', '5 * 2 = 11'], labels: [true, false] },
      '',
      { id: 'q7', prompt: 'Halve 8.', completions: ['8 / 2 = 4'], labels: [1] },
    ]);
    const { samples, info } = await load(path);
    expect(info).toEqual({ format: 'jsonl', layout: 'trl' });
    expect(samples).toEqual([
      { id: expect.stringMatching(/trl\.jsonl:1$/), prompt: 'Add 2 and 3, then double.', steps: ['2 + 3 = 5', '5 * 2 = 11'], labels: [true, false] },
      { id: 'q7', prompt: 'Halve 8.', steps: ['8 / 2 = 4'], labels: [true] },
    ]);
  });

  it('reads the same layout from Parquet (list columns, several row groups)', async () => {
    const path = join(dir, 'trl.parquet');
    const rows = Array.from({ length: 5 }, (_, i) => ({ prompt: `Count to ${i + 1}.`, completions: Array.from({ length: i + 1 }, (_, k) => `say ${k + 1}`), labels: Array.from({ length: i + 1 }, (_, k) => k !== 2) }));
    parquetWriteFile({
      filename: path,
      columnData: [
        { name: 'prompt', data: rows.map((r) => r.prompt), type: 'STRING' },
        { name: 'completions', data: rows.map((r) => r.completions) },
        { name: 'labels', data: rows.map((r) => r.labels) },
      ],
      rowGroupSize: 2,
    });
    const { samples, info } = await load(path);
    expect(info).toEqual({ format: 'parquet', layout: 'trl' });
    expect(samples.map(({ prompt, steps, labels }) => ({ prompt, completions: steps, labels }))).toEqual(rows);
    expect(samples[3]!.id).toBe('trl.parquet#3');
  });

  it('names file:line and the field of a bad row', async () => {
    const path = await jsonl('trl-bad.jsonl', [
      { prompt: 'p', completions: ['a', 'b'], labels: [true, false] },
      { prompt: 'p', completions: ['a', 'b'], labels: [true] },
    ]);
    const e = await failure(load(path));
    expect(e.message).toMatch(/trl-bad\.jsonl:2: field "labels" has 1 labels but "completions" has 2 steps/);
    expect([e.line, e.field]).toEqual([2, 'labels']);
    const bad = await jsonl('trl-bad2.jsonl', [{ prompt: 'p', completions: ['a', '  '], labels: [true, 'yes'] }]);
    expect((await failure(load(bad))).message).toMatch(/:1: field "completions\[1\]" is an empty step/);
    const bad3 = await jsonl('trl-bad3.jsonl', [{ prompt: 'p', completions: ['a', 'b'], labels: [true, 'yes'] }]);
    expect((await failure(load(bad3))).message).toMatch(/:1: field "labels\[1\]" must be true or false \(or 1 \/ 0\), got string/);
  });
});

describe('Math-Shepherd tagged format', () => {
  const tag = 'ки';
  const row = (question: string, steps: [string, '+' | '-'][]) => {
    const body = steps.map(([s]) => `${s} ${tag}\n`).join('');
    return { input: `${question} ${body}`, label: `${question} ${steps.map(([s, l]) => `${s} ${l}\n`).join('')}`, task: 'GSM8K' };
  };

  it('splits at the tags, reads +/- at their places, and the prompt before "Step 1:"', async () => {
    const path = await jsonl('shepherd.jsonl', [
      row('Tom has 3 pens and buys 4. How many now?', [['Step 1: 3 + 4 = 7.', '+'], ['Step 2: The answer is: 8', '-']]),
    ]);
    const { samples, info } = await load(path);
    expect(info.layout).toBe('math-shepherd');
    expect(samples).toEqual([{ id: expect.any(String), prompt: 'Tom has 3 pens and buys 4. How many now?', steps: ['Step 1: 3 + 4 = 7.', 'Step 2: The answer is: 8'], labels: [true, false] }]);
  });

  it('drops a tag inside the question (an annotation slip) with its label; without "Step 1:" the question ends at its last "?"', async () => {
    const slip = { input: `A box holds 6. ${tag} Two boxes? Step 1: 6 * 2 = 12 ${tag}\nStep 2: The answer is: 12 ${tag}`, label: 'A box holds 6. - Two boxes? Step 1: 6 * 2 = 12 +\nStep 2: The answer is: 12 +' };
    const noMarker = { input: `Is 4 even? Yes? 4 = 2 * 2 ${tag}\nThe answer is: yes ${tag}`, label: 'Is 4 even? Yes? 4 = 2 * 2 -\nThe answer is: yes +' };
    const { samples } = await load(await jsonl('shepherd-slip.jsonl', [slip, noMarker]));
    expect(samples[0]).toMatchObject({ prompt: 'A box holds 6.  Two boxes?', steps: ['Step 1: 6 * 2 = 12', 'Step 2: The answer is: 12'], labels: [true, true] });
    expect(samples[1]).toMatchObject({ prompt: 'Is 4 even? Yes?', steps: ['4 = 2 * 2', 'The answer is: yes'], labels: [false, true] });
  });

  it('refuses a label that does not line up with the input, naming the line and field', async () => {
    const good = row('Q?', [['Step 1: x', '+']]);
    const path = await jsonl('shepherd-bad.jsonl', [good, { input: good.input, label: good.label.replace('+', '*') }, { input: good.input, label: `${good.label}!` }]);
    expect((await failure(load(path))).message).toMatch(/shepherd-bad\.jsonl:2: field "label" has "\*" where "input" has step tag 1/);
    const path2 = await jsonl('shepherd-bad2.jsonl', [{ input: good.input, label: `${good.label}!` }]);
    expect((await failure(load(path2))).message).toMatch(/:1: field "label" is \d+ characters but "input" with each "ки" as one/);
    const path3 = await jsonl('shepherd-bad3.jsonl', [{ input: 'no tags here', label: 'no tags here' }]);
    expect((await failure(load(path3))).message).toMatch(/:1: field "input" has no step tag "ки"/);
  });
});

describe('PRM800K records', () => {
  const completion = (text: string, rating: number | null) => ({ text, rating, flagged: null });
  const record = {
    labeler: 'x', timestamp: '2023-01-01', generation: 1, is_quality_control_question: false, is_initial_screening_question: false,
    question: { problem: 'What is 2 + 2 * 3?', ground_truth_answer: '8' },
    label: {
      steps: [
        { completions: [completion('2 * 3 = 6.', 1), completion('2 + 2 = 4 first.', -1)], human_completion: null, chosen_completion: 0 },
        { completions: [completion('So we add 2.', 0)], human_completion: null, chosen_completion: 0 },
        { completions: [completion('2 + 6 = 9.', -1)], human_completion: { text: '2 + 6 = 8.', rating: null }, chosen_completion: null },
        { completions: [completion('# Answer\n\n8', 1), completion('unrated', null)], human_completion: null, chosen_completion: 0 },
      ],
      total_time: 1000, finish_reason: 'solution',
    },
  };

  it("expands a record as TRL does: the chosen path, and every other rated completion ending there; neutral is wrong by default", async () => {
    const { samples, info } = await load(await jsonl('prm800k.jsonl', [record]));
    expect(info.layout).toBe('prm800k');
    const p = 'What is 2 + 2 * 3?';
    expect(samples.map(({ prompt, steps, labels }) => ({ prompt, steps, labels }))).toEqual([
      { prompt: p, steps: ['2 * 3 = 6.', 'So we add 2.', '2 + 6 = 8.', '# Answer\n\n8'], labels: [true, false, true, true] },
      { prompt: p, steps: ['2 + 2 = 4 first.'], labels: [false] },
      { prompt: p, steps: ['2 * 3 = 6.', 'So we add 2.', '2 + 6 = 9.'], labels: [true, false, false] },
    ]);
    expect(samples[1]!.id).toMatch(/prm800k\.jsonl:1\/0\.1$/);
    const positive = await load(await jsonl('prm800k-pos.jsonl', [record]), { neutral: 'positive' });
    expect(positive.samples[0]!.labels).toEqual([true, true, true, true]);
  });

  it('stops the path where a labeler found an error (no chosen or human completion)', async () => {
    const stopped = { ...record, label: { ...record.label, steps: [record.label.steps[0], { completions: [completion('2 + 6 = 10.', -1)], human_completion: null, chosen_completion: null }], finish_reason: 'found_error' } };
    const { samples } = await load(await jsonl('prm800k-stop.jsonl', [stopped]));
    expect(samples.map((x) => [x.steps, x.labels])).toEqual([[['2 * 3 = 6.'], [true]], [['2 + 2 = 4 first.'], [false]], [['2 * 3 = 6.', '2 + 6 = 10.'], [true, false]]]);
  });

  it('names the step and field of a bad rating or index', async () => {
    const bad = structuredClone(record) as { label: { steps: { chosen_completion: unknown; completions: { rating: unknown }[] }[] } };
    bad.label.steps[1]!.completions[0]!.rating = 2;
    expect((await failure(load(await jsonl('prm800k-bad.jsonl', [record, bad])))).message).toMatch(/:2: field "label\.steps\[1\]\.completions\[0\]\.rating" must be -1, 0, 1 or null, got 2/);
    const bad2 = structuredClone(record) as typeof bad;
    bad2.label.steps[0]!.chosen_completion = 5;
    expect((await failure(load(await jsonl('prm800k-bad2.jsonl', [bad2])))).message).toMatch(/:1: field "label\.steps\[0\]\.chosen_completion" must be null or an index into its 2 completions, got 5/);
  });
});

describe('layouts and whole-file errors', () => {
  it('detects each layout from the first record', () => {
    expect(detectStepLabelLayout({ prompt: 'p', completions: [], labels: [] })).toBe('trl');
    expect(detectStepLabelLayout({ input: 'a', label: 'b', task: 'MATH' })).toBe('math-shepherd');
    expect(detectStepLabelLayout({ question: { problem: 'p' }, label: { steps: [] } })).toBe('prm800k');
    expect(detectStepLabelLayout({ problem: 'p', steps: ['a'], label: -1 })).toBe('processbench');
    expect(detectStepLabelLayout({ question: 'q', answer: 'a' })).toBeNull();
  });

  it('a file whose first record fits no layout says which layouts were tried and the columns found', async () => {
    const e = await failure(load(await jsonl('gsm.jsonl', [{ question: 'What is 1 + 1?', answer: '1 + 1 = 2\n#### 2' }])));
    expect(e.message).toMatch(/gsm\.jsonl: no step-label layout fits the first record \(line 1\); columns found: question, answer; layouts tried: trl \(prompt: string, completions: string\[\], labels: bool\[\]\); math-shepherd .*; prm800k .*; processbench .*Pass layout=/);
  });

  it('a file that gives no sample says so, with the layout tried', async () => {
    const empty = await jsonl('empty.jsonl', ['', '']);
    expect((await failure(load(empty))).message).toMatch(/empty\.jsonl: has no records; layouts tried: trl, math-shepherd, prm800k, processbench/);
    const unrated = { question: { problem: 'p' }, label: { steps: [{ completions: [{ text: 'a', rating: null }], chosen_completion: 0, human_completion: null }] } };
    expect((await failure(load(await jsonl('unrated.jsonl', [unrated])))).message).toMatch(/gave no step-labelled sample from its 1 record\(s\) as prm800k/);
    const forced = await jsonl('forced.jsonl', [{ prompt: 'p', completions: ['a'], labels: [true] }]);
    expect((await failure(load(forced, { layout: 'math-shepherd' }))).message).toMatch(/forced\.jsonl:1: field "input" is missing/);
  });
});

describe('ProcessBench files', () => {
  const rows = [
    { id: 'g-0', generator: 'm1', problem: 'What is 3 * 4 + 1?', steps: ['3 * 4 = 12.', '12 + 1 = 14.', 'So 14.'], final_answer_correct: false, label: 1 },
    { id: 'g-1', generator: 'm2', problem: 'What is 5 - 2?', steps: ['5 - 2 = 3.', 'So 3.'], final_answer_correct: true, label: -1 },
  ];

  it('reads records, the subset from the file name or a subset column; as labelled data the steps stop at the first error', async () => {
    const path = join(dir, 'gsm8k.jsonl');
    await writeFile(path, rows.map((r) => JSON.stringify(r)).join('\n'));
    const other = await jsonl('mixed.jsonl', [{ ...rows[0], subset: 'math' }]);
    const samples = await loadProcessBench([path, other]);
    expect(samples).toEqual([
      { id: 'g-0', subset: 'gsm8k', problem: 'What is 3 * 4 + 1?', steps: ['3 * 4 = 12.', '12 + 1 = 14.', 'So 14.'], label: 1, generator: 'm1', finalAnswerCorrect: false },
      { id: 'g-1', subset: 'gsm8k', problem: 'What is 5 - 2?', steps: ['5 - 2 = 3.', 'So 3.'], label: -1, generator: 'm2', finalAnswerCorrect: true },
      { id: 'g-0', subset: 'math', problem: 'What is 3 * 4 + 1?', steps: ['3 * 4 = 12.', '12 + 1 = 14.', 'So 14.'], label: 1, generator: 'm1', finalAnswerCorrect: false },
    ]);
    const { samples: labelled } = await load(path);
    expect(labelled.map((x) => [x.steps.length, x.labels])).toEqual([[2, [true, false]], [2, [true, true]]]);
  });

  it('reads a JSON array file (rows by index), and takes the subset from a shard\'s folder', async () => {
    await mkdir(join(dir, 'math'), { recursive: true });
    const path = join(dir, 'math', 'test-00000-of-00001.json');
    await writeFile(path, `\uFEFF ${JSON.stringify(rows)}`);
    const samples = await loadProcessBench(path);
    expect(samples.map((x) => [x.id, x.subset])).toEqual([['g-0', 'math'], ['g-1', 'math']]);
    expect(subsetOfFile('/d/omnimath-00000-of-00002.parquet')).toBe('omnimath');
    expect(subsetOfFile('/d/olympiadbench/0000.parquet')).toBe('olympiadbench');
    expect(subsetOfFile('gsm8k.jsonl')).toBe('gsm8k');
    const bad = join(dir, 'bad-array.json');
    await writeFile(bad, JSON.stringify([rows[0], { ...rows[1], steps: 'one' }]));
    const e = await failure(loadProcessBench(bad));
    expect(e.message).toMatch(/bad-array\.json: row 1: field "steps" must be a list of strings/);
    expect(e.row).toBe(1);
    const jsonLines = join(dir, 'lines.json');
    await writeFile(jsonLines, rows.map((r) => JSON.stringify(r)).join('\n'));
    expect(await loadProcessBench(jsonLines)).toHaveLength(2);
  });

  it('names file:line and field of a bad label, and refuses a file of another layout', async () => {
    const path = await jsonl('pb-bad.jsonl', [rows[0], { ...rows[1], label: 2 }]);
    const e = await failure(loadProcessBench(path));
    expect(e.message).toMatch(/pb-bad\.jsonl:2: field "label" must be -1 \(every step correct\) or the index of the first wrong step in \[0, 1\], got 2/);
    const dup = await jsonl('pb-dup.jsonl', [rows[0], rows[0]]);
    expect((await failure(loadProcessBench(dup))).message).toMatch(/:2: field "id" "g-0" is already the id of line 1/);
    const trl = await jsonl('pb-trl.jsonl', [{ prompt: 'p', completions: ['a'], labels: [true] }]);
    expect((await failure(loadProcessBench(trl))).message).toMatch(/is not a ProcessBench record: it has no "problem", "steps", "label"; columns found: prompt, completions, labels/);
  });
});

describe('steps written for the PRM', () => {
  it('lines: one step per line (inner line breaks as spaces); paragraphs: blank-line separated; each cuts back into the same steps', () => {
    const steps = ['First we note\nthat 2 + 2 = 4.', 'Then 4 * 3 = 12.', '# Answer\n\n12'];
    expect(renderSteps(steps, 'lines')).toBe('First we note that 2 + 2 = 4.\nThen 4 * 3 = 12.\n# Answer 12');
    const para = renderSteps(steps, 'paragraphs');
    expect(para).toBe('First we note\nthat 2 + 2 = 4.\n\nThen 4 * 3 = 12.\n\n# Answer\n12');
    expect(segmentSteps(para, 'paragraphs').length).toBe(3);
    expect(() => renderSteps(['a', ' '], 'lines')).toThrow(/2 steps were written as 1/);
    expect(() => renderSteps(['a'], 'step-markers')).toThrow(/not under the step rule step-markers/);
  });

  it('encodes prompt + steps with one step end per step, or null past the context', () => {
    const codec = new TaskCodec();
    const seq = encodeSteps('Add.', ['1 + 1 = 2', '#### 2'], codec, 64)!;
    expect(seq.stepEnds).toEqual([9, 16]);
    expect(codec.decodeResponse(seq.responseIds)).toBe('1 + 1 = 2\n#### 2\n');
    expect(encodeSteps('Add.', ['1 + 1 = 2', '#### 2'], codec, 20)).toBeNull();
  });
});
