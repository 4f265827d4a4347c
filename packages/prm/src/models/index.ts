// PRM parameterisations over a decoder backbone, and step scores from token scores.
export { packedStepEnds, scoreSamples, stepEndTokens, stepScores, tokenStateHidden, type ProcessRewardModel, type ScoredSample } from './prm.js';
export { BackbonePrm, prmFromPolicy, type BackbonePrmConfig } from './backbone.js';
export { TokenMlpPrm, type TokenMlpPrmConfig, type TokenMlpPrmOptions } from './token-mlp.js';
export { OUTCOME_HEAD_READS, OutcomeHeadPrm, type OutcomeHeadPrmConfig, type OutcomeHeadPrmOptions, type OutcomeHeadRead, type OutcomeHeadScoreRead } from './outcome-head.js';
export { loadPrm, type SavedPrm } from './load.js';
export { ImplicitPrm, type ImplicitPrmConfig } from './implicit.js';
export { StepHeadPrm, type StepHeadPrmConfig, type StepHeadPrmOptions } from './step-head.js';
export { PRM_HEAD_FORMAT, PRM_HEAD_JSON, PRM_HEAD_WEIGHTS, PRM_REFERENCE_DIR, exportPrm, loadExportedPrm, type ExportPrmOptions, type PrmHeadFile, type PrmHeadLayer } from './export.js';
