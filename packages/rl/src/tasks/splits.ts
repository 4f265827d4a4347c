// Train, validation and test problems disjoint by construction.
//
// Every problem is keyed by a hash of its normalised prompt (problemKey: whitespace runs collapsed,
// trimmed); the key's position in the hash space says which split the problem belongs to
// (splitOf). A split's problems are drawn from the task's generator and only those that fall in
// the split are kept (generateSplit), so no seed, count or difficulty can put one problem in two
// splits: SFT data, RL prompts, validation, the test sets of `repirl eval` and the PRM evaluation
// each read their own split. Duplicates within a split (the same prompt drawn twice) are dropped
// and counted.
//
// The hash is rng.ts's hashText (FNV-1a with murmur3's finaliser), twice with different offsets
// (53 bits used), pure JavaScript so it runs wherever the tasks do; it only has to spread prompts evenly,
// not resist an adversary.
import { hashText } from './rng.js';
import type { Difficulty, GeneratedProblem, Problem, Task } from './task.js';

export const SPLITS = ['train', 'validation', 'test'] as const;
export type Split = (typeof SPLITS)[number];

/** Fractions of the hash space held by validation and test; train holds the rest. */
export interface SplitFractions {
  validation: number;
  test: number;
}

export const DEFAULT_SPLIT_FRACTIONS: Readonly<SplitFractions> = Object.freeze({ validation: 0.1, test: 0.1 });

/** The prompt as it is keyed: whitespace runs become one space, the ends are trimmed. */
export const normalisePrompt = (prompt: string): string => prompt.replace(/\s+/g, ' ').trim();

/** A problem's key: 16 hex digits of the hash of its normalised prompt. */
export function problemKey(prompt: string): string {
  const text = normalisePrompt(prompt);
  return hashText(text).toString(16).padStart(8, '0') + hashText(text, 0x050c5d1f).toString(16).padStart(8, '0');
}

/** Where in [0, 1) a prompt's key falls (53 bits of it). */
export function keyPosition(prompt: string): number {
  const key = problemKey(prompt);
  return (parseInt(key.slice(0, 8), 16) * 2 ** 21 + (parseInt(key.slice(8, 14), 16) >>> 3)) / 2 ** 53;
}

/** The split a prompt belongs to: test below `test`, validation next, train the rest. */
export function splitOf(prompt: string, fractions: SplitFractions = DEFAULT_SPLIT_FRACTIONS): Split {
  checkFractions(fractions);
  const x = keyPosition(prompt);
  if (x < fractions.test) return 'test';
  if (x < fractions.test + fractions.validation) return 'validation';
  return 'train';
}

function checkFractions(f: SplitFractions): void {
  const ok = (v: number) => Number.isFinite(v) && v > 0 && v < 1;
  if (!ok(f.validation) || !ok(f.test) || f.validation + f.test >= 1) {
    throw new RangeError(`split fractions must be in (0, 1) and leave room for train: validation ${f.validation}, test ${f.test}`);
  }
}

export interface SplitProblems {
  problems: GeneratedProblem[];
  /** Problems of the split drawn again (the same prompt): dropped, or kept with `repeats`. */
  duplicates: number;
  /** Problems the generator made in all, of every split. */
  drawn: number;
}

/**
 * `count` distinct problems of `split` (with `repeats`, a prompt drawn again is kept: training
 * streams may repeat, held-out sets should not), in the order the task's generator makes them from
 * `seed` (the same arguments give the same problems; a larger count extends a smaller one). Throws
 * when the difficulty has too few problems in the split for `count`.
 */
export function generateSplit(
  task: Task, split: Split, seed: number, count: number, difficulty: Difficulty = {},
  options: { fractions?: SplitFractions; repeats?: boolean } = {},
): SplitProblems {
  const fractions = options.fractions ?? DEFAULT_SPLIT_FRACTIONS;
  checkFractions(fractions);
  const share = split === 'train' ? 1 - fractions.validation - fractions.test : fractions[split];
  const seen = new Set<string>();
  const problems: GeneratedProblem[] = [];
  let duplicates = 0;
  let drawn = 0;
  // The generator extends a smaller count with a larger one, so draw more until the split is full.
  let ask = Math.ceil((count / share) * 1.25) + 16;
  const limit = Math.ceil((count / share) * 50) + 1000;
  while (problems.length < count) {
    const batch = task.generate(seed, ask, difficulty);
    for (const p of batch.slice(drawn)) {
      if (splitOf(p.prompt, fractions) !== split) continue;
      const key = problemKey(p.prompt);
      if (seen.has(key)) {
        duplicates++;
        if (!options.repeats) continue;
      }
      seen.add(key);
      problems.push(p);
      if (problems.length === count) break;
    }
    drawn = batch.length;
    if (problems.length < count && ask >= limit) {
      throw new RangeError(
        `${task.name} ${JSON.stringify(difficulty)}: only ${problems.length} distinct ${split} problems in ${drawn} drawn (seed ${seed}); ` +
          `asked for ${count}: lower the count or raise the difficulty`,
      );
    }
    ask = Math.min(limit, ask * 2);
  }
  return { problems, duplicates, drawn };
}

/** Throws when any problem (by key) is in two of the named sets, naming the sets and a prompt. */
export function checkDisjoint(sets: Record<string, readonly Pick<Problem, 'prompt'>[]>): void {
  const owner = new Map<string, string>();
  for (const [name, problems] of Object.entries(sets)) {
    for (const p of problems) {
      const key = problemKey(p.prompt);
      const other = owner.get(key);
      if (other !== undefined && other !== name) {
        throw new Error(`the ${other} and ${name} problems overlap: ${JSON.stringify(normalisePrompt(p.prompt))} is in both`);
      }
      owner.set(key, name);
    }
  }
}
