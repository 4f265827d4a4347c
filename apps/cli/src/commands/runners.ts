// Which runner does the work of each experiment command (the seam is described in context.ts).
import type { ConfigTypes, ExperimentName } from '../config/index.js';
import type { Runner } from './context.js';
import { runPrmEval, runPrmTrain } from './prm.js';
import { runSearch } from './search.js';
import { runPrmTtt } from './ttt.js';
import { runEval, runRl, runSft } from './train.js';

export type { RunContext, RunOutcome, Runner } from './context.js';

export type Runners = { [K in ExperimentName]: Runner<ConfigTypes[K]> };
/**
 * The runner of each experiment command (train.ts connects them to @repirl/rl's trainers). Tests
 * may replace an entry by assignment (`runners.sft = fake`).
 */
export const runners: Runners = {
  sft: runSft,
  rl: runRl,
  eval: runEval,
  'prm-train': runPrmTrain,
  'prm-eval': runPrmEval,
  'prm-ttt': runPrmTtt,
  search: runSearch,
};
