// What every task family provides, and the small helpers the families share.
//
// A task family generates problems whose every step can be checked exactly. Step labels come in
// two kinds, defined once for all families through the "state" a solution has written so far
// (arith-chain: the current value; add-carry: the digits written and the current carry):
//
//   local[k]   step k is a correct step from the state the response itself had written just
//              before it (a wrong value copied forward does not make later steps wrong);
//   global[k]  the state after step k equals the true state after k steps.
//
// The final `#### <answer>` line is a step too (PRMs score it): local = the answer is the one the
// written state implies (the last written value; the digits and carry written), global = the
// answer is the true answer. Every line that is unparsable, or not the kind expected at its
// position (a value line where the answer line belongs, an answer line too early, anything after
// the answer line), is false in both labels; a step right after an unparsable one is locally
// false as there is no written state to build on. A response that stops early simply has fewer
// labels. `firstError` is the index of the first globally false step, or -1 when every written
// step is globally correct (a truncated but so far correct response also gets -1; the verifier
// says whether the outcome is right).
import type { Verdict } from './format.js';
import type { Rng } from './rng.js';

/** A problem as stored in JSONL (docs/DESIGN.md §7). */
export interface Problem {
  id: string;
  /** The text the policy continues; task prompts end with '\n' so the response starts a new line. */
  prompt: string;
  /** The final answer, compared by `answersMatch`. */
  answer: string;
  /** An expert solution in the §4 format (steps, then `#### <answer>`). */
  solution?: string;
  /** Anything else worth keeping (task problems record their task, seed, index and difficulty). */
  meta?: Record<string, unknown>;
}

/** Difficulty knobs by name, e.g. { steps: 4, range: 20 }; knobs left out take their defaults. */
export type Difficulty = Record<string, number>;

/** A problem made by a task's generator: it always has its expert solution and its origin. */
export type GeneratedProblem = Problem & {
  solution: string;
  meta: { task: string; seed: number; index: number; difficulty: Difficulty };
};

/** One difficulty knob of a task family. */
export interface DifficultyKnob {
  name: string;
  /** Integer bounds, both inclusive. */
  min: number;
  max: number;
  default: number;
  doc: string;
}

/** Per-step labels of a response; the arrays are parallel to `steps`. */
export interface StepLabels {
  /** The response's steps (non-blank lines, trimmed), the final answer line included. */
  steps: string[];
  local: boolean[];
  global: boolean[];
  /** Index of the first globally false step, or -1. */
  firstError: number;
}

/** A solution with controlled slips, and its exact labels. */
export interface NoisySolution {
  text: string;
  stepLabels: StepLabels;
}

export interface Task {
  /** Registry name, e.g. 'arith-chain'. */
  readonly name: string;
  /** One line for help texts. */
  readonly description: string;
  readonly knobs: readonly DifficultyKnob[];
  /**
   * `count` problems drawn from a PRNG seeded with `seed` (an integer in [0, 2^32)): the same
   * arguments give the same problems, and a larger count extends a smaller one.
   */
  generate(seed: number, count: number, difficulty?: Difficulty): GeneratedProblem[];
  /** The expert solution: one step per line, then `#### <answer>`. */
  solve(problem: Problem): string;
  /** Outcome check on the final `#### <answer>` line. */
  verify(problem: Problem, response: string): Verdict;
  /** Exact local and global labels for each step of `response` (see the top of this file). */
  stepLabels(problem: Problem, response: string): StepLabels;
  /**
   * The expert solution where each computation step independently slips with probability
   * `errorRate` (the answer line always copies the written state, so a slip shows in the answer).
   * Later steps continue correctly from the slipped value: locally right, globally wrong.
   */
  noisySolution(problem: Problem, rng: Rng, errorRate: number): NoisySolution;
}

/** The full difficulty: given knobs checked against the family's, the rest defaulted. */
export function resolveDifficulty(task: string, knobs: readonly DifficultyKnob[], given: Difficulty = {}): Difficulty {
  const names = knobs.map((k) => k.name);
  for (const name of Object.keys(given)) {
    if (!names.includes(name)) {
      throw new Error(`${task}: unknown difficulty knob "${name}"; this task's knobs are ${names.join(', ')}`);
    }
  }
  const resolved: Difficulty = {};
  for (const knob of knobs) {
    const value = given[knob.name] ?? knob.default;
    if (!Number.isInteger(value) || value < knob.min || value > knob.max) {
      throw new Error(`${task}: difficulty knob "${knob.name}" must be an integer in [${knob.min}, ${knob.max}] (${knob.doc}), got ${value}`);
    }
    resolved[knob.name] = value;
  }
  return resolved;
}

/** Checks generate()'s seed and count. */
export function checkGenerateArgs(task: string, seed: number, count: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`${task}: seed must be an integer in [0, 2^32), got ${seed}`);
  }
  if (!Number.isInteger(count) || count < 0) throw new Error(`${task}: count must be a non-negative integer, got ${count}`);
}

export function checkErrorRate(task: string, errorRate: number): void {
  if (!(errorRate >= 0 && errorRate <= 1)) throw new Error(`${task}: errorRate must be in [0, 1], got ${errorRate}`);
}

/** A stable, readable id: `arith-chain/steps4-range20/seed7/3`. */
export function problemId(task: string, difficulty: Difficulty, seed: number, index: number): string {
  const knobs = Object.entries(difficulty).map(([name, value]) => `${name}${value}`).join('-');
  return `${task}/${knobs}/seed${seed}/${index}`;
}

/** Packs parallel label arrays and finds the first global error. */
export function makeStepLabels(steps: string[], local: boolean[], global: boolean[]): StepLabels {
  return { steps, local, global, firstError: global.indexOf(false) };
}
