// A run's directory: everything a trainer writes, in one place the CLI's --out points at.
//
//   config.json                  the resolved config (written atomically at the start)
//   metrics.jsonl                one record per step: {"step", "time", "actor/pg_loss", ...}
//   checkpoints/step-000020/     policy.{safetensors,json}   the policy's weights and decoder config
//                                critic.{safetensors,json}   PPO's value model, when there is one
//                                trainer.{safetensors,json}  optimizer moments + trainer state
//   checkpoints/latest.json      {"step": 20, "dir": "step-000020"}
//   policy.{safetensors,json}    the final policy (loadPolicy(backend, runDir))
//   summary.json, summary.md     written when a run ends
//
// Crash safety: every file is written atomically (temp file + rename). A checkpoint's files are
// written first and latest.json is replaced last, so latest.json only ever names a complete
// checkpoint; a crash halfway leaves the previous one in charge. metrics.jsonl is appended one
// whole line per write; on resume, lines for steps after the checkpoint (written before the
// crash) are removed, so the resumed run rewrites them and the file reads as one run.
import { appendFile, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DecoderLM, loadCheckpoint, saveCheckpoint, tensorToFloat32, writeFileAtomic, type AdamW, type Backend, type Module, type TensorInput,
} from '@repirl/autograd';

/** One line of metrics.jsonl: the step, the wall-clock time (Unix seconds) and named values. */
export interface MetricsRecord {
  step: number;
  time: number;
  [name: string]: number;
}

const CHECKPOINTS = 'checkpoints';
const stepDirName = (step: number) => `step-${String(step).padStart(6, '0')}`;

export class RunDirectory {
  private constructor(readonly path: string) {}

  /** Opens (creating if needed) a run directory. */
  static async open(path: string): Promise<RunDirectory> {
    await mkdir(join(path, CHECKPOINTS), { recursive: true });
    return new RunDirectory(path);
  }

  get configPath(): string {
    return join(this.path, 'config.json');
  }
  get metricsPath(): string {
    return join(this.path, 'metrics.jsonl');
  }

  async writeConfig(config: object): Promise<void> {
    await writeFileAtomic(this.configPath, `${JSON.stringify(config, null, 2)}\n`);
  }

  /** The stored config.json, or null when there is none. */
  async readConfig(): Promise<Record<string, unknown> | null> {
    const text = await readIfExists(this.configPath);
    return text === null ? null : (JSON.parse(text) as Record<string, unknown>);
  }

  /** Appends one record as one line (non-finite numbers become null, as JSON has no NaN). */
  async appendMetrics(record: MetricsRecord): Promise<void> {
    await appendFile(this.metricsPath, `${JSON.stringify(record)}\n`);
  }

