// Reductions along any axes (sum, mean, max) with their backward passes, sumToShape for folding
// broadcast gradients, and float64 references.
//
// Reductions along any set of axes (rank ≤ 6, keepdims or not): sum, mean and max, their backward
// passes, sumToShape (how broadcast gradients are folded back), and float64 references.
//
// Every reduction is a sequence of passes over a 3-D view [outer, len, inner] of a contiguous
// array: size-1 dimensions are dropped, neighbouring reduced (or kept) dimensions merged, and the
// innermost reduced group is reduced first, so any axis set needs at most one pass per reduced
// group. Each pass has two kernels, chosen by shape (flag `reduce.path` = row | column forces one):
//
// - row: one workgroup per output element; its invocations stride over the reduced axis and
//   combine with the shared workgroup reducer (subgroup variant, or the shared-memory tree; flag
//   `reduce.variant`). Used for long innermost axes (rows); on a software device (lavapipe) the
//   workgroup is one SIMD vector wide, since barriers cost in proportion to the workgroup size.
// - column: one invocation per output element, looping over the reduced axis; neighbouring
//   invocations read neighbouring addresses when the axis is not innermost (columns), and short
//   rows (or, on a software device, any rows that are numerous enough) avoid a barrier each.
//
// Loads are vec4 where the shape allows (flag `reduce.vec4` = false forces scalar): along a
// reduced innermost axis of length % 4 = 0, or, on the column path, across four neighbouring
// outputs when inner % 4 = 0. vec4 loads were 2–4× faster on lavapipe.
//
// When there are few outputs and a long axis (a full reduction, or [100000, 3] over axis 0), a
// pass is split: chunks of the axis are reduced into partial results, which a second pass combines
// (flag `reduce.chunk` = N forces chunks of N elements). Mean is a sum whose last pass scales by 1/len.
//
// max: the gradient goes to the elements equal to the maximum, split equally between ties (the
// reference does the same). The max of an empty axis is an error; the mean of one is NaN.
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export { reduceProgram, type ReducePath, type ReduceWidth } from './program.js';
export {
  reduce,
  reduceBackward,
  reduceMax,
  reduceMaxBackward,
  reduceMean,
  reduceMeanBackward,
  reduceSum,
  reduceSumBackward,
  sumToShape,
} from './launcher.js';
export {
  normalizeAxes,
  reduceBackwardReference,
  reduceReference,
  reducedShape,
  sumToShapeReference,
  type ReduceOptions,
  type ReductionOp,
} from './reference.js';
