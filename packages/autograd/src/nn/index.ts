// nn: the module convention (module.ts) and the layers of a GPT-style decoder with heads.
export { Module, Rng, assign, copyInto, copyParameters, isHalfStorage, type CopyOptions, type HostTensor, type Init, type InitOptions, type ParamFill, type StateDict, type WeightStorage } from './module.js';
export { Linear, Embedding, RMSNorm, LayerNorm, makeNorm, matmulRows, INIT_STD, type LinearConfig, type EmbeddingConfig, type NormConfig, type NormKind } from './layers.js';
export { ropeTables, ropeInverseFrequencies, ropeHeads, splitHeads, splitHeadsIntoCache, type RopeScaling, type SplitHeadsOptions } from './rope.js';
export { KvCache, type KvCacheConfig } from './kv-cache.js';
export { CausalSelfAttention, kernelHeadDim, type AttentionConfig, type AttentionContext } from './attention.js';
export { Mlp, SwiGlu, type MlpConfig } from './mlp.js';
export { Block, DecoderLM, resolveDecoderConfig, type BlockConfig, type DecoderConfig, type ForwardOptions } from './transformer.js';
export { ScalarHead, MlpHead, gatherPositions, gatherRows, type ScalarHeadConfig, type MlpHeadConfig } from './heads.js';
export * from './loss.js';
