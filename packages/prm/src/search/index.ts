// Test-time search with a PRM: best-of-N under each step aggregation, (weighted) voting, step-level
// beam search and MCTS, all sampling steps through one prefix tree of KV caches (docs/DESIGN.md §5).
export { groupAnswers, majorityVote, weightedVote, type AnswerGroup, type VoteResult, type WeightTransform } from './vote.js';
export {
  DEFAULT_TEMPERATURES, WEIGHTED_VOTE_FORMS, bestOfN, bestOfNAccuracy, chooseTemperature, crossFittedWeightedVote, selectAnswer, selectionMethods,
  tunedWeightedVoteAccuracy, type BestOfNAccuracy, type BestOfNOptions, type BestOfNProblem, type Candidate, type SelectionMethod, type WeightedVoteForm,
  type WeightSource, type Weighting,
} from './best-of-n.js';
export { beamSearch, beamSearchAccuracy, type BeamSearchAccuracy, type BeamSearchOptions, type BeamSearchOutput, type BeamSearchResult } from './beam.js';
export { StepTree, isTerminal, leaves, pathIds, stepComplete, type StepFinish, type StepNode, type StepTreeOptions, type StepTreeStats } from './step-tree.js';
export { MCTS_FINALS, MCTS_SELECTIONS, mcts, type MctsFinal, type MctsOptions, type MctsResult, type MctsSelection, type MctsStats } from './mcts.js';
export { SEARCH_METHODS, stepSearch, type ProblemSearch, type SearchCandidate, type SearchMethod, type StepSearchOptions, type StepSearchOutput } from './step-search.js';
export { OraclePrm } from './oracle.js';
