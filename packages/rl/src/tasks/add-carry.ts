// 'add-carry': multi-digit addition, one line per digit column from the units up.
//
//   prompt     "478+356\n"               two (or more) addends
//   solution   "4 c1\n3 c1\n8 c0\n#### 834"
//
// Line k (k = 1 for the units column) is "<digit> c<carry>": the digit of the sum in column k and
// the carry into column k+1, where column k's total is the addends' digits in that column plus
// the carry written on line k-1 (0 for k = 1). The answer is the last carry followed by the
// digits from the top column down (834 above; 500+500 gives "0 c0\n0 c0\n0 c1\n#### 1000").
// Addends of different lengths are allowed in prompts (missing digits count as 0); generated
// ones all have exactly `digits` digits, so there are `digits` step lines.
//
// Labels (see task.ts for the shared rules); the written state after line k is (the digits
// written on lines 1..k, the carry written on line k):
//   digit line k, "d c<c>":  local  = d and c are right for column k given the carry written on
//                                     line k-1 (0 for k = 1);
//                            global = the digits on lines 1..k are all the true ones and c is the
//                                     true carry out of column k.
//   answer line, "#### a":   local  = a is the number the written digits and last carry spell
//                                     (false if any digit line was unparsable);
//                            global = a is the true sum.
// A wrong digit is never undone, so it makes every later step globally false; a wrong carry
// makes the next digit wrong unless that step is itself locally wrong in the compensating way.
import { answerOfLine, answersMatch, splitSteps, verifyFinalAnswer } from './format.js';
import { createRng, pick, randInt } from './rng.js';
import {
  checkErrorRate, checkGenerateArgs, makeStepLabels, problemId, resolveDifficulty, type DifficultyKnob, type GeneratedProblem,
  type Problem, type Task,
} from './task.js';

const NAME = 'add-carry';

interface Addition {
  /** Sum of the addends' digits in each column, units first (carries not included). */
  columns: number[];
  /** The true digit and carry out of each column. */
  digits: number[];
  carries: number[];
  answer: string;
}

const knobs: readonly DifficultyKnob[] = [
  { name: 'digits', min: 1, max: 30, default: 3, doc: 'digits per addend = digit columns = step lines' },
  { name: 'addends', min: 2, max: 9, default: 2, doc: 'numbers to add (carries stay single digits up to 9 addends)' },
];

/** The number spelled by a final carry and the digits (units first). */
function spell(digits: number[], carry: number): string {
  let value = BigInt(carry);
  for (let k = digits.length - 1; k >= 0; k--) value = value * 10n + BigInt(digits[k]!);
  return value.toString();
}

function parseAddition(problem: Problem): Addition {
  const prompt = problem.prompt.trim();
  if (!/^\d+(\+\d+)+$/.test(prompt)) {
    throw new Error(`${NAME}: problem ${JSON.stringify(problem.id)}: prompt ${JSON.stringify(problem.prompt)} is not an ` +
      'addition like "478+356" (two or more non-negative integers joined by "+", no spaces)');
  }
  const addends = prompt.split('+');
  const width = Math.max(...addends.map((a) => a.length));
  const columns = Array.from({ length: width }, (_, k) =>
    addends.reduce((sum, a) => sum + (k < a.length ? Number(a[a.length - 1 - k]) : 0), 0));
  const digits: number[] = [];
  const carries: number[] = [];
  let carry = 0;
  for (const column of columns) {
    digits.push((column + carry) % 10);
    carry = Math.floor((column + carry) / 10);
    carries.push(carry);
  }
  const answer = spell(digits, carry);
  if (!answersMatch(answer, problem.answer)) {
    throw new Error(`${NAME}: problem ${JSON.stringify(problem.id)}: its answer ${JSON.stringify(problem.answer)} ` +
      `disagrees with the sum ${answer} of its prompt; fix the answer or regenerate the problem`);
  }
  return { columns, digits, carries, answer };
}

/** A digit line "d c<carry>" (the space is optional), or null. */
function parseDigitLine(line: string): { digit: number; carry: number } | null {
  const m = /^(\d)\s*c\s*(\d)$/.exec(line);
  return m === null ? null : { digit: Number(m[1]), carry: Number(m[2]) };
}

