// softmax and log-softmax over the last axis (online max/sum, one workgroup per row), forward and
// backward, NaN-free on −inf entries and fully masked rows, with float64 references.
//
// softmax and log-softmax over the last axis, forward and backward, with float64 references.
//
// Forward: one workgroup per row (the 'workgroup' path). Each invocation walks its strided share of
// the row once, keeping a running maximum m and a sum s of exp(v − m) rescaled whenever m grows
// (online softmax, one pass for the statistics: s ← d > 0 ? s·e^(−d) + 1 : s + e^(−|d|) with
// d = v − m). The workgroup then combines the (m, s) pairs with the shared reducer (subgroup
// variant or the shared-memory fallback, flag `reduce.variant`) and a second pass over the row
// writes the output. The 'thread' path gives each invocation a whole row (the same two passes, no
// barriers): used for short rows on GPUs and, on a software device (lavapipe), whenever there are
// enough rows, because there a workgroup's barriers cost in proportion to its size (flag
// `softmax.path` = workgroup | thread forces either; `softmax.workgroup` the workgroup size).
// Rows whose length is a multiple of 4 are read and written as vec4 (flag `softmax.vec4`).
//
// Edge cases, identical in the kernels and the references:
// - −inf entries get probability 0 (log-probability −inf); large magnitudes (±1e4, ±3e38) do not
//   overflow, because every exponent is ≤ 0 (differences that overflow to −inf give exp = 0).
// - A fully masked row (every entry −inf) has no distribution; we define softmax = 0 everywhere
//   and log-softmax = −inf everywhere (never NaN), and both backward passes give dx = 0 there.
// - The running maximum starts at −FLT_MAX (not −inf) so exp(m − M) is never exp(−inf + inf).
//   A row of finite −FLT_MAX values is therefore an ordinary row (uniform), as in the reference.
//
// Backward (both take the forward output y, not x):
//   softmax:     dx = y·(dy − Σ y·dy)
//   log-softmax: dx = dy − exp(y)·Σ dy, and 0 on a fully masked row (detected as Σ exp(y) = 0;
//                every real row has Σ exp(y) = 1).
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export {
  softmaxBackwardProgram,
  softmaxForwardProgram,
  type SoftmaxKind,
  type SoftmaxPath,
  type SoftmaxWidth,
} from './program.js';
export { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from './launcher.js';
export {
  logSoftmaxBackwardReference,
  logSoftmaxReference,
  softmaxBackwardReference,
  softmaxReference,
} from './reference.js';
