export { RunDir, RunDirError, readRunInfo, resolveCheckpoint, RUN_FILES, type CheckpointRef, type MetricValue, type MetricsRecord, type OpenRunOptions, type RunMode, type RunStatus, type RunSummaryInput } from './run-dir.js';
export { installStopHandler, StopRequested, type SignalSource, type StopHandler, type StopHandlerOptions, type StopSignalName } from './stop.js';
export { writeFileAtomic, writeJsonAtomic } from './atomic.js';