function render(digits: number[], carries: number[]): string {
  const lines = digits.map((d, k) => `${d} c${carries[k]}`);
  return [...lines, `#### ${spell(digits, carries.at(-1)!)}`].join('\n');
}

export const addCarry: Task = {
  name: NAME,
  description: 'multi-digit addition; one "<digit> c<carry>" line per column from the units up',
  knobs,

  generate(seed, count, difficulty) {
    checkGenerateArgs(NAME, seed, count);
    const d = resolveDifficulty(NAME, knobs, difficulty);
    const rng = createRng(seed);
    const problems: GeneratedProblem[] = [];
    for (let index = 0; index < count; index++) {
      // A leading digit of 1–9 keeps every addend exactly `digits` long.
      const addends = Array.from({ length: d.addends! }, () =>
        Array.from({ length: d.digits! }, (_, i) => randInt(rng, i === 0 ? 1 : 0, 9)).join(''));
      const problem = { id: problemId(NAME, d, seed, index), prompt: `${addends.join('+')}\n` };
      const answer = addends.reduce((sum, a) => sum + BigInt(a), 0n).toString();
      const { digits, carries } = parseAddition({ ...problem, answer });
      problems.push({ ...problem, answer, solution: render(digits, carries), meta: { task: NAME, seed, index, difficulty: d } });
    }
    return problems;
  },

  solve(problem) {
    const { digits, carries } = parseAddition(problem);
    return render(digits, carries);
  },

  verify(problem, response) {
    return verifyFinalAnswer(problem.answer, response);
  },

  stepLabels(problem, response) {
    const truth = parseAddition(problem);
    const n = truth.columns.length;
    const steps = splitSteps(response).map((s) => s.text);
    const local: boolean[] = [];
    const global: boolean[] = [];
    let carry: number | null = 0; // the carry written on the previous line (null: unparsable)
    let digitsTrue = true; // every digit written so far is the true one
    const written: number[] = [];
    steps.forEach((text, k) => {
      let isLocal = false;
      let isGlobal = false;
      if (k < n) {
        const cell = parseDigitLine(text);
        if (cell === null) {
          digitsTrue = false;
          carry = null;
        } else {
          if (carry !== null) {
            const total = truth.columns[k]! + carry;
            isLocal = cell.digit === total % 10 && cell.carry === Math.floor(total / 10);
          }
          digitsTrue &&= cell.digit === truth.digits[k];
          isGlobal = digitsTrue && cell.carry === truth.carries[k];
          written.push(cell.digit);
          carry = cell.carry;
        }
      } else if (k === n) {
        const answer = answerOfLine(text);
        if (answer !== null) {
          isLocal = written.length === n && carry !== null && answersMatch(spell(written, carry), answer);
          isGlobal = answersMatch(truth.answer, answer);
        }
      }
      local.push(isLocal);
      global.push(isGlobal);
    });
    return makeStepLabels(steps, local, global);
  },

  noisySolution(problem, rng, errorRate) {
    checkErrorRate(NAME, errorRate);
    const truth = parseAddition(problem);
    const digits: number[] = [];
    const carries: number[] = [];
    const local: boolean[] = [];
    const global: boolean[] = [];
    let carry = 0;
    let digitsTrue = true;
    truth.columns.forEach((column, k) => {
      let digit = (column + carry) % 10;
      let next = Math.floor((column + carry) / 10);
      const slipped = rng.next() < errorRate;
      if (slipped) {
        // Half the slips miswrite the digit by ±1, half the carry (which then feeds the next column).
        if (rng.next() < 0.5) digit = (digit + pick(rng, [1, 9])) % 10;
        else next = next === 0 ? 1 : next === 9 ? 8 : next + pick(rng, [-1, 1]);
      }
      digits.push(digit);
      carries.push(next);
      local.push(!slipped);
      digitsTrue &&= digit === truth.digits[k];
      global.push(digitsTrue && next === truth.carries[k]);
      carry = next;
    });
    local.push(true); // the answer line spells the written digits and carry
    global.push(spell(digits, carry) === truth.answer);
    const text = render(digits, carries);
    return { text, stepLabels: makeStepLabels(text.split('\n'), local, global) };
  },
};
