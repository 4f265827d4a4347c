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
// B may be stored in f16 (bType, a frozen weight kept in half precision; needs the shader-f16
// feature): the same generator loads it as f16 (scalar or vec4<f16>) and widens each value to f32,
// so products and sums are f32 exactly as for an f32 B holding the same (f16-representable) values.
// The float64 reference of that variant is matmulReference of B rounded to f16 (castReference).
//
// Operands over one storage binding (maxStorageBufferBindingSize: 128 MiB on lavapipe; a tied
// 152k-vocabulary LM head is 545 MB in f32) run in chunks: each operand is split along its stored
// rows into windows that fit, the kernel gets the full matrices' row strides and its offsets inside
// the windows as uniforms, and K chunks after the first add to C (the accumulate uniform). The flag
// matmul.maxBindingBytes forces a smaller limit (tests).
//
// Shapes, row strides, batch strides and the reduction over a batch (used by the backward pass when
// an operand was broadcast) travel as uniforms, so one pipeline serves every shape. Vec4 loads are used only
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
  type MatmulBType,
  type MatmulConfig,
  type MatmulKind,
  type MatmulUniforms,
} from './program.js';
export {
  matmul,
  matmulBackward,
  chooseMatmulConfig,
  matmulChunkSizes,
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
