// @repirl/prm — process reward models learned by inverse RL (rePIRL, AIRL-S), implicitly (PRIME),
// and baselines (ORM, Math-Shepherd), with PRM-guided search and step-level evaluation.
// So far: the PRM losses (rePIRL IS-weighted MLE, AIRL-S discriminator, implicit PRM CE/DPO, ORM,
// Math-Shepherd), step-level evaluation (step/response AUROC, ProcessBench-style first-error F1,
// correlations, step aggregations) and test-time selection (majority and weighted vote, best-of-N
// and its unbiased accuracy at N, PRM-guided step-level beam search).
export * from './eval/index.js';
export * from './search/index.js';
export * from './losses/index.js';
export * from './models/index.js';
export * from './learners/index.js';
export * from './data/index.js';
export * from './ttt/index.js';
