import { describe, expect, it } from 'vitest';
import {
  addCarry, arithChain, createRng, getTask, registerTask, splitSteps, stepEnds, taskNames, verifyFinalAnswer, type Difficulty,
  type Problem, type Task,
} from '../src/tasks/index.js';

const DIFFICULTIES: [Task, Difficulty[]][] = [
  [arithChain, [{}, { steps: 1, range: 2 }, { steps: 3, range: 10 }, { steps: 8, range: 100 }, { steps: 20, range: 1000 }]],
  [addCarry, [{}, { digits: 1 }, { digits: 5 }, { digits: 12, addends: 4 }, { digits: 3, addends: 9 }]],
];

/** A hand-written problem: only the prompt and the answer matter to a task. */
const problem = (prompt: string, answer: string): Problem => ({ id: `hand:${prompt.trim()}`, prompt, answer });

describe('generators', () => {
  for (const [task, difficulties] of DIFFICULTIES) {
    it(`${task.name}: same seed gives the same problems, another seed other ones, a larger count extends a smaller one`, () => {
      for (const d of difficulties) {
        const a = task.generate(7, 40, d);
        expect(task.generate(7, 40, d)).toEqual(a);
        expect(task.generate(7, 10, d)).toEqual(a.slice(0, 10));
        const b = task.generate(8, 40, d);
        const differing = a.filter((p, i) => p.prompt !== b[i]!.prompt).length;
        // The smallest setting (steps 1, range 2) has only 4 distinct problems; others almost never repeat.
        expect(differing).toBeGreaterThan(d.range === 2 ? 5 : 30);
        expect(new Set(a.map((p) => p.id)).size).toBe(40);
      }
    });
  }

  it('arith-chain: prompts have `steps` ops and every true value stays in [0, range)', () => {
    for (const d of [{ steps: 3, range: 10 }, { steps: 12, range: 50 }]) {
      for (const p of arithChain.generate(3, 200, d)) {
        expect(p.prompt.endsWith('\n')).toBe(true);
        expect(p.prompt.trim().split(' ')).toHaveLength(d.steps + 1);
        const values = p.solution.split('\n').slice(0, -1).map((line) => Number(line.slice(1)));
        expect(values).toHaveLength(d.steps);
        for (const v of [Number(p.prompt.split(' ')[0]), ...values]) expect(v >= 0 && v < d.range).toBe(true);
        expect(p.prompt).not.toMatch(/[+-]0\b|\*[01]\b/); // no +0, -0, *0, *1
        expect(p.meta).toEqual({ task: 'arith-chain', seed: 3, index: p.meta.index, difficulty: d });
      }
    }
  });

  it('add-carry: `addends` numbers of exactly `digits` digits', () => {
    for (const p of addCarry.generate(5, 200, { digits: 4, addends: 3 })) {
      const addends = p.prompt.trim().split('+');
      expect(addends).toHaveLength(3);
      for (const a of addends) expect(a).toMatch(/^[1-9]\d{3}$/);
      expect(BigInt(p.answer)).toBe(addends.reduce((s, a) => s + BigInt(a), 0n));
    }
  });

  it('rejects unknown or out-of-range difficulty knobs, bad seeds and counts', () => {
    expect(() => arithChain.generate(1, 1, { digits: 3 })).toThrow('arith-chain: unknown difficulty knob "digits"; this task\'s knobs are steps, range');
    expect(() => arithChain.generate(1, 1, { range: 1 })).toThrow('difficulty knob "range" must be an integer in [2, 1000000]');
    expect(() => addCarry.generate(1, 1, { digits: 2.5 })).toThrow('difficulty knob "digits" must be an integer in [1, 30]');
    expect(() => addCarry.generate(-1, 1)).toThrow('add-carry: seed must be an integer in [0, 2^32), got -1');
    expect(() => addCarry.generate(1, -2)).toThrow('add-carry: count must be a non-negative integer, got -2');
  });
});

describe('expert solver', () => {
  for (const [task, difficulties] of DIFFICULTIES) {
    it(`${task.name}: solutions verify and every step is labelled correct`, () => {
      for (const d of difficulties) {
        for (const p of task.generate(11, 150, d)) {
          const text = task.solve(p);
          expect(text).toBe(p.solution);
          expect(task.verify(p, text)).toEqual({ correct: true, parsedAnswer: p.answer, reason: `answer "${p.answer}" matches` });
          const labels = task.stepLabels(p, text);
          expect(labels.steps).toEqual(text.split('\n'));
          expect(labels.local.every(Boolean) && labels.global.every(Boolean)).toBe(true);
          expect(labels.firstError).toBe(-1);
        }
      }
    });
  }

  it('works on problems that lost their meta (loaded from JSONL) and rejects inconsistent ones', () => {
    expect(arithChain.solve(problem('7 +3 *2 -4\n', '16'))).toBe('=10\n=20\n=16\n#### 16');
    expect(addCarry.solve(problem('478+356', '834'))).toBe('4 c1\n3 c1\n8 c0\n#### 834');
    expect(addCarry.solve(problem('9+91', '100'))).toBe('0 c1\n0 c1\n#### 100'); // addends of different lengths
    expect(() => arithChain.solve({ id: 'p1', prompt: '7 +3 /2\n', answer: '5' })).toThrow(
      'arith-chain: problem "p1": prompt "7 +3 /2\\n" has "/2" where an op (+k, -k or *k) belongs');
    expect(() => arithChain.stepLabels({ id: 'p2', prompt: '7 +3\n', answer: '11' }, '=10')).toThrow(
      'problem "p2": its answer "11" disagrees with the answer 10 computed from its prompt');
    expect(() => addCarry.solve({ id: 'p3', prompt: '12 + 3', answer: '15' })).toThrow('is not an addition like "478+356"');
  });
});

