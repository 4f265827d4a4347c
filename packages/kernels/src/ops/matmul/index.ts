// matmul family: batched fp32 matmul with in-kernel transposes, its backward pass, the WGSL
// generators of its variants, and the float64 references.
//
// WGSL generators for the matmul family. C[m, n] = Σ_k op(A)[m, k] · op(B)[k, n], where op(X) is X
// or Xᵀ; a transpose is a different load pattern (strided reads), never a transposed copy.
//
// Three kernels, one parameterised generator each:
// - naive: one output per invocation (the tiny-problem path, and a simple reference for the others).
// - blocked: register blocking without shared memory. Each invocation keeps a TM × (4·VN) tile of C
//   in registers and loads its own TM values of A and 4·VN values of B per k.
// - subgroup: the workgroup's lanes share TM rows; lane l loads rows l % 8 (+ 8i) and
//   subgroupBroadcast hands each value to every lane, so A costs TM/8 loads per lane instead of TM.
//   Needs the subgroups feature and subgroups of at least 8 lanes.
//
// Why this shape on lavapipe (measured with GALLIVM_DEBUG=asm, Mesa 25.0): inside a loop every
// storage-buffer load is compiled as a loop over the 8 SIMD lanes with an exec-mask test and a bounds
// check per component, even when the address is the same for all lanes, and every register update
// is blended with the loop mask. Barriers are expensive and shared memory does not avoid the
// per-lane loads, so the kernels minimise loads per FMA: big register tiles, vec4 loads (one lane
// test per 4 values), subgroup broadcasts instead of repeated loads, and with k unrolled by 4 the
// four products are summed before the (masked) accumulator update.
//
// Shapes, batch strides and the reduction over a batch (used by the backward pass when an operand
// was broadcast) travel as uniforms, so one pipeline serves every shape. Vec4 loads are used only
// where the launcher has checked the alignment; the same buffer is then bound a second time as
// array<vec4<f32>> (read-only aliasing is allowed), and the scalar view serves the K remainder.
//
// matmul launchers: shapes → validation → variant choice → uniforms → dispatch, and the backward
// pass built from the same kernel with transposes (no transposed copies, no temporaries).
//
// Float64 CPU references for matmul and its backward pass (same shape rules as the GPU launchers).
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export {
  matmulProgram,
  workgroupTile,
  configKey as matmulConfigKey,
  MATMUL_UNIFORMS,
  type MatmulConfig,
  type MatmulKind,
  type MatmulUniforms,
} from './program.js';
export {
  matmul,
  matmulBackward,
  chooseMatmulConfig,
  runMatmul,
  matmulSubgroupSupported,
  MATMUL_TINY_WORK,
  type MatmulCallOptions,
  type MatmulProblem,
  type MatmulVariant,
} from './launcher.js';
export {
  matmulReference,
  matmulBackwardReference,
  matmulDims,
  type MatmulOptions,
  type MatmulDims,
} from './reference.js';
