// `repirl sft|rl|eval`: config → (dry run) → run directory → progress + Ctrl-C → runner → summary.
//
//   repirl <command> [--config FILE] [--set key.path=value ...] [--dry-run]
//                    [--out DIR] [--resume | --force] [--progress auto|bar|lines|off]
//
// Exit codes: 0 done (or dry run), 1 the run failed, 2 a usage or config error, 130 stopped by
// Ctrl-C with a resumable checkpoint (143 for SIGTERM).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, experiments, readConfigFile, resolveConfig, valueAt, type ExperimentName, type ExperimentSpec } from '../config/index.js';
import { autoProgressMode, formatMetric, Progress, type ProgressMode } from '../progress.js';
import { readRunInfo, resolveCheckpoint, RunDir, RunDirError, RunFileError, type RunMode } from '../run/index.js';
import { installStopHandler, StopRequested } from '../run/stop.js';
import { parseOptions, type OptionSpec } from './args.js';
import { DataError, checkResumedData, describeData, droppedDuplicates, prepareProblems, recordData, type ProblemSource } from './data.js';
import { prepareLabelledFiles } from './prm-labelled.js';
import { UsageError, type CliIo } from './io.js';
import { runners, type RunContext, type RunOutcome, type Runner } from './runners.js';

const OPTIONS: readonly OptionSpec[] = [
  { name: 'config', kind: 'value' },
  { name: 'set', kind: 'list' },
  { name: 'dry-run', kind: 'flag' },
  { name: 'out', kind: 'value' },
  { name: 'resume', kind: 'flag' },
  { name: 'force', kind: 'flag' },
  { name: 'progress', kind: 'value' },
  { name: 'help', kind: 'flag', short: 'h' },
];

const PROGRESS_MODES = ['auto', 'bar', 'lines', 'off'];

/** How a command is typed: 'prm-train' is `repirl prm train`; the others are their names. */
export function commandLine(name: ExperimentName): string {
  return name.startsWith('prm-') ? `prm ${name.slice(4)}` : name;
}

export function experimentUsage(name: ExperimentName): string {
  const spec = experiments[name];
  return `usage: repirl ${commandLine(name)} [--config FILE] [--set key.path=value ...] [--dry-run] [--out DIR] [--resume | --force] [--progress auto|bar|lines|off]

${spec.summary}

  --config FILE        a JSON config merged over the defaults (examples: apps/cli/configs/*.json)
  --set key.path=value override one key (repeatable; the value is JSON, or text)
  --dry-run            print the resolved config as JSON and exit (problems from files are read
                       and checked first: counts per split, duplicates and one example on stderr)
  --out DIR            the run directory (default runs/${name}-<date>-<time>): config.json,
                       metrics.jsonl, checkpoints/, summary.json, summary.md
  --resume             continue the run in --out DIR from its latest checkpoint${spec.resumableKeys.length === 0 ? ' (not for eval)' : `;
                       only ${spec.resumableKeys.join(', ')} may change`}
  --force              overwrite the run in --out DIR
  --progress MODE      auto (a bar on a terminal, lines otherwise), bar, lines or off

Every key, its default and its doc: repirl config ${name}
Ctrl-C stops after the current step with a resumable checkpoint (exit 130); twice quits at once.`;
}

