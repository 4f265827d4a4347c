// The experiment configs of the commands, in the config language of @repirl/rl (re-exported here
// for the commands).
export * from '@repirl/rl/config';
export {
  evalSchema, experiments, rlSchema, sftHfSchema, sftSchema, sftSchemaFor, type ConfigTypes, type EvalConfig, type ExperimentName, type ExperimentSpec, type RlConfig,
  type SftConfig, type SftHfConfig,
} from './experiments.js';
export { TEMPLATES, type TemplateChoice } from './common.js';
export {
  EXACT_LABELS, ONLINE_PRM_METHODS, PRM_METHODS, isOnline, prmEvalSchema, prmTrainSchema, type ExactLabelPrmTrainConfig, type OfflinePrmTrainConfig, type OnlinePrmTrainConfig, type PrmEvalConfig,
  type PrmMethod, type PrmTrainConfig,
} from './prm.js';
export { searchSchema, type SearchConfig } from './search.js';
export { prmTttSchema, type PrmTttConfig } from './ttt.js';
