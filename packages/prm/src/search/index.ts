// Test-time search with a PRM: best-of-N under each step aggregation, (weighted) voting and step-level
// beam search (docs/DESIGN.md §5).
export { groupAnswers, majorityVote, weightedVote, type AnswerGroup, type VoteResult, type WeightTransform } from './vote.js';
export {
  DEFAULT_TEMPERATURES, WEIGHTED_VOTE_FORMS, bestOfN, bestOfNAccuracy, chooseTemperature, crossFittedWeightedVote, selectAnswer, selectionMethods,
  tunedWeightedVoteAccuracy, type BestOfNAccuracy, type BestOfNOptions, type BestOfNProblem, type Candidate, type SelectionMethod, type WeightedVoteForm,
  type Weighting,
} from './best-of-n.js';
export { beamSearch, beamSearchAccuracy, type BeamSearchAccuracy, type BeamSearchOptions, type BeamSearchOutput, type BeamSearchResult } from './beam.js';
