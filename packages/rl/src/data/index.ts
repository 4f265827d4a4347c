// User data as JSONL (docs/DESIGN.md §7): problems, trajectories, and the atomic writer they share;
// problems from JSONL and Parquet files of the common layouts, read incrementally (issue 14).
export { DataFormatError, jsonlKind, readJsonl, streamJsonl, writeJsonl, type JsonlLine } from './jsonl.js';
export {
  loadProblems, loadTrajectories, problemsFromTask, saveProblems, saveTrajectories, splitGsm8kAnswer, type Trajectory,
} from './records.js';
export {
  PROBLEM_LAYOUTS, detectLayout, loadProblemFile, readProblemFile, type ColumnMapping, type ProblemFileInfo, type ProblemLayout,
  type ReadProblemsOptions, type SourceRecord,
} from './problem-files.js';
export { parquetColumns, streamParquet } from './parquet.js';
export { checkProblemFiles, dataFilesSpec, problemFileFields, problemFileOptions, problemFileSchema, type ProblemFileConfig } from './config.js';
export { fileSha256, readDataSplits, type DataFileRecord, type DataFilesSpec, type DataSplits } from './splits.js';
