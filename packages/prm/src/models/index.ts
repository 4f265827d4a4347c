// PRM parameterisations over a decoder backbone, and step scores from token scores.
export { scoreSamples, stepEndTokens, stepScores, tokenStateHidden, type ProcessRewardModel, type ScoredSample } from './prm.js';
