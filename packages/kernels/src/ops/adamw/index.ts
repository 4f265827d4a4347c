// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), updating param, m and v
// in place, with the same arithmetic as PyTorch's torch.optim.AdamW (single-tensor path):
//   p ← p·(1 − lr·wd)
//   g ← grad·gradScale                       (gradScale carries global-norm clipping)
//   m ← β₁·m + (1 − β₁)·g ;  v ← β₂·v + (1 − β₂)·g²
//   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
// The bias corrections are computed on the host in float64 and passed as uniforms, so one pipeline
// serves every step. Elementwise, vec4 loads when the size is a multiple of 4 (flag 'adamw.vec4').
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export { adamwUpdate } from './launcher.js';
export { adamwReference, type AdamWOptions } from './reference.js';
