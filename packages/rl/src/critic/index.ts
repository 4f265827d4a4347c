// The critic of PPO + GAE: a value model (its own backbone, initialised from the policy) and the clipped value loss.
export { ValueModel, valueLoss, type ValueLossOptions, type ValueModelConfig } from './value-model.js';
