// @repirl/rl — verifiable reasoning tasks, rollouts, advantage estimators, policy losses and
// trainers (SFT, GRPO, Dr.GRPO, RLOO, REINFORCE++, PPO), built on @repirl/autograd.
// Nothing is exported yet: this package is filled by the RL issue (DESIGN.md §4).
export {};
