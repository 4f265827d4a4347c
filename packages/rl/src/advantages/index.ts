// Advantage estimators for trainers (the kernel registry on either backend) and the helpers that
// build their token inputs.
export * from './estimate.js';
export * from './token-rewards.js';
