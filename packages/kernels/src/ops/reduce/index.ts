// Reductions along any axes (sum, mean, max) with their backward passes, sumToShape for folding
// broadcast gradients, and float64 references.
export {
  normalizeAxes,
  reduce,
  reduceBackward,
  reduceBackwardReference,
  reduceMax,
  reduceMaxBackward,
  reduceMean,
  reduceMeanBackward,
  reduceProgram,
  reduceReference,
  reduceSum,
  reduceSumBackward,
  reducedShape,
  sumToShape,
  sumToShapeReference,
  type ReduceOptions,
  type ReducePath,
  type ReduceWidth,
  type ReductionOp,
} from './reduce.js';
