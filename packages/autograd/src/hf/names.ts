// The one table between Hugging Face tensor names and DecoderLM parameters. Each entry says which
// HF tensors (in HF's layout and shapes) make one parameter:
//   ours = concat(hf parts along HF's first axis), then transposed if `linear`
// (PyTorch stores a Linear weight [out, in], ours is [in, out]; the fused qkv projection is the
// q, k and v projections side by side, so its weight is [q_proj; k_proj; v_proj]ᵀ and its bias
// [q_bias, k_bias, v_bias]). Export runs the same entry backwards (transpose, split the rows), so
// load and save are exact inverses: pure data movement, no arithmetic.
import type { DecoderConfig } from '../nn/transformer.js';

export interface HfTensorPart {
  name: string;
  /** Shape in the HF file. */
  shape: number[];
}

export interface HfTensorEntry {
  /** Our parameter name (DecoderLM.parameters()). */
  ours: string;
  /** Its shape. */
  shape: number[];
  /** The HF tensors it is made of, in order. */
  hf: HfTensorPart[];
  /** A Linear weight: transposed between the two layouts. */
  linear: boolean;
}

/** HF buffers some checkpoints carry that hold nothing a model needs (recomputed from the config). */
export function isIgnorableHfTensor(name: string): boolean {
  return /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(name);
}

/** Every parameter of a DecoderLM with this (resolved, Llama-family) config and where it lives in HF. */
export function hfTensorTable(c: Required<DecoderConfig>): HfTensorEntry[] {
  const d = c.dModel;
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const entries: HfTensorEntry[] = [];
  const linear = (ours: string, parts: [string, number][], inFeatures: number, bias: boolean) => {
    const out = parts.reduce((n, [, rows]) => n + rows, 0);
    entries.push({ ours: `${ours}.weight`, shape: [inFeatures, out], hf: parts.map(([name, rows]) => ({ name: `${name}.weight`, shape: [rows, inFeatures] })), linear: true });
    if (bias) entries.push({ ours: `${ours}.bias`, shape: [out], hf: parts.map(([name, rows]) => ({ name: `${name}.bias`, shape: [rows] })), linear: false });
  };
  const vector = (ours: string, hf: string, size: number) => entries.push({ ours, shape: [size], hf: [{ name: hf, shape: [size] }], linear: false });

  entries.push({ ours: 'embed.weight', shape: [c.vocabSize, d], hf: [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, d] }], linear: false });
  for (let i = 0; i < c.nLayers; i++) {
    const hf = `model.layers.${i}`;
    const ours = `blocks.${i}`;
    vector(`${ours}.norm1.weight`, `${hf}.input_layernorm.weight`, d);
    linear(`${ours}.attn.qkv`, [[`${hf}.self_attn.q_proj`, q], [`${hf}.self_attn.k_proj`, kv], [`${hf}.self_attn.v_proj`, kv]], d, c.qkvBias);
    linear(`${ours}.attn.proj`, [[`${hf}.self_attn.o_proj`, d]], q, c.outBias);
    if (c.qkNorm) {
      vector(`${ours}.attn.qNorm.weight`, `${hf}.self_attn.q_norm.weight`, c.headDim);
      vector(`${ours}.attn.kNorm.weight`, `${hf}.self_attn.k_norm.weight`, c.headDim);
    }
    vector(`${ours}.norm2.weight`, `${hf}.post_attention_layernorm.weight`, d);
    linear(`${ours}.mlp.gate`, [[`${hf}.mlp.gate_proj`, c.dFF]], d, c.mlpBias);
    linear(`${ours}.mlp.up`, [[`${hf}.mlp.up_proj`, c.dFF]], d, c.mlpBias);
    linear(`${ours}.mlp.down`, [[`${hf}.mlp.down_proj`, d]], c.dFF, c.mlpBias);
  }
  vector('normF.weight', 'model.norm.weight', d);
  if (!c.tiedEmbeddings) linear('lmHead', [['lm_head', c.vocabSize]], d, false);
  return entries;
}

/** [rows, cols] row-major → [cols, rows]. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) out[k * rows + r] = data[r * cols + k]!;
  return out;
}

/** Our parameter's values from its HF parts (each in HF's shape, float32). */
export function hfToOurs(entry: HfTensorEntry, parts: readonly Float32Array[]): Float32Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const joined = parts.length === 1 ? parts[0]! : new Float32Array(total);
  if (parts.length > 1) {
    let at = 0;
    for (const p of parts) {
      joined.set(p, at);
      at += p.length;
    }
  }
  if (!entry.linear) return joined;
  const [inFeatures, out] = entry.shape as [number, number];
  return transpose(joined, out, inFeatures);
}

/** The HF tensors of one of our parameters (inverse of hfToOurs). */
export function oursToHf(entry: HfTensorEntry, data: Float32Array): { name: string; shape: number[]; data: Float32Array }[] {
  let rows = data;
  if (entry.linear) {
    const [inFeatures, out] = entry.shape as [number, number];
    rows = transpose(data, inFeatures, out);
  }
  let at = 0;
  return entry.hf.map((part) => {
    const n = part.shape.reduce((a, b) => a * b, 1);
    const slice = rows.slice(at, at + n);
    at += n;
    return { name: part.name, shape: [...part.shape], data: slice };
  });
}
