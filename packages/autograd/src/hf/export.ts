// Exporting a trained model as a complete Hugging Face model directory, the form transformers
// (`AutoModelForCausalLM.from_pretrained(dir)`) and vLLM load: config.json and model.safetensors
// (saveHfModel: the original tensor names), plus the tokenizer files and generation_config.json
// copied from the directory the model was loaded from. The directory is created atomically
// (written in a temp directory beside it, then renamed), and never over an existing one.
import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeDirectoryAtomic } from '../io/atomic.js';
import type { DecoderLM } from '../nn/transformer.js';
import type { LoraAdapters } from '../lora/lora.js';
import { savePeftAdapter } from '../lora/peft.js';
import { HfModelError } from './config.js';
import { saveHfModel, type SaveHfModelOptions } from './model.js';

/** Files of a model directory besides config.json and the weights that an export carries over, when present. */
export const HF_COPIED_FILES = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'chat_template.jinja',
  'chat_template.json',
] as const;

export interface ExportHfModelOptions extends Omit<SaveHfModelOptions, 'baseConfig'> {
  /** The Hugging Face directory the model was loaded from: its config.json keys are kept, its tokenizer files copied. */
  source?: string;
}

export interface ExportedHfModel {
  dir: string;
  /** Names of the files written, config.json and model.safetensors first. */
  files: string[];
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/**
 * Writes `model` (or `options.state`, e.g. merged LoRA weights) as a new Hugging Face model
 * directory `dir`, with the tokenizer files and generation_config.json of `options.source`.
 */
export async function exportHfModel(model: DecoderLM, dir: string, options: ExportHfModelOptions = {}): Promise<ExportedHfModel> {
  return writeDirectoryAtomic(dir, async (temp) => ({ dir, files: await writeHfModelFiles(model, temp, options) }));
}

/**
 * exportHfModel's files, written into the existing directory `dir` (no atomicity of its own: for
 * callers that put more files beside them inside one writeDirectoryAtomic). Returns the file names.
 */
export async function writeHfModelFiles(model: DecoderLM, dir: string, options: ExportHfModelOptions = {}): Promise<string[]> {
  let baseConfig: Record<string, unknown> | undefined;
  const copied: string[] = [];
  if (options.source !== undefined) {
    const configPath = join(options.source, 'config.json');
    try {
      baseConfig = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new HfModelError(`exportHfModel: cannot read ${configPath} of the source model (${(err as Error).message})`);
    }
    for (const name of HF_COPIED_FILES) if (await isFile(join(options.source, name))) copied.push(name);
  }
  const { source: _source, ...save } = options;
  await saveHfModel(model, dir, { ...save, ...(baseConfig ? { baseConfig } : {}) });
  for (const name of copied) await copyFile(join(options.source!, name), join(dir, name));
  return ['config.json', 'model.safetensors', ...copied];
}

/** Writes LoRA adapters as a new PEFT adapter directory `dir` (adapter_config.json + adapter_model.safetensors), atomically. */
export async function exportPeftAdapter(adapters: LoraAdapters, dir: string, options: { baseModelNameOrPath?: string | null } = {}): Promise<ExportedHfModel> {
  return writeDirectoryAtomic(dir, async (temp) => {
    await savePeftAdapter(adapters, temp, options);
    return { dir, files: ['adapter_config.json', 'adapter_model.safetensors'] };
  });
}
