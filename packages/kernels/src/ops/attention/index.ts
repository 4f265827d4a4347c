// Causal multi-head attention: forward with online softmax (out + log-sum-exp only), backward that
// recomputes the scores, decode over a KV cache, the cache write, and their float64 references.
//
// Grouped-query attention (GQA; multi-query is Hkv = 1): q is [B, H, T, D], k and v (and a KV
// cache) [B, Hkv, T, D] with H % Hkv = 0, group = H / Hkv. Query head h reads kv head
// ⌊h / group⌋ — consecutive query heads share a kv head, the grouping of Hugging Face's repeat_kv
// (query heads 0..group−1 read kv head 0, and so on) — by index arithmetic in the kernels
// (kv row base = ⌊(b·H + h) / group⌋ · T, since b·H + h = (b·Hkv + ⌊h/group⌋)·group + h mod group);
// K and V are never copied per head. dk and dv are [B, Hkv, T, D]: the gradients of a group's
// query heads summed. The sum is taken inside the dk/dv pass: its invocations own kv-head key rows
// and walk the queries of every query head of the group in turn (query heads b·H + hk·group + g,
// g = 0..group−1), accumulating into the same registers. Chosen over a reduction pass because
// it needs no [B, H, T, D] scratch for per-query-head partials, no extra dispatch, no atomics, and
// the sum order is fixed (deterministic); the cost is group× more work per workgroup over
// group× fewer workgroups, so with few kv heads and short sequences fewer workgroups keep the
// threads busy (bench "GQA" case). The dq pass and the forward run per query head as before.
// Hkv = H (group = 1) runs exactly the former instructions: results are bit-identical to plain
// multi-head attention.
//
// Shared pieces of the attention kernels' WGSL generators.
//
// Design notes, from measurements on lavapipe (llvmpipe: each invocation is one lane of an
// 8-wide SIMD vector, so a per-invocation float is a vector register and 16 of them exist):
//
// - Compile time grows with the number of storage-buffer load/store instructions in the shader
//   text: llvmpipe expands each into per-lane, bounds-checked code, at roughly 10–60 ms apiece on
//   this 2-core machine under load. A first version that unrolled its loops over the head size
//   (D/4 vec4 loads per K row, per V row, per tile key…) took 6 s to compile at D = 32 and
//   30–70 s at D = 128, against about 1 s for the rolled loops used now. So D is a uniform and the
//   loops over it stay rolled; only the small register tile (rows × keys) is unrolled here in
//   TypeScript. The private row arrays (q, the output accumulator…) have a capacity bucket (8, 16
//   or 32 vec4: D ≤ 32, 64, 128) as the only D-dependent specialisation, so a small D does not pay
//   for 128-wide rows. Indexed with the loop counter, which is the same in every lane, they are
//   plain vector loads and stores from the stack (L1); the tile's scores are true registers.
// - Register blocking as in a matmul: each invocation owns `rows` rows and walks the other side
//   in tiles; per d step every tile row's vec4 is fetched once and used for every owned row, so
//   rows × tile dot products cost rows + tile vec4 fetches.
// - Storage loads are the expensive instruction at run time: inside a loop llvmpipe compiles
//   each one as a loop over the 8 lanes with a mask test and a bounds check, even when every lane
//   reads the same address (the matmul family measured this with GALLIVM_DEBUG=asm). So the rows
//   a tile shares (K/V in the forward and the dq pass, Q/dO in the dk/dv pass) are fetched in the
//   'broadcast' way when the device has subgroups: lane t loads row t of the tile (one vec4 load
//   per lane instead of one per row) and subgroupBroadcast hands it to the other lanes. That made
//   forward + backward about 3× faster than the 'loads' fallback, where every lane loads every row
//   (bench "configs" cases).
// - No workgroup memory and no barriers: on lavapipe barriers are coroutine switches and cost more
//   than the loads they would save.
// - Rows are vec4 bindings, so D must be a multiple of 4 (every common head size is).
//
// Causal attention backward (FlashAttention-2 style): the scores are recomputed from q, k and the
// saved log-sum-exp, P_ij = exp(scale·q_i·k_j − lse_i), never stored. With D_i = rowsum(dO_i ∘ O_i):
//   dS = P ∘ (dP − D_i) with dP = dO·Vᵀ,   dQ = scale·dS·K,   dK = scale·dSᵀ·Q,   dV = Pᵀ·dO.
// Two passes and no atomics:
//  1. 'attention-backward-dq': invocations own query rows (q, dO and the dq accumulator in
//     registers) and walk keys j ≤ i; each row also computes D_i = dO_i·O_i and writes it out.
//  2. 'attention-backward-dkdv': invocations own key rows (k, v, dk, dv in registers) and walk the
//     queries i ≥ j, reading D_i from pass 1.
// The rows a workgroup walks over (K/V in pass 1, Q/dO in pass 2) are at addresses shared by the
// whole workgroup: uniform loads, no workgroup memory, no barriers (see program.ts).
// Masking follows the forward: query rows at positions ≥ lengths[b] and keys ≥ lengths[b] get
// zero gradients; their lse (−∞) is never used in an exp, so nothing can become NaN.
//
// Causal multi-head attention, forward, with an online softmax (flash-attention style), the
// decode variant over a KV cache, and the cache write.
// Decode of one token per sequence (Tq = 1, every generation step) has its own kernel,
// 'decode-split': a workgroup per (sequence, head) whose lanes split the keys, each with its own
// online softmax, merged in workgroup memory; the row kernel would give the single row to one
// lane while the others idle (14x its GPU time at B8 H4 D32 with 80 cached keys on lavapipe).
// Flag attentionDecode.kernel = rows forces the row kernel; attentionDecode.splitWorkgroup sets
// the lanes (default 8).
//
// Each invocation owns `rows` query rows (private vec4 arrays, q pre-multiplied by the scale);
// a workgroup owns a block of workgroup·rows rows of one (batch, head). It walks the keys
// 0..(last position of the block) in tiles of `keyTile` (fetched once per lane and broadcast over
// the subgroup where possible, see program.ts): the rows × keys scores of a tile are computed in
// registers, the running maximum m is raised to the tile's maximum, the running denominator l
// and the output accumulator are rescaled by exp(m_old − m_new) once per tile, and the tile's
// probabilities times V are added. Only the output and lse = m + log l per row are written: no
// T×T matrix exists anywhere. Keys after a row's position (and past the sequence's length) get
// probability 0 by a select, never by exp(−∞), and the running maximum starts at −3e38 rather
// than −∞, so no ∞ − ∞ can appear; a fully masked row (position ≥ length) writes out = 0 and
// lse = −∞ (the one −∞ we produce on purpose, for the backward and the caller to recognise).
//
// float64 CPU references of causal attention: forward (with the per-row log-sum-exp), backward
// (the textbook three stages of llm.c: through ·V, through the softmax, through Q·Kᵀ), the KV-cache
// decode and the cache write. The GPU kernels are tested against these; the autograd package's
// CPU backend can run on them.
//
// The references take k, v [B, Hkv, …] with the same grouping (kv head ⌊h / group⌋) and return
// dk, dv [B, Hkv, T, D] with the group's query heads summed.
//
// Masking, shared by every function here. For batch entry b, `keyCount` keys are valid (positions
// 0..keyCount−1) and query row i sits at position offset + i. A valid query (position <
// keyCount) attends every key at a position ≤ its own. A query at a position ≥ keyCount is fully
// masked: its output is 0 and its log-sum-exp −∞, and it receives and passes on no gradient.
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export {
  attentionForwardProgram,
  attentionBackwardDkDvProgram,
  attentionBackwardDqProgram,
  MAX_HEAD_SIZE as ATTENTION_MAX_HEAD_SIZE,
  MIN_HEAD_SIZE as ATTENTION_MIN_HEAD_SIZE,
  type AttentionForwardConfig,
  type AttentionBackwardConfig,
} from './program.js';
export {
  attention,
  attentionDecode,
  attentionForwardConfig,
  writeKvCache,
  attentionBackward,
  attentionBackwardConfig,
  type AttentionDecodeOptions,
  type AttentionOptions,
  type AttentionResult,
  type AttentionBackwardOptions,
  type AttentionBackwardResult,
} from './launcher.js';
export {
  attentionBackwardReference,
  attentionDecodeReference,
  attentionReference,
  writeKvCacheReference,
  type AttentionDecodeReferenceOptions,
  type AttentionGradients,
  type AttentionReferenceOptions,
  type AttentionReferenceResult,
} from './reference.js';