export async function runExperiment(name: ExperimentName, argv: readonly string[], io: CliIo): Promise<number> {
  const spec = experiments[name] as ExperimentSpec<unknown>;
  const runner = runners[name] as Runner<unknown>;
  const where = `repirl ${commandLine(name)}`;

  // 1. Options and config.
  let config: unknown;
  let mode: RunMode;
  let out: string;
  let progressMode: ProgressMode;
  let dryRun: boolean;
  try {
    const parsed = parseOptions(where, argv, OPTIONS);
    if (parsed.flags.has('help')) {
      io.print(experimentUsage(name));
      return 0;
    }
    if (parsed.positionals.length > 0) throw new UsageError(`${where}: unexpected argument "${parsed.positionals[0]}" (options start with --)`);
    const resume = parsed.flags.has('resume');
    const force = parsed.flags.has('force');
    if (resume && force) throw new UsageError(`${where}: --resume and --force exclude each other (continue the run, or overwrite it)`);
    const outOption = parsed.values.get('out');
    if (resume && outOption === undefined) throw new UsageError(`${where}: --resume needs --out DIR (the run to continue)`);
    mode = resume ? 'resume' : force ? 'force' : 'new';
    out = outOption ?? join('runs', `${name}-${timestamp(io.clock())}`);
    const progressOption = parsed.values.get('progress') ?? 'auto';
    if (!PROGRESS_MODES.includes(progressOption)) {
      throw new UsageError(`${where}: --progress must be one of ${PROGRESS_MODES.join(', ')}, got "${progressOption}"`);
    }
    progressMode = progressOption === 'auto' ? autoProgressMode(io.isTTY, io.env) : (progressOption as ProgressMode);

    // Without --config, --resume starts from the stored config (so `--resume --set steps=N` extends a run).
    if (resume) {
      if (spec.resumableKeys.length === 0) throw new UsageError(`${where}: ${name} runs cannot be resumed; start a new one (another --out, or --force)`);
      const info = await readRunInfo(out);
      if (info === null) throw new RunDirError(`cannot --resume ${out}: it holds no run (no run.json)`);
      if (info.command !== name) throw new RunDirError(`cannot --resume ${out} with ${where}: it holds a "repirl ${commandLine(info.command as ExperimentName)}" run`);
    }
    const configPath = parsed.values.get('config') ?? (resume ? join(out, 'config.json') : undefined);
    const file = configPath === undefined ? undefined : await readConfigFile(configPath);
    const notes: string[] = [];
    config = spec.finalize(resolveConfig(spec.schema, { file, sets: parsed.lists.get('set') ?? [], notes }));
    for (const note of notes) io.stderr(`${where}: note: ${note}\n`);
    dryRun = parsed.flags.has('dry-run');
  } catch (err) {
    return reportSetupError(err, io, where, name);
  }

  // 2. Inputs exist and the problems are read and checked before anything is written (and before a dry run says the config is fine).
  const missing = await missingInput(spec, config);
  if (missing !== null) return reportSetupError(new UsageError(`${where}: ${missing}`), io, where, name);
  let data: ProblemSource;
  let labelled: string | null;
  try {
    data = await prepareProblems(name, config);
    if (mode === 'resume') await checkResumedData(data, join(out, 'data.json'));
    labelled = await prepareLabelledFiles(name, config);
  } catch (err) {
    if (!(err instanceof DataError)) throw err;
    return reportSetupError(new UsageError(`${where}: ${err.message}`), io, where, name);
  }
  if (dryRun) {
    io.stderr(labelled ?? describeData(data));
    io.print(JSON.stringify(config, null, 2));
    return 0;
  }

  // 3. The run directory (locked until run.close()).
  let run: RunDir;
  try {
    run = await RunDir.open(out, {
      command: name,
      config,
      mode,
      resumableKeys: spec.resumableKeys,
      argv: [name, ...argv],
      commandLine: where,
      now: io.clock,
    });
  } catch (err) {
    return reportSetupError(err, io, where, name);
  }
  try {
    return await runInDirectory(name, spec, runner, run, config, data, progressMode, io);
  } catch (err) {
    // The run files could not be written (disk full, permissions): one line naming the file.
    if (!(err instanceof RunFileError)) throw err;
    io.print(`${where} failed: ${err.message}`);
    return 1;
  } finally {
    await run.close();
  }
}

/** The first input path (data file, checkpoint) of the config that does not exist, as "key: why", or null. */
async function missingInput(spec: ExperimentSpec<unknown>, config: unknown): Promise<string | null> {
  for (const input of spec.inputPaths) {
    const path = valueAt(config, input.key);
    if (typeof path !== 'string') continue;
    try {
      if (input.kind === 'checkpoint') await resolveCheckpoint(path);
      else if (input.kind === 'model') {
        if ((await stat(join(path, 'config.json')).catch(() => null))?.isFile() !== true) throw new RunDirError(`no Hugging Face model directory at ${path} (no config.json there)`);
      } else if ((await stat(path).catch(() => null))?.isFile() !== true) throw new RunDirError(`no such file: ${path}`);
    } catch (err) {
      if (!(err instanceof RunDirError)) throw err;
      return `${input.key}: ${err.message}`;
    }
  }
  return null;
}

