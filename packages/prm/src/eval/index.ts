// Step-level evaluation of PRMs against exact labels (docs/DESIGN.md §5).
export { auroc, responseAuroc, stepAuroc, type AurocResult, type StepScoredSample } from './auroc.js';
export { WeightedFirstError, bestThreshold, firstErrorF1, predictFirstError, type FirstErrorResult, type FirstErrorSample } from './first-error.js';
export { pearson, spearman } from './correlation.js';
export { aggregateSteps, aggregationModes, type Aggregation } from './aggregate.js';
export { averageRanks } from './ranks.js';
export {
  bootstrapInterval, intervalOver, pairedBootstrapDifference, pairedDifferenceOver, percentileInterval, problemMean, problemRatio, resampleProblems,
  separated, unitWeights, type BootstrapInterval, type BootstrapOptions, type DifferenceInterval, type ProblemWeights, type WeightedStatistic,
} from './bootstrap.js';
export {
  GroupedAuroc, STEP_AUROC_VARIANTS, baselineScores, isAnswerLine, positionControlled, stepAurocStatistics, stepSumsAndMeans, type BaselineScores,
  type StepAurocVariant, type StepMetricOptions, type StepMetricSample,
} from './step-metrics.js';
export {
  REPORTED_AGGREGATIONS, STEP_SCORERS, evaluatePrm, sampleEvalSet, type EvalSet, type EvaluatePrmOptions, type LabelledSample, type PrmEvalReport,
  type ReportedAggregation, type SampleEvalSetOptions,
} from './evaluate.js';
export {
  PROCESSBENCH_THRESHOLD, evaluateProcessBench, prmContextLength, processBenchMetrics, processBenchText, scoreProcessBench, type EvaluateProcessBenchOptions,
  type ProcessBenchReport, type ProcessBenchScored, type ProcessBenchSubsetResult,
} from './processbench.js';
