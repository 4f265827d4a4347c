// Training checkpoints: what a trainer saves into a checkpoint folder and restores from it — each
// model as <name>.{safetensors,json} (its weights, class and config; a policy is a DecoderLM that
// loadPolicy rebuilds), and trainer.{safetensors,json} with every optimizer's moments and step
// counters and the trainer's JSON state. Where the folders live (checkpoints/step-N/ of a run
// directory) and when one counts as complete is the run directory's business (../run/run-dir.ts).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DecoderLM, loadCheckpoint, saveCheckpoint, savePeftAdapter, tensorToFloat32, type AdamW, type Backend, type LoraAdapters, type Module, type TensorInput,
} from '@repirl/autograd';

/** What a training checkpoint holds besides its step. */
export interface TrainingCheckpoint {
  /** Models by name (file name in the checkpoint directory), e.g. { policy, critic }. */
  models: Record<string, Module<unknown>>;
  /** Optimizers by name; their tensors go into trainer.safetensors as "<name>/<param>.m|v". */
  optimizers: Record<string, AdamW>;
  /** The trainer's own state (cursors, buffers, controller values): any JSON object. */
  state: Record<string, unknown>;
}

/** Writes a training checkpoint into `dir`. */
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

/** Where savePolicy puts a LoRA policy's adapters (PEFT's layout), inside the policy's directory. */
export const ADAPTER_DIR = 'adapter';

/**
 * Saves a policy (a DecoderLM) so that loadPolicy can rebuild it: <dir>/<name>.{safetensors,json}.
 * With `lora` (its adapters, attached to it), the saved weights are the merged ones (W + (α/r)·B·A),
 * and the adapters alone are written beside them in PEFT's layout, in <dir>/adapter/.
 */
export async function savePolicy(dir: string, policy: DecoderLM, options: { name?: string; lora?: LoraAdapters | null } = {}): Promise<void> {
  const name = options.name ?? 'policy';
  if (!options.lora) {
    await saveModel(dir, name, policy);
    return;
  }
  const tensors = await options.lora.mergedStateDict(policy);
  await saveCheckpoint(dir, { tensors, config: { kind: 'DecoderLM', model: policy.config as Record<string, unknown>, lora: options.lora.lora } }, { name });
  await savePeftAdapter(options.lora, join(dir, ADAPTER_DIR));
}

/**
 * Rebuilds a policy saved by savePolicy (or a trainer's checkpoint or run directory) on `backend`.
 * Weights holding NaN or ±Infinity are refused (loadCheckpoint names the file and the tensor), as
 * are tensors of the wrong shape (named with the file).
 */
export async function loadPolicy(backend: Backend, dir: string, options: { name?: string } = {}): Promise<DecoderLM> {
  const name = options.name ?? 'policy';
  if (name === 'policy' && !(await exists(join(dir, 'policy.json'))) && (await exists(join(dir, 'lora.json')))) {
    throw new Error(`${dir} holds LoRA adapters only (lora.safetensors, a checkpoint of a LoRA run); the policy is the run's starting policy with them: ` +
      `take the run directory's final policy, or merge them with repirl export --set from=${dir} --set base=<the starting policy>`);
  }
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

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
