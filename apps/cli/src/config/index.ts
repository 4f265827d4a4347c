// Experiment configs: the schema language, loading (file ← --set ← validation) and the three
// experiment schemas.
export * from './schema.js';
export { ConfigError, configDiff, merge, parseJsonText, parseSet, readConfigFile, resolveConfig, valueAt, type ConfigSources } from './load.js';
export { formatSchemaDocs } from './docs.js';
export {
  evalSchema, experiments, rlSchema, RL_ALGORITHMS, sftSchema, type ConfigTypes, type EvalConfig, type ExperimentName, type ExperimentSpec,
  type RlAlgorithm, type RlConfig, type SftConfig,
} from './experiments.js';
export { ONLINE_PRM_METHODS, PRM_METHODS, prmEvalSchema, prmTrainSchema, type PrmEvalConfig, type PrmMethod, type PrmTrainConfig } from './prm.js';
