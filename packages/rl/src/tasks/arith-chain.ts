// 'arith-chain': a start value and a list of operations, solved one operation per line.
//
//   prompt     "7 +3 *2 -4\n"          start value, then ops +k, -k, *k separated by spaces
//   solution   "=10\n=20\n=16\n#### 16"  one "=<value>" line per op, then the answer line
//
// The generator keeps every true value in [0, range) by choosing only ops that stay inside it
// (no modulus the model would have to guess), and never +0, -0, *0 or *1. Short prompts and
// solutions suit byte-level policies with a context of 128–256 bytes.
//
// Labels (see task.ts for the shared rules), with v_0 the start value and op_k the k-th op:
//   value line k (k = 1..n), written "=w":  local  = w is op_k applied to the value written on
//                                                    line k-1 (v_0 for k = 1);
//                                           global = w is the true value after k ops.
//   answer line (position n+1), "#### a":   local  = a equals the value written on line n;
//                                           global = a is the true answer.
// A wrong value stays wrong under correct steps (w ≠ t implies w±k ≠ t±k and w·k ≠ t·k for
// k ≥ 2), so after a slip the later steps are globally false yet locally correct, until another
// locally wrong step happens to land on the true value again.
import { answerOfLine, answersMatch, splitSteps, verifyFinalAnswer } from './format.js';
import { createRng, pick, randInt, type Rng } from './rng.js';
import {
  checkErrorRate, checkGenerateArgs, makeStepLabels, problemId, resolveDifficulty, type DifficultyKnob, type GeneratedProblem,
  type Problem, type Task,
} from './task.js';

const NAME = 'arith-chain';

type OpKind = '+' | '-' | '*';

interface Op {
  kind: OpKind;
  operand: bigint;
}

interface Chain {
  start: bigint;
  ops: Op[];
  /** The true value after each op. */
  values: bigint[];
}

const knobs: readonly DifficultyKnob[] = [
  { name: 'steps', min: 1, max: 64, default: 4, doc: 'operations per problem, one solution line each' },
  { name: 'range', min: 2, max: 1_000_000, default: 20, doc: 'every true value lies in [0, range)' },
];

function apply(op: Op, value: bigint): bigint {
  if (op.kind === '+') return value + op.operand;
  if (op.kind === '-') return value - op.operand;
  return value * op.operand;
}

/** Reads the chain back from the prompt, so problems loaded from JSONL work without `meta`. */
function parseChain(problem: Problem): Chain {
  const tokens = problem.prompt.trim().split(/\s+/);
  const bad = (why: string) =>
    new Error(`${NAME}: problem ${JSON.stringify(problem.id)}: prompt ${JSON.stringify(problem.prompt)} ${why}; ` +
      'an arith-chain prompt is a start value then ops like "7 +3 *2 -4"');
  if (!/^\d+$/.test(tokens[0] ?? '')) throw bad('does not start with a non-negative integer');
  if (tokens.length < 2) throw bad('has no operations');
  const ops = tokens.slice(1).map((token) => {
    const m = /^([+\-*])(\d+)$/.exec(token);
    if (m === null) throw bad(`has ${JSON.stringify(token)} where an op (+k, -k or *k) belongs`);
    return { kind: m[1] as OpKind, operand: BigInt(m[2]!) };
  });
  const start = BigInt(tokens[0]!);
  const values: bigint[] = [];
  let value = start;
  for (const op of ops) values.push((value = apply(op, value)));
  if (!answersMatch(String(value), problem.answer)) {
    throw new Error(`${NAME}: problem ${JSON.stringify(problem.id)}: its answer ${JSON.stringify(problem.answer)} ` +
      `disagrees with the answer ${value} computed from its prompt; fix the answer or regenerate the problem`);
  }
  return { start, ops, values };
}

