// Hugging Face model directories: load a Llama / Qwen2 / Qwen3 / Mistral checkpoint into a
// DecoderLM, save a DecoderLM back in that layout, describe a directory without loading it.
//
// Loading checks everything it can before any GPU work, from config.json and the safetensors
// headers alone (the weight files are not read yet): the weight files exist (model.safetensors,
// or every shard model.safetensors.index.json names), the index names no tensor its shard lacks,
// every tensor the config implies is present with its shape and a float dtype (F32, F16, BF16,
// F64), and no tensor is left over. Only then is the model built and filled, one file at a time
// (a file's bytes are dropped once its tensors are on the device). Weights are float32 on the
// device (BF16 widens exactly, F16 too), or with `dtype: 'f16'` the projection matrices (q/k/v/o,
// gate/up/down, an untied lm_head) are kept in f16 and frozen, for inference and as a LoRA base
// (needs shader-f16; the matmul kernel widens them to f32 as it loads them). The embedding table
// (and so a tied head), norms and biases stay f32.
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend } from '../core/backend.js';
import { DecoderLM, resolveDecoderConfig, type DecoderConfig } from '../nn/transformer.js';
import { assign, type WeightStorage } from '../nn/module.js';
import { GpuBackend } from '../backends/gpu.js';
import { kernelHeadDim } from '../nn/attention.js';
import {
  checkFinite,
  loadSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  tensorToFloat32,
  type SafetensorsDtype,
  type SafetensorsHeaderEntry,
  type TensorInput,
} from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { HfModelError, readHfConfig, toHfConfig, type HfArchitecture, type HfConfig } from './config.js';
import { hfTensorTable, hfToOurs, isIgnorableHfTensor, oursToHf, type HfTensorEntry } from './names.js';

const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';
const FLOAT_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16', 'F64'];

/** The weight files of a directory and, per tensor, which file holds it (from the headers). */
export interface HfWeightFiles {
  /** Paths of the safetensors files, in the order they are read. */
  files: string[];
  /** Tensor name → its file and header entry. */
  tensors: Map<string, { file: string; entry: SafetensorsHeaderEntry }>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds the weight files of `dir` (model.safetensors, or the shards of model.safetensors.index.json)
 * and reads their headers. Errors name the file and the tensor.
 */
export async function readHfWeightFiles(dir: string): Promise<HfWeightFiles> {
  const indexPath = join(dir, INDEX_FILE);
  const singlePath = join(dir, SINGLE_FILE);
  const tensors: HfWeightFiles['tensors'] = new Map();
  if (await exists(indexPath)) {
    let index: unknown;
    try {
      index = JSON.parse(await readFile(indexPath, 'utf8'));
    } catch (err) {
      throw new HfModelError(`${indexPath}: cannot read it as JSON (${(err as Error).message})`);
    }
    const map = (index as { weight_map?: unknown } | null)?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new HfModelError(`${indexPath}: weight_map must be an object of tensor name → file`);
    const byFile = new Map<string, string[]>();
    for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
      if (typeof file !== 'string' || file.includes('/') || file.includes('\\') || file.startsWith('.')) {
        throw new HfModelError(`${indexPath}: weight_map['${name}'] = ${JSON.stringify(file)} must be a file name in the same directory`);
      }
      byFile.set(file, [...(byFile.get(file) ?? []), name]);
    }
    const files: string[] = [];
    for (const [file, names] of byFile) {
      const path = join(dir, file);
      if (!(await exists(path))) throw new HfModelError(`${indexPath}: names ${file} (for tensor '${names[0]}'${names.length > 1 ? ` and ${names.length - 1} more` : ''}), which does not exist in ${dir}`);
      const header = await readSafetensorsHeader(path);
      for (const name of names) {
        const entry = header.tensors[name];
        if (!entry || !Object.hasOwn(header.tensors, name)) throw new HfModelError(`${indexPath}: maps tensor '${name}' to ${file}, but ${path} has no tensor '${name}'`);
        tensors.set(name, { file: path, entry });
      }
      for (const name of Object.keys(header.tensors)) {
        if (!Object.hasOwn(map as object, name)) throw new HfModelError(`${path}: holds tensor '${name}', which ${INDEX_FILE} does not list`);
      }
      files.push(path);
    }
    return { files, tensors };
  }
  if (!(await exists(singlePath))) throw new HfModelError(`${dir}: no weights: neither ${SINGLE_FILE} nor ${INDEX_FILE} exists`);
  const header = await readSafetensorsHeader(singlePath);
  for (const [name, entry] of Object.entries(header.tensors)) tensors.set(name, { file: singlePath, entry });
  return { files: [singlePath], tensors };
}

