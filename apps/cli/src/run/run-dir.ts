// The run directory (`--out DIR`) of one experiment:
//
//   DIR/run.json                  command, status (running|finished|stopped|failed), times, resumes
//   DIR/config.json               the resolved config (usable again as --config)
//   DIR/metrics.jsonl             {"step", "time", ...metrics}: time = seconds since the run began,
//                                 continued across resumes
//   DIR/checkpoints/step-00000100/ one folder per checkpoint; the trainer writes what it needs there
//   DIR/checkpoints/latest.json   {"step", "dir"}: the newest COMPLETE checkpoint, written last
//   DIR/summary.json, summary.md  at the end (finished, stopped or failed)
//
// Every JSON file is written atomically (temp file + rename). A checkpoint only counts once
// commitCheckpoint() has pointed latest.json at it, so a save cut short by a crash is never
// resumed from.
//
// Opening: a new run needs a missing or empty directory. A directory holding another run is
// refused unless --resume (continue from its latest checkpoint; the stored config must equal the
// new one except for keys allowed to change, like the step count) or --force (its run files are
// deleted first; other files are left alone).
import { appendFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { configDiff, formatValue, isPlainObject, valueAt } from '@repirl/rl';
import { formatDuration, formatMetric } from '../progress.js';
import { writeFileAtomic, writeJsonAtomic } from './atomic.js';

export type RunMode = 'new' | 'resume' | 'force';
export type RunStatus = 'running' | 'finished' | 'stopped' | 'failed';

/** Files and folders a run owns (what --force removes). */
export const RUN_FILES = ['run.json', 'config.json', 'metrics.jsonl', 'summary.json', 'summary.md', 'checkpoints'] as const;

/** A directory that cannot be used as asked; the message says what to do instead. */
export class RunDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunDirError';
  }
}

export interface CheckpointRef {
  step: number;
  /** The checkpoint folder (absolute). */
  dir: string;
}

export type MetricValue = number | string | boolean | null;
export type MetricsRecord = { step: number; time: number } & Record<string, MetricValue>;

export interface OpenRunOptions {
  /** 'sft', 'rl', 'eval'. */
  command: string;
  /** The resolved config, written to config.json. */
  config: unknown;
  mode: RunMode;
  /** Config keys that may differ from the stored config on resume (a key covers everything under it). */
  resumableKeys?: readonly string[];
  /** The command line, recorded in run.json. */
  argv?: readonly string[];
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
  /** What the runner reports as the run's results (e.g. accuracy before and after). */
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
  /** Things worth telling the user about the opening (e.g. metrics lines dropped on resume). */
  readonly notes: readonly string[];
  private readonly now: () => number;
  private readonly startedAt: number;
  /** Seconds of run time before this process (a resumed run), so `time` continues. */
  private readonly timeOffset: number;
  private readonly latest = new Map<string, MetricValue>();
  private readonly config: unknown;
  private info: RunInfo;
  private queue: Promise<void> = Promise.resolve();

  private constructor(path: string, options: OpenRunOptions, info: RunInfo, resumeFrom: CheckpointRef | null, timeOffset: number, notes: string[]) {
    this.path = path;
    this.command = options.command;
    this.config = options.config;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.info = info;
    this.resumeFrom = resumeFrom;
    this.timeOffset = timeOffset;
    this.notes = notes;
  }

  /** Creates (or reopens, with mode 'resume') the run directory; see the top of this file. */
  static async open(dir: string, options: OpenRunOptions): Promise<RunDir> {
    const path = resolve(dir);
    const now = options.now ?? Date.now;
    const iso = () => new Date(now()).toISOString();
    const state = await inspect(path);
    const notes: string[] = [];

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
      const checkpoint = await readLatestCheckpoint(path);
      if (checkpoint === null) {
        throw new RunDirError(`cannot --resume ${dir}: it has no checkpoint yet (the run ended before its first one); start it again with --force`);
      }
      const { timeOffset, dropped, latest } = await truncateMetrics(join(path, 'metrics.jsonl'), checkpoint.step);
      if (dropped > 0) notes.push(`dropped ${dropped} metrics line${dropped === 1 ? '' : 's'} after step ${checkpoint.step} (they will be recomputed)`);
      const resumed: RunInfo = { ...info, status: 'running', updated: iso(), resumes: [...(info.resumes ?? []), { step: checkpoint.step, at: iso() }] };
      delete resumed.error;
      await writeJsonAtomic(join(path, 'config.json'), options.config);
      await writeJsonAtomic(join(path, 'run.json'), resumed);
      const run = new RunDir(path, options, resumed, checkpoint, timeOffset, notes);
      for (const [k, v] of latest) run.latest.set(k, v);
      return run;
    }

