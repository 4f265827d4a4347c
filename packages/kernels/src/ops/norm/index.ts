// LayerNorm and RMSNorm over the last dimension, forward and backward (llm.c's
// layernorm_forward/backward pair), with float64 CPU references.
//
// Row kernels (forward, and dx of the backward): one workgroup per row, each invocation strides
// over the row (vec4 loads when D % 4 == 0), and the shared workgroup reduction combines the
// partial sums ('subgroup' or 'shared' variant, flag 'reduce.variant').
//
// Variance: two passes over the row, and the first pass sums (x − x₀) with x₀ the row's first
// element, so rows of values around 1e4 with unit spread lose nothing: x − x₀ is exact, and y is
// computed as ((x − x₀) − c)·rstd with c = mean(x − x₀), never through a rounded mean. (The naive
// E[x²] − E[x]² in float32 returns garbage for such rows.) The saved `mean` is x₀ + c rounded to
// float32, which is what the backward needs.
//
// dgamma/dbeta are sums over rows, done without atomics so results are bit-reproducible: a first
// kernel gives each invocation one column (vec4) and one chunk of rows and writes a partial sum;
// a second sums the partials of each column in chunk order. The chunk size depends only on the
// number of rows, so the summation order (and the result) is the same on every device.
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export { type NormKind } from './program.js';
export {
  normRowWorkgroup,
  layerNorm,
  rmsNorm,
  normRowsPerChunk,
  layerNormBackward,
  rmsNormBackward,
  type LayerNormResult,
  type RmsNormResult,
  type LayerNormGrads,
  type RmsNormGrads,
} from './launcher.js';
export {
  layerNormReference,
  layerNormBackwardReference,
  rmsNormReference,
  rmsNormBackwardReference,
  type LayerNormOptions,
  type RmsNormOptions,
  type LayerNormReferenceResult,
  type LayerNormReferenceGrads,
  type RmsNormReferenceResult,
  type RmsNormReferenceGrads,
} from './reference.js';
