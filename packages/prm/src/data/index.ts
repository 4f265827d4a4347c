// Step-labelled data and ProcessBench files (issue 14): readers for the field's layouts, and the
// steps written as the response a PRM reads.
export {
  PRM800K_NEUTRAL, SHEPHERD_TAG, STEP_LABEL_LAYOUTS, detectStepLabelLayout, loadStepLabelledFile, readStepLabelledFile, type Prm800kNeutral,
  type ReadStepLabelsOptions, type StepLabelFileInfo, type StepLabelLayout, type StepLabelledSample,
} from './step-labelled.js';
export { loadProcessBench, readProcessBenchFile, subsetOfFile, type ProcessBenchSample } from './processbench.js';
export { encodeSteps, renderSteps, type StepSequence } from './render.js';
export { DATA_FILE_FORMATS, fileFormat, type DataFileFormat } from './records.js';
