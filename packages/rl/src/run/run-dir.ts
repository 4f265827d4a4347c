// The run directory: everything one training or evaluation run writes, in one layout for the
// trainers (their `runDir` option) and the command line (`--out DIR`).
//
//   DIR/run.json                   command, status (running|finished|stopped|failed), times, resumes, error
//   DIR/config.json                the resolved config (the CLI's is usable again as --config)
//   DIR/metrics.jsonl              {"step", "time", ...metrics}: time = seconds since the run began,
//                                  continued across resumes
//   DIR/checkpoints/step-00000100/ one folder per checkpoint: what the trainer saves, plus
//                                  manifest.json (each file's size and SHA-256, written on commit)
//   DIR/checkpoints/latest.json    {"step", "dir", "time"}: the newest COMPLETE checkpoint, written last
//   DIR/summary.json, summary.md   at the end (finished, stopped or failed)
//   DIR/.lock                      {"pid", "host", "started", "command"} while a process has the run open
//
// Every JSON file is written atomically (temp file + rename). A checkpoint only counts once
// commitCheckpoint() has written its manifest and pointed latest.json at it, so a save cut short
// by a crash is never resumed from. Older checkpoints beyond `keep` are deleted on commit.
//
// Opening (mode 'new', 'resume' or 'force') first takes DIR/.lock (see lock.ts): a run still open
// in a live process is refused in every mode. Then:
//   - new: DIR must be missing or empty, or hold a run that never reached a checkpoint and did not
//     finish (failed, or killed) — nothing in it can be resumed, so it is replaced with a note.
//     A run that fails to open leaves no directory it created.
//   - resume: continue from the latest intact checkpoint. The stored config must equal the new one
//     except for `resumableKeys`. A damaged latest checkpoint (truncated or corrupt files) is moved
//     aside to step-N.damaged and the one before it is used, with a note; none intact is an error.
//     Metrics lines after the checkpoint are dropped (the run recomputes them).
//   - force: the run files (RUN_FILES) are deleted first; other files are left alone.
// Temp files of atomic writes cut short by a killed process are deleted on opening a run.
//
// Errors are one line each: RunDirError (the directory cannot be used as asked, e.g. in use —
// RunLockedError) or RunFileError (a file could not be written: disk full, permissions; it names
// the file).
import { appendFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '@repirl/autograd';
import { configDiff, formatValue, isPlainObject, valueAt } from '../config/index.js';
import { checkpointProblem, MANIFEST_FILE, writeManifest } from './checkpoints.js';
import { onFile, RunDirError, RunFileError } from './errors.js';
import { formatDuration, formatMetric } from './format.js';
import { isStaleLockLeftover, LOCK_FILE, RunLock } from './lock.js';

export type RunMode = 'new' | 'resume' | 'force';
export type RunStatus = 'running' | 'finished' | 'stopped' | 'failed';

/** Files and folders a run owns (what --force removes). */
export const RUN_FILES = ['run.json', 'config.json', 'metrics.jsonl', 'summary.json', 'summary.md', 'checkpoints'] as const;

const CHECKPOINTS = 'checkpoints';
const STEP_DIR = /^step-(\d+)$/;
/** The temp files of @repirl/autograd's atomic writes: `.<name>.<pid>-<12 hex>.tmp` beside the target. */
const ATOMIC_TEMP = /^\..+\.\d+-[0-9a-f]{12}\.tmp$/;

export interface CheckpointRef {
  step: number;
  /** The checkpoint folder (absolute). */
  dir: string;
}

export type MetricValue = number | string | boolean | null;
/** One line of metrics.jsonl: the step, seconds since the run began, and named values. */
export type MetricsRecord<V extends MetricValue = number> = { step: number; time: number } & Record<string, V>;

export interface OpenRunOptions {
  /** What runs, e.g. 'sft', 'rl', 'prm-train'; a run is only resumed by the same command. */
  command: string;
  /** The resolved config, written to config.json. */
  config: unknown;
  mode: RunMode;
  /** Config keys that may differ from the stored config on resume (a key covers everything under it); none = not resumable. */
  resumableKeys?: readonly string[];
  /** The command line, recorded in run.json. */
  argv?: readonly string[];
  /** How to start this command from a shell (e.g. 'repirl prm train'): summary.md then shows how to resume and rerun it. */
  commandLine?: string;
  /** Milliseconds (wall clock); default Date.now. */
  now?: () => number;
}

interface RunInfo {
  command: string;
  status: RunStatus;
  created: string;
  updated: string;
  argv?: readonly string[];
  resumes: { step: number; at: string }[];
  error?: string;
}

export interface RunSummaryInput {
  status: Exclude<RunStatus, 'running'>;
  /** The last completed step and the run's total. */
  step: number;
  total: number;
  /** What the run reports as its results (e.g. accuracy before and after). */
  results?: Record<string, unknown>;
  /** Why it failed. */
  error?: string;
}

export class RunDir {
  /** Absolute path of the directory. */
  readonly path: string;
  readonly command: string;
  /** The checkpoint a resumed run continues from (null for a new run). */
  readonly resumeFrom: CheckpointRef | null;
  /** Things worth telling the user about the opening (a stale lock taken over, metrics lines dropped, a damaged checkpoint skipped). */
  readonly notes: readonly string[];
  private readonly now: () => number;
  private readonly startedAt: number;
  /** Seconds of run time before this process (a resumed run), so `time` continues. */
  private readonly timeOffset: number;
  private readonly latest = new Map<string, MetricValue>();
  private readonly config: unknown;
  private readonly commandLine: string | undefined;
  private readonly lock: RunLock;
  private info: RunInfo;
  private queue: Promise<void> = Promise.resolve();

  private constructor(path: string, options: OpenRunOptions, lock: RunLock, info: RunInfo, resumeFrom: CheckpointRef | null, timeOffset: number, notes: string[]) {
    this.path = path;
    this.command = options.command;
    this.config = options.config;
    this.commandLine = options.commandLine;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.lock = lock;
    this.info = info;
    this.resumeFrom = resumeFrom;
    this.timeOffset = timeOffset;
    this.notes = notes;
  }

  /** Creates (or reopens, with mode 'resume') the run directory and takes its lock; see the top of this file. */
  static async open(dir: string, options: OpenRunOptions): Promise<RunDir> {
    const path = resolve(dir);
    const before = await inspect(path, dir);
    if (before.kind === 'file') throw new RunDirError(`cannot use ${dir} as the run directory: it is a file`);
    if (options.mode === 'resume' && !before.isRun) throw new RunDirError(`cannot --resume ${dir}: it holds no run (no run.json or config.json)`);
    // The first folder mkdir made (path itself or a parent), to remove again if the opening fails.
    const created = before.kind === 'missing' ? await onFile(path, 'create', () => mkdir(path, { recursive: true })) : undefined;
    const notes: string[] = [];
    let lock: RunLock | undefined;
    try {
      const taken = await onFile(join(path, LOCK_FILE), 'create', () => RunLock.acquire(path, options.command, options.now));
      lock = taken.lock;
      const stale = taken.tookOverFrom;
      if (stale) notes.push(`took over the lock of PID ${stale.pid} (repirl ${stale.command} since ${stale.started}), which is no longer running`);
      return await RunDir.openLocked(path, dir, options, lock, notes);
    } catch (err) {
      lock?.release();
      if (created !== undefined) await rm(created, { recursive: true, force: true });
      throw err;
    }
  }

  /** open()'s second half, once the lock is held. */
  private static async openLocked(path: string, dir: string, options: OpenRunOptions, lock: RunLock, notes: string[]): Promise<RunDir> {
    const now = options.now ?? Date.now;
    const iso = () => new Date(now()).toISOString();
    const state = await inspect(path, dir);

    if (options.mode === 'resume') {
      if (!state.isRun) throw new RunDirError(`cannot --resume ${dir}: it holds no run (no run.json or config.json)`);
      const info = await readJson<RunInfo>(join(path, 'run.json'));
      if (info.command !== options.command) {
        throw new RunDirError(`cannot --resume ${dir} with repirl ${options.command}: it holds a "repirl ${info.command}" run`);
      }
      if (!options.resumableKeys || options.resumableKeys.length === 0) {
        throw new RunDirError(`repirl ${options.command} runs cannot be resumed; start a new one (another --out, or --force to overwrite ${dir})`);
      }
      const stored = await readJson<unknown>(join(path, 'config.json'));
      checkResumable(dir, stored, options.config, options.resumableKeys);
      await removeLeftovers(path, notes);
      const checkpoint = await intactCheckpoint(path, dir, notes);
      const metrics = join(path, 'metrics.jsonl');
      const { timeOffset, dropped, latest } = await onFile(metrics, 'write', () => truncateMetrics(metrics, checkpoint.step));
      if (dropped > 0) notes.push(`dropped ${dropped} metrics line${dropped === 1 ? '' : 's'} after step ${checkpoint.step} (they will be recomputed)`);
      const resumed: RunInfo = { ...info, status: 'running', updated: iso(), resumes: [...(info.resumes ?? []), { step: checkpoint.step, at: iso() }] };
      delete resumed.error;
      await writeRunFile(join(path, 'config.json'), options.config);
      await writeRunFile(join(path, 'run.json'), resumed);
      const run = new RunDir(path, options, lock, resumed, checkpoint, timeOffset, notes);
      for (const [k, v] of latest) run.latest.set(k, v);
      return run;
    }

    if (state.entries.length > 0 && options.mode === 'new') {
      if (!state.isRun) throw new RunDirError(`${dir} is not empty and holds no repirl run; choose another --out (or --force to write into it anyway)`);
      const info = await readJson<RunInfo>(join(path, 'run.json')).catch(() => null);
      const checkpoint = await readLatestCheckpoint(path).catch(() => null);
      // A run that ended (or died) before its first checkpoint and did not finish holds nothing to resume: a plain rerun replaces it.
      if (info === null || checkpoint !== null || info.status === 'finished') {
        const what = info ? `a "repirl ${info.command}" run (${info.status})` : 'another run';
        throw new RunDirError(`${dir} already holds ${what}; use --resume to continue it, --force to overwrite it, or choose another --out`);
      }
      notes.push(`replacing the ${info.status === 'running' ? 'interrupted' : info.status} run in ${dir}: it ended before its first checkpoint, so nothing in it could be resumed`);
    }
    for (const name of RUN_FILES) await onFile(join(path, name), 'write', () => rm(join(path, name), { recursive: true, force: true }));
    await removeLeftovers(path, notes);
    const checkpoints = join(path, CHECKPOINTS);
    await onFile(checkpoints, 'create', () => mkdir(checkpoints, { recursive: true }));
    const info: RunInfo = { command: options.command, status: 'running', created: iso(), updated: iso(), argv: options.argv, resumes: [] };
    await writeRunFile(join(path, 'config.json'), options.config);
    await writeRunFile(join(path, 'run.json'), info);
    const metrics = join(path, 'metrics.jsonl');
    await onFile(metrics, 'write', () => writeFile(metrics, ''));
    return new RunDir(path, options, lock, info, null, 0, notes);
  }

  /** A path inside the run directory. */
  file(...parts: string[]): string {
    return join(this.path, ...parts);
  }

  get status(): RunStatus {
    return this.info.status;
  }

  /** Whether close() was called (the lock is released; nothing more may be written). */
  get closed(): boolean {
    return this.lock.isReleased;
  }

  /** Seconds of run time so far (continued across resumes). */
  elapsed(): number {
    return this.timeOffset + (this.now() - this.startedAt) / 1000;
  }

  /**
   * Appends `{"step", "time", ...metrics}` to metrics.jsonl. Lines are written in call order even
   * when the promise is not awaited; `flush()` waits for all of them. Non-finite numbers become
   * null (JSON has no NaN).
   */
  appendMetrics(step: number, metrics: Record<string, MetricValue | undefined>): Promise<MetricsRecord<MetricValue>> {
    if (!Number.isInteger(step) || step < 0) throw new Error(`appendMetrics: step must be an integer ≥ 0, got ${step}`);
    const record: MetricsRecord<MetricValue> = { step, time: Math.round(this.elapsed() * 1000) / 1000 };
    for (const [key, value] of Object.entries(metrics)) {
      if (key === 'step' || key === 'time' || value === undefined) continue;
      const clean = typeof value === 'number' && !Number.isFinite(value) ? null : value;
      record[key] = clean;
      this.latest.set(key, clean);
    }
    const line = `${JSON.stringify(record)}\n`;
    const file = this.file('metrics.jsonl');
    const write = this.queue.then(() => onFile(file, 'write', () => appendFile(file, line)));
    this.queue = write.catch(() => undefined);
    return write.then(() => record);
  }

  /** Waits until every metrics line asked for so far is written. */
  async flush(): Promise<void> {
    await this.queue;
  }

  /** The records of metrics.jsonl (after a resume: up to the checkpoint's step). */
  async readMetrics(): Promise<MetricsRecord<MetricValue>[]> {
    await this.flush();
    const file = this.file('metrics.jsonl');
    const text = await onFile(file, 'read', () => readFile(file, 'utf8'));
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as MetricsRecord<MetricValue>);
  }

  /** The last value of every metric (those restored on resume included). */
  latestMetrics(): Record<string, MetricValue> {
    return Object.fromEntries(this.latest);
  }

  /** The folder for the checkpoint of `step` (created); write it fully, then commitCheckpoint(step). */
  async checkpointDir(step: number): Promise<string> {
    if (!Number.isInteger(step) || step < 0) throw new Error(`checkpointDir: step must be an integer ≥ 0, got ${step}`);
    const dir = this.file(CHECKPOINTS, stepDirName(step));
    await onFile(dir, 'create', () => mkdir(dir, { recursive: true }));
    return dir;
  }

  /**
   * Marks the checkpoint of `step` complete: writes its manifest, points latest.json at it, then
   * deletes all but the newest `keep` checkpoints (default: keep all).
   */
  async commitCheckpoint(step: number, options: { keep?: number } = {}): Promise<CheckpointRef> {
    const dir = await this.checkpointDir(step);
    await onFile(join(dir, MANIFEST_FILE), 'write', () => writeManifest(dir));
    const latest = this.file(CHECKPOINTS, 'latest.json');
    await onFile(latest, 'write', () => writeJsonAtomic(latest, { step, dir: relative(this.path, dir), time: this.elapsed() }));
    if (options.keep !== undefined) await this.pruneCheckpoints(step, options.keep);
    return { step, dir };
  }

  /** The newest committed checkpoint, or null. */
  latestCheckpoint(): Promise<CheckpointRef | null> {
    return readLatestCheckpoint(this.path);
  }

  /** Updates run.json's status (and error). */
  async setStatus(status: RunStatus, error?: string): Promise<void> {
    this.info = { ...this.info, status, updated: new Date(this.now()).toISOString() };
    if (error === undefined) delete this.info.error;
    else this.info.error = error;
    const file = this.file('run.json');
    await onFile(file, 'write', () => writeJsonAtomic(file, this.info));
  }

  /**
   * Records how the run ended: run.json's status first (so it never says "running" beside a
   * summary that says otherwise), then summary.json and summary.md. Returns the summary.
   */
  async writeSummary(input: RunSummaryInput): Promise<Record<string, unknown>> {
    await this.flush().catch(() => undefined); // a failed metrics write is the error being recorded, not a reason to skip the record
    await this.setStatus(input.status, input.error);
    const checkpoint = await this.latestCheckpoint().catch(() => null);
    const summary: Summary = {
      command: this.command,
      status: input.status,
      step: input.step,
      total: input.total,
      time: Math.round(this.elapsed() * 1000) / 1000,
      created: this.info.created,
      finished: new Date(this.now()).toISOString(),
      resumes: this.info.resumes,
      checkpoint: checkpoint === null ? null : { step: checkpoint.step, dir: relative(this.path, checkpoint.dir) },
      results: input.results ?? {},
      metrics: this.latestMetrics(),
      ...(input.error === undefined ? {} : { error: input.error }),
      config: this.config,
    };
    const json = this.file('summary.json');
    await onFile(json, 'write', () => writeJsonAtomic(json, summary));
    const md = this.file('summary.md');
    await onFile(md, 'write', () => writeFileAtomic(md, summaryMarkdown(this.path, summary, this.commandLine)));
    return summary;
  }

  /** Waits for pending metrics lines and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.lock.release();
    }
  }

  private async pruneCheckpoints(newest: number, keep: number): Promise<void> {
    if (!Number.isInteger(keep) || keep < 1) throw new Error(`commitCheckpoint: keep must be an integer ≥ 1, got ${keep}`);
    const older = (await stepFolders(this.path)).filter((f) => f.step < newest); // newest first
    for (const f of older.slice(keep - 1)) await rm(f.dir, { recursive: true, force: true });
  }
}

/** The command and status of the run in `dir`, or null when it holds none. */
export async function readRunInfo(dir: string): Promise<{ command: string; status: RunStatus } | null> {
  const file = join(resolve(dir), 'run.json');
  if ((await stat(file).catch(() => null)) === null) return null;
  const info = await readJson<RunInfo>(file);
  return { command: info.command, status: info.status };
}

/** The newest committed checkpoint of the run in `dir` (an absolute folder), or null when there is none. */
export async function readLatestCheckpoint(dir: string): Promise<CheckpointRef | null> {
  const path = resolve(dir);
  const file = join(path, CHECKPOINTS, 'latest.json');
  const exists = await stat(file).catch(() => null);
  if (exists === null) return null;
  const value = await readJson<{ step?: unknown; dir?: unknown }>(file);
  if (!Number.isInteger(value.step) || typeof value.dir !== 'string') {
    throw new RunDirError(`${file}: expected {"step": integer, "dir": string}, got ${formatValue(value)}`);
  }
  return { step: value.step as number, dir: resolve(path, value.dir) };
}

/** The checkpoint a config's `init`/`checkpoint` path names: a run directory's latest (checked intact), or the folder itself. */
export async function resolveCheckpoint(path: string): Promise<CheckpointRef | { step: null; dir: string }> {
  const latest = await readLatestCheckpoint(path).catch(() => null);
  if (latest !== null) {
    const problem = await checkpointProblem(latest.dir);
    if (problem !== null) throw new RunDirError(`${path}: its latest checkpoint (step ${latest.step}, ${latest.dir}) is damaged: ${problem}`);
    return latest;
  }
  const s = await stat(path).catch(() => null);
  if (s === null) throw new RunDirError(`no such checkpoint: ${path}`);
  if (!s.isDirectory()) throw new RunDirError(`${path} is not a directory (a checkpoint is a folder, or a run directory holding checkpoints/)`);
  if (await stat(join(path, 'run.json')).catch(() => null)) {
    throw new RunDirError(`${path} is a run directory without a complete checkpoint (no checkpoints/latest.json)`);
  }
  return { step: null, dir: resolve(path) };
}

// ---------------------------------------------------------------------------------------------

function stepDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** The checkpoint folders (step-N, from any earlier naming width), newest first. */
async function stepFolders(path: string): Promise<CheckpointRef[]> {
  const names = await readdir(join(path, CHECKPOINTS)).catch(() => [] as string[]);
  return names
    .map((name) => ({ match: STEP_DIR.exec(name), name }))
    .filter((e) => e.match !== null)
    .map((e) => ({ step: Number(e.match![1]), dir: join(path, CHECKPOINTS, e.name) }))
    .sort((a, b) => b.step - a.step);
}

/**
 * The checkpoint to resume from: latest.json's if intact, else the newest intact older one (the
 * damaged ones above it are moved aside to step-N.damaged and latest.json is pointed at it).
 */
async function intactCheckpoint(path: string, dir: string, notes: string[]): Promise<CheckpointRef> {
  let latest: CheckpointRef | null;
  let latestProblem: string | null = null;
  try {
    latest = await readLatestCheckpoint(path);
  } catch (err) {
    latest = null;
    latestProblem = (err as Error).message;
  }
  if (latest === null && latestProblem === null) {
    throw new RunDirError(`cannot --resume ${dir}: it has no checkpoint yet (the run ended before its first one); start it again without --resume`);
  }
  // Folders above the committed step are saves cut short: never candidates.
  const limit = latest?.step ?? Infinity;
  const candidates = [...(latest ? [latest] : []), ...(await stepFolders(path)).filter((f) => f.step < limit)];
  const damaged: { ref: CheckpointRef; problem: string }[] = [];
  for (const ref of candidates) {
    const problem = await checkpointProblem(ref.dir);
    if (problem === null) {
      if (damaged.length > 0 || latestProblem !== null) {
        for (const d of damaged) await moveAside(d.ref.dir);
        const file = join(path, CHECKPOINTS, 'latest.json');
        await writeRunFile(file, { step: ref.step, dir: relative(path, ref.dir) });
        const why = [...(latestProblem ? [latestProblem] : []), ...damaged.map((d) => `step ${d.ref.step}: ${d.problem} (moved to ${relative(path, d.ref.dir)}.damaged)`)];
        notes.push(`the latest checkpoint is damaged (${why.join('; ')}); resuming from the intact checkpoint of step ${ref.step} instead`);
      }
      return ref;
    }
    damaged.push({ ref, problem });
  }
  const why = [...(latestProblem ? [latestProblem] : []), ...damaged.map((d) => `step ${d.ref.step}: ${d.problem}`)];
  throw new RunDirError(
    `cannot --resume ${dir}: no intact checkpoint (${why.join('; ')}); start the run over with --force (copy ${dir} elsewhere first to keep its metrics)`,
  );
}

async function moveAside(dir: string): Promise<void> {
  const target = `${dir}.damaged`;
  await rm(target, { recursive: true, force: true });
  await onFile(dir, 'write', () => rename(dir, target));
}

/** Deletes temp files of atomic writes (and of lock taking) that a killed process left in the run's folders. */
async function removeLeftovers(path: string, notes: string[]): Promise<void> {
  const folders = [path, join(path, CHECKPOINTS), ...(await stepFolders(path)).map((f) => f.dir)];
  let removed = 0;
  for (const folder of folders) {
    const names = await readdir(folder).catch(() => [] as string[]);
    for (const name of names) {
      if (!ATOMIC_TEMP.test(name) && !isStaleLockLeftover(name)) continue;
      await rm(join(folder, name), { force: true });
      removed++;
    }
  }
  if (removed > 0) notes.push(`removed ${removed} temp file${removed === 1 ? '' : 's'} left by an interrupted write`);
}

async function inspect(path: string, dir: string): Promise<{ kind: 'missing' | 'file' | 'dir'; entries: string[]; isRun: boolean }> {
  const s = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new RunFileError(dir, 'create', err);
  });
  if (s === null) return { kind: 'missing', entries: [], isRun: false };
  if (!s.isDirectory()) return { kind: 'file', entries: [], isRun: false };
  const all = await onFile(path, 'read', () => readdir(path));
  const entries = all.filter((name) => name !== LOCK_FILE && !ATOMIC_TEMP.test(name) && !name.startsWith(`${LOCK_FILE}.`));
  return { kind: 'dir', entries, isRun: entries.includes('run.json') || entries.includes('config.json') };
}

