// Learners: the training loops that make PRMs (online inside RlTrainer, or offline on fixed rollouts).
export {
  PRIME_ESTIMATORS, PRIME_RL_DEFAULTS, PRIME_UPDATE_ORDERS, PrimeLearner, createPrimeTrainer, resolvePrimeConfig, type PrimeConfig, type PrimeConfigInput,
  type PrimeLearnerOptions, type PrimePrmConfig, type PrimeRun, type PrimeTrainerOptions, type PrimeUpdateOrder,
} from './prime.js';
export { withDefaults } from './defaults.js';
export {
  REPIRL_GROUPS, REPIRL_RL_DEFAULTS, RepirlLearner, createRepirlTrainer, resolveRepirlConfig, solutionDemonstrations, type Demonstrations, type RepirlConfig,
  type RepirlConfigInput, type RepirlGroups, type RepirlLearnerOptions, type RepirlPrmConfig, type RepirlRun, type RepirlTrainerOptions,
} from './repirl.js';
