// User data as JSONL (docs/DESIGN.md §7): problems, trajectories, and the atomic writer they share.
export { DataFormatError, jsonlKind, readJsonl, writeJsonl, type JsonlLine } from './jsonl.js';
export {
  loadProblems, loadTrajectories, problemsFromTask, saveProblems, saveTrajectories, splitGsm8kAnswer, type Trajectory,
} from './records.js';