async function readJson<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RunFileError(path, 'read', err);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new RunDirError(`${path}: invalid JSON (${(err as Error).message})`);
  }
}

/** JSON with two-space indents and a final newline, written atomically. */
async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

async function writeRunFile(path: string, value: unknown): Promise<void> {
  await onFile(path, 'write', () => writeJsonAtomic(path, value));
}

function checkResumable(dir: string, stored: unknown, config: unknown, allowed: readonly string[]): void {
  const covered = (p: string) => allowed.some((a) => p === a || p.startsWith(`${a}.`));
  const diffs = configDiff(stored, config).filter((p) => !covered(p));
  if (diffs.length === 0) return;
  const lines = diffs.map((p) => `  ${p}: stored ${formatValue(valueAt(stored, p))}, now ${formatValue(valueAt(config, p))}`);
  throw new RunDirError(
    `cannot --resume ${dir}: the config differs from the stored one (${join(dir, 'config.json')}):\n${lines.join('\n')}\n` +
      `only ${allowed.join(', ')} may change on resume; drop the other changes (without --config, --resume starts from the stored config), ` +
      'or start a new run (another --out, or --force)',
  );
}

/** Keeps the metrics lines of steps ≤ `step`; returns the run time reached and the last values. */
async function truncateMetrics(file: string, step: number): Promise<{ timeOffset: number; dropped: number; latest: Map<string, MetricValue> }> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n');
  const partialLast = lines.at(-1) !== ''; // a line cut short by a hard kill
  if (!partialLast) lines.pop();
  const kept: string[] = [];
  const latest = new Map<string, MetricValue>();
  let timeOffset = 0;
  let dropped = 0;
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      if (partialLast && i === lines.length - 1) {
        dropped++;
        return;
      }
      throw new RunDirError(`${file}:${i + 1}: invalid JSON (${(err as Error).message})`);
    }
    if (!isPlainObject(record) || !Number.isInteger(record.step) || typeof record.time !== 'number') {
      throw new RunDirError(`${file}:${i + 1}: expected {"step": integer, "time": number, ...}`);
    }
    if ((record.step as number) > step) {
      dropped++;
      return;
    }
    kept.push(line);
    timeOffset = Math.max(timeOffset, record.time);
    for (const [k, v] of Object.entries(record)) if (k !== 'step' && k !== 'time') latest.set(k, v as MetricValue);
  });
  if (dropped > 0 || partialLast) await writeFileAtomic(file, kept.map((l) => `${l}\n`).join(''));
  return { timeOffset, dropped, latest };
}

