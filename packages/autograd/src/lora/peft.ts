// LoRA adapters in PEFT's layout (what `PeftModel.save_pretrained` writes and
// `PeftModel.from_pretrained` reads): a directory with
//   adapter_config.json        peft_type "LORA", r, lora_alpha, lora_dropout, target_modules, bias,
//                              task_type, fan_in_fan_out, base_model_name_or_path, …
//   adapter_model.safetensors  base_model.model.<HF module>.lora_A.weight [r, in] and
//                              .lora_B.weight [out, r], e.g.
//                              base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight
// (PEFT's checkpoint format guide, developer_guides/checkpoint.md in the PEFT repository: the state dict keys
// start with "base_model.model." and the adapter name is stripped on save).
// Loading refuses what it cannot reproduce exactly (DoRA, rsLoRA, per-layer rank or alpha
// patterns, layer subsets, regex target_modules, trained biases, extra saved modules), naming the
// file and the key, before any device work.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors, tensorToFloat32, checkFinite, type TensorInput } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { DecoderLM } from '../nn/transformer.js';
import { LORA_TARGET_MODULES, LoraAdapters, LoraError, checkLoraConfig, loraAdaptersConfig, loraSites, type LoraConfig, type LoraTargetModule } from './lora.js';

export const PEFT_CONFIG_FILE = 'adapter_config.json';
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';
/** Prefix of every tensor name in adapter_model.safetensors (PeftModel → LoraModel → the HF model). */
export const PEFT_PREFIX = 'base_model.model.';

export interface SavePeftOptions {
  /** base_model_name_or_path: the Hugging Face directory or hub id the adapters were trained on (default null). */
  baseModelNameOrPath?: string | null;
}

/** adapter_config.json for these LoRA settings (the keys PEFT's LoraConfig reads; the rest take PEFT's defaults). */
export function peftConfigJson(lora: LoraConfig, options: SavePeftOptions = {}): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: options.baseModelNameOrPath ?? null,
    r: lora.rank,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    target_modules: [...lora.targetModules],
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
    layers_to_transform: null,
    rank_pattern: {},
    alpha_pattern: {},
    init_lora_weights: true,
    inference_mode: true,
  };
}

/** Writes `adapters` into `dir` (created if needed) as adapter_config.json + adapter_model.safetensors, each atomically. */
export async function savePeftAdapter(adapters: LoraAdapters, dir: string, options: SavePeftOptions = {}): Promise<{ configPath: string; weightsPath: string }> {
  const tensors: Record<string, TensorInput> = {};
  for (const [name, t] of Object.entries(await adapters.stateDict())) tensors[`${PEFT_PREFIX}${name}`] = { dtype: 'F32', shape: t.shape, data: t.data };
  await mkdir(dir, { recursive: true });
  const weightsPath = join(dir, PEFT_WEIGHTS_FILE);
  const configPath = join(dir, PEFT_CONFIG_FILE);
  await saveSafetensors(weightsPath, tensors, { format: 'pt' });
  await writeFileAtomic(configPath, `${JSON.stringify(peftConfigJson(adapters.lora, options), null, 2)}\n`);
  return { configPath, weightsPath };
}

export interface PeftAdapterConfig {
  lora: LoraConfig;
  baseModelNameOrPath: string | null;
}

