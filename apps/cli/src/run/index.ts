// The run lifecycle of `repirl sft|rl|eval|prm …`: the run directory itself (layout, lock,
// checkpoints, summary) lives in @repirl/rl, which the trainers share; Ctrl-C handling is the CLI's.
export {
  RunDir, RunDirError, RunFileError, RunLockedError, readRunInfo, resolveCheckpoint, RUN_FILES, type CheckpointRef, type MetricValue, type MetricsRecord,
  type OpenRunOptions, type RunMode, type RunStatus, type RunSummaryInput,
} from '@repirl/rl';
export { installStopHandler, StopRequested, type SignalSource, type StopHandler, type StopHandlerOptions, type StopSignalName } from './stop.js';
