// @repirl/rl — verifiable reasoning tasks, rollouts, advantage estimators, policy losses and
// trainers (SFT, GRPO, Dr.GRPO, RLOO, REINFORCE++, PPO), built on @repirl/autograd.
// So far: verifiable tasks with exact step labels, JSONL data, the advantage registry for trainers,
// policy losses, KL estimators, entropy bonus and micro-batch-invariant loss aggregation.
export * from './advantages/index.js';
export * from './losses/index.js';
export * from './tasks/index.js';
export * from './data/index.js';
