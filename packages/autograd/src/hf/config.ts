// Hugging Face config.json ↔ DecoderConfig, for LlamaForCausalLM, Qwen2ForCausalLM,
// Qwen3ForCausalLM and MistralForCausalLM without a sliding window. Every key that changes what
// the model computes is read with transformers' default for that model type; anything this code
// cannot compute exactly as transformers would (another architecture, a sliding window, a rope
// scaling other than linear/llama3, an activation other than silu, dropout, quantisation, …) is
// refused with an error naming the file, the key and its value — never run differently than the
// config says.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DecoderConfig } from '../nn/transformer.js';
import type { RopeScaling } from '../nn/rope.js';

export class HfModelError extends Error {
  override name = 'HfModelError';
}

export type HfArchitecture = 'LlamaForCausalLM' | 'Qwen2ForCausalLM' | 'Qwen3ForCausalLM' | 'MistralForCausalLM';

/** model_type of each architecture, and transformers' defaults where they differ between them. */
const ARCHITECTURES: Record<HfArchitecture, { modelType: string; defaultHeadDim: number | null; attentionBiasKey: boolean; mlpBiasKey: boolean; qkNorm: boolean; qkvBiasAlways: boolean }> = {
  // Llama: head_dim defaults to hidden/heads; attention_bias puts a bias on q, k, v and o; mlp_bias on gate, up, down.
  LlamaForCausalLM: { modelType: 'llama', defaultHeadDim: null, attentionBiasKey: true, mlpBiasKey: true, qkNorm: false, qkvBiasAlways: false },
  // Mistral: like Llama without biases (no attention_bias / mlp_bias keys in MistralConfig).
  MistralForCausalLM: { modelType: 'mistral', defaultHeadDim: null, attentionBiasKey: false, mlpBiasKey: false, qkNorm: false, qkvBiasAlways: false },
  // Qwen2: q, k, v always biased, o and the MLP never (Qwen2Attention hard-codes it; no attention_bias key).
  Qwen2ForCausalLM: { modelType: 'qwen2', defaultHeadDim: null, attentionBiasKey: false, mlpBiasKey: false, qkNorm: false, qkvBiasAlways: true },
  // Qwen3: q_norm/k_norm per head before RoPE; Qwen3Config's head_dim defaults to 128, not hidden/heads.
  Qwen3ForCausalLM: { modelType: 'qwen3', defaultHeadDim: 128, attentionBiasKey: true, mlpBiasKey: false, qkNorm: true, qkvBiasAlways: false },
};
export const HF_ARCHITECTURES = Object.keys(ARCHITECTURES) as HfArchitecture[];

/** What readHfConfig returns. */
export interface HfConfig {
  architecture: HfArchitecture;
  /** The DecoderConfig that computes what transformers computes (maxSeqLen = max_position_embeddings). */
  config: DecoderConfig & Required<Pick<DecoderConfig, 'nKvHeads' | 'headDim' | 'normEps' | 'ropeBase' | 'ropeScaling' | 'tiedEmbeddings' | 'qkvBias' | 'outBias' | 'mlpBias' | 'qkNorm'>>;
  /** torch_dtype (or dtype) of the config, if any: the dtype the weights were saved in. */
  torchDtype: string | null;
  /** The parsed config.json, untouched (saveHfModel can write its other keys back). */
  raw: Record<string, unknown>;
}

