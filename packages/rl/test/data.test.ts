import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DataFormatError, loadProblems, loadTrajectories, problemsFromTask, saveProblems, saveTrajectories, writeJsonl, type Trajectory,
} from '../src/data/index.js';
import { addCarry, arithChain, createRng, getTask, type Problem } from '../src/tasks/index.js';
import { failure, tempFiles } from './helpers.js';

const tmp = tempFiles('repirl-data-');

/** Writes `lines` (joined by '\n') to a fresh file in the temp dir and returns its path. */
const file = (name: string, lines: string[]): Promise<string> => tmp.write(name, lines.join('\n'));

describe('loadProblems', () => {
  it('reads GSM8K-style lines: the worked answer becomes the solution, the text after #### the answer', async () => {
    const path = await file('gsm.jsonl', [
      JSON.stringify({ question: 'Tom has 3 bags of 4 apples. How many apples?', answer: 'He has 3 * 4 = <<3*4=12>>12 apples.\n#### 12' }),
      '',
      JSON.stringify({ id: 'q2', question: 'How much is 1,000 plus 1?', answer: 'It is 1,001.\n#### 1,001  ' }),
      '   ',
      JSON.stringify({ question: 'What is 6 times 7?', answer: 42 }),
    ]);
    const name = path.split('/').at(-1);
    expect(await loadProblems(path)).toEqual([
      { id: `${name}:1`, prompt: 'Tom has 3 bags of 4 apples. How many apples?', answer: '12', solution: 'He has 3 * 4 = <<3*4=12>>12 apples.\n#### 12' },
      { id: 'q2', prompt: 'How much is 1,000 plus 1?', answer: '1,001', solution: 'It is 1,001.\n#### 1,001' },
      { id: `${name}:5`, prompt: 'What is 6 times 7?', answer: '42' },
    ]);
  });

  it('reads the id/prompt form with a solution and meta', async () => {
    const record = { id: 'c1', prompt: '7 +3\n', answer: '10', solution: '=10\n#### 10', meta: { level: 1 } };
    const path = await file('chain.jsonl', [JSON.stringify(record)]);
    expect(await loadProblems(path)).toEqual([record]);
  });

  const ok = JSON.stringify({ id: 'a', prompt: '1 +1\n', answer: '2' });
  // Each bad line is line 3 (a good line, then a blank one), so line counting includes blank lines.
  it.each([
    ['{"id": "b", "prompt": 5, "answer": "1"}', 'prompt', 'field "prompt" must be a string, got number'],
    ['{"id": "b", "prompt": "x"}', 'answer', 'field "answer" is missing; it must be a string (or a number)'],
    ['{"id": "b", "prompt": "x", "answer": ["1"]}', 'answer', 'field "answer" must be a string or a number, got array'],
    ['{"prompt": "x", "answer": "1"}', 'id', 'field "id" is missing; it must be a string'],
    ['{"id": "a", "prompt": "x", "answer": "1"}', 'id', 'field "id": "a" is already used on line 1; problem ids must be unique'],
    ['{"id": "b", "prompt": "x", "answer": "1", "soluton": "#### 1"}', 'soluton',
      'field "soluton" is not a field of a problem line (allowed: id, prompt, answer, solution, meta); remove it or move it under "meta"'],
    ['{"id": "b", "prompt": "x", "answer": "1", "solution": "=1"}', 'solution',
      'field "solution" must end with a "#### <answer>" line (docs/DESIGN.md §4), but the last line "=1" is not a final "#### <answer>" line'],
    ['{"id": "b", "prompt": "x", "answer": "6", "solution": "=5\\n#### 5"}', 'solution',
      'field "solution" ends with "#### 5" but field "answer" is "6"; make them agree'],
    ['{"id": "b", "prompt": "x", "answer": "1", "meta": "easy"}', 'meta', 'field "meta" must be a JSON object, got string'],
    ['{"question": "q", "answer": "Twelve.\\nSo 12"}', 'answer',
      'field "answer" of a GSM8K-style line must be the worked solution ending in a "#### <answer>" line, but the last line "So 12" is not a final "#### <answer>" line'],
    ['{"question": 3, "answer": "1"}', 'question', 'field "question" must be a string, got number'],
  ])('%s → %s', async (line, field, message) => {
    const path = await file('bad.jsonl', [ok, '', line]);
    const err = await failure(loadProblems(path));
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toBe(`${path}:3: ${message}`);
    expect(err).toMatchObject({ file: path, line: 3, field });
  });

  it.each([
    ['{"id": "b", "prompt": ', 'invalid JSON ('],
    ['[1, 2]', 'the line must be a JSON object {...}, got array'],
    ['"just text"', 'the line must be a JSON object {...}, got string'],
  ])('%s → %s', async (line, message) => {
    const path = await file('bad.jsonl', [ok, '', line, ok]);
    const err = await failure(loadProblems(path));
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message.startsWith(`${path}:3: ${message}`)).toBe(true);
  });

  it('names a missing file', async () => {
    const path = join(tmp.dir(), 'nope.jsonl');
    expect((await failure(loadProblems(path))).message).toMatch(new RegExp(`^cannot read ${path}: ENOENT`));
  });
});

