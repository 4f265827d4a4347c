// Elementwise ops from one table (UNARY_OPS / BINARY_OPS in program.ts): unary ops, binary ops with NumPy broadcasting,
// comparisons, where, their backward passes, and float64 references.
//
// NumPy broadcasting: shapes are aligned on the right; a dimension of size 1 (or a missing one)
// repeats. A broadcast input is read through strides with 0 on its repeated dimensions, and
// adjacent dimensions that every operand walks contiguously are merged, so [B, T, C] + [C]
// runs as the rank-2 problem [B·T, C] + [C] and one pipeline per op × rank serves every shape.
//
// The one generator behind every elementwise kernel: N inputs, M outputs, each output a WGSL
// expression of the inputs (taken from the op table). Two layouts:
//
// - 'contiguous': every operand has the output's shape, so element i of each is element i. The
//   kernel loads `vec4<f32>` when the element count is a multiple of 4 (register blocking: lavapipe
//   runs 4 lanes' worth of work per load) and f32 otherwise; each invocation handles `perInvocation`
//   elements strided by the workgroup size, so neighbouring invocations touch neighbouring words.
// - 'broadcast': the output index is decomposed into coordinates of a rank-r shape (r ≤ 6, after
//   merging dimensions) and each input is read through its own strides (0 on repeated dims).
//   Shapes and strides are uniforms: one pipeline per op × rank, never per shape. When the
//   innermost dimension is a multiple of 4 it runs on vec4s too (one decomposition per 4 outputs;
//   a [4096, 1024] + [1024] add went from 55 ms to 14 ms on lavapipe).
//
// Both use a flattened 1-D grid (`rt.grid` folds it into 2-D above 65535 workgroups).
//
// The elementwise op table (webgpu-torch / micrograd style): every op is one record holding its
// WGSL forward expression, its WGSL backward expression(s) and the float64 formulas of the CPU
// reference. The kernel generator (mapProgram in program.ts) and the references (reference.ts) are driven
// by this table alone; no op has a shader of its own.
//
// WGSL expressions are written over the type alias `T`, which is `f32` in the scalar and
// broadcasting kernels and `vec4<f32>` in the vectorised contiguous kernel, so every constant is
// written `T(…)` and every comparison is componentwise. Names available to the expressions:
//   unary forward:   x, P0, P1 (the op's scalar parameters, splatted to T)
//   unary backward:  x, y (the recomputed forward value), dy, P0, P1 → dx
//   binary forward:  a, b;   binary backward: a, b, y, dy → da, db
// Helper functions (prefix ew_) are defined once in EW_WGSL_LIBRARY.
//
// Numerical choices (the reference makes the same ones, in float64):
// - sigmoid, silu, gelu use exp(−|x|), so neither tail overflows or cancels, and ±inf give the
//   limits (gelu(−inf) = silu(−inf) = −0, their derivatives 0 and 1), never NaN; tanh uses a Taylor
//   series below |x| = 0.125 and exp(−2|x|) above (the builtin tanh is NaN for large |x| on some
//   drivers, and its (e^2x − 1)/(e^2x + 1) form loses relative precision near 0).
// - gelu is GPT-2's tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), evaluated as
//   the identical x·σ(2u); its derivative uses σ(2u)(1 − σ(2u)) (never 1 − tanh², which cancels).
// - log(0) = −inf and log(x < 0) = NaN; sqrt(x < 0) = NaN, rsqrt(0) = +inf: set explicitly because
//   WGSL leaves those results to the implementation.
// - pow(a, b) follows C/PyTorch: a negative base with an integral exponent gives a signed result,
//   with a non-integral exponent NaN; pow(±0, b) is 0 for b > 0, 1 for b = 0, +inf for b < 0
//   (the sign of a zero base is ignored).
//   Its gradient with respect to the exponent, y·ln(a), is taken as 0 where a = 0 and b ≥ 0 (the
//   limit, as PyTorch does) instead of 0·(−inf) = NaN.
// - maximum/minimum split the gradient equally on ties (PyTorch's rule); relu'(0) = 0;
//   abs'(0) = 0; clamp passes the gradient where min ≤ x ≤ max (boundaries included).
//
// Elementwise launchers and their float64 references, all driven by the op table in program.ts:
// unary ops (with optional scalar parameters), binary ops with NumPy broadcasting over up to 6
// dimensions, where(cond, a, b), and the backward of each. Binary backward computes the gradient
// at the broadcast output shape and sums it back over the repeated dimensions (reduce/sumToShape),
// so dA and dB always have the shapes of a and b.
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export {
  BINARY_OPS,
  BINARY_OP_NAMES,
  UNARY_OPS,
  UNARY_OP_NAMES,
  MAX_BROADCAST_RANK,
  mapProgram,
  type BinaryOp,
  type BinaryOpDef,
  type UnaryOp,
  type UnaryOpDef,
  type UnaryParams,
  type MapInput,
  type MapLayout,
  type MapOutput,
  type MapSpec,
} from './program.js';
export {
  coalesce,
  runBroadcastMap,
  abs,
  add,
  affine,
  binary,
  binaryBackward,
  clamp,
  div,
  exp,
  gelu,
  log,
  maximum,
  minimum,
  mul,
  neg,
  pow,
  powScalar,
  relu,
  rsqrt,
  sigmoid,
  silu,
  sqrt,
  square,
  sub,
  tanh,
  unary,
  unaryBackward,
  where,
  whereBackward,
  type BinaryGradients,
} from './launcher.js';
export {
  broadcastShapes,
  broadcastStrides,
  binaryBackwardReference,
  binaryReference,
  binaryShape,
  unaryBackwardReference,
  unaryParamValues,
  unaryReference,
  whereBackwardReference,
  whereReference,
} from './reference.js';
