// The experiment configs of the commands, in the config language of @repirl/rl (re-exported here
// for the commands).
export * from '@repirl/rl/config';
export {
  evalSchema, experiments, rlSchema, RL_ALGORITHMS, sftSchema, type ConfigTypes, type EvalConfig, type ExperimentName, type ExperimentSpec,
  type RlAlgorithm, type RlConfig, type SftConfig,
} from './experiments.js';
export { ONLINE_PRM_METHODS, PRM_METHODS, prmEvalSchema, prmTrainSchema, type PrmEvalConfig, type PrmMethod, type PrmTrainConfig } from './prm.js';
