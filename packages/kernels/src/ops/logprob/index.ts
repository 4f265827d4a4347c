// Token log-prob gathering: fused log-softmax + gather (+ entropy) over the vocabulary, forward and
// backward, chunked under the binding-size limit, with float64 CPU references.
export {
  tokenLogProbs,
  tokenLogProbsBackward,
  logProbForwardProgram,
  logProbBackwardProgram,
  logProbWorkgroupSize,
  logProbWidth,
  logProbVariant,
  logProbLayout,
  LANE_LAYOUT_MIN_ROWS,
  LSE_TRUST_BELOW,
} from './logprob.js';
export type { TokenLogProbs, TokenLogProbsOptions, TokenLogProbsBackwardOptions, EntropyGradientMode, LogProbVariant, LogProbLayout } from './logprob.js';
export { tokenLogProbsReference, tokenLogProbsBackwardReference, validateTargets } from './reference.js';
export type { TokenLogProbsReferenceResult } from './reference.js';
export { planRowChunks as planLogProbChunks } from './chunking.js';
export type { RowChunk as LogProbChunk } from './chunking.js';
