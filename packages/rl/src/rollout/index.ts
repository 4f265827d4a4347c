// Rollouts: the prompt/response token convention, K samples per prompt with old log-probs and
// verdicts, dense-reward hook, accuracy-band filtering, and the packing trainers compute on.
export { ANSWER_LINE_STOP, AnswerLineStopTokenizer, TaskCodec, decodeKnown, hasCompleteAnswerLine, type ChatTokenizer, type TaskCodecOptions } from './codec.js';
export {
  attachDenseRewards, groupAccuracy, rollout, splitGroups, verifierFor, type DenseRewardFn, type RolloutBatch, type RolloutOptions,
  type RolloutSample, type Verifier,
} from './rollout.js';
export { filteredRollout, inBand, type AccuracyBand, type FilteredRollout, type FilteredRolloutOptions } from './filter.js';
export {
  packSequences, padRows, responseHidden, responseLayout, responseLogProbs, unpadRows, type PackedBatch, type ResponseLayout, type SequencePart,
} from './pack.js';
export { ShuffledStream, deriveSeed, permutation } from './seeds.js';
