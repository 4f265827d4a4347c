// Policy losses, KL estimators, the entropy bonus and loss aggregation, as named registries.
export * from './aggregate.js';
export * from './policy.js';
export * from './kl.js';
export * from './entropy.js';
