// The seam between the CLI and the trainers. `repirl sft|rl|eval` parse and validate the config,
// set up the run directory, the progress display and Ctrl-C handling, then call
// `runners[command](context)`. A runner does the work and reports through the context:
//
//   - ctx.config       the resolved, validated config (task difficulty filled in);
//   - ctx.run          the run directory: checkpointDir(step) / commitCheckpoint(step),
//                      latestCheckpoint(), file(name) for extra outputs;
//   - ctx.resumeFrom   with --resume, the checkpoint to continue from (load it, start at step + 1);
//   - ctx.report(step, metrics)   appends {"step", "time", ...metrics} to metrics.jsonl and moves
//                      the progress bar (the key metric is shown beside it);
//   - ctx.signal       an AbortSignal: once `ctx.signal.aborted` (Ctrl-C or SIGTERM), finish the
//                      current step, write and commit a checkpoint, and return
//                      { status: 'stopped', step };
//   - ctx.log(text)    prints a line to stdout without tearing the progress bar.
//
// Checkpoints: every config.checkpointEvery steps, at the end, and on a stop request; write the
// folder fully, then commitCheckpoint(step) (only committed checkpoints are resumed from). A
// resumed run must produce the same metrics for the steps after the checkpoint as an
// uninterrupted one (restore the optimizer, the RNG and the data order from the checkpoint).
//
// It returns the last completed step and its results (e.g. accuracy before and after), which go
// into summary.json / summary.md. A thrown error marks the run failed (summary written, exit 1).
//
// The runners live in train.ts (sft, rl, eval) and prm.ts (prm train, prm eval); runners.ts maps
// each command to its runner, and shared.ts holds what they share.
import type { ExperimentName } from '../config/index.js';
import type { Progress } from '../progress.js';
import type { CheckpointRef, MetricValue, RunDir } from '../run/index.js';

export interface RunContext<C> {
  command: ExperimentName;
  config: C;
  run: RunDir;
  /** The checkpoint to continue from (--resume), or null for a fresh run. */
  resumeFrom: CheckpointRef | null;
  progress: Progress;
  /** Aborted when a stop was requested; poll between steps. */
  signal: AbortSignal;
  /** Appends one metrics line for `step` and moves the progress display to it. */
  report(step: number, metrics: Record<string, MetricValue | undefined>): Promise<void>;
  /** A line on stdout that does not tear the progress bar. */
  log(text: string): void;
}

export interface RunOutcome {
  /** 'stopped': ended early on ctx.signal, after committing a checkpoint of `step`. */
  status: 'finished' | 'stopped';
  /** The last completed step (for eval: problems done). */
  step: number;
  /** Headline results for the summary, e.g. { 'val/acc@start': 0.31, 'val/acc': 0.52 }. */
  results?: Record<string, unknown>;
}

export type Runner<C> = (ctx: RunContext<C>) => Promise<RunOutcome>;
