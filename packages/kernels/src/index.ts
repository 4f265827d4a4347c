// @repirl/kernels: the WebGPU runtime and the WGSL kernels, each with a float64 CPU reference.
export * from './runtime/index.js';
export * from './reference.js';
export { SeededRandom, uniformInt, pickOne, type UniformSource } from './random.js';
export * from './ops/validate.js';
export * from './ops/shared/workgroup-reduce.js';
export * from './ops/cast/index.js';
export * from './ops/layout/index.js';
export * from './ops/matmul/index.js';
export * from './ops/elementwise/index.js';
export * from './ops/reduce/index.js';
export * from './ops/softmax/index.js';
export * from './ops/norm/index.js';
export * from './ops/embedding/index.js';
export * from './ops/adamw/index.js';
export * from './ops/rng/index.js';
export * from './ops/logprob/index.js';
export * from './ops/advantages/index.js';
export * from './ops/attention/index.js';
