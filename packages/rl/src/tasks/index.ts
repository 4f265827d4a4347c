// Synthetic reasoning tasks with exactly checkable steps (docs/DESIGN.md §4).
export * from './format.js';
export { createRng, type Rng } from './rng.js';
export {
  makeStepLabels, problemId, resolveDifficulty, type Difficulty, type DifficultyKnob, type GeneratedProblem, type NoisySolution,
  type Problem, type StepLabels, type Task,
} from './task.js';
export { arithChain } from './arith-chain.js';
export { addCarry } from './add-carry.js';
export { getTask, registerTask, taskNames } from './registry.js';
export {
  DEFAULT_SPLIT_FRACTIONS, SPLITS, checkDisjoint, generateSplit, keyPosition, normalisePrompt, problemKey, splitOf, type Split, type SplitFractions,
  type SplitProblems,
} from './splits.js';
