// Token log-prob gathering: fused log-softmax + gather (+ entropy) over the vocabulary, forward and
// backward, chunked under the binding-size limit, with float64 CPU references.
//
// Row chunking under the binding-size limit. A [N, V] f32 logits tensor can be far larger than
// maxStorageBufferBindingSize (128 MiB on lavapipe; a 1024 × 152,064 f32 tensor is 594 MiB), so the
// kernels run over chunks of rows, binding for each chunk a window of every array. A window starts
// at the aligned byte offset at or below the chunk's first element (offsets must be multiples of
// minStorageBufferOffsetAlignment) and the kernel gets the remaining element offset `base` as a
// uniform. This works for every V, odd ones included, without constraining the chunk row count.
//
// Fused token log-prob gathering (llm.c's fused classifier, anchors B.3): from logits [N, V], target
// ids [N] and a temperature, the forward reads each row once and produces log p(target), the
// log-sum-exp and (optionally) the entropy with an online max/sum; the backward reads each row once
// more and writes d logits directly (optionally in place over the logits, llm.c style).
// Probabilities are never stored, so the extra memory is O(N), not O(N·V).
//
// Variants (all forced by flags in the tests): the layout, one workgroup per row combining partial
// statistics with ops/shared/workgroup-reduce.ts (subgroup or shared-memory reduction), or one
// invocation per row for short rows on CPU devices; vec4 or scalar loads; the workgroup size.
// Chunking: rows go in chunks whose bindings fit maxStorageBufferBindingSize (planRowChunks in launcher.ts).
//
// Numerics. Each invocation keeps an online triple over its share of the row, in logit space
// (x, not z = x / T, so huge logits over a small temperature cannot overflow before the max is
// subtracted):  m = max x,  s = Σ e^{(x−m)/T},  w = Σ e^{(x−m)/T}·(x−m)/T.
// A new maximum rescales s and w: with d = (m_old − m_new)/T,  s ← s·e^d,  w ← e^d·(w + s·d).
// The workgroup combines triples by a max-reduce of m, rescaling each triple to the common max,
// then sum-reduces of s and w (ops/shared/workgroup-reduce.ts, subgroup or shared variant).
// Then  lse = m/T + log s,  logp = (x_t − m)/T − log s,  entropy = log s − w/s.
// −inf logits contribute e^{−inf} = 0 and are skipped in w (0·−inf would be NaN); a row of only −inf
// has s = 0 and follows the masked-row convention of reference.ts (lse = logp = −inf, entropy = 0,
// zero gradient). NaN logits propagate.
//
// Out-of-range target ids. The forward kernel checks every target against [0, V): a bad row gets
// logp = NaN (never a plausible value) and the kernel records the first bad row in a 4-byte status
// buffer (atomicMax of ~row). Reading it back would stall the GPU queue, so the launcher does not;
// `result.check()` reads it and throws an ArgumentError naming 'tokenLogProbs', 'targets', the row
// and the id. Call it where a sync is acceptable (the RL loop reads logp back anyway), or validate
// ids that come from the host up front with validateTargets(). The backward writes NaN over the
// rows of bad targets.
//
// float64 CPU references for token log-prob gathering. With z = logits / temperature and
// p = softmax(z) over each row:
//   lse     = log Σ_j exp(z_j)
//   logp    = z_target − lse
//   entropy = −Σ_j p_j log p_j  (= lse − Σ_j p_j z_j)
// and for upstream gradients gLogp, gEntropy the gradient with respect to the logits:
//   d logp / d z_j    = 1[j = target] − p_j
//   d entropy / d z_j = −p_j (log p_j + entropy)  (= −p_j (z_j − Σ_k p_k z_k))
//   d / d logits_j    = (gLogp (1[j = target] − p_j) − gEntropy p_j (log p_j + entropy)) / temperature
//
// A row whose logits are all −inf has no distribution. By convention (shared with the GPU kernels)
// it gives lse = −inf, logp = −inf, entropy = 0 and a zero gradient, so masked rows are NaN-free.
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export {
  logProbForwardProgram,
  logProbBackwardProgram,
  type EntropyGradientMode,
  type LogProbVariant,
  type LogProbLayout,
} from './program.js';
export {
  tokenLogProbs,
  tokenLogProbsBackward,
  logProbWorkgroupSize,
  logProbWidth,
  logProbVariant,
  logProbLayout,
  LANE_LAYOUT_MIN_ROWS,
  LSE_TRUST_BELOW,
  planRowChunks as planLogProbChunks,
  type TokenLogProbs,
  type TokenLogProbsOptions,
  type TokenLogProbsBackwardOptions,
  type RowChunk as LogProbChunk,
} from './launcher.js';
export {
  tokenLogProbsReference,
  tokenLogProbsBackwardReference,
  validateTargets,
  type TokenLogProbsReferenceResult,
} from './reference.js';