/** Reads <dir>/config.json (see parseHfConfig). */
export async function readHfConfig(dir: string): Promise<HfConfig> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new HfModelError(`${file}: ${code === 'ENOENT' ? 'file not found (a Hugging Face model directory has a config.json)' : (err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new HfModelError(`${file}: invalid JSON (${(err as Error).message})`);
  }
  return parseHfConfig(raw, file);
}

/** config.json's object → HfConfig; `file` names it in errors. */
export function parseHfConfig(raw: unknown, file = 'config.json'): HfConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new HfModelError(`${file}: must hold a JSON object`);
  const c = raw as Record<string, unknown>;
  const show = (v: unknown) => JSON.stringify(v) ?? String(v);
  const refuse = (key: string, why: string): never => {
    throw new HfModelError(`${file}: ${key} = ${show(keyValue(c, key))} ${why}`);
  };

  const archs = c.architectures;
  if (!Array.isArray(archs) || archs.length !== 1 || typeof archs[0] !== 'string') {
    refuse('architectures', `must name exactly one architecture (supported: ${HF_ARCHITECTURES.join(', ')})`);
  }
  const architecture = (archs as string[])[0]!;
  if (!Object.hasOwn(ARCHITECTURES, architecture)) refuse('architectures', `is not supported (supported: ${HF_ARCHITECTURES.join(', ')})`);
  const arch = ARCHITECTURES[architecture as HfArchitecture];
  if (c.model_type !== arch.modelType) refuse('model_type', `does not match architectures ${show(architecture)} (expected ${show(arch.modelType)})`);

  const positiveInt = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (v === undefined) throw new HfModelError(`${file}: key ${key} is missing (a positive integer)`);
    if (!Number.isInteger(v) || (v as number) < 1) refuse(key, 'must be a positive integer');
    return v as number;
  };
  const positiveNumber = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) refuse(key, 'must be a positive number');
    return v as number;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'boolean') refuse(key, 'must be true or false');
    return v as boolean;
  };

  // Keys whose non-default values change the computation in ways not implemented here.
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') refuse('hidden_act', "is not supported (the MLP is SwiGLU with 'silu')");
  if (c.quantization_config !== undefined && c.quantization_config !== null) refuse('quantization_config', 'is not supported (quantised weights)');
  const dropout = c.attention_dropout ?? 0;
  if (dropout !== 0) refuse('attention_dropout', 'is not supported (no attention dropout here; 0 is)');
  if (c.rope_interleaved === true) refuse('rope_interleaved', 'is not supported (transformers rotates halves, which is what runs here)');
  if (architecture === 'MistralForCausalLM') {
    if (c.sliding_window !== undefined && c.sliding_window !== null) refuse('sliding_window', 'is not supported (sliding-window attention; null is)');
  }
  if (architecture === 'Qwen2ForCausalLM' || architecture === 'Qwen3ForCausalLM') {
    if (c.use_sliding_window === true) refuse('use_sliding_window', 'is not supported (sliding-window attention; false is)');
  }
  if (c.layer_types !== undefined && c.layer_types !== null) {
    if (!Array.isArray(c.layer_types) || c.layer_types.some((t) => t !== 'full_attention')) refuse('layer_types', "is not supported (every layer must be 'full_attention')");
  }

  const vocabSize = positiveInt('vocab_size');
  const dModel = positiveInt('hidden_size');
  const nLayers = positiveInt('num_hidden_layers');
  const nHeads = positiveInt('num_attention_heads');
  const dFF = positiveInt('intermediate_size');
  const nKvHeads = c.num_key_value_heads === null ? nHeads : positiveInt('num_key_value_heads', nHeads);
  if (nHeads % nKvHeads !== 0) refuse('num_key_value_heads', `must divide num_attention_heads (${nHeads})`);
  let headDim: number;
  if (c.head_dim === undefined || c.head_dim === null) {
    headDim = arch.defaultHeadDim ?? dModel / nHeads;
    if (!Number.isInteger(headDim)) refuse('hidden_size', `is not a multiple of num_attention_heads (${nHeads}) and there is no head_dim`);
  } else headDim = positiveInt('head_dim');
  if (headDim % 2 !== 0 || headDim > 128) refuse('head_dim', `(head size ${headDim}) must be even and at most 128 (the attention kernel's range)`);
  const maxSeqLen = positiveInt('max_position_embeddings');
  const normEps = positiveNumber('rms_norm_eps', 1e-6);

  // RoPE: rope_theta / rope_scaling at the top level, or transformers 5's rope_parameters.
  const params = c.rope_parameters;
  if (params !== undefined && params !== null && (typeof params !== 'object' || Array.isArray(params))) refuse('rope_parameters', 'must be an object');
  const rp = (params ?? null) as Record<string, unknown> | null;
  const thetaKey = rp && rp.rope_theta !== undefined ? 'rope_parameters.rope_theta' : 'rope_theta';
  const ropeBase = keyValue(c, thetaKey) ?? 10000;
  if (typeof ropeBase !== 'number' || !(ropeBase > 1)) refuse(thetaKey, 'must be a number > 1');
  const scalingKey = rp ? 'rope_parameters' : 'rope_scaling';
  const ropeScaling = parseRopeScaling(keyValue(c, scalingKey), scalingKey, refuse);

  let qkvBias = arch.qkvBiasAlways;
  let outBias = false;
  if (arch.attentionBiasKey) qkvBias = outBias = bool('attention_bias', false);
  const mlpBias = arch.mlpBiasKey ? bool('mlp_bias', false) : false;
  const tiedEmbeddings = bool('tie_word_embeddings', false);

  const dt = c.torch_dtype ?? c.dtype ?? null;
  return {
    architecture: architecture as HfArchitecture,
    config: {
      vocabSize, dModel, nLayers, nHeads, nKvHeads, headDim, dFF, maxSeqLen,
      norm: 'rms', normEps, mlp: 'swiglu', tiedEmbeddings, ropeBase: ropeBase as number, ropeScaling,
      qkvBias, outBias, mlpBias, qkNorm: arch.qkNorm,
    },
    torchDtype: typeof dt === 'string' ? dt : null,
    raw: c,
  };
}

/** c['a.b'] → c.a.b (for messages about nested keys). */
function keyValue(c: Record<string, unknown>, key: string): unknown {
  let v: unknown = c;
  for (const part of key.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

function parseRopeScaling(value: unknown, key: string, refuse: (key: string, why: string) => never): RopeScaling | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) refuse(key, 'must be an object or null');
  const s = value as Record<string, unknown>;
  // rope_type, or the legacy key type.
  const typeKey = s.rope_type !== undefined ? `${key}.rope_type` : `${key}.type`;
  const type = s.rope_type ?? s.type;
  const num = (name: string): number => {
    const v = s[name];
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) refuse(`${key}.${name}`, `must be a positive number (needed by rope type ${JSON.stringify(type)})`);
    return v as number;
  };
  if (type === 'default' || type === undefined) {
    if (type === undefined && key === 'rope_scaling') refuse(key, 'has no rope_type (or type)');
    return null;
  }
  if (type === 'linear') return { type: 'linear', factor: num('factor') };
  if (type === 'llama3') {
    return {
      type: 'llama3',
      factor: num('factor'),
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalMaxPositions: num('original_max_position_embeddings'),
    };
  }
  return refuse(typeKey, "is not supported (rope scaling types: 'linear', 'llama3')");
}

