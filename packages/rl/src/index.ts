// @repirl/rl — verifiable reasoning tasks, rollouts, advantage estimators, policy losses and
// trainers (SFT, GRPO, Dr.GRPO, RLOO, REINFORCE++, PPO), built on @repirl/autograd.
// Verifiable tasks with exact step labels, JSONL data, rollouts with accuracy-band filtering, the
// advantage registry, policy losses and KL estimators, SFT and RL trainers with resumable runs.
export * from './config/index.js';
export * from './advantages/index.js';
export * from './losses/index.js';
export * from './tasks/index.js';
export * from './data/index.js';
export * from './verify/index.js';
export * from './rollout/index.js';
export * from './critic/index.js';
export * from './trainers/index.js';
export * from './run/index.js';