describe('verifier', () => {
  const p = problem('7 +3 *2 -4\n', '16');
  it.each([
    ['=10\n=20\n=16\n#### 16', true, '16', 'answer "16" matches'],
    ['=10\n=20\n=16\n#### 16  \n\n  ', true, '16', 'answer "16" matches'],
    ['=10\r\n=20\r\n####16\r\n', true, '16', 'answer "16" matches'],
    ['#### 16.0', true, '16.0', 'answer "16.0" matches'],
    ['=10\n=20\n=17\n#### 17', false, '17', 'answer "17" is not the expected "16"'],
    ['=10\n=20\n=16', false, null, 'the last line "=16" is not a final "#### <answer>" line'],
    ['=10\n#### 16\n=16', false, null, 'the last line "=16" is not a final "#### <answer>" line'],
    ['=10\n####   \n', false, null, 'the final "####" line has no answer after it'],
    [' \n\n', false, null, 'the response is empty'],
  ])('%j → correct %s', (response, correct, parsedAnswer, reason) => {
    expect(arithChain.verify(p, response)).toEqual({ correct, parsedAnswer, reason });
  });

  it('compares numbers by value and other answers as text', () => {
    expect(verifyFinalAnswer('1000', '#### 1,000').correct).toBe(true);
    expect(verifyFinalAnswer('-0.50', '#### -.5').correct).toBe(true);
    expect(verifyFinalAnswer('12345678901234567890', '#### 12345678901234567891').correct).toBe(false);
    expect(verifyFinalAnswer('x = 3', '#### x = 3').correct).toBe(true);
    expect(verifyFinalAnswer('16', '#### 16 apples').correct).toBe(false);
  });
});

describe('step labels on hand-written responses', () => {
  const T = true;
  const F = false;
  // 7 +3 *2 -4: true values 10, 20, 16.
  const chain = problem('7 +3 *2 -4\n', '16');
  it.each([
    ['expert', '=10\n=20\n=16\n#### 16', [T, T, T, T], [T, T, T, T], -1, true],
    ['slip at step 2 carried forward', '=10\n=21\n=17\n#### 17', [T, F, T, T], [T, F, F, F], 1, false],
    ['wrong, then a step that lands back on the true value', '=10\n=21\n=16\n#### 16', [T, F, F, T], [T, F, T, T], 1, true],
    ['unparsable line', '=10\ntwenty\n=16\n#### 16', [T, F, F, T], [T, F, T, T], 1, true],
    ['after an unparsable line there is no written value to build on', '=10\n=?\n=6\n#### 6', [T, F, F, T], [T, F, F, F], 1, false],
    ['answer line miscopied', '=10\n=20\n=16\n#### 15', [T, T, T, F], [T, T, T, F], 3, false],
    ['missing step: answer too early', '=10\n=20\n#### 20', [T, T, F], [T, T, F], 2, false],
    ['extra step before the answer', '=10\n=20\n=16\n=16\n#### 16', [T, T, T, F, F], [T, T, T, F, F], 3, true],
    ['truncated, blank lines and odd whitespace', ' =10 \r\n\n= 20\n=16\n', [T, T, T], [T, T, T], -1, false],
  ])('arith-chain: %s', (_name, response, local, global, firstError, correct) => {
    const labels = arithChain.stepLabels(chain, response);
    expect(labels.local).toEqual(local);
    expect(labels.global).toEqual(global);
    expect(labels.firstError).toBe(firstError);
    expect(labels.steps).toEqual(splitSteps(response).map((s) => s.text));
    expect(arithChain.verify(chain, response).correct).toBe(correct);
  });

  // 478+356: columns 8+6 = 14 → "4 c1", 7+5+1 = 13 → "3 c1", 4+3+1 = 8 → "8 c0", answer 834.
  const sum = problem('478+356\n', '834');
  it.each([
    ['expert', '4 c1\n3 c1\n8 c0\n#### 834', [T, T, T, T], [T, T, T, T], -1, true],
    ['forgot the carry: later columns right from the written carry', '4 c0\n2 c1\n8 c0\n#### 824', [F, T, T, T], [F, F, F, F], 0, false],
    ['wrong digit is never undone', '5 c1\n3 c1\n8 c0\n#### 835', [F, T, T, T], [F, F, F, F], 0, false],
    ['wrong carry compensated by the next line', '4 c0\n3 c1\n8 c0\n#### 834', [F, F, T, T], [F, T, T, T], 0, true],
    ['unparsable line', '4 c1\n3 carry 1\n8 c0\n#### 834', [T, F, F, F], [T, F, F, T], 1, true],
    ['extra line, then the answer', '4 c1\n3 c1\n8 c0\n0 c0\n#### 834', [T, T, T, F, F], [T, T, T, F, F], 3, true],
  ])('add-carry: %s', (_name, response, local, global, firstError, correct) => {
    const labels = addCarry.stepLabels(sum, response);
    expect(labels.local).toEqual(local);
    expect(labels.global).toEqual(global);
    expect(labels.firstError).toBe(firstError);
    expect(addCarry.verify(sum, response).correct).toBe(correct);
  });

  it('add-carry: the final carry leads the answer', () => {
    const p = problem('500+500\n', '1000');
    expect(addCarry.stepLabels(p, '0 c0\n0 c0\n0 c1\n#### 1000').global).toEqual([T, T, T, T]);
    const dropped = addCarry.stepLabels(p, '0 c0\n0 c0\n0 c1\n#### 000');
    expect([dropped.local.at(-1), dropped.global.at(-1)]).toEqual([F, F]);
  });
});

