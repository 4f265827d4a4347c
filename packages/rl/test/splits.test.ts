import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SPLIT_FRACTIONS, SPLITS, addCarry, arithChain, checkDisjoint, generateSplit, keyPosition, problemKey, splitOf, type Split, type Task,
} from '../src/tasks/index.js';

const cases: [Task, Record<string, number>][] = [
  [arithChain, { steps: 4, range: 10 }],
  [arithChain, { steps: 4, range: 20 }],
  [addCarry, { digits: 2, addends: 2 }],
];

describe('train, validation and test splits', () => {
  it.each(cases)('%s: no problem is in two splits, whatever the seeds and counts', (task, difficulty) => {
    const sets: Record<string, { prompt: string }[]> = {};
    for (const split of SPLITS) {
      // Different seeds per split, as the commands use (training seed, validation offset, test seed).
      for (const seed of [0, 1, 1_000_003, 2_000_003]) {
        const { problems } = generateSplit(task, split, seed, split === 'train' ? 400 : 60, difficulty);
        for (const p of problems) expect(splitOf(p.prompt)).toBe(split);
        sets[split] = [...(sets[split] ?? []), ...problems];
      }
    }
    expect(() => checkDisjoint(sets)).not.toThrow();
  });

  it('checkDisjoint fails when a split leaks, naming both sets and the prompt', () => {
    const train = arithChain.generate(1, 50);
    const test = [...arithChain.generate(2, 10), train[7]!];
    expect(() => checkDisjoint({ train, test })).toThrow(`the train and test problems overlap: ${JSON.stringify(train[7]!.prompt.trim())} is in both`);
  });

  it('is deterministic, extends a smaller count, drops and counts duplicates', () => {
    const small = generateSplit(arithChain, 'validation', 5, 20, { steps: 2, range: 10 });
    const large = generateSplit(arithChain, 'validation', 5, 60, { steps: 2, range: 10 });
    expect(large.problems.slice(0, 20).map((p) => p.id)).toEqual(small.problems.map((p) => p.id));
    expect(new Set(large.problems.map((p) => problemKey(p.prompt))).size).toBe(60);
    // steps 2, range 10: few distinct prompts, so the generator repeats itself and duplicates are dropped.
    expect(large.duplicates).toBeGreaterThan(0);
    expect(large.drawn).toBeGreaterThan(60);
    // A training stream may repeat a prompt (a small difficulty has few), still only from its split.
    const stream = generateSplit(arithChain, 'train', 5, 500, { steps: 1, range: 3 }, { repeats: true });
    expect(stream.problems).toHaveLength(500);
    expect(new Set(stream.problems.map((p) => problemKey(p.prompt))).size).toBeLessThan(500);
    for (const p of stream.problems) expect(splitOf(p.prompt)).toBe('train');
  });

  it('refuses a count the difficulty cannot fill, instead of looping', () => {
    expect(() => generateSplit(arithChain, 'test', 0, 5000, { steps: 1, range: 2 })).toThrow(/only \d+ distinct test problems in \d+ drawn .*asked for 5000/);
  });

  it('keys prompts by their normalised text and spreads them evenly', () => {
    expect(problemKey('3 +4 *2\n')).toBe(problemKey('  3  +4\t*2 '));
    expect(problemKey('3 +4 *2\n')).not.toBe(problemKey('3 +4 *3\n'));
    const counts: Record<Split, number> = { train: 0, validation: 0, test: 0 };
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const prompt = `problem ${i} ${(i * 7919) % 1013}`;
      const x = keyPosition(prompt);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      counts[splitOf(prompt)]++;
    }
    expect(Math.abs(counts.test / n - DEFAULT_SPLIT_FRACTIONS.test)).toBeLessThan(0.01);
    expect(Math.abs(counts.validation / n - DEFAULT_SPLIT_FRACTIONS.validation)).toBeLessThan(0.01);
    expect(() => splitOf('x', { validation: 0.6, test: 0.5 })).toThrow(/leave room for train/);
    // Short prompts too (the smallest difficulties): every split gets its share.
    const short = arithChain.generate(0, 3000, { steps: 1, range: 10 });
    const distinct = [...new Map(short.map((p) => [problemKey(p.prompt), p.prompt])).values()];
    const shares = SPLITS.map((split) => distinct.filter((p) => splitOf(p) === split).length / distinct.length);
    expect(distinct.length).toBeGreaterThan(100);
    expect(shares[1]).toBeGreaterThan(0.04);
    expect(shares[2]).toBeGreaterThan(0.04);
  });
});