/** One random chain whose true values all stay in [0, range). */
function sampleChain(rng: Rng, steps: number, range: number): Chain {
  const start = randInt(rng, 0, range - 1);
  const ops: Op[] = [];
  const values: bigint[] = [];
  let value = start;
  for (let i = 0; i < steps; i++) {
    const kinds: OpKind[] = [];
    if (value <= range - 2) kinds.push('+');
    if (value >= 1) kinds.push('-');
    if (value >= 1 && 2 * value <= range - 1) kinds.push('*');
    const kind = pick(rng, kinds); // never empty: range >= 2 always allows + or -
    const operand =
      kind === '+' ? randInt(rng, 1, range - 1 - value) : kind === '-' ? randInt(rng, 1, value) : randInt(rng, 2, Math.floor((range - 1) / value));
    value = kind === '+' ? value + operand : kind === '-' ? value - operand : value * operand;
    ops.push({ kind, operand: BigInt(operand) });
    values.push(BigInt(value));
  }
  return { start: BigInt(start), ops, values };
}

/** A value line "=<integer>" (spaces after '=' tolerated), or null. */
function parseValueLine(line: string): bigint | null {
  const m = /^=\s*([+-]?\d+)$/.exec(line);
  return m === null ? null : BigInt(m[1]!);
}

function render(values: bigint[], answer: bigint): string {
  return [...values.map((v) => `=${v}`), `#### ${answer}`].join('\n');
}

/** A wrong value near the right one: off by 1 or 2, never negative when the right one is not. */
function slip(rng: Rng, right: bigint): bigint {
  const delta = pick(rng, [-2n, -1n, 1n, 2n]);
  return right + delta < 0n ? right - delta : right + delta;
}

export const arithChain: Task = {
  name: NAME,
  description: 'start value and a list of +k, -k, *k operations; one "=<value>" line per operation',
  knobs,

  generate(seed, count, difficulty) {
    checkGenerateArgs(NAME, seed, count);
    const d = resolveDifficulty(NAME, knobs, difficulty);
    const rng = createRng(seed);
    const problems: GeneratedProblem[] = [];
    for (let index = 0; index < count; index++) {
      const { start, ops, values } = sampleChain(rng, d.steps!, d.range!);
      const answer = values.at(-1)!;
      problems.push({
        id: problemId(NAME, d, seed, index),
        prompt: `${start} ${ops.map((op) => `${op.kind}${op.operand}`).join(' ')}\n`,
        answer: String(answer),
        solution: render(values, answer),
        meta: { task: NAME, seed, index, difficulty: d },
      });
    }
    return problems;
  },

  solve(problem) {
    const { values } = parseChain(problem);
    return render(values, values.at(-1)!);
  },

  verify(problem, response) {
    return verifyFinalAnswer(problem.answer, response);
  },

  stepLabels(problem, response) {
    const { start, ops, values } = parseChain(problem);
    const n = ops.length;
    const steps = splitSteps(response).map((s) => s.text);
    const local: boolean[] = [];
    const global: boolean[] = [];
    let written: bigint | null = start; // the value the response had written before this step
    steps.forEach((text, k) => {
      let isLocal = false;
      let isGlobal = false;
      let next: bigint | null = null;
      if (k < n) {
        const w = parseValueLine(text);
        if (w !== null) {
          isLocal = written !== null && w === apply(ops[k]!, written);
          isGlobal = w === values[k];
          next = w;
        }
      } else if (k === n) {
        const answer = answerOfLine(text);
        if (answer !== null) {
          isLocal = written !== null && answersMatch(String(written), answer);
          isGlobal = answersMatch(String(values[n - 1]), answer);
        }
      }
      local.push(isLocal);
      global.push(isGlobal);
      written = next;
    });
    return makeStepLabels(steps, local, global);
  },

  noisySolution(problem, rng, errorRate) {
    checkErrorRate(NAME, errorRate);
    const { start, ops, values } = parseChain(problem);
    const written: bigint[] = [];
    const local: boolean[] = [];
    const global: boolean[] = [];
    let value = start;
    ops.forEach((op, k) => {
      const right = apply(op, value);
      const slipped = rng.next() < errorRate;
      value = slipped ? slip(rng, right) : right;
      written.push(value);
      local.push(!slipped);
      global.push(value === values[k]);
    });
    local.push(true); // the answer line copies the last written value
    global.push(value === values.at(-1));
    const text = render(written, value);
    return { text, stepLabels: makeStepLabels(text.split('\n'), local, global) };
  },
};