/** Every mismatch between the files and the table, as one error (before any GPU work). */
function checkWeights(table: readonly HfTensorEntry[], weights: HfWeightFiles, hf: HfConfig, configPath: string): void {
  const problems: string[] = [];
  const expected = new Set<string>();
  for (const entry of table) {
    for (const part of entry.hf) {
      expected.add(part.name);
      const got = weights.tensors.get(part.name);
      if (!got) {
        const why = part.name === 'lm_head.weight' ? ` (${configPath} has tie_word_embeddings false)` : '';
        problems.push(`missing tensor '${part.name}' [${part.shape.join(', ')}]${why}`);
        continue;
      }
      const { file, entry: e } = got;
      if (e.shape.length !== part.shape.length || e.shape.some((n, i) => n !== part.shape[i])) {
        problems.push(`${file}: tensor '${part.name}' has shape [${e.shape.join(', ')}], but ${configPath} implies [${part.shape.join(', ')}]`);
      }
      if (!FLOAT_DTYPES.includes(e.dtype)) problems.push(`${file}: tensor '${part.name}' has dtype ${e.dtype}; weights must be one of ${FLOAT_DTYPES.join(', ')}`);
    }
  }
  for (const [name, { file }] of weights.tensors) {
    if (expected.has(name) || isIgnorableHfTensor(name)) continue;
    const why = name === 'lm_head.weight' && hf.config.tiedEmbeddings ? ` (${configPath} has tie_word_embeddings true, so the LM head is the embedding)` : ` (not part of a ${hf.architecture} with this config)`;
    problems.push(`${file}: unexpected tensor '${name}'${why}`);
  }
  if (problems.length === 0) return;
  const shown = problems.slice(0, 20).map((p) => `  - ${p}`);
  if (problems.length > 20) shown.push(`  … and ${problems.length - 20} more`);
  throw new HfModelError(`Hugging Face weights do not match ${configPath}:\n${shown.join('\n')}`);
}

export interface LoadHfModelOptions {
  /**
   * Storage of the projection matrices on the device: 'f32' (default) or 'f16' (frozen; needs the
   * device's shader-f16 feature). See the file header for which tensors.
   */
  dtype?: WeightStorage;
  /** Longest sequence the model will take (sizes the RoPE tables); default max_position_embeddings. */
  maxSeqLen?: number;
}

export interface LoadedHfModel {
  model: DecoderLM;
  hf: HfConfig;
  /** The safetensors files read. */
  files: string[];
}

