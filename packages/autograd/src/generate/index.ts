// generate: batched, seeded sampling with a KV cache, returning trainer-consistent log-probs.
export { generate, type GenerateOptions, type GeneratedSequence, type FinishReason } from './generate.js';
export { sampleTokens, topKTopPMask, topKTopPMaskReference, type MaskOptions, type SampleOptions } from './sampling.js';