  async readMetrics(): Promise<MetricsRecord[]> {
    const text = await readIfExists(this.metricsPath);
    if (text === null) return [];
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line, i) => {
        try {
          return JSON.parse(line) as MetricsRecord;
        } catch (err) {
          throw new Error(`${this.metricsPath}:${i + 1}: invalid JSON (${(err as Error).message})`);
        }
      });
  }

  /** Keeps only the records of steps ≤ step (atomically); returns them. */
  async truncateMetrics(step: number): Promise<MetricsRecord[]> {
    const kept = (await this.readMetrics()).filter((r) => r.step <= step);
    await writeFileAtomic(this.metricsPath, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
    return kept;
  }

  /**
   * Saves a checkpoint of `step`: each model under its name, every optimizer's moments and step
   * counters, and the trainer's JSON state; then points latest.json at it and deletes all but the
   * newest `keep` checkpoints. Returns the checkpoint's directory.
   */
  async saveCheckpoint(step: number, content: TrainingCheckpoint, options: { keep?: number } = {}): Promise<string> {
    const name = stepDirName(step);
    const dir = join(this.path, CHECKPOINTS, name);
    await saveTrainingCheckpoint(dir, step, content);
    await writeFileAtomic(join(this.path, CHECKPOINTS, 'latest.json'), `${JSON.stringify({ step, dir: name })}\n`);
    await this.pruneCheckpoints(name, options.keep ?? 2);
    return dir;
  }

  /** The newest complete checkpoint, or null. */
  async latestCheckpoint(): Promise<{ step: number; dir: string } | null> {
    const text = await readIfExists(join(this.path, CHECKPOINTS, 'latest.json'));
    if (text === null) return null;
    const { step, dir } = JSON.parse(text) as { step: number; dir: string };
    return { step, dir: join(this.path, CHECKPOINTS, dir) };
  }

  async writeSummary(summary: object, markdown: string): Promise<void> {
    await writeFileAtomic(join(this.path, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    await writeFileAtomic(join(this.path, 'summary.md'), markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  }

  private async pruneCheckpoints(newest: string, keep: number): Promise<void> {
    const dirs = (await readdir(join(this.path, CHECKPOINTS))).filter((d) => /^step-\d+$/.test(d) && d !== newest).sort();
    const excess = dirs.length + 1 - keep;
    for (const d of dirs.slice(0, Math.max(0, excess))) await rm(join(this.path, CHECKPOINTS, d), { recursive: true, force: true });
  }
}

/** What a training checkpoint holds besides its step. */
export interface TrainingCheckpoint {
  /** Models by name (file name in the checkpoint directory), e.g. { policy, critic }. */
  models: Record<string, Module<unknown>>;
  /** Optimizers by name; their tensors go into trainer.safetensors as "<name>/<param>.m|v". */
  optimizers: Record<string, AdamW>;
  /** The trainer's own state (cursors, buffers, controller values): any JSON object. */
  state: Record<string, unknown>;
}

/** Writes a training checkpoint into `dir` (see RunDirectory for the layout). */
export async function saveTrainingCheckpoint(dir: string, step: number, content: TrainingCheckpoint): Promise<void> {
  for (const [name, model] of Object.entries(content.models)) await saveModel(dir, name, model);
  const tensors: Record<string, TensorInput> = {};
  const counters: Record<string, { steps: number; calls: number }> = {};
  for (const [name, optimizer] of Object.entries(content.optimizers)) {
    const { steps, calls, tensors: moments } = optimizer.state();
    counters[name] = { steps, calls };
    for (const [key, t] of moments) tensors[`${name}/${key}`] = { dtype: 'F32', shape: [...t.shape], data: Float32Array.from(await t.data()) };
  }
  await saveCheckpoint(dir, { tensors, config: { kind: 'repirl-trainer-state', step, optimizers: counters, state: content.state } }, { name: 'trainer' });
}

/**
 * Restores a training checkpoint into existing models and optimizers (built exactly as when it
 * was saved) and returns its step and trainer state.
 */
export async function loadTrainingCheckpoint(
  dir: string,
  target: { models: Record<string, Module<unknown>>; optimizers: Record<string, AdamW> },
): Promise<{ step: number; state: Record<string, unknown> }> {
  for (const [name, model] of Object.entries(target.models)) {
    const loaded = await loadCheckpoint(dir, { name });
    model.loadStateDict(loaded.tensors, { source: loaded.path });
  }
  const trainer = await loadCheckpoint(dir, { name: 'trainer' });
  const config = trainer.config as { kind?: string; step: number; optimizers: Record<string, { steps: number; calls: number }>; state: Record<string, unknown> };
  if (config.kind !== 'repirl-trainer-state') throw new Error(`${dir}/trainer.json is not a trainer state (kind ${JSON.stringify(config.kind)})`);
  for (const [name, optimizer] of Object.entries(target.optimizers)) {
    const counters = config.optimizers[name];
    if (!counters) throw new Error(`${dir}: the checkpoint has no optimizer "${name}" (it has ${Object.keys(config.optimizers).join(', ') || 'none'})`);
    const prefix = `${name}/`;
    const tensors = new Map<string, Float32Array>();
    for (const [key, t] of Object.entries(trainer.tensors)) if (key.startsWith(prefix)) tensors.set(key.slice(prefix.length), tensorToFloat32(t));
    optimizer.loadState({ ...counters, tensors });
  }
  return { step: config.step, state: config.state };
}

/** Writes a model as <dir>/<name>.safetensors + .json with its class and config. */
export async function saveModel(dir: string, name: string, model: Module<unknown>): Promise<void> {
  const tensors = await model.stateDict();
  // The class name lets loaders check what they read; DecoderLM is named explicitly as loadPolicy relies on it.
  const kind = model instanceof DecoderLM ? 'DecoderLM' : model.constructor.name;
  await saveCheckpoint(dir, { tensors, config: { kind, model: model.config as Record<string, unknown> } }, { name });
}

/** Saves a policy (a DecoderLM) so that loadPolicy can rebuild it: <dir>/<name>.{safetensors,json}. */
export async function savePolicy(dir: string, policy: DecoderLM, options: { name?: string } = {}): Promise<void> {
  await saveModel(dir, options.name ?? 'policy', policy);
}

/**
 * Rebuilds a policy saved by savePolicy (or a trainer's checkpoint or run directory) on `backend`.
 * Weights holding NaN or ±Infinity are refused (loadCheckpoint names the file and the tensor), as
 * are tensors of the wrong shape (named with the file).
 */
export async function loadPolicy(backend: Backend, dir: string, options: { name?: string } = {}): Promise<DecoderLM> {
  const name = options.name ?? 'policy';
  const loaded = await loadCheckpoint(dir, { name });
  const config = loaded.config as { kind?: string; model?: unknown };
  if (config.kind !== 'DecoderLM' || typeof config.model !== 'object' || config.model === null) {
    throw new Error(`${join(dir, `${name}.json`)} does not hold a DecoderLM policy (kind ${JSON.stringify(config.kind)}); save policies with savePolicy`);
  }
  const policy = new DecoderLM(backend, config.model as ConstructorParameters<typeof DecoderLM>[1], { empty: true });
  try {
    policy.loadStateDict(loaded.tensors, { source: loaded.path });
  } catch (err) {
    policy.dispose();
    throw err;
  }
  return policy;
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
