// Hugging Face model directories (issue 13): config.json parsing and every refusal, the one name
// table (HF ↔ DecoderLM, round trip), weight checks that fail before any device work, save → load,
// and parity with the float64 goldens of test/fixtures/hf (docs/hf-goldens.md) for every fixture:
// per-token log-probs, last-position logits and greedy ids, on the GPU (float32) and the float64
// CPU backend. The details that are easy to get wrong each have a named test.
import { mkdtemp, rm, writeFile, mkdir, copyFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import * as ag from '../src/index.js';
import {
  CpuBackend,
  DecoderLM,
  GpuBackend,
  HfModelError,
  describeHfModel,
  generate,
  hfTensorTable,
  hfToOurs,
  loadHfModel,
  loadSafetensors,
  oursToHf,
  parseHfConfig,
  readHfConfig,
  resolveDecoderConfig,
  ropeHeads,
  ropeInverseFrequencies,
  saveHfModel,
  saveSafetensors,
  tensorToFloat32,
  type Backend,
  type TensorInput,
} from '../src/index.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'hf');
const NAMES = ['llama', 'llama-linear', 'qwen2', 'qwen3', 'smollm2'] as const;

let gpu: GpuBackend;
const cpu = new CpuBackend();
let tmp: string;
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  tmp = await mkdtemp(join(tmpdir(), 'repirl-hf-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

interface Goldens {
  weights_dtype: 'BF16' | 'F16' | 'F32';
  head_dim: number;
  rope_inv_freq: number[];
  sequences: { name: string; input_ids: number[]; last_logits: number[]; next_token_logprobs: number[]; first_logits_head: number[] }[];
  greedy: { prompt_ids: number[]; new_token_ids: number[]; min_margin: number };
}
const goldens = async (name: string): Promise<Goldens> => JSON.parse(await readFile(join(FIXTURES, name, 'goldens.json'), 'utf8')) as Goldens;

/** A backend whose every use throws: loading errors must come before any device work. */
const untouchable = new Proxy({}, { get: (_t, key) => { throw new Error(`device touched (${String(key)})`); } }) as unknown as Backend;

/** Logits [T, V] and next-token log-probs [T − 1] of one sequence, read back as float64. */
async function scoreSequence(model: DecoderLM, ids: number[]): Promise<{ logits: Float64Array; logp: Float64Array }> {
  const backend = model.backend;
  const T = ids.length;
  const V = model.config.vocabSize;
  const [logits, logp] = ag.noGrad(() =>
    ag.tidy(() => {
      const l = ag.reshape(model.forward(ag.tensor(backend, ids, [1, T], { dtype: 'i32' })), [T, V]);
      const rows = ag.slice(l, 0, 0, T - 1);
      const { logp: lp } = ag.tokenLogProbs(rows, ag.tensor(backend, ids.slice(1), [T - 1], { dtype: 'i32' }));
      return [l, lp] as const;
    }),
  );
  const out = { logits: Float64Array.from(await logits.data()), logp: Float64Array.from(await logp.data()) };
  logits.dispose();
  logp.dispose();
  return out;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

// ───────────────────────────── config ─────────────────────────────

describe('readHfConfig', () => {
  it('maps every fixture config onto the DecoderConfig that computes what transformers computes', async () => {
    const llama = await readHfConfig(join(FIXTURES, 'llama'));
    expect(llama.architecture).toBe('LlamaForCausalLM');
    expect(llama.config).toMatchObject({ vocabSize: 320, dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, dFF: 160, maxSeqLen: 512, normEps: 1e-5, ropeBase: 500000, tiedEmbeddings: false, qkvBias: false, outBias: false, mlpBias: false, qkNorm: false, norm: 'rms', mlp: 'swiglu' });
    expect(llama.config.ropeScaling).toEqual({ type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 64 });
    expect(llama.torchDtype).toBe('bfloat16');
    const linear = await readHfConfig(join(FIXTURES, 'llama-linear'));
    expect(linear.config).toMatchObject({ headDim: 8, nKvHeads: 4, normEps: 1e-6, ropeScaling: { type: 'linear', factor: 2 } }); // legacy key `type`, no head_dim
    const qwen2 = await readHfConfig(join(FIXTURES, 'qwen2'));
    expect(qwen2.config).toMatchObject({ qkvBias: true, outBias: false, mlpBias: false, tiedEmbeddings: true, vocabSize: 384, ropeScaling: null }); // sliding_window with use_sliding_window false: full attention
    const qwen3 = await readHfConfig(join(FIXTURES, 'qwen3'));
    expect(qwen3.config).toMatchObject({ qkNorm: true, headDim: 16, dModel: 48, nHeads: 4, nKvHeads: 2, qkvBias: false, outBias: false, tiedEmbeddings: false });
    const smol = await readHfConfig(join(FIXTURES, 'smollm2'));
    expect(smol.config).toMatchObject({ nHeads: 3, nKvHeads: 1, headDim: 16, tiedEmbeddings: true, ropeScaling: null, ropeBase: 100000 });
  });

  it("uses each class's defaults: Qwen3's head_dim 128, num_key_value_heads = heads, rms_norm_eps 1e-6, rope_theta 10000, untied", () => {
    const base = { architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', vocab_size: 10, hidden_size: 256, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 8, max_position_embeddings: 16 };
    const c = parseHfConfig(base).config;
    expect(c).toMatchObject({ headDim: 128, nKvHeads: 4, normEps: 1e-6, ropeBase: 10000, tiedEmbeddings: false });
    const llama = parseHfConfig({ ...base, architectures: ['LlamaForCausalLM'], model_type: 'llama' }).config;
    expect(llama.headDim).toBe(64);
    // transformers 5 spells RoPE as rope_parameters
    const v5 = parseHfConfig({ ...base, rope_parameters: { rope_type: 'linear', factor: 4, rope_theta: 1e6 } }).config;
    expect(v5).toMatchObject({ ropeBase: 1e6, ropeScaling: { type: 'linear', factor: 4 } });
    expect(parseHfConfig({ ...base, rope_scaling: { rope_type: 'default' } }).config.ropeScaling).toBeNull();
    expect(parseHfConfig({ ...base, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: null }).architecture).toBe('MistralForCausalLM');
  });

  const base = { architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 10, hidden_size: 64, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 8, max_position_embeddings: 16 };
  const qwen2 = { ...base, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' };
  const refusals: [string, Record<string, unknown>, RegExp][] = [
    ['another architecture', { ...base, architectures: ['GemmaForCausalLM'], model_type: 'gemma' }, /cfg\.json: architectures = \["GemmaForCausalLM"\] is not supported/],
    ['two architectures', { ...base, architectures: ['LlamaForCausalLM', 'Qwen2ForCausalLM'] }, /architectures = .* must name exactly one/],
    ['model_type not matching', { ...base, model_type: 'qwen2' }, /model_type = "qwen2" does not match architectures "LlamaForCausalLM"/],
    ['sliding window (Qwen2)', { ...qwen2, use_sliding_window: true, sliding_window: 4096 }, /use_sliding_window = true is not supported/],
    ['sliding window (Mistral)', { ...base, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 4096 }, /sliding_window = 4096 is not supported/],
    ['sliding layers', { ...base, layer_types: ['sliding_attention'] }, /layer_types = \["sliding_attention"\] is not supported/],
    ['rope_scaling yarn', { ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } }, /rope_scaling\.rope_type = "yarn" is not supported \(rope scaling types: 'linear', 'llama3'\)/],
    ['rope_scaling dynamic (legacy key)', { ...base, rope_scaling: { type: 'dynamic', factor: 4 } }, /rope_scaling\.type = "dynamic" is not supported/],
    ['llama3 without its keys', { ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } }, /rope_scaling\.low_freq_factor = undefined must be a positive number/],
    ['hidden_act gelu', { ...base, hidden_act: 'gelu' }, /hidden_act = "gelu" is not supported/],
    ['attention dropout', { ...base, attention_dropout: 0.1 }, /attention_dropout = 0\.1 is not supported/],
    ['quantised', { ...base, quantization_config: { quant_method: 'gptq' } }, /quantization_config = .* is not supported/],
    ['interleaved rope', { ...base, rope_interleaved: true }, /rope_interleaved = true is not supported/],
    ['kv heads not dividing', { ...base, num_key_value_heads: 3 }, /num_key_value_heads = 3 must divide num_attention_heads \(4\)/],
    ['odd head size', { ...base, head_dim: 7 }, /head_dim = 7 \(head size 7\) must be even/],
    ['head size beyond the kernel', { ...base, head_dim: 256 }, /head_dim = 256 .* at most 128/],
    ['missing key', { ...base, hidden_size: undefined }, /cfg\.json: key hidden_size is missing/],
    ['not an integer', { ...base, num_hidden_layers: 1.5 }, /num_hidden_layers = 1\.5 must be a positive integer/],
    ['attention_bias not boolean', { ...base, attention_bias: 'yes' }, /attention_bias = "yes" must be true or false/],
  ];
  for (const [what, raw, message] of refusals) {
    it(`refuses ${what}, naming the file, key and value`, () => {
      expect(() => parseHfConfig(raw, 'dir/cfg.json')).toThrow(HfModelError);
      expect(() => parseHfConfig(raw, 'dir/cfg.json')).toThrow(message);
    });
  }

  it('refuses a directory without config.json, naming the file', async () => {
    await expect(readHfConfig(join(tmp, 'nowhere'))).rejects.toThrow(/nowhere\/config\.json: file not found/);
  });
});

// ─────────────────────────── name table ───────────────────────────

describe('the HF ↔ DecoderLM name table', () => {
  it('places biases as each architecture does: Qwen2 on q/k/v only, Llama/Qwen3 nowhere (attention_bias false)', async () => {
    const qwen2 = resolveDecoderConfig((await readHfConfig(join(FIXTURES, 'qwen2'))).config);
    const names = hfTensorTable(qwen2).flatMap((e) => e.hf.map((p) => p.name));
    expect(names).toContain('model.layers.0.self_attn.q_proj.bias');
    expect(names).toContain('model.layers.1.self_attn.v_proj.bias');
    expect(names.filter((n) => n.endsWith('.bias')).every((n) => /self_attn\.[qkv]_proj\.bias$/.test(n))).toBe(true);
    expect(names).not.toContain('lm_head.weight'); // tied
    const model = new DecoderLM(cpu, qwen2, { empty: true });
    expect([...model.parameters().keys()].filter((n) => n.endsWith('bias'))).toEqual(['blocks.0.attn.qkv.bias', 'blocks.1.attn.qkv.bias']);
    expect(model.lmHead).toBeNull();
    model.dispose();
    const qwen3 = resolveDecoderConfig((await readHfConfig(join(FIXTURES, 'qwen3'))).config);
    expect(hfTensorTable(qwen3).some((e) => e.hf.some((p) => p.name.endsWith('.bias')))).toBe(false);
    expect(hfTensorTable(qwen3).find((e) => e.ours === 'blocks.0.attn.qNorm.weight')?.hf).toEqual([{ name: 'model.layers.0.self_attn.q_norm.weight', shape: [16] }]);
  });

  it('covers every parameter exactly once, with its shape, and hfToOurs/oursToHf are exact inverses', async () => {
    for (const name of NAMES) {
      const c = resolveDecoderConfig((await readHfConfig(join(FIXTURES, name))).config);
      const model = new DecoderLM(cpu, c, { empty: true });
      const params = model.parameters();
      const table = hfTensorTable(c);
      expect(table.map((e) => e.ours).sort()).toEqual([...params.keys()].sort());
      let seed = 1;
      for (const e of table) {
        expect(e.shape).toEqual(params.get(e.ours)!.shape);
        const data = Float32Array.from({ length: e.shape.reduce((a, b) => a * b, 1) }, () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5);
        const parts = oursToHf(e, data);
        expect(parts.map((p) => p.shape)).toEqual(e.hf.map((p) => p.shape));
        expect(hfToOurs(e, parts.map((p) => p.data))).toEqual(data);
      }
      model.dispose();
    }
  });

  it("the fused qkv weight is [q_proj; k_proj; v_proj]ᵀ: column j of q's block is q_proj's row j", async () => {
    const c = resolveDecoderConfig((await readHfConfig(join(FIXTURES, 'qwen3'))).config);
    const e = hfTensorTable(c).find((x) => x.ours === 'blocks.1.attn.qkv.weight')!;
    expect(e.shape).toEqual([48, (4 + 2 + 2) * 16]);
    const parts = e.hf.map((p, k) => Float32Array.from({ length: p.shape[0]! * p.shape[1]! }, (_, i) => 1000 * k + i));
    const ours = hfToOurs(e, parts);
    const cols = e.shape[1]!;
    // q_proj [64, 48] row 5, element 7 → ours[7, 5]; k_proj [32, 48] row 3 element 2 → ours[2, 64 + 3]; v_proj row 0 → column 96
    expect(ours[7 * cols + 5]).toBe(5 * 48 + 7);
    expect(ours[2 * cols + 64 + 3]).toBe(1000 + 3 * 48 + 2);
    expect(ours[0 * cols + 96]).toBe(2000);
  });
});

// ─────────────────────────── weight checks ───────────────────────────

describe('loadHfModel refuses bad weights before any device work, naming file and tensor', () => {
  /** A copy of a fixture directory, with `edit` applied to its (single-file) tensors. */
  async function variant(from: string, name: string, edit?: (t: Record<string, TensorInput>) => void): Promise<string> {
    const dir = join(tmp, name);
    await mkdir(dir, { recursive: true });
    await copyFile(join(FIXTURES, from, 'config.json'), join(dir, 'config.json'));
    if (edit) {
      const { tensors } = await loadSafetensors(join(FIXTURES, from, 'model.safetensors'));
      const out: Record<string, TensorInput> = {};
      for (const [n, t] of Object.entries(tensors)) out[n] = { dtype: 'F32', shape: t.shape, data: tensorToFloat32(t) };
      edit(out);
      await saveSafetensors(join(dir, 'model.safetensors'), out, { format: 'pt' });
    }
    return dir;
  }
  const load = (dir: string) => loadHfModel(untouchable, dir);

  it('no weight file', async () => {
    await expect(load(await variant('llama', 'no-weights'))).rejects.toThrow(/no-weights: no weights: neither model\.safetensors nor model\.safetensors\.index\.json exists/);
  });
  it('a missing tensor (and the tied/untied hint)', async () => {
    const dir = await variant('llama', 'missing', (t) => {
      delete t['model.layers.1.self_attn.k_proj.weight'];
      delete t['lm_head.weight'];
    });
    await expect(load(dir)).rejects.toThrow(/missing tensor 'model\.layers\.1\.self_attn\.k_proj\.weight' \[32, 64\]/);
    await expect(load(dir)).rejects.toThrow(/missing tensor 'lm_head\.weight' \[320, 64\] \(.*config\.json has tie_word_embeddings false\)/);
  });
  it('an unexpected tensor, e.g. an LM head in a tied checkpoint or an o_proj bias in Qwen2', async () => {
    const dir = await variant('qwen2', 'unexpected', (t) => {
      t['lm_head.weight'] = { dtype: 'F32', shape: [384, 64], data: new Float32Array(384 * 64) };
      t['model.layers.0.self_attn.o_proj.bias'] = { dtype: 'F32', shape: [64], data: new Float32Array(64) };
      t['model.layers.0.self_attn.rotary_emb.inv_freq'] = { dtype: 'F32', shape: [8], data: new Float32Array(8) }; // ignorable
    });
    const err = (await load(dir).then(
      () => new Error('loaded'),
      (e: Error) => e,
    )) as Error;
    expect(err).toBeInstanceOf(HfModelError);
    expect(err.message).toMatch(/unexpected\/model\.safetensors: unexpected tensor 'lm_head\.weight' \(.*tie_word_embeddings true/);
    expect(err.message).toMatch(/unexpected tensor 'model\.layers\.0\.self_attn\.o_proj\.bias'/);
    expect(err.message).not.toMatch(/inv_freq/);
  });
  it('a wrong shape or a non-float dtype', async () => {
    const dir = await variant('smollm2', 'shape', (t) => {
      t['model.layers.0.self_attn.v_proj.weight'] = { dtype: 'F32', shape: [48, 48], data: new Float32Array(48 * 48) };
      t['model.norm.weight'] = { dtype: 'I32', shape: [48], data: new Int32Array(48) };
    });
    await expect(load(dir)).rejects.toThrow(/shape\/model\.safetensors: tensor 'model\.layers\.0\.self_attn\.v_proj\.weight' has shape \[48, 48\], but .*config\.json implies \[16, 48\]/);
    await expect(load(dir)).rejects.toThrow(/tensor 'model\.norm\.weight' has dtype I32/);
  });
  it('sharded: an index naming a missing file, or a tensor its shard lacks', async () => {
    const dir = join(tmp, 'shards');
    await mkdir(dir, { recursive: true });
    for (const f of ['config.json', 'model-00001-of-00002.safetensors', 'model.safetensors.index.json']) await copyFile(join(FIXTURES, 'qwen3', f), join(dir, f));
    await expect(load(dir)).rejects.toThrow(/model\.safetensors\.index\.json: names model-00002-of-00002\.safetensors \(for tensor '.*' and \d+ more\), which does not exist/);
    await copyFile(join(FIXTURES, 'qwen3', 'model-00002-of-00002.safetensors'), join(dir, 'model-00002-of-00002.safetensors'));
    const index = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8'));
    index.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors';
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    await expect(load(dir)).rejects.toThrow(/maps tensor 'model\.norm\.weight' to model-00001-of-00002\.safetensors, but .*model-00001-of-00002\.safetensors has no tensor 'model\.norm\.weight'/);
  });
  it('a truncated weight file (found from its header and size alone)', async () => {
    const dir = await variant('smollm2', 'truncated');
    const bytes = await readFile(join(FIXTURES, 'smollm2', 'model.safetensors'));
    await writeFile(join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    await expect(load(dir)).rejects.toThrow(/truncated\/model\.safetensors: truncated file: tensor '.*' ends at byte/);
  });
  it('a device dtype other than f32 or f16, and f16 on a backend that cannot hold it', async () => {
    await expect(loadHfModel(untouchable, join(FIXTURES, 'llama'), { dtype: 'bf16' as 'f32' })).rejects.toThrow(/dtype must be 'f32' or 'f16', got "bf16"/);
    await expect(loadHfModel(untouchable, join(FIXTURES, 'llama'), { dtype: 'f16' })).rejects.toThrow(/dtype 'f16'.*not a GPU backend/);
  });
});

// ─────────────────────────── parity ───────────────────────────

/** Bound on |log-prob − golden| on the GPU, the 1e-4 for every file dtype: BF16/F16 weights widen exactly to float32 and the goldens are computed from the same stored values, so only float32 arithmetic differs (measured ≤ 7e-6 on lavapipe, logits ≤ 9e-6). */
const GPU_LOGP_TOL = 1e-4;
/** On the float64 CPU backend (float32-representable weights, float64 arithmetic) only summation order differs: measured ≤ 2e-14. */
const CPU_LOGP_TOL = 1e-11;

describe('parity with the float64 goldens (scripts/hf/reference.py)', () => {
  for (const name of NAMES) {
    it(`${name}: per-token log-probs, last logits and greedy ids on the GPU`, async () => {
      const g = await goldens(name);
      const { model } = await loadHfModel(gpu, join(FIXTURES, name));
      try {
        for (const s of g.sequences) {
          const { logits, logp } = await scoreSequence(model, s.input_ids);
          expect(maxAbsDiff(logp, s.next_token_logprobs), `${name}/${s.name} log-probs`).toBeLessThan(GPU_LOGP_TOL);
          const V = model.config.vocabSize;
          expect(maxAbsDiff(logits.subarray(logits.length - V), s.last_logits), `${name}/${s.name} last logits`).toBeLessThan(GPU_LOGP_TOL);
          expect(maxAbsDiff(logits.subarray(0, 8), s.first_logits_head), `${name}/${s.name} position-0 logits`).toBeLessThan(GPU_LOGP_TOL);
        }
        // Greedy with the KV cache (prefill + 7 one-token steps) and without it.
        for (const cache of [true, false]) {
          const [out] = await generate(model, [g.greedy.prompt_ids], { maxNewTokens: g.greedy.new_token_ids.length, temperature: 0, cache });
          expect(out!.tokens, `${name} greedy (cache ${cache})`).toEqual(g.greedy.new_token_ids);
        }
      } finally {
        model.dispose();
      }
    });

    it(`${name}: per-token log-probs on the float64 CPU backend within ${CPU_LOGP_TOL}`, async () => {
      const g = await goldens(name);
      const { model } = await loadHfModel(cpu, join(FIXTURES, name));
      for (const s of g.sequences) {
        const { logp, logits } = await scoreSequence(model, s.input_ids);
        expect(maxAbsDiff(logp, s.next_token_logprobs), `${name}/${s.name}`).toBeLessThan(CPU_LOGP_TOL);
        expect(maxAbsDiff(logits.subarray(logits.length - model.config.vocabSize), s.last_logits)).toBeLessThan(CPU_LOGP_TOL);
      }
      model.dispose();
    });
  }
});

// ─────────────────────── easy-to-get-wrong details ───────────────────────

describe('details that are easy to get wrong', () => {
  it('rope scaling: the inverse frequencies equal the goldens (llama3 bands and smoothing; linear; none)', async () => {
    for (const name of NAMES) {
      const g = await goldens(name);
      const c = resolveDecoderConfig((await readHfConfig(join(FIXTURES, name))).config);
      expect(maxAbsDiff(ropeInverseFrequencies(c.headDim, c.ropeBase, c.ropeScaling), g.rope_inv_freq), name).toBeLessThan(1e-15);
    }
  });

  it('rotate-half: the pair (x[j], x[j + D/2]) rotates, not (x[2j], x[2j + 1])', async () => {
    const D = 8;
    const p = 3;
    const inv = ropeInverseFrequencies(D, 100);
    const tables = ag.ropeTables(8, D, 100);
    for (const backend of [cpu, gpu] as Backend[]) {
      // x = e_1 (j = 1) at position p: y[1] = cos(pθ_1), y[1 + D/2] = sin(pθ_1), everything else 0.
      const x = ag.tensor(backend, [0, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, D]);
      const y = await ag.noGrad(() =>
        ropeHeads(x, ag.tensor(backend, [p], [1], { dtype: 'i32' }), ag.tensor(backend, tables.cos, [8, D / 2]), ag.tensor(backend, tables.sin, [8, D / 2])),
      ).data();
      const want = [0, Math.cos(p * inv[1]!), 0, 0, 0, Math.sin(p * inv[1]!), 0, 0];
      expect(maxAbsDiff(y, want)).toBeLessThan(1e-6);
    }
  });

  it('GQA grouping: query heads 2h and 2h + 1 read kv head h (floor, not modulo), checked through the model', async () => {
    // The llama fixture has 4 query heads over 2 kv heads. Swapping the two kv heads' k/v weights
    // and the query heads (0,1) ↔ (2,3) (q rows and o_proj columns) is a symmetry only under the
    // floor grouping; under h % Hkv it would change the logits.
    const { model } = await loadHfModel(cpu, join(FIXTURES, 'llama'));
    const ids = (await goldens('llama')).sequences[0]!.input_ids;
    const before = await scoreSequence(model, ids);
    const D = 16;
    for (const block of model.blocks) {
      const qkv = block.attn.qkv.weight;
      const proj = block.attn.proj.weight;
      const w = Float64Array.from(await qkv.data());
      const cols = qkv.shape[1]!;
      const perm = (c: number) => {
        const head = Math.floor(c / D);
        const j = c % D;
        const swapped = head < 4 ? (head + 2) % 4 : head < 6 ? 4 + ((head - 4 + 1) % 2) : 6 + ((head - 6 + 1) % 2);
        return swapped * D + j;
      };
      const out = new Float64Array(w.length);
      for (let r = 0; r < qkv.shape[0]!; r++) for (let c = 0; c < cols; c++) out[r * cols + perm(c)] = w[r * cols + c]!;
      ag.assign(qkv, out);
      const pw = Float64Array.from(await proj.data());
      const pOut = new Float64Array(pw.length);
      const pc = proj.shape[1]!;
      for (let r = 0; r < proj.shape[0]!; r++) for (let c = 0; c < pc; c++) pOut[perm(r) * pc + c] = pw[r * pc + c]!;
      ag.assign(proj, pOut);
    }
    const after = await scoreSequence(model, ids);
    expect(maxAbsDiff(after.logp, before.logp)).toBeLessThan(1e-9);
    model.dispose();
  });

  it('tied embeddings: a tied model has no LM head and its logits are hidden · embed_tokensᵀ', async () => {
    const { model } = await loadHfModel(cpu, join(FIXTURES, 'smollm2'));
    expect(model.lmHead).toBeNull();
    const ids = [5, 9, 300];
    const { logits } = await scoreSequence(model, ids);
    const hidden = Float64Array.from(await ag.noGrad(() => model.hidden(ag.tensor(cpu, ids, [1, 3], { dtype: 'i32' }))).data());
    const embed = Float64Array.from(await model.embed.weight.data());
    const d = model.config.dModel;
    let want = 0;
    for (let k = 0; k < d; k++) want += hidden[2 * d + k]! * embed[7 * d + k]!;
    expect(logits[2 * model.config.vocabSize + 7]).toBeCloseTo(want, 10);
    model.dispose();
  });

  it('q/k norm: Qwen3 normalises each head before RoPE (the split does not rotate; the qk-norm path runs)', async () => {
    const { model } = await loadHfModel(cpu, join(FIXTURES, 'qwen3'));
    expect(model.blocks[0]!.attn.qNorm).not.toBeNull();
    expect(model.blocks[0]!.attn.fused).toBe(false);
    // Scaling a q_norm weight by 2 must change the logits (the norm is applied, and after it, not before RoPE only on v).
    const ids = [1, 2, 3, 4, 5];
    const before = await scoreSequence(model, ids);
    const w = model.blocks[0]!.attn.qNorm!.weight;
    ag.assign(w, Float64Array.from(await w.data(), (x) => 2 * x));
    const after = await scoreSequence(model, ids);
    expect(maxAbsDiff(after.logp, before.logp)).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it('a head size the attention kernel lacks (llama-linear: 8) is padded to 16 with the true scale', async () => {
    const { model } = await loadHfModel(gpu, join(FIXTURES, 'llama-linear'));
    expect(model.headDim).toBe(8);
    expect(model.blocks[0]!.attn.cacheHeadDim).toBe(16);
    expect(model.blocks[0]!.attn.fused).toBe(false);
    model.dispose();
  });
});

// ─────────────────────────── save ───────────────────────────

describe('saveHfModel', () => {
  it('save → load gives bit-identical parameters and logits (F32), config keys kept from the base', async () => {
    for (const name of ['qwen2', 'qwen3', 'llama'] as const) {
      const loaded = await loadHfModel(gpu, join(FIXTURES, name));
      const dir = join(tmp, `saved-${name}`);
      await saveHfModel(loaded.model, dir, { baseConfig: loaded.hf.raw });
      const again = await loadHfModel(gpu, dir);
      expect(again.hf.architecture).toBe(loaded.hf.architecture);
      expect(again.hf.config).toEqual(loaded.hf.config);
      expect(again.hf.raw.eos_token_id).toBe(loaded.hf.raw.eos_token_id);
      const ids = (await goldens(name)).sequences[1]!.input_ids;
      const a = await scoreSequence(loaded.model, ids);
      const b = await scoreSequence(again.model, ids);
      expect(b.logits).toEqual(a.logits);
      loaded.model.dispose();
      again.model.dispose();
    }
  });

  it('saving a BF16 checkpoint as BF16 reproduces every original tensor bit for bit, under its original name', async () => {
    const loaded = await loadHfModel(cpu, join(FIXTURES, 'llama'));
    const dir = join(tmp, 'saved-bf16');
    await saveHfModel(loaded.model, dir, { dtype: 'BF16', baseConfig: loaded.hf.raw });
    const original = (await loadSafetensors(join(FIXTURES, 'llama', 'model.safetensors'))).tensors;
    const saved = (await loadSafetensors(join(dir, 'model.safetensors'))).tensors;
    expect(Object.keys(saved).sort()).toEqual(Object.keys(original).sort());
    for (const [n, t] of Object.entries(original)) {
      expect(saved[n]!.dtype).toBe('BF16');
      expect(saved[n]!.shape).toEqual(t.shape);
      expect(saved[n]!.data).toEqual(t.data);
    }
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    loaded.model.dispose();
  });

  it('a toy model with a Hugging Face form saves as Llama; one without (LayerNorm, GELU, o bias alone) is refused', async () => {
    const toy = new DecoderLM(cpu, { vocabSize: 19, dModel: 32, nLayers: 1, nHeads: 2, dFF: 48, maxSeqLen: 16 }, { seed: 1 });
    await saveHfModel(toy, join(tmp, 'toy'));
    const back = await loadHfModel(cpu, join(tmp, 'toy'));
    expect(back.hf.architecture).toBe('LlamaForCausalLM');
    const ids = [1, 2, 3];
    expect((await scoreSequence(back.model, ids)).logits).toEqual((await scoreSequence(toy, ids)).logits);
    for (const [config, message] of [
      [{ norm: 'layer' }, /norm "layer"/],
      [{ mlp: 'gelu' }, /mlp "gelu"/],
      [{ outBias: true }, /attention_bias biases all four projections or none/],
    ] as const) {
      const m = new DecoderLM(cpu, { vocabSize: 19, dModel: 32, nLayers: 1, nHeads: 2, dFF: 48, maxSeqLen: 16, ...config }, { empty: true });
      await expect(saveHfModel(m, join(tmp, 'refused'))).rejects.toThrow(message);
      m.dispose();
    }
  });
});

describe('describeHfModel', () => {
  it('reports architecture, parameters, bytes per dtype and KV-cache bytes per token from config and headers', async () => {
    const qwen3 = await describeHfModel(join(FIXTURES, 'qwen3'));
    expect(qwen3.architecture).toBe('Qwen3ForCausalLM');
    expect(qwen3.files).toHaveLength(2);
    expect(qwen3.bytesByDtype).toEqual({ F32: 332992 }); // the index's total_size
    expect(qwen3.parameters).toBe(332992 / 4);
    expect(qwen3.kvCacheBytesPerToken).toBe(2 * 2 * 2 * 16 * 4); // k and v, 2 layers, 2 kv heads, head 16, f32
    const llama = await describeHfModel(join(FIXTURES, 'llama'));
    expect(Object.keys(llama.bytesByDtype)).toEqual(['BF16']);
    expect(llama.deviceBytes).toBe(llama.parameters * 4);
    const linear = await describeHfModel(join(FIXTURES, 'llama-linear'));
    expect(linear.kvCacheBytesPerToken).toBe(2 * 2 * 4 * 16 * 4); // head 8 padded to 16 in the cache
  });
});

// ─────────────────────── training the new paths ───────────────────────

describe('gradients through the Llama / Qwen paths (GQA split, q/k norm + ropeHeads, padded heads, biases)', () => {
  const Bt = 2;
  const Tt = 6;
  const vocab = 23;
  const variants: { name: string; config: ag.DecoderConfig }[] = [
    { name: 'Qwen3-like: GQA 4/2, head 16 ≠ d/H, q/k norm', config: { vocabSize: vocab, dModel: 48, nLayers: 2, nHeads: 4, nKvHeads: 2, headDim: 16, dFF: 40, maxSeqLen: 12, qkNorm: true, normEps: 1e-6, ropeBase: 1e6 } },
    { name: 'Qwen2-like: GQA 4/2 fused, q/k/v biases, tied', config: { vocabSize: vocab, dModel: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, dFF: 40, maxSeqLen: 12, qkvBias: true, tiedEmbeddings: true } },
    { name: 'padded head 8, MQA 4/1, llama3 rope, all biases', config: { vocabSize: vocab, dModel: 32, nLayers: 1, nHeads: 4, nKvHeads: 1, dFF: 24, maxSeqLen: 12, bias: true, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 4 } } },
  ];
  const idsT = Array.from({ length: Bt * Tt }, (_, i) => (i * 7 + 3) % vocab);
  const lengths = [Tt, 4];

  /** loss = Σ w ∘ logits − mean log p(next token) over a right-padded batch. */
  function lossOf(model: DecoderLM): ag.Tensor {
    const backend = model.backend;
    const x = ag.tensor(backend, idsT, [Bt, Tt], { dtype: 'i32' });
    const logits = model.forward(x, { lengths });
    const w = ag.tensor(backend, Array.from({ length: Bt * Tt * vocab }, (_, i) => Math.sin(i)), logits.shape);
    const { logp } = ag.tokenLogProbs(ag.reshape(logits, [Bt * Tt, vocab]), ag.tensor(backend, [...idsT.slice(1), idsT[0]!], [Bt * Tt], { dtype: 'i32' }));
    return ag.sub(ag.sum(ag.mul(logits, w)), ag.mean(logp));
  }
  async function grads(model: DecoderLM): Promise<Map<string, Float64Array>> {
    ag.tidy(() => {
      ag.backward(lossOf(model));
    });
    const out = new Map<string, Float64Array>();
    for (const [name, p] of model.parameters()) out.set(name, Float64Array.from(await p.grad!.data()));
    model.zeroGrad();
    return out;
  }

  for (const v of variants) {
    it(`${v.name}: every parameter gradient, GPU vs CPU; CPU vs finite differences`, async () => {
      const model = new DecoderLM(gpu, v.config, { seed: 5 });
      // Non-trivial norm weights, so the q/k norms' weights matter in the check.
      for (const [name, p] of model.parameters()) if (/Norm\.weight$|norm\d\.weight$/.test(name)) ag.assign(p, Array.from({ length: p.size }, (_, i) => 1 + 0.3 * Math.cos(i + name.length)));
      const reference = await model.copy({ backend: cpu });
      const g = await grads(model);
      const c = await grads(reference);
      for (const [name, want] of c) {
        const got = g.get(name)!;
        let err = 0;
        let scale = 0;
        for (let i = 0; i < want.length; i++) {
          err = Math.max(err, Math.abs(got[i]! - want[i]!));
          scale = Math.max(scale, Math.abs(want[i]!));
        }
        expect(err, `gradient of ${name}`).toBeLessThan(1e-5 + 1e-3 * scale);
      }
      // Central differences (float64 CPU) at a few entries of the attention parameters.
      const loss = async () => {
        const l = ag.noGrad(() => lossOf(reference));
        const value = await l.item();
        l.dispose();
        return value;
      };
      const checked = [...reference.parameters()].filter(([name]) => /attn\.(qkv|proj|qNorm|kNorm)\.(weight|bias)$/.test(name) && name.startsWith('blocks.0'));
      for (const [name, p] of checked) {
        const values = Float64Array.from(await p.data());
        for (const i of [0, Math.floor(values.length / 2), values.length - 1]) {
          const h = 1e-5;
          const at = (delta: number) => {
            const copy = Float64Array.from(values);
            copy[i] = values[i]! + delta;
            ag.assign(p, copy);
          };
          at(h);
          const up = await loss();
          at(-h);
          const down = await loss();
          at(0);
          const numeric = (up - down) / (2 * h);
          expect(Math.abs(numeric - c.get(name)![i]!), `${name}[${i}]`).toBeLessThan(1e-6 + 1e-5 * Math.abs(numeric));
        }
      }
      model.dispose();
      reference.dispose();
    });
  }
});
