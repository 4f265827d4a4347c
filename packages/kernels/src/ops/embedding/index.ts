// Embedding gather (forward) and scatter-add (backward, deterministic), with float64 references
// (llm.c's encoder_forward/backward).
//
// Out-of-range ids. Ids live on the GPU, so the host cannot look at them without a round trip. The
// kernels check every id they read (a compare per element, no measurable cost), never read outside
// the table, and record the first offending position with atomics in a small per-runtime status
// buffer; the forward writes NaN rows for bad ids so nothing downstream looks plausible. After each
// launch a one-invocation kernel latches the first failing launch (kernel, position, id, count) into
// the same buffer. `await checkIdErrors(rt)` reads those 32 bytes and throws an
// IndexOutOfRangeError naming the kernel and the offending index. Cost: one extra 1-invocation
// dispatch per launch (0.2 ms per pass in timestamp profiles on lavapipe under load, against 0.4 ms
// for gathering 16 rows of 256), and, per check, one 32-byte readback that waits for the queue
// (about one submit round trip, ~0.1 ms plus whatever is still queued) — so call it where a step
// already waits for the GPU (e.g. after reading the loss), not after every launch. A runtime hook
// that ran such checks inside rt.sync() would make them automatic; the runtime has none today.
//
// Backward determinism: dTable[v] = Σ dOut[n] over the positions n with ids[n] = v, always summed
// in increasing n, so both variants give bit-identical results on every run:
// - 'scan': one invocation per (v, column) loops over all N ids. Cost V·D·N id compares: small N only.
// - 'sorted': a stable counting sort of positions by id without atomics (chunk-local ranks from a
//   shared-memory tile, per-chunk counts, a prefix over chunks and over ids, a scatter), then one
//   invocation per (sorted position, column) sums the bucket it heads into a cleared table. Cost
//   O(N·256 + V·N/256 + N·D) plus clearing V·D, and six dispatches.
// Flag 'embedding.backward' = 'scan' | 'sorted' forces one; the default picks 'scan' for tiny work.
// Tables over the storage-binding limit are processed in row ranges (embeddingRowChunks).
//
// Files (the same in every op folder): program.ts (WGSL programs), launcher.ts (validate and
// dispatch), reference.ts (float64 references), index.ts (this spec and the exports).
export {
  IndexOutOfRangeError,
  checkIdErrors,
  embeddingRowChunks,
  embedding,
  embeddingBackward,
  type EmbeddingBackwardVariant,
  type RowChunk,
  type EmbeddingBackwardOptions,
} from './launcher.js';
export { embeddingReference, embeddingBackwardReference } from './reference.js';