type Summary = {
  command: string;
  status: string;
  step: number;
  total: number;
  time: number;
  created: string;
  finished: string;
  resumes: { step: number }[];
  checkpoint: { step: number; dir: string } | null;
  results: Record<string, unknown>;
  metrics: Record<string, MetricValue>;
  error?: string;
  config: unknown;
};

function summaryMarkdown(path: string, summary: Summary, commandLine: string | undefined): string {
  const table = (rows: [string, unknown][]) =>
    rows.length === 0 ? '(none)\n' : `| name | value |\n|---|---|\n${rows.map(([k, v]) => `| \`${k}\` | ${cell(v)} |`).join('\n')}\n`;
  const lines = [
    `# ${commandLine ?? summary.command}: ${summary.status}`,
    '',
    `- directory: \`${path}\``,
    `- progress: step ${summary.step} of ${summary.total}, run time ${formatDuration(summary.time * 1000)}` +
      (summary.resumes.length > 0 ? ` (resumed ${summary.resumes.length}×, from step ${summary.resumes.map((r) => r.step).join(', ')})` : ''),
    `- started ${summary.created}, ended ${summary.finished}`,
    `- latest checkpoint: ${summary.checkpoint === null ? 'none' : `\`${summary.checkpoint.dir}\` (step ${summary.checkpoint.step})`}`,
  ];
  if (summary.error !== undefined) lines.push(`- error: ${summary.error}`);
  lines.push('', '## Results', '', table(Object.entries(summary.results)));
  lines.push('## Last value of each metric', '', table(Object.entries(summary.metrics)));
  if (summary.status === 'stopped' && commandLine !== undefined) {
    lines.push('## Resume', '', '```bash', `${commandLine} --out ${path} --resume`, '```', '');
  }
  lines.push('## Config', '', '```json', JSON.stringify(summary.config, null, 2), '```', '');
  if (commandLine !== undefined) lines.push(`Run it again: \`${commandLine} --config ${join(path, 'config.json')} --out NEW_DIR\``, '');
  return lines.join('\n');
}

function cell(value: unknown): string {
  if (typeof value === 'number') return formatMetric(value);
  if (typeof value === 'string') return value.replace(/\|/g, '\\|');
  return `\`${JSON.stringify(value)}\``;
}
