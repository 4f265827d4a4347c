// Step-level evaluation of PRMs against exact labels (docs/DESIGN.md §5).
export { auroc, responseAuroc, stepAuroc, type AurocResult, type StepScoredSample } from './auroc.js';
export { bestThreshold, firstErrorF1, predictFirstError, type FirstErrorResult, type FirstErrorSample } from './first-error.js';
export { pearson, spearman } from './correlation.js';
export { aggregateSteps, aggregationModes, type Aggregation } from './aggregate.js';
export { averageRanks } from './ranks.js';
export {
  REPORTED_AGGREGATIONS, evaluatePrm, sampleEvalSet, type EvalSet, type EvaluatePrmOptions, type LabelledSample, type PrmEvalReport,
  type ReportedAggregation, type SampleEvalSetOptions,
} from './evaluate.js';