/** Reads and checks adapter_config.json of a PEFT LoRA directory (no weights read). */
export async function readPeftConfig(dir: string): Promise<PeftAdapterConfig> {
  const path = join(dir, PEFT_CONFIG_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new LoraError(`${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); a PEFT adapter directory holds ${PEFT_CONFIG_FILE} and ${PEFT_WEIGHTS_FILE}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new LoraError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new LoraError(`${path}: must hold a JSON object`);
  const c = raw as Record<string, unknown>;
  const refuse = (key: string, why: string): never => {
    throw new LoraError(`${path}: ${key} = ${JSON.stringify(c[key])} ${why}`);
  };
  if (c.peft_type !== 'LORA') refuse('peft_type', 'is not supported (only "LORA")');
  const isEmpty = (v: unknown) => v === undefined || v === null || (typeof v === 'object' && Object.keys(v as object).length === 0);
  if (c.use_dora === true) refuse('use_dora', 'is not supported (DoRA)');
  if (c.use_rslora === true) refuse('use_rslora', 'is not supported (rsLoRA scales by alpha/√r)');
  if (c.fan_in_fan_out === true) refuse('fan_in_fan_out', 'is not supported (GPT-2 Conv1D layouts)');
  if (c.bias !== undefined && c.bias !== 'none') refuse('bias', 'is not supported (only "none": no trained biases)');
  if (!isEmpty(c.rank_pattern)) refuse('rank_pattern', 'is not supported (one rank for every projection)');
  if (!isEmpty(c.alpha_pattern)) refuse('alpha_pattern', 'is not supported (one alpha for every projection)');
  if (!isEmpty(c.layers_to_transform)) refuse('layers_to_transform', 'is not supported (every layer is adapted)');
  if (!isEmpty(c.modules_to_save)) refuse('modules_to_save', 'is not supported (only LoRA matrices are loaded)');
  if (c.task_type !== undefined && c.task_type !== null && c.task_type !== 'CAUSAL_LM') refuse('task_type', 'is not supported (only "CAUSAL_LM")');
  if (!Array.isArray(c.target_modules)) {
    refuse('target_modules', `must be a list of projection names (${LORA_TARGET_MODULES.join(', ')}); regular expressions are not supported`);
  }
  for (const t of c.target_modules as unknown[]) {
    if (!(LORA_TARGET_MODULES as readonly unknown[]).includes(t)) refuse('target_modules', `names ${JSON.stringify(t)}; the supported projections are ${LORA_TARGET_MODULES.join(', ')}`);
  }
  const lora: LoraConfig = {
    rank: c.r as number,
    alpha: (c.lora_alpha ?? 8) as number,
    dropout: (c.lora_dropout ?? 0) as number,
    targetModules: LORA_TARGET_MODULES.filter((t) => (c.target_modules as unknown[]).includes(t)) as LoraTargetModule[],
  };
  try {
    checkLoraConfig(lora, path);
  } catch (err) {
    // Name PEFT's keys, not ours.
    throw new LoraError((err as Error).message.replace('.rank:', ': r').replace('.alpha:', ': lora_alpha').replace('.dropout:', ': lora_dropout').replace('.targetModules:', ': target_modules'));
  }
  const base = c.base_model_name_or_path;
  return { lora, baseModelNameOrPath: typeof base === 'string' ? base : null };
}

/**
 * Loads the PEFT LoRA adapter in `dir` onto `model` and attaches it (the model's own weights are
 * left as they are). Names, shapes and dtypes are checked from the header before any device work;
 * errors name the file and the tensor.
 */
export async function loadPeftAdapter(model: DecoderLM, dir: string): Promise<LoraAdapters> {
  const { lora } = await readPeftConfig(dir);
  const configPath = join(dir, PEFT_CONFIG_FILE);
  const weightsPath = join(dir, PEFT_WEIGHTS_FILE);
  const adaptersConfig = loraAdaptersConfig(model, lora, configPath);
  const expected = new Map<string, number[]>();
  for (const site of loraSites(adaptersConfig)) {
    expected.set(`${PEFT_PREFIX}${site.module}.lora_A.weight`, [lora.rank, site.inFeatures]);
    expected.set(`${PEFT_PREFIX}${site.module}.lora_B.weight`, [site.outFeatures, lora.rank]);
  }
  let header;
  try {
    header = await readSafetensorsHeader(weightsPath);
  } catch (err) {
    throw new LoraError(`${weightsPath}: ${(err as Error).message}`, { cause: err });
  }
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const e = header.tensors[name];
    if (!e || !Object.hasOwn(header.tensors, name)) problems.push(`missing tensor '${name}' [${shape.join(', ')}]`);
    else if (e.shape.length !== shape.length || e.shape.some((n, i) => n !== shape[i])) problems.push(`tensor '${name}' has shape [${e.shape.join(', ')}], ${PEFT_CONFIG_FILE} and the model imply [${shape.join(', ')}]`);
    else if (!['F32', 'F16', 'BF16', 'F64'].includes(e.dtype)) problems.push(`tensor '${name}' has dtype ${e.dtype}`);
  }
  for (const name of Object.keys(header.tensors)) if (!expected.has(name)) problems.push(`unexpected tensor '${name}' (not a LoRA matrix of ${PEFT_CONFIG_FILE}'s target_modules on this model)`);
  if (problems.length > 0) throw new LoraError(`${weightsPath} does not match ${configPath}:\n${problems.slice(0, 20).map((p) => `  - ${p}`).join('\n')}`);

  const { tensors } = await loadSafetensors(weightsPath);
  checkFinite(tensors, { source: weightsPath, advice: 'the adapter is damaged or from a diverged run' });
  const state: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, t] of Object.entries(tensors)) state[name.slice(PEFT_PREFIX.length)] = { shape: t.shape, data: tensorToFloat32(t) };
  const adapters = new LoraAdapters(model.backend, adaptersConfig, { empty: true });
  try {
    adapters.loadStateDict(state, { source: weightsPath });
    return adapters.attach(model);
  } catch (err) {
    adapters.dispose();
    throw err;
  }
}
