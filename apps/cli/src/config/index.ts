// The experiment configs of the commands, in the config language of @repirl/rl (re-exported here
// for the commands).
export * from '@repirl/rl/config';
export {
  evalSchema, experiments, rlSchema, sftSchema, type ConfigTypes, type EvalConfig, type ExperimentName, type ExperimentSpec, type RlConfig, type SftConfig,
} from './experiments.js';
export {
  ONLINE_PRM_METHODS, PRM_METHODS, isOnline, prmEvalSchema, prmTrainSchema, type OfflinePrmTrainConfig, type OnlinePrmTrainConfig, type PrmEvalConfig,
  type PrmMethod, type PrmTrainConfig,
} from './prm.js';