describe('step ends', () => {
  it('point at the newline ending each step, or the last character', () => {
    expect(stepEnds('=10\n=20\n#### 20')).toEqual([3, 7, 14]);
    expect(stepEnds('=10\n=20\n#### 20\n')).toEqual([3, 7, 15]);
    expect(stepEnds('=10\n\n  \n=20')).toEqual([3, 10]);
    expect(stepEnds('')).toEqual([]);
  });

  it('count UTF-8 bytes with unit "byte"', () => {
    expect(stepEnds('é=1\n=2', 'char')).toEqual([3, 5]);
    expect(stepEnds('é=1\n=2', 'byte')).toEqual([4, 6]);
    expect(stepEnds('a😀\nb😀', 'byte')).toEqual([5, 10]); // the emoji's last byte
  });

  it('line up one to one with the step labels', () => {
    const rng = createRng(4);
    for (const p of arithChain.generate(2, 50)) {
      const { text } = arithChain.noisySolution(p, rng, 0.5);
      const messy = text.replace(/\n/g, () => (rng.next() < 0.3 ? '\n\n' : '\n'));
      const ends = stepEnds(messy);
      expect(ends).toHaveLength(arithChain.stepLabels(p, messy).steps.length);
      ends.forEach((end, i) => expect(end === messy.length - 1 || messy[end] === '\n', `step ${i}`).toBe(true));
    }
  });
});

describe('noisy solutions', () => {
  for (const [task, difficulty] of [[arithChain, { steps: 5, range: 30 }], [addCarry, { digits: 4 }]] as const) {
    it(`${task.name}: the slip rate matches errorRate and the labels match stepLabels`, () => {
      const problems = task.generate(21, 1500, difficulty);
      for (const errorRate of [0, 0.1, 0.3]) {
        const rng = createRng(99);
        let steps = 0;
        let slips = 0;
        let propagated = 0; // locally right, globally wrong
        for (const p of problems) {
          const noisy = task.noisySolution(p, rng, errorRate);
          const labels = noisy.stepLabels;
          expect(labels).toEqual(task.stepLabels(p, noisy.text));
          expect(task.verify(p, noisy.text).correct).toBe(labels.global.at(-1));
          const compute = labels.local.slice(0, -1); // the answer line always copies
          steps += compute.length;
          slips += compute.filter((ok) => !ok).length;
          propagated += labels.local.filter((ok, i) => ok && !labels.global[i]).length;
          if (errorRate === 0) expect(noisy.text).toBe(p.solution);
        }
        expect(Math.abs(slips / steps - errorRate)).toBeLessThan(0.02);
        if (errorRate > 0) expect(propagated).toBeGreaterThan(slips / 2);
      }
    });
  }

  it('is deterministic for a given rng seed and rejects a bad error rate', () => {
    const p = arithChain.generate(1, 1)[0]!;
    expect(arithChain.noisySolution(p, createRng(5), 0.5)).toEqual(arithChain.noisySolution(p, createRng(5), 0.5));
    expect(() => addCarry.noisySolution(addCarry.generate(1, 1)[0]!, createRng(1), 1.5)).toThrow('add-carry: errorRate must be in [0, 1], got 1.5');
  });
});

describe('registry', () => {
  it('finds the built-in families by name and names the known ones otherwise', () => {
    expect(taskNames()).toEqual(expect.arrayContaining(['arith-chain', 'add-carry']));
    expect(getTask('arith-chain')).toBe(arithChain);
    expect(() => getTask('gsm9k')).toThrow('unknown task "gsm9k"; known tasks: arith-chain, add-carry');
  });

  it('registers a new family once', () => {
    const custom: Task = { ...arithChain, name: 'arith-chain-copy' };
    registerTask(custom);
    expect(getTask('arith-chain-copy')).toBe(custom);
    expect(() => registerTask(custom)).toThrow('a task named "arith-chain-copy" is already registered');
    expect(() => registerTask({ ...arithChain, name: 'Bad Name' })).toThrow('must be lowercase letters, digits and');
  });
});
