// matmul family: batched fp32 matmul with in-kernel transposes, its backward pass, the WGSL
// generators of its variants, and the float64 references.
export { matmul, matmulBackward, chooseMatmulConfig, runMatmul, matmulSubgroupSupported, MATMUL_TINY_WORK } from './matmul.js';
export type { MatmulCallOptions, MatmulProblem, MatmulVariant } from './matmul.js';
export { matmulProgram, workgroupTile, configKey as matmulConfigKey, MATMUL_UNIFORMS } from './program.js';
export type { MatmulConfig, MatmulKind, MatmulUniforms } from './program.js';
export { matmulReference, matmulBackwardReference, matmulDims } from './reference.js';
export type { MatmulOptions, MatmulDims } from './reference.js';
