// Problems from JSONL and Parquet files in the common layouts (issue 14): streaming JSONL,
// Parquet row group by row group, layout detection, column mappings and the errors.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import {
  DataFormatError, detectLayout, loadProblemFile, loadProblems, problemsFromTask, saveProblems, parquetColumns, problemFileOptions, problemFileSchema, readJsonl, readProblemFile, streamJsonl,
  streamParquet, type ReadProblemsOptions,
} from '../src/data/index.js';
import { resolveConfig } from '../src/config/index.js';
import { createAnswerVerifier } from '../src/verify/index.js';
import { failure as rejection, tempFiles } from './helpers.js';

const tmp = tempFiles('repirl-data-files-');

const jsonl = (name: string, records: unknown[]): Promise<string> =>
  tmp.write(name, records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function failure(promise: Promise<unknown>): Promise<DataFormatError> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(DataFormatError);
  return err as DataFormatError;
}

const load = async (path: string, options?: ReadProblemsOptions) => (await loadProblemFile(path, options)).problems;

describe('streamJsonl', () => {
  it('gives readJsonl\'s lines at every chunk size (BOM, CRLF, blank lines, multi-byte characters cut by chunks)', async () => {
    const path = join(tmp.dir(), 'stream.jsonl');
    const body = ['{"a":"é😀"}', '', '  ', '{"b":[1,2]}\r', '{"c":"\u4e2d\u6587"}'].join('\n');
    await writeFile(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)]));
    const expected = await readJsonl(path);
    expect(expected.map((l) => l.line)).toEqual([1, 4, 5]);
    for (const chunkBytes of [1, 2, 3, 5, 7, 64, 1 << 20]) {
      expect(await collect(streamJsonl(path, { chunkBytes }))).toEqual(expected);
    }
  });
  it('reports invalid UTF-8 and JSON at their lines, as readJsonl does', async () => {
    const path = join(tmp.dir(), 'bad-utf8.jsonl');
    await writeFile(path, Buffer.concat([Buffer.from('{"a":1}\n{"b":"'), Buffer.from([0xff]), Buffer.from('"}\n')]));
    const err = await failure(collect(streamJsonl(path, { chunkBytes: 4 })));
    expect(err.message).toBe((await failure(readJsonl(path))).message);
    expect(err.line).toBe(2);
    const bad = await jsonl('bad-json.jsonl', ['{"a":1}', '{"a":']);
    expect((await failure(collect(streamJsonl(bad)))).message).toMatch(/:2: invalid JSON/);
    expect((await failure(collect(streamJsonl(join(tmp.dir(), 'nope.jsonl'))))).message).toMatch(/^cannot read .*nope\.jsonl/);
  });
  it('an empty file has no records', async () => {
    const path = join(tmp.dir(), 'empty.jsonl');
    await writeFile(path, '');
    expect(await collect(streamJsonl(path))).toEqual([]);
  });
});

