// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), updating param, m and v
// in place, with the same arithmetic as PyTorch's torch.optim.AdamW (single-tensor path):
//   p ← p·(1 − lr·wd)
//   g ← grad·gradScale                       (gradScale carries global-norm clipping)
//   m ← β₁·m + (1 − β₁)·g ;  v ← β₂·v + (1 − β₂)·g²
//   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
// The bias corrections are computed on the host in float64 and passed as uniforms, so one pipeline
// serves every step. Elementwise, vec4 loads when the size is a multiple of 4 (flag 'adamw.vec4').
// Multi-tensor: adamwUpdateMany updates many tensors per dispatch (PyTorch's foreach / fused
// path in spirit): each dispatch binds up to maxStorageBuffersPerShaderStage / 4 tensors (element
// ranges of them, for tensors over one binding), each with its own weight decay, since on a
// launch-bound device (lavapipe: ~0.1–0.4 ms a dispatch) a model's 30 small tensors cost more in
// dispatches than in arithmetic. sumOfSquares is the global gradient norm's pass over the same
// tensors: Σ over arrays of Σ xᵢ² in a few dispatches (partials per 4096 elements, then summed),
// instead of a square, a sum and an add per tensor.
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export { adamwUpdate, adamwUpdateMany, sumOfSquares, type AdamWTensors } from './launcher.js';
export { adamwReference, sumOfSquaresReference, type AdamWOptions } from './reference.js';