/** Loads a Hugging Face model directory (config.json + safetensors weights) into a DecoderLM. */
export async function loadHfModel(backend: Backend, dir: string, options: LoadHfModelOptions = {}): Promise<LoadedHfModel> {
  const storage = options.dtype ?? 'f32';
  if (storage !== 'f32' && storage !== 'f16') throw new HfModelError(`loadHfModel: dtype must be 'f32' or 'f16', got ${JSON.stringify(options.dtype)}`);
  if (storage === 'f16' && !(backend instanceof GpuBackend && backend.rt.hasFeature('shader-f16'))) {
    const why = backend instanceof GpuBackend ? 'this device lacks the shader-f16 feature (or it was disabled)' : 'this is not a GPU backend (the CPU backend holds float64 values)';
    throw new HfModelError(`loadHfModel: dtype 'f16' keeps weights in half precision on a GPU, but ${why}; load with dtype 'f32'`);
  }
  const configPath = join(dir, 'config.json');
  const hf = await readHfConfig(dir);
  const config: DecoderConfig = { ...hf.config };
  if (options.maxSeqLen !== undefined) {
    if (!Number.isInteger(options.maxSeqLen) || options.maxSeqLen < 1) throw new HfModelError(`loadHfModel: maxSeqLen must be a positive integer, got ${options.maxSeqLen}`);
    config.maxSeqLen = options.maxSeqLen;
  }
  const resolved = resolveDecoderConfig(config);
  const table = hfTensorTable(resolved);
  const weights = await readHfWeightFiles(dir);
  checkWeights(table, weights, hf, configPath);

  // Which parameter each HF tensor feeds, to assemble a parameter once all its parts are read.
  const owner = new Map<string, HfTensorEntry>();
  for (const entry of table) for (const part of entry.hf) owner.set(part.name, entry);
  const model = new DecoderLM(backend, resolved, { empty: true, weights: storage });
  try {
    const params = model.parameters();
    const pending = new Map<HfTensorEntry, Map<string, Float32Array>>();
    for (const file of weights.files) {
      const { tensors } = await loadSafetensors(file);
      checkFinite(tensors, { source: file, advice: 'the checkpoint is damaged or from a diverged run' });
      for (const [name, t] of Object.entries(tensors)) {
        const entry = owner.get(name);
        if (!entry) continue; // ignorable buffers (checked above)
        const parts = pending.get(entry) ?? new Map<string, Float32Array>();
        parts.set(name, t.dtype === 'F32' ? t.data : tensorToFloat32(t));
        if (parts.size < entry.hf.length) {
          pending.set(entry, parts);
          continue;
        }
        pending.delete(entry);
        assign(params.get(entry.ours)!, hfToOurs(entry, entry.hf.map((p) => parts.get(p.name)!)));
      }
    }
    if (pending.size > 0) throw new HfModelError(`${dir}: parameters left incomplete after reading every file: ${[...pending.keys()].map((e) => e.ours).join(', ')}`);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return { model, hf, files: weights.files };
}

export interface SaveHfModelOptions {
  /** dtype of the saved tensors (default F32, exact; BF16 and F16 round to nearest even). */
  dtype?: 'F32' | 'BF16' | 'F16';
  /** The architecture to write (default: the base config's, else inferred from the model). */
  architecture?: HfArchitecture;
  /** config.json of the model this one came from (LoadedHfModel.hf.raw): its other keys are kept. */
  baseConfig?: Record<string, unknown>;
  /** The parameters to write instead of the model's own (e.g. LoraAdapters.mergedStateDict()). */
  state?: Record<string, { shape: readonly number[]; data: Float32Array }>;
}

/**
 * Writes `model` as a Hugging Face model directory: config.json and model.safetensors with the
 * original tensor names (metadata format: pt), each written atomically. The model must be
 * Llama-family (RMSNorm, SwiGLU). Saving then loading gives the same parameters bit for bit (F32).
 */
export async function saveHfModel(model: DecoderLM, dir: string, options: SaveHfModelOptions = {}): Promise<{ configPath: string; weightsPath: string }> {
  const dtype = options.dtype ?? 'F32';
  if (!['F32', 'BF16', 'F16'].includes(dtype)) throw new HfModelError(`saveHfModel: dtype must be F32, BF16 or F16, got ${JSON.stringify(dtype)}`);
  const torchDtype = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' }[dtype];
  const hfConfig = toHfConfig(model.config, { ...(options.architecture ? { architecture: options.architecture } : {}), ...(options.baseConfig ? { base: options.baseConfig } : {}), torchDtype });
  const state = options.state ?? (await model.stateDict());
  const tensors: Record<string, TensorInput> = {};
  for (const entry of hfTensorTable(model.config)) {
    const value = state[entry.ours];
    if (!value || value.shape.length !== entry.shape.length || value.shape.some((n, i) => n !== entry.shape[i])) {
      throw new HfModelError(`saveHfModel: the state has ${value ? `shape [${value.shape.join(', ')}] for` : 'no'} '${entry.ours}' (the model's is [${entry.shape.join(', ')}])`);
    }
    for (const t of oursToHf(entry, value.data)) tensors[t.name] = { dtype, shape: t.shape, data: t.data };
  }
  await mkdir(dir, { recursive: true });
  const weightsPath = join(dir, SINGLE_FILE);
  const configPath = join(dir, 'config.json');
  await saveSafetensors(weightsPath, tensors, { format: 'pt' });
  await writeFileAtomic(configPath, `${JSON.stringify(hfConfig, null, 2)}\n`);
  return { configPath, weightsPath };
}

/** What `repirl info` shows about a model directory (config and headers only; no weights read). */
export interface HfModelDescription {
  dir: string;
  architecture: HfArchitecture;
  config: Required<DecoderConfig>;
  /** Scalars in the weight files (the tied LM head counted once). */
  parameters: number;
  /** Bytes of the weight files' tensors, per dtype. */
  bytesByDtype: Partial<Record<SafetensorsDtype, number>>;
  /** Storage of the projection matrices on the device (the `dtype` option of loadHfModel). */
  weights: WeightStorage;
  /** Bytes of the weights on the device: f32 and, with weights 'f16', f16 (the projection matrices). */
  deviceBytes: number;
  deviceBytesByDtype: { f32: number; f16: number };
  /** KV-cache bytes per token of one sequence: 2 (k, v) · layers · kv heads · kernel head size · 4 (f32). */
  kvCacheBytesPerToken: number;
  files: string[];
}

export async function describeHfModel(dir: string, options: Pick<LoadHfModelOptions, 'dtype'> = {}): Promise<HfModelDescription> {
  const hf = await readHfConfig(dir);
  const config = resolveDecoderConfig(hf.config);
  const weights = await readHfWeightFiles(dir);
  const table = hfTensorTable(config);
  checkWeights(table, weights, hf, join(dir, 'config.json'));
  const storage = options.dtype ?? 'f32';
  const deviceBytesByDtype = { f32: 0, f16: 0 };
  for (const entry of table) {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    // The projection matrices are the table's `linear` entries with rank 2 (their biases are rank 1).
    if (storage === 'f16' && entry.linear && entry.shape.length === 2) deviceBytesByDtype.f16 += 2 * size;
    else deviceBytesByDtype.f32 += 4 * size;
  }
  let parameters = 0;
  const bytesByDtype: Partial<Record<SafetensorsDtype, number>> = {};
  for (const [name, { entry }] of weights.tensors) {
    if (isIgnorableHfTensor(name)) continue;
    parameters += entry.shape.reduce((a, b) => a * b, 1);
    bytesByDtype[entry.dtype] = (bytesByDtype[entry.dtype] ?? 0) + entry.bytes;
  }
  return {
    dir,
    architecture: hf.architecture,
    config,
    parameters,
    bytesByDtype,
    weights: storage,
    deviceBytes: deviceBytesByDtype.f32 + deviceBytesByDtype.f16,
    deviceBytesByDtype,
    kvCacheBytesPerToken: 2 * config.nLayers * config.nKvHeads * kernelHeadDim(config.headDim) * 4,
    files: weights.files,
  };
}