describe('readProblemFile: JSONL layouts', () => {
  it('GSM8K: the solution is the worked answer (ending "#### n"), the answer what follows ####', async () => {
    const path = await jsonl('gsm.jsonl', [
      { question: 'Ann has 3 boxes of 4 pens. How many pens?', answer: 'Ann has 3 * 4 = <<3*4=12>>12 pens.\n#### 12' },
      { question: 'What is 1,000 + 234?', answer: 'It is 1,234.\n#### 1,234' },
    ]);
    let info;
    const problems = await collect(readProblemFile(path, {}, (i) => (info = i)));
    expect(info).toMatchObject({ format: 'jsonl', layout: 'gsm8k' });
    expect(problems[0]).toEqual({
      id: expect.stringMatching(/gsm\.jsonl:1$/), prompt: 'Ann has 3 boxes of 4 pens. How many pens?', answer: '12',
      solution: 'Ann has 3 * 4 = <<3*4=12>>12 pens.\n#### 12',
    });
    expect(problems[1]!.answer).toBe('1,234');
    expect(problems[1]!.id).toMatch(/gsm\.jsonl:2$/);
  });
  it('MATH: the answer is the last \\boxed{} of the solution, braces nested; other columns go to meta', async () => {
    const path = await jsonl('math.jsonl', [
      { problem: 'Simplify $\\frac{2}{4}$.', solution: 'Divide by 2: $\\boxed{\\frac{1}{2}}$.', level: 'Level 1', type: 'Algebra' },
      { problem: 'Solve $x^2=1$.', solution: 'First \\boxed{1}? No: $\\boxed{\\{-1, 1\\}}$', level: 'Level 2', type: 'Algebra' },
    ]);
    const problems = await load(path);
    expect(problems.map((p) => p.answer)).toEqual(['\\frac{1}{2}', '\\{-1, 1\\}']);
    expect(problems[0]).toMatchObject({ prompt: 'Simplify $\\frac{2}{4}$.', solution: 'Divide by 2: $\\boxed{\\frac{1}{2}}$.', meta: { level: 'Level 1', type: 'Algebra' } });
  });
  it('MATH with an answer column keeps it', async () => {
    const path = await jsonl('math500.jsonl', [{ problem: 'p', solution: 'so \\boxed{\\dfrac12}', answer: '\\frac{1}{2}', unique_id: 'test/algebra/1.json' }]);
    expect((await load(path))[0]).toMatchObject({ answer: '\\frac{1}{2}', meta: { unique_id: 'test/algebra/1.json' } });
  });
  it('verl: the last user message is the prompt, the chat and the rest are kept in meta', async () => {
    const path = await jsonl('verl.jsonl', [{
      data_source: 'openai/gsm8k',
      prompt: [{ role: 'system', content: 'Think step by step.' }, { role: 'user', content: 'What is 6 * 7? Answer after "####".' }],
      ability: 'math',
      reward_model: { style: 'rule', ground_truth: '42' },
      extra_info: { split: 'train', index: 0 },
    }]);
    const [p] = await load(path);
    expect(p).toEqual({
      id: expect.stringMatching(/verl\.jsonl:1$/), prompt: 'What is 6 * 7? Answer after "####".', answer: '42',
      meta: {
        messages: [{ role: 'system', content: 'Think step by step.' }, { role: 'user', content: 'What is 6 * 7? Answer after "####".' }],
        data_source: 'openai/gsm8k', ability: 'math', reward_model: { style: 'rule', ground_truth: '42' }, extra_info: { split: 'train', index: 0 },
      },
    });
    // The auto verifier reads the data_source: #### for GSM8K.
    expect(createAnswerVerifier({ layout: 'verl' })(p!, 'so 42\n#### 42').correct).toBe(true);
  });
  it('generic: prompt/answer/solution/id/meta; a numeric answer; a solution alone gives the answer', async () => {
    const path = await jsonl('generic.jsonl', [
      { id: 'a', prompt: '2+2?', answer: 4, meta: { source: 'me' }, difficulty: 1 },
      { id: 'b', prompt: '3+3?', solution: '3+3=6\n#### 6' },
      { id: 'c', prompt: 'half?', solution: 'It is \\boxed{\\frac12}' },
    ]);
    const problems = await load(path);
    expect(problems[0]).toEqual({ id: 'a', prompt: '2+2?', answer: '4', meta: { source: 'me', difficulty: 1 } });
    expect(problems[1]).toEqual({ id: 'b', prompt: '3+3?', answer: '6', solution: '3+3=6\n#### 6' });
    expect(problems[2]!.answer).toBe('\\frac12');
  });
  it('the project\'s own problem files read as loadProblems reads them (ids from the id column)', async () => {
    const path = join(tmp.dir(), 'arith.jsonl');
    await saveProblems(path, problemsFromTask('arith-chain', 3, 20));
    const { problems, info } = await loadProblemFile(path);
    expect(info?.layout).toBe('generic');
    expect(problems).toEqual(await loadProblems(path));
  });
  it('a column mapping reads anything else, dotted paths into nested objects', async () => {
    const path = await jsonl('custom.jsonl', [
      { q: 'How many legs has a cat?', target: { value: '4' }, uid: 17, note: 'x' },
      { q: 'How many legs has a bird?', target: { value: '2' }, uid: 18, note: 'y' },
    ]);
    const problems = await load(path, { columns: { prompt: 'q', answer: 'target.value', id: 'uid' } });
    expect(problems).toEqual([
      { id: '17', prompt: 'How many legs has a cat?', answer: '4', meta: { target: { value: '4' }, note: 'x' } },
      { id: '18', prompt: 'How many legs has a bird?', answer: '2', meta: { target: { value: '2' }, note: 'y' } },
    ]);
  });
  it('an explicit layout overrides detection, and columns rename its fields', async () => {
    const path = await jsonl('renamed.jsonl', [{ instruction: 'Bob has 2 and gets 3 more.', output: 'He has 2 + 3 = 5.\n#### 5' }]);
    const [p] = await load(path, { layout: 'gsm8k', columns: { prompt: 'instruction', answer: 'output' } });
    expect(p).toMatchObject({ prompt: 'Bob has 2 and gets 3 more.', answer: '5', solution: 'He has 2 + 3 = 5.\n#### 5' });
  });
});

