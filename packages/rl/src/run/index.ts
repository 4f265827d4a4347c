// The run directory (layout in run-dir.ts), its lock, checkpoint checks and the formatting its
// summary shares with progress displays.
export {
  RunDir, RUN_FILES, readLatestCheckpoint, readRunInfo, resolveCheckpoint, type CheckpointRef, type MetricValue, type MetricsRecord, type OpenRunOptions,
  type RunMode, type RunStatus, type RunSummaryInput,
} from './run-dir.js';
export { RunDirError, RunFileError, describeFsError } from './errors.js';
export { LOCK_FILE, RunLock, RunLockedError, type LockOwner } from './lock.js';
export { MANIFEST_FILE, checkpointProblem } from './checkpoints.js';
export { formatDuration, formatMetric } from './format.js';
