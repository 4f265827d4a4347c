// Trainers: SFT and RL (GRPO, Dr.GRPO, RLOO, REINFORCE++, REINFORCE++-baseline, PPO + GAE), their
// configs, validation, the metrics stream and training checkpoints (written into a run directory: ../run).
export {
  LR_SCHEDULES, RL_ALGORITHMS, RL_PRESETS, U32_MAX, checkpointSchema, loraOf, loraSchema, maxSkippedStepsSchema, optimizerSchema, resolveRlConfig, resolveSftConfig,
  rlConfigFor, rlConfigSchema, rlTrainerSchema, seedSchema, sftTrainerSchema, validationSchema, warmupNote, type CheckpointConfig, type DeepPartial,
  type LoraSection, type LrScheduleName, type OptimizerConfig, type RlAlgorithm, type RlConfig, type RlConfigInput, type SftConfig, type SftConfigInput, type ValidationConfig,
} from './config.js';
export { lrSchedule, makeOptimizer } from './optim.js';
export { correlation } from './stats.js';
export { evaluatePolicy, type EvaluateOptions, type Evaluation, type GreedyResult } from './evaluate.js';
export { loadPolicy, loadTrainingCheckpoint, saveModel, savePolicy, saveTrainingCheckpoint, type TrainingCheckpoint } from './checkpoint.js';
/** The records of the trainers' 'metrics' events are metrics.jsonl's lines. */
export type { MetricsRecord } from '../run/index.js';
export {
  Trainer, summaryResults, type CheckpointSink, type EarlyEnd, type RunOptions, type RunSummary, type SampleRecord, type TrainerCommonOptions, type TrainerEvent,
  type TrainerListener,
} from './base.js';
export { SftTrainer, sftExamplesFromProblems, sftExamplesFromTrajectories, type SftExample, type SftTrainerOptions } from './sft.js';
export { RlTrainer, type OnlineRewardModel, type RlTrainerOptions } from './rl.js';
export { BatchTooLargeError, NonFiniteTrainingError } from './faults.js';