describe('loadTrajectories', () => {
  it('reads every field and lets samples of one prompt share an id', async () => {
    const full: Trajectory = {
      id: 'p1', prompt: '7 +3\n', response: '=10\n\n#### 10\n', answer: '10', correct: true, step_labels: [true, true], source: 'expert',
      meta: { seed: 3 },
    };
    const bare: Trajectory = { id: 'p1', prompt: '7 +3\n', response: '=11' };
    const path = await file('traj.jsonl', [JSON.stringify(full), JSON.stringify(bare)]);
    expect(await loadTrajectories(path)).toEqual([full, bare]);
  });

  const base = { id: 't', prompt: 'p', response: '=1\n#### 1' };
  it.each([
    [{ ...base, response: undefined }, 'response', 'field "response" is missing; it must be a string'],
    [{ ...base, correct: 'yes' }, 'correct', 'field "correct" must be true or false, got string'],
    [{ ...base, step_labels: 'TT' }, 'step_labels', 'field "step_labels" must be an array of booleans, got string'],
    [{ ...base, step_labels: [true, 1] }, 'step_labels[1]', 'field "step_labels[1]" must be true or false, got number'],
    [{ ...base, step_labels: [true] }, 'step_labels',
      'field "step_labels" has 1 labels but "response" has 2 steps (non-blank lines); give one label per step'],
    [{ ...base, source: 7 }, 'source', 'field "source" must be a string, got number'],
    [{ ...base, reward: 1 }, 'reward', 'field "reward" is not a field of a trajectory line (allowed: id, prompt, response, answer, correct, step_labels, source, meta); remove it or move it under "meta"'],
  ])('%j → %s', async (record, field, message) => {
    const path = await file('bad-traj.jsonl', [JSON.stringify(base), JSON.stringify(record)]);
    const err = await failure(loadTrajectories(path));
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toBe(`${path}:2: ${message}`);
    expect(err).toMatchObject({ line: 2, field });
  });
});