/** Progress, Ctrl-C and the runner inside the open run directory; returns the exit code. */
async function runInDirectory(
  name: ExperimentName, spec: ExperimentSpec<unknown>, runner: Runner<unknown>, run: RunDir, config: unknown, data: ProblemSource, progressMode: ProgressMode,
  io: CliIo,
): Promise<number> {
  const where = `repirl ${commandLine(name)}`;
  const total = spec.totalSteps(config);
  const start = run.resumeFrom?.step ?? 0;
  const progress = new Progress({
    total,
    mode: progressMode,
    write: io.stderr,
    now: io.now,
    label: name,
    metrics: spec.displayMetrics,
    start,
    columns: io.columns,
  });
  const notice = (text: string) => progress.log(text, (t) => io.stderr(`${t}\n`));
  notice(`${where}: ${run.resumeFrom ? `resuming ${run.path} from step ${start}` : `run directory ${run.path}`}`);
  for (const note of run.notes) notice(`${where}: ${note}`);

  // 4. Ctrl-C, then the runner.
  const stop = installStopHandler({
    source: io.signals,
    onFirst: () => notice(`${where}: stopping after the current ${spec.unit} and saving a checkpoint (press Ctrl-C again to quit now)`),
    onSecond: (reason) => {
      notice(`${where}: quitting now; resume from the last checkpoint with --resume`);
      io.exit(reason.exitCode);
    },
  });
  const context: RunContext<unknown> = {
    command: name,
    config,
    run,
    resumeFrom: run.resumeFrom,
    data,
    progress,
    signal: stop.signal,
    async report(step, metrics) {
      await run.appendMetrics(step, metrics);
      progress.update(step, metrics);
    },
    log: (text) => progress.log(text, io.print),
  };

  let outcome: RunOutcome;
  try {
    // A run from files records what it read (data.json) and how many duplicates it dropped.
    await recordData(data, run.file('data.json'));
    outcome = await runner(context);
    for (const note of data.notes) notice(`${where}: note: ${note}`);
    if (data.manifest !== null) outcome = { ...outcome, results: { ...outcome.results, 'data/duplicates': droppedDuplicates(data.manifest) } };
  } catch (err) {
    stop.dispose();
    progress.finish();
    if (err instanceof StopRequested) {
      // The runner gave up on the stop request instead of returning: resumable from its last checkpoint.
      const checkpoint = await run.latestCheckpoint();
      outcome = { status: 'stopped', step: checkpoint?.step ?? start };
      return finish(name, run, outcome, total, err.exitCode, io);
    }
    const message = err instanceof Error ? err.message : String(err);
    const checkpoint = await run.latestCheckpoint().catch(() => null);
    // run.json is written first: if even that fails (a full disk), the run files cannot say it failed, so this line does.
    const unrecorded = await run.writeSummary({ status: 'failed', step: checkpoint?.step ?? start, total, error: message }).then(
      () => null,
      (e: Error) => e.message,
    );
    io.print(`${where} failed: ${message}${unrecorded === null ? '' : `; the failure is not recorded in the run directory either (${unrecorded})`}`);
    if (checkpoint !== null) io.print(`the last checkpoint is step ${checkpoint.step}; continue with: ${where} --out ${run.path} --resume`);
    if (err instanceof Error && err.stack && io.env.REPIRL_DEBUG) io.print(err.stack);
    return 1;
  }
  stop.dispose();
  progress.finish();
  const stoppedCode = outcome.status === 'stopped' ? (stop.exitCode ?? 130) : 0;
  return finish(name, run, outcome, total, stoppedCode, io);
}

async function finish(name: ExperimentName, run: RunDir, outcome: RunOutcome, total: number, code: number, io: CliIo): Promise<number> {
  const where = `repirl ${commandLine(name)}`;
  await run.writeSummary({ status: outcome.status, step: outcome.step, total, results: outcome.results });
  const results = Object.entries(outcome.results ?? {})
    .map(([k, v]) => `${k} ${formatMetric(v)}`)
    .join(', ');
  if (outcome.status === 'stopped') {
    const checkpoint = await run.latestCheckpoint();
    io.print(`${where} stopped at step ${outcome.step}/${total}; summary: ${run.file('summary.md')}`);
    if (checkpoint === null) io.print(`no checkpoint was written, so the run cannot be resumed; the same command starts it again (replacing it)`);
    else {
      if (checkpoint.step !== outcome.step) io.print(`note: the latest checkpoint is step ${checkpoint.step}, not ${outcome.step}`);
      io.print(`continue with: ${where} --out ${run.path} --resume`);
    }
    return code;
  }
  io.print(`${where} finished ${outcome.step}/${total}${results === '' ? '' : `: ${results}`}; summary: ${run.file('summary.md')}`);
  return 0;
}

function reportSetupError(err: unknown, io: CliIo, where: string, name: ExperimentName): number {
  if (err instanceof UsageError) {
    io.print(`${err.message}\n(${where} --help for the options)`);
    return 2;
  }
  if (err instanceof ConfigError) {
    io.print(`${where}: ${err.message}\n(repirl config ${name} lists every key)`);
    return 2;
  }
  if (err instanceof RunDirError) {
    io.print(`${where}: ${err.message}`);
    return 2;
  }
  if (err instanceof RunFileError) {
    io.print(`${where}: ${err.message}`);
    return 1;
  }
  throw err;
}

/** 20250131-142501 (local time). */
function timestamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}
