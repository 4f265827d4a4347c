// Learners: the training loops that make PRMs (online inside RlTrainer, or offline on fixed rollouts).
export {
  PRIME_ESTIMATORS, PRIME_RL_DEFAULTS, PRIME_UPDATE_ORDERS, PrimeLearner, createPrimeTrainer, primeConfigSchema, primePrmSchema, resolvePrimeConfig, type PrimeConfig, type PrimeConfigInput,
  type PrimeLearnerOptions, type PrimePrmConfig, type PrimeRun, type PrimeTrainerOptions, type PrimeUpdateOrder,
} from './prime.js';
export { onlineRun, prmUpdateFields, resolveOnline, type OnlineConfig, type OnlineConfigInput, type OnlineRun, type OnlineTrainerOptions, type PrmUpdateConfig } from './common.js';
export {
  REPIRL_GROUPS, REPIRL_RL_DEFAULTS, RepirlLearner, createRepirlTrainer, repirlConfigSchema, repirlPrmSchema, resolveRepirlConfig, solutionDemonstrations, type Demonstrations, type RepirlConfig,
  type RepirlConfigInput, type RepirlExample, type RepirlGroups, type RepirlLearnerOptions, type RepirlPrmConfig, type RepirlRun, type RepirlTrainerOptions,
} from './repirl.js';
export { epochLosses, freezeBackboneSchema, offlineLoopFields, trainOffline, type OfflineConfig, type OfflineConfigInput, type OfflineRecord } from './offline.js';
export { ormConfigSchema, outcomeSamples, resolveOrmConfig, trainOrm, type OfflineResult, type OrmConfig, type OrmConfigInput, type OrmTrainOptions, type OutcomeSample } from './orm.js';
export {
  SAMPLER_BATCH_SIZE, monteCarloStepLabels, policyCompletionSampler, resolveShepherdConfig, shepherdConfigSchema, stepPrefixes, trainShepherd, type CompletionSampler, type McStepLabels,
  type PolicySamplerOptions, type PrefixQuery, type ShepherdConfig, type ShepherdConfigInput, type ShepherdTrainOptions,
} from './shepherd.js';
export {
  AIRL_EXPERT_SOURCES, AIRL_NEGATIVES, AIRL_REWARD_SCALES, AIRL_RL_DEFAULTS, AirlLearner, airlConfigSchema, airlPrmSchema, airlProcessTokenRewards, createAirlTrainer, resolveAirlConfig,
  scaleAirlRewards, type AirlConfig, type AirlConfigInput, type AirlExpertSource, type AirlLearnerOptions, type AirlNegatives, type AirlPrmConfig, type AirlRewardScale, type AirlRun,
  type AirlTrainerOptions,
} from './airl.js';
export {
  IMPLICIT_OFFLINE_LOSSES, dpoPairs, implicitOfflineConfigSchema, resolveImplicitOfflineConfig, trainImplicitPrm, type ImplicitOfflineConfig, type ImplicitOfflineConfigInput,
  type ImplicitOfflineLoss, type ImplicitOfflineTrainOptions,
} from './implicit-offline.js';
export {
  isHeldOutPrompt, resolveSupervisedConfig, splitByPrompt, supervisedConfigSchema, trainSupervisedPrm, type SupervisedConfig, type SupervisedConfigInput, type SupervisedSample,
  type SupervisedResult, type SupervisedTrainOptions, type SupervisedValidation,
} from './supervised.js';
export {
  PRM_VALIDATION_METRICS, ValidatedRewardModel, prmValidationSchema, type OnlineLearner, type PrmValidationConfig, type PrmValidationMetric,
} from './validation.js';
