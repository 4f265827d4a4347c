export * from './philox.js';
export * from './rng.js';