    if (state.kind === 'file') throw new RunDirError(`cannot use ${dir} as the run directory: it is a file`);
    if (state.kind === 'dir' && state.entries.length > 0 && options.mode !== 'force') {
      if (state.isRun) {
        const info = await readJson<RunInfo>(join(path, 'run.json')).catch(() => null);
        const what = info ? `a "repirl ${info.command}" run (${info.status})` : 'another run';
        throw new RunDirError(`${dir} already holds ${what}; use --resume to continue it, --force to overwrite it, or choose another --out`);
      }
      throw new RunDirError(`${dir} is not empty and holds no repirl run; choose another --out (or --force to write into it anyway)`);
    }
    if (options.mode === 'force') {
      for (const name of RUN_FILES) await rm(join(path, name), { recursive: true, force: true });
    }
    await mkdir(join(path, 'checkpoints'), { recursive: true });
    const info: RunInfo = { command: options.command, status: 'running', created: iso(), updated: iso(), argv: options.argv, resumes: [] };
    await writeJsonAtomic(join(path, 'config.json'), options.config);
    await writeJsonAtomic(join(path, 'run.json'), info);
    await writeFile(join(path, 'metrics.jsonl'), '');
    return new RunDir(path, options, info, null, 0, notes);
  }

  /** A path inside the run directory. */
  file(...parts: string[]): string {
    return join(this.path, ...parts);
  }

  get status(): RunStatus {
    return this.info.status;
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
  appendMetrics(step: number, metrics: Record<string, MetricValue | undefined>): Promise<MetricsRecord> {
    if (!Number.isInteger(step) || step < 0) throw new Error(`appendMetrics: step must be an integer ≥ 0, got ${step}`);
    const record: MetricsRecord = { step, time: Math.round(this.elapsed() * 1000) / 1000 };
    for (const [key, value] of Object.entries(metrics)) {
      if (key === 'step' || key === 'time' || value === undefined) continue;
      const clean = typeof value === 'number' && !Number.isFinite(value) ? null : value;
      record[key] = clean;
      this.latest.set(key, clean);
    }
    const line = `${JSON.stringify(record)}\n`;
    const write = this.queue.then(() => appendFile(this.file('metrics.jsonl'), line));
    this.queue = write.catch(() => undefined);
    return write.then(() => record);
  }

  /** Waits until every metrics line asked for so far is written. */
  async flush(): Promise<void> {
    await this.queue;
  }

  /** The last value of every metric (those restored on resume included). */
  latestMetrics(): Record<string, MetricValue> {
    return Object.fromEntries(this.latest);
  }

  /** The folder for the checkpoint of `step` (created); write it fully, then commitCheckpoint(step). */
  async checkpointDir(step: number): Promise<string> {
    if (!Number.isInteger(step) || step < 0) throw new Error(`checkpointDir: step must be an integer ≥ 0, got ${step}`);
    const dir = this.file('checkpoints', `step-${String(step).padStart(8, '0')}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Marks the checkpoint of `step` complete: latest.json points at it from now on. */
  async commitCheckpoint(step: number): Promise<CheckpointRef> {
    const dir = await this.checkpointDir(step);
    await writeJsonAtomic(this.file('checkpoints', 'latest.json'), { step, dir: relative(this.path, dir), time: this.elapsed() });
    return { step, dir };
  }

  /** The newest complete checkpoint, or null. */
  latestCheckpoint(): Promise<CheckpointRef | null> {
    return readLatestCheckpoint(this.path);
  }

  /** Updates run.json's status (and error). */
  async setStatus(status: RunStatus, error?: string): Promise<void> {
    this.info = { ...this.info, status, updated: new Date(this.now()).toISOString() };
    if (error === undefined) delete this.info.error;
    else this.info.error = error;
    await writeJsonAtomic(this.file('run.json'), this.info);
  }

  /** Writes summary.json and summary.md (atomically) and sets the status; returns the summary. */
  async writeSummary(input: RunSummaryInput): Promise<Record<string, unknown>> {
    await this.flush();
    const checkpoint = await this.latestCheckpoint();
    const summary = {
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
    await writeJsonAtomic(this.file('summary.json'), summary);
    await writeFileAtomic(this.file('summary.md'), summaryMarkdown(this.path, summary));
    await this.setStatus(input.status, input.error);
    return summary;
  }
}

/** The command and status of the run in `dir`, or null when it holds none. */
export async function readRunInfo(dir: string): Promise<{ command: string; status: RunStatus } | null> {
  const file = join(resolve(dir), 'run.json');
  if ((await stat(file).catch(() => null)) === null) return null;
  const info = await readJson<RunInfo>(file);
  return { command: info.command, status: info.status };
}

/** The checkpoint a config's `init`/`checkpoint` path names: a run directory's latest, or the folder itself. */
export async function resolveCheckpoint(path: string): Promise<CheckpointRef | { step: null; dir: string }> {
  const latest = await readLatestCheckpoint(resolve(path)).catch(() => null);
  if (latest !== null) return latest;
  const s = await stat(path).catch(() => null);
  if (s === null) throw new RunDirError(`no such checkpoint: ${path}`);
  if (!s.isDirectory()) throw new RunDirError(`${path} is not a directory (a checkpoint is a folder, or a run directory holding checkpoints/)`);
  if (await stat(join(path, 'run.json')).catch(() => null)) {
    throw new RunDirError(`${path} is a run directory without a complete checkpoint (no checkpoints/latest.json)`);
  }
  return { step: null, dir: resolve(path) };
}

// ---------------------------------------------------------------------------------------------

async function inspect(path: string): Promise<{ kind: 'missing' | 'file' | 'dir'; entries: string[]; isRun: boolean }> {
  const s = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (s === null) return { kind: 'missing', entries: [], isRun: false };
  if (!s.isDirectory()) return { kind: 'file', entries: [], isRun: false };
  const entries = await readdir(path);
  return { kind: 'dir', entries, isRun: entries.includes('run.json') || entries.includes('config.json') };
}

async function readJson<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new RunDirError(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new RunDirError(`${path}: invalid JSON (${(err as Error).message})`);
  }
}

async function readLatestCheckpoint(path: string): Promise<CheckpointRef | null> {
  const file = join(path, 'checkpoints', 'latest.json');
  const exists = await stat(file).catch(() => null);
  if (exists === null) return null;
  const value = await readJson<{ step?: unknown; dir?: unknown }>(file);
  if (!Number.isInteger(value.step) || typeof value.dir !== 'string') {
    throw new RunDirError(`${file}: expected {"step": integer, "dir": string}, got ${formatValue(value)}`);
  }
  return { step: value.step as number, dir: resolve(path, value.dir) };
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

function summaryMarkdown(path: string, summary: {
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
}): string {
  const table = (rows: [string, unknown][]) =>
    rows.length === 0 ? '(none)\n' : `| name | value |\n|---|---|\n${rows.map(([k, v]) => `| \`${k}\` | ${cell(v)} |`).join('\n')}\n`;
  const lines = [
    `# repirl ${summary.command}: ${summary.status}`,
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
  if (summary.status === 'stopped') {
    lines.push('## Resume', '', '```bash', `repirl ${summary.command} --out ${path} --resume`, '```', '');
  }
  lines.push('## Config', '', '```json', JSON.stringify(summary.config, null, 2), '```', '');
  lines.push('Run it again: `repirl ' + summary.command + ' --config ' + join(path, 'config.json') + ' --out NEW_DIR`', '');
  return lines.join('\n');
}

function cell(value: unknown): string {
  if (typeof value === 'number') return formatMetric(value);
  if (typeof value === 'string') return value.replace(/\|/g, '\\|');
  return `\`${JSON.stringify(value)}\``;
}
