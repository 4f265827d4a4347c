import { describe, expect, it } from 'vitest';
import { checkDisjoint } from '@repirl/rl';
import { PRM_EVAL_SEED_OFFSET } from '../src/commands/prm.js';
import { RL_TRAIN_PROBLEMS, VALIDATION_SEED_OFFSET, splitProblems } from '../src/commands/shared.js';
import { prepareProblems } from '../src/commands/data.js';
import { evalSchema } from '../src/config/index.js';

describe('the problems each command reads', () => {
  it.each([['arith-chain', { steps: 4, range: 10 }], ['add-carry', { digits: 2, addends: 2 }]] as const)(
    '%s: SFT data and RL prompts (train), validation, `repirl eval` and the PRM evaluation (test) never share a problem',
    async (name, difficulty) => {
      const task = await prepareProblems('eval', { task: { name, difficulty }, data: { source: 'task' }, split: 'test' });
      const seed = 3;
      const sets = {
        'SFT and RL training': splitProblems(task, 'train', seed, RL_TRAIN_PROBLEMS),
        validation: splitProblems(task, 'validation', seed + VALIDATION_SEED_OFFSET, 200),
        'repirl eval': splitProblems(task, 'test', evalSchema.fields.seed.default!, 500),
        'PRM evaluation': splitProblems(task, 'test', seed + PRM_EVAL_SEED_OFFSET, 200),
      };
      // The two test sets may share problems with each other (both are held out); nothing else may.
      const { 'repirl eval': evalSet, 'PRM evaluation': prmSet, ...rest } = sets;
      expect(() => checkDisjoint({ ...rest, test: [...evalSet, ...prmSet] })).not.toThrow();
      expect(evalSchema.fields.split.default).toBe('test');
    },
  );
});