/**
 * The config.json of a DecoderConfig: `base` (the raw config a model was loaded from) keeps its
 * other keys (token ids, torch_dtype, …); the keys that define the computation are written from
 * `config`. Refuses a DecoderConfig no supported architecture expresses (LayerNorm, GELU, an
 * output bias without q/k/v biases, …).
 */
export function toHfConfig(config: Required<DecoderConfig>, options: { architecture?: HfArchitecture; base?: Record<string, unknown>; torchDtype?: string } = {}): Record<string, unknown> {
  const fail = (why: string): never => {
    throw new HfModelError(`saveHfModel: this model has no Hugging Face form: ${why}`);
  };
  if (config.norm !== 'rms') fail(`norm ${JSON.stringify(config.norm)} (Llama/Qwen use RMSNorm)`);
  if (config.mlp !== 'swiglu') fail(`mlp ${JSON.stringify(config.mlp)} (Llama/Qwen use SwiGLU)`);
  const baseArch = Array.isArray(options.base?.architectures) ? (options.base.architectures[0] as string) : undefined;
  const architecture: HfArchitecture =
    options.architecture ??
    (baseArch && Object.hasOwn(ARCHITECTURES, baseArch) ? (baseArch as HfArchitecture) : config.qkNorm ? 'Qwen3ForCausalLM' : config.qkvBias && !config.outBias ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM');
  const arch = ARCHITECTURES[architecture];
  if (config.qkNorm !== arch.qkNorm) fail(`qkNorm ${config.qkNorm} but ${architecture} ${arch.qkNorm ? 'has' : 'has no'} q/k norms`);
  if (arch.qkvBiasAlways) {
    if (!config.qkvBias || config.outBias) fail(`${architecture} has q/k/v biases and no output bias; this model has qkvBias ${config.qkvBias}, outBias ${config.outBias}`);
  } else if (arch.attentionBiasKey) {
    if (config.qkvBias !== config.outBias) fail(`${architecture}'s attention_bias biases all four projections or none; this model has qkvBias ${config.qkvBias}, outBias ${config.outBias}`);
  } else if (config.qkvBias || config.outBias) fail(`${architecture} has no attention biases`);
  if (config.mlpBias && !arch.mlpBiasKey) fail(`${architecture} has no MLP biases`);

  const out: Record<string, unknown> = { ...(options.base ?? {}) };
  // Keys of the base that would contradict what is written (transformers 5's rope form).
  delete out.rope_parameters;
  const scaling = config.ropeScaling;
  Object.assign(out, {
    architectures: [architecture],
    model_type: arch.modelType,
    vocab_size: config.vocabSize,
    hidden_size: config.dModel,
    intermediate_size: config.dFF,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    head_dim: config.headDim,
    hidden_act: 'silu',
    // A model loaded with a shorter maxSeqLen (loadHfModel's option only sizes the RoPE tables)
    // keeps the context its base config declares.
    max_position_embeddings: Number.isInteger(options.base?.max_position_embeddings) && (options.base!.max_position_embeddings as number) > config.maxSeqLen
      ? options.base!.max_position_embeddings : config.maxSeqLen,
    rms_norm_eps: config.normEps,
    rope_theta: config.ropeBase,
    rope_scaling:
      scaling === null
        ? null
        : scaling.type === 'linear'
          ? { rope_type: 'linear', factor: scaling.factor }
          : {
              rope_type: 'llama3',
              factor: scaling.factor,
              low_freq_factor: scaling.lowFreqFactor,
              high_freq_factor: scaling.highFreqFactor,
              original_max_position_embeddings: scaling.originalMaxPositions,
            },
    tie_word_embeddings: config.tiedEmbeddings,
  });
  if (arch.attentionBiasKey) out.attention_bias = config.outBias;
  if (arch.mlpBiasKey) out.mlp_bias = config.mlpBias;
  if (architecture === 'Qwen2ForCausalLM' || architecture === 'Qwen3ForCausalLM') out.use_sliding_window = false;
  if (options.torchDtype !== undefined) out.torch_dtype = options.torchDtype;
  return out;
}