describe('saving', () => {
  it('round-trips problems and trajectories exactly', async () => {
    const problems: Problem[] = [
      ...problemsFromTask('arith-chain', 3, 20, { steps: 6, range: 50 }),
      ...problemsFromTask(addCarry, 3, 20, { digits: 5 }),
      { id: 'word', prompt: 'How many legs do 3 cats have?', answer: '12', solution: 'Each has 4 legs: 3 * 4 = 12.\n#### 12' },
      { id: 'bare', prompt: 'ünïcödé "quotes" \\ and\nnewlines', answer: '-0.5' },
    ];
    const path = join(tmp.dir(), 'sub', 'dir', 'problems.jsonl'); // the parent directories are created
    await saveProblems(path, problems);
    expect(await loadProblems(path)).toEqual(problems);
    const firstLine = (await readFile(path, 'utf8')).split('\n')[0]!;
    expect(Object.keys(JSON.parse(firstLine))).toEqual(['id', 'prompt', 'answer', 'solution', 'meta']);

    const rng = createRng(2);
    const trajectories: Trajectory[] = problems.slice(0, 20).map((p, i) => {
      const noisy = arithChain.noisySolution(p, rng, 0.3);
      return {
        id: p.id, prompt: p.prompt, response: noisy.text, answer: p.answer, correct: arithChain.verify(p, noisy.text).correct,
        step_labels: noisy.stepLabels.global, source: 'noisy-0.3', meta: { index: i },
      };
    });
    trajectories.push({ id: 'bare', prompt: 'q', response: '' });
    const tpath = join(tmp.dir(), 'trajectories.jsonl');
    await saveTrajectories(tpath, trajectories);
    expect(await loadTrajectories(tpath)).toEqual(trajectories);
  });

  it('leaves an existing file intact when a write fails midway, and no temp file behind', async () => {
    const sub = await mkdtemp(join(tmp.dir(), 'atomic-'));
    const path = join(sub, 'keep.jsonl');
    const original = '{"id":"old","prompt":"1 +1\\n","answer":"2"}\n';
    await writeFile(path, original);
    function* failing() {
      yield { id: 'new-1' };
      yield { id: 'new-2' };
      throw new Error('disk full (simulated)');
    }
    expect((await failure(writeJsonl(path, failing()))).message).toBe('disk full (simulated)');
    expect(await readFile(path, 'utf8')).toBe(original);

    const good = problemsFromTask('arith-chain', 1, 3);
    const bad = [...good, { id: 'x', prompt: 3, answer: '1' } as unknown as Problem];
    const err = await failure(saveProblems(path, bad));
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toBe(`saveProblems(${path}): record 3: field "prompt" must be a string, got number`);
    expect((await failure(writeJsonl(path, [{ ok: 1 }, { loss: NaN }]))).message).toBe(
      `writeJsonl(${path}): record 1: field "loss" is NaN, which JSON cannot hold; use a finite number or null`);
    expect((await failure(writeJsonl(path, [{ labels: [true, undefined] }]))).message).toContain('element 1 is undefined');
    expect((await failure(writeJsonl(path, [[1, 2]]))).message).toContain('record 0 must be a plain object, got array');
    expect(await readFile(path, 'utf8')).toBe(original);
    expect(await readdir(sub)).toEqual(['keep.jsonl']);

    await saveProblems(path, good); // and a good write replaces it
    expect(await loadProblems(path)).toEqual(good);
    expect(await readdir(sub)).toEqual(['keep.jsonl']);
  });
});

describe('example files in packages/rl/data', () => {
  const data = new URL('../data/', import.meta.url).pathname;

  it('load, and task problems and trajectories agree with their task', async () => {
    for (const name of ['arith-chain.jsonl', 'add-carry.jsonl', 'gsm8k-style.jsonl']) {
      const problems = await loadProblems(join(data, name));
      expect(problems.length).toBeGreaterThan(3);
      for (const p of problems) {
        expect(p.solution === undefined || p.solution.endsWith(`#### ${p.answer}`)).toBe(true);
        if (typeof p.meta?.task === 'string') expect(getTask(p.meta.task).verify(p, p.solution!).correct).toBe(true);
      }
    }
    const trajectories = await loadTrajectories(join(data, 'trajectories.jsonl'));
    expect(trajectories.map((t) => t.source)).toEqual(expect.arrayContaining(['expert', 'noisy-0.3']));
    for (const t of trajectories) {
      const p = { id: t.id, prompt: t.prompt, answer: t.answer! };
      expect(t.step_labels).toEqual(arithChain.stepLabels(p, t.response).global);
      expect(t.correct).toBe(arithChain.verify(p, t.response).correct);
    }
  });
});
