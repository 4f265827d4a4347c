export type { Backend, DType, Storage, MatmulFlags, AttentionFlags } from './backend.js';
export { Tensor, StorageRef } from './tensor.js';
export { tidy, keep } from './scope.js';
export { apply, apply1, backward, noGrad, isGradEnabled, wrap } from './tape.js';
export type { Primitive, GradContext, TapeNode } from './tape.js';
export * from './ops.js';