describe('readProblemFile: errors name the file, the line or row, and the field', () => {
  it('a bad row', async () => {
    const path = await jsonl('bad-row.jsonl', [{ question: 'a', answer: '#### 1' }, { question: 'b', answer: 'x\n#### 2' }, { question: 7, answer: '3' }]);
    const err = await failure(load(path));
    expect(err.message).toBe(`${path}:3: field "question" must be a string or a list of chat messages [{role, content}], got number`);
    expect([err.line, err.field, err.row]).toEqual([3, 'question', null]);
  });
  it('a missing field in a later row', async () => {
    const path = await jsonl('missing.jsonl', [{ prompt: 'a', answer: '1' }, { prompt: 'b' }]);
    expect((await failure(load(path))).message).toBe(`${path}:2: field "answer" is missing and there is no "solution"; give the final answer`);
  });
  it('a GSM8K worked answer without ####', async () => {
    const path = await jsonl('no-hash.jsonl', [{ question: 'a', answer: 'step one\nstep two' }]);
    expect((await failure(load(path))).message).toMatch(/:1: field "answer" holds a worked solution \(several lines\) but no "####" answer line/);
  });
  it('a generic solution that disagrees with its answer', async () => {
    const path = await jsonl('disagree.jsonl', [{ prompt: 'a', answer: '5', solution: '2+2\n#### 4' }]);
    expect((await failure(load(path))).message).toMatch(/:1: field "solution" ends with the answer "4" \(####\) but field "answer" is "5"/);
  });
  it('duplicate ids from an id column', async () => {
    const path = await jsonl('dup.jsonl', [{ id: 'x', prompt: 'a', answer: '1' }, { id: 'y', prompt: 'b', answer: '2' }, { id: 'x', prompt: 'c', answer: '3' }]);
    expect((await failure(load(path))).message).toBe(`${path}:3: field "id" "x" is already the id of line 1; problem ids must be unique`);
  });
  it('a chat prompt without a user message', async () => {
    const path = await jsonl('chat.jsonl', [{ prompt: [{ role: 'system', content: 's' }], answer: '1' }]);
    expect((await failure(load(path))).message).toMatch(/:1: field "prompt" has no message with role "user" \(roles: system\)/);
  });
  it('no layout fits: the layouts tried and the columns found', async () => {
    const path = await jsonl('unknown.jsonl', ['', { q: 'a', a: '1' }]);
    const err = await failure(load(path));
    expect(err.message).toContain(`${path}: no problem layout fits the first record (line 2); columns found: q, a; layouts tried: `);
    expect(err.message).toContain('gsm8k (prompt ← "question", answer ← "answer", id ← "id"?)');
    expect(err.message).toContain('Pass layout (gsm8k, math, verl, generic) or columns');
    expect(err.line).toBe(2);
  });
  it('a mapping that does not fit: the mapping tried and the columns found', async () => {
    const path = await jsonl('wrong-map.jsonl', [{ q: 'a', a: '1' }]);
    const err = await failure(load(path, { columns: { prompt: 'question', answer: 'a' } }));
    expect(err.message).toBe(`${path}: the first record (line 1) has no column "question" for prompt, so no record maps; ` +
      'mapping tried: generic (prompt ← "question", answer ← "a", solution ← "solution"?, id ← "id"?; answer or solution); columns found: q, a. ' +
      "Pass layout or columns, e.g. { prompt: 'q', answer: 'a' }");
    expect((await failure(load(path, { layout: 'math' }))).message).toMatch(/has no column "problem", "solution" for prompt, solution/);
  });
  it('bad options', async () => {
    const path = await jsonl('opts.jsonl', [{ prompt: 'a', answer: '1' }]);
    expect((await failure(load(path, { columns: { question: 'q' } as never }))).message).toMatch(/columns\.question is not a field of a problem/);
    expect((await failure(load(path, { layout: 'alpaca' as never }))).message).toMatch(/layout must be auto, gsm8k, math, verl, generic/);
  });
});

// ---------------------------------------------------------------------------------------------
// Parquet, written here with hyparquet-writer (row groups of 2 rows, so a file has several)

function writeGsm8kParquet(path: string, rows: { question: string | null; answer: string }[]): void {
  parquetWriteFile({
    filename: path,
    columnData: [
      { name: 'question', data: rows.map((r) => r.question), type: 'STRING' },
      { name: 'answer', data: rows.map((r) => r.answer), type: 'STRING' },
    ],
    rowGroupSize: 2,
  });
}

const VERL_SCHEMA = [
  { name: 'root', num_children: 5 },
  { name: 'data_source', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'prompt', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
  { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
  { name: 'content', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'role', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'ability', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'reward_model', repetition_type: 'OPTIONAL', num_children: 2 },
  { name: 'ground_truth', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'style', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'extra_info', repetition_type: 'OPTIONAL', num_children: 2 },
  { name: 'index', type: 'INT64', repetition_type: 'OPTIONAL' },
  { name: 'split', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
] as const;

describe('readProblemFile: Parquet', () => {
  it('GSM8K rows across row groups, in order, ids by row index', async () => {
    const path = join(tmp.dir(), 'gsm.parquet');
    const rows = Array.from({ length: 5 }, (_, i) => ({ question: `What is ${i} + ${i}?`, answer: `${i} + ${i} = ${2 * i}\n#### ${2 * i}` }));
    writeGsm8kParquet(path, rows);
    expect(await parquetColumns(path)).toEqual(['question', 'answer']);
    const records = await collect(streamParquet(path));
    expect(records.map((r) => r.row)).toEqual([0, 1, 2, 3, 4]);
    const problems = await load(path);
    expect(problems.map((p) => p.answer)).toEqual(['0', '2', '4', '6', '8']);
    expect(problems[3]).toEqual({ id: 'gsm.parquet#3', prompt: 'What is 3 + 3?', answer: '6', solution: '3 + 3 = 6\n#### 6' });
  });
  it('verl: nested prompt list and structs, 64-bit integers as numbers', async () => {
    const path = join(tmp.dir(), 'verl.parquet');
    parquetWriteFile({
      filename: path,
      schema: VERL_SCHEMA as never,
      columnData: [
        { name: 'data_source', data: ['openai/gsm8k', 'lighteval/MATH'] },
        { name: 'prompt', data: [[{ role: 'user', content: 'What is 6 * 7?' }], [{ role: 'system', content: 'Box it.' }, { role: 'user', content: 'Half of 1?' }]] },
        { name: 'ability', data: ['math', 'math'] },
        { name: 'reward_model', data: [{ ground_truth: '42', style: 'rule' }, { ground_truth: '\\frac{1}{2}', style: 'rule' }] },
        { name: 'extra_info', data: [{ index: 0n, split: 'train' }, { index: 9007199254740993n, split: 'train' }] },
      ],
      rowGroupSize: 1,
    });
    const { problems, info } = await loadProblemFile(path);
    expect(info).toMatchObject({ format: 'parquet', layout: 'verl' });
    expect(problems[0]).toMatchObject({ id: 'verl.parquet#0', prompt: 'What is 6 * 7?', answer: '42', meta: { data_source: 'openai/gsm8k', extra_info: { index: 0, split: 'train' } } });
    expect(problems[1]).toMatchObject({ prompt: 'Half of 1?', answer: '\\frac{1}{2}', meta: { extra_info: { index: '9007199254740993' } } });
    expect((problems[1]!.meta!.messages as unknown[]).length).toBe(2);
    const verify = createAnswerVerifier({ layout: 'verl' });
    expect(verify(problems[0]!, '#### 42').correct).toBe(true);
    expect(verify(problems[1]!, 'so $\\boxed{0.5}$').correct).toBe(true);
  });
  it('a bad row is named by its row index and field', async () => {
    const path = join(tmp.dir(), 'gsm-bad.parquet');
    writeGsm8kParquet(path, [{ question: 'a', answer: '#### 1' }, { question: 'b', answer: '#### 2' }, { question: 'c', answer: '#### 3' }, { question: null, answer: '#### 4' }]);
    const err = await failure(load(path));
    expect(err.message).toBe(`${path}: row 3: field "question" is missing; every problem needs a prompt`);
    expect([err.row, err.line, err.field]).toEqual([3, null, 'question']);
  });
  it('a file that is not Parquet, and a mapping that finds nothing', async () => {
    const notParquet = await jsonl('fake.parquet', [{ a: 1 }]);
    expect((await failure(load(notParquet))).message).toMatch(/fake\.parquet: not a readable Parquet file/);
    const path = join(tmp.dir(), 'gsm-map.parquet');
    writeGsm8kParquet(path, [{ question: 'a', answer: '#### 1' }]);
    expect((await failure(load(path, { columns: { prompt: 'q', answer: 'a' } }))).message)
      .toMatch(/the first record \(row 0\) has no column "q", "a" for prompt, answer.*columns found: question, answer/);
  });
});

describe('problemFileSchema (the config keys)', () => {
  it('defaults, options and checks', () => {
    const config = resolveConfig<{ path: string; format: 'auto'; layout: 'auto'; columns: Record<string, string>; steps: string }>(
      problemFileSchema, { file: { value: { path: 'x.parquet', columns: { prompt: 'q' } }, name: 'test' } });
    expect(config).toEqual({
      path: 'x.parquet', train: null, validation: null, test: null, fractions: { validation: 0.1, test: 0.1 }, format: 'auto', layout: 'auto', columns: { prompt: 'q' }, steps: 'lines',
    });
    expect(problemFileOptions(config)).toEqual({ format: 'auto', layout: 'auto', columns: { prompt: 'q' } });
    expect(() => resolveConfig(problemFileSchema, { file: { value: { path: 'x', steps: 'words' }, name: 'test' } })).toThrow(/steps/);
    expect(() => resolveConfig(problemFileSchema, { file: { value: { path: 'x', columns: { question: 'q' } }, name: 'test' } })).toThrow(/question/);
    // One file split by hash, or split files; not both, not neither; fractions leave room for train.
    expect(() => resolveConfig(problemFileSchema, { file: { value: { path: 'x', test: 'y' }, name: 'test' } })).toThrow(/test: a split file excludes path/);
    expect(() => resolveConfig(problemFileSchema, { file: { value: {}, name: 'test' } })).toThrow(/path: is required/);
    expect(() => resolveConfig(problemFileSchema, { file: { value: { path: 'x', fractions: { validation: 0.5, test: 0.5 } }, name: 'test' } })).toThrow(/room for train/);
    expect(resolveConfig<{ train: string; test: string }>(problemFileSchema, { file: { value: { train: 'a', test: 'b' }, name: 'test' } })).toMatchObject({ train: 'a', test: 'b', path: null });
  });
  it('detectLayout', () => {
    expect(detectLayout({ question: 'a', answer: 'b' })).toBe('gsm8k');
    expect(detectLayout({ problem: 'a', solution: 'b' })).toBe('math');
    expect(detectLayout({ data_source: 'x', prompt: [], reward_model: {} })).toBe('verl');
    expect(detectLayout({ prompt: 'a', solution: 'b' })).toBe('generic');
    expect(detectLayout({ text: 'a' })).toBeNull();
  });
});
