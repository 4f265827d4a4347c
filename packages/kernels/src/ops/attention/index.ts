// Causal multi-head attention: forward with online softmax (out + log-sum-exp only), backward that
// recomputes the scores, decode over a KV cache, the cache write, and their float64 references.
export {
  attention,
  attentionDecode,
  attentionForwardConfig,
  attentionForwardProgram,
  writeKvCache,
  type AttentionDecodeOptions,
  type AttentionForwardConfig,
  type AttentionOptions,
  type AttentionResult,
} from './forward.js';
export {
  attentionBackward,
  attentionBackwardConfig,
  attentionBackwardDkDvProgram,
  attentionBackwardDqProgram,
  type AttentionBackwardConfig,
  type AttentionBackwardOptions,
  type AttentionBackwardResult,
} from './backward.js';
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
export { MAX_HEAD_SIZE as ATTENTION_MAX_HEAD_SIZE, MIN_HEAD_SIZE as ATTENTION_MIN_HEAD_SIZE } from './codegen.js';
