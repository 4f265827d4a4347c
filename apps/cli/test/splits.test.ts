import { describe, expect, it } from 'vitest';
import { checkDisjoint, getTask } from '@repirl/rl';
import { PRM_EVAL_SEED_OFFSET } from '../src/commands/prm.js';
import { RL_TRAIN_PROBLEMS, VALIDATION_SEED_OFFSET, splitProblems } from '../src/commands/shared.js';
import { evalSchema } from '../src/config/index.js';

describe('the problems each command reads', () => {
  it.each([['arith-chain', { steps: 4, range: 10 }], ['add-carry', { digits: 2, addends: 2 }]] as const)(
    '%s: SFT data and RL prompts (train), validation, `repirl eval` and the PRM evaluation (test) never share a problem',
    (name, difficulty) => {
      const task = getTask(name);
      const seed = 3;
      const sets = {
        'SFT and RL training': splitProblems(task, 'train', seed, RL_TRAIN_PROBLEMS, difficulty),
        validation: splitProblems(task, 'validation', seed + VALIDATION_SEED_OFFSET, 200, difficulty),
        'repirl eval': splitProblems(task, 'test', evalSchema.fields.seed.default!, 500, difficulty),
        'PRM evaluation': splitProblems(task, 'test', seed + PRM_EVAL_SEED_OFFSET, 200, difficulty),
      };
      // The two test sets may share problems with each other (both are held out); nothing else may.
      const { 'repirl eval': evalSet, 'PRM evaluation': prmSet, ...rest } = sets;
      expect(() => checkDisjoint({ ...rest, test: [...evalSet, ...prmSet] })).not.toThrow();
      expect(evalSchema.fields.split.default).toBe('test');
    },
  );
});
