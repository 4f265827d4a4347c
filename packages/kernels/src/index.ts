// @repirl/kernels: the WebGPU runtime and the WGSL kernels, each with a float64 CPU reference.
export * from './runtime/index.js';
export * from './reference.js';
export * from './ops/cast/cast.js';
