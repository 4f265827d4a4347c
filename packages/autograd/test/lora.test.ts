// LoRA (src/lora) and export (src/hf/export.ts), issue 13 items 5 and 6:
// - the gradient of the adapted model (every target, the fused q/k/v split, dropout) against
//   central finite differences on the float64 CPU backend, and GPU against CPU; the base gets none;
// - a frozen operand's gradient is skipped by the matmul rule and the other one is unchanged;
// - the done-when test: SFT with LoRA on the tiny Qwen2 checkpoint lowers the loss; the merged
//   export reloads (loadHfModel) with logits identical to the in-memory merged model, and its
//   weights are W + (alpha/r)·B·A computed in float64 from the files; the PEFT adapter reloads onto
//   the base with logits identical to the trained in-memory adapter;
// - PEFT names, shapes and config keys; every refusal names the file and the key.
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { SeededRandom, assertClose, numericGradient } from '@repirl/kernels/testing';
import * as ag from '../src/index.js';
import {
  AdamW,
  CpuBackend,
  DecoderLM,
  GpuBackend,
  LORA_TARGET_MODULES,
  LoraAdapters,
  applyLora,
  exportHfModel,
  exportPeftAdapter,
  loadHfModel,
  loadPeftAdapter,
  loadSafetensors,
  readPeftConfig,
  tensorToFloat32,
  type Backend,
  type LoraConfig,
} from '../src/index.js';

const QWEN2 = join(import.meta.dirname, 'fixtures', 'hf', 'qwen2');

let gpu: GpuBackend;
const cpu = new CpuBackend();
let tmp: string;
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  tmp = await mkdtemp(join(tmpdir(), 'repirl-lora-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A Qwen2-shaped toy: GQA (4 query heads over 2 kv heads), q/k/v biases, SwiGLU, tied embeddings. */
const TOY = { vocabSize: 11, dModel: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, dFF: 24, maxSeqLen: 8, qkvBias: true, tiedEmbeddings: true };
const ALL: LoraConfig = { rank: 2, alpha: 3, dropout: 0, targetModules: [...LORA_TARGET_MODULES] };

/** Gives every B random values (B starts at zero, which would leave A without a gradient). */
function randomizeB(adapters: LoraAdapters, seed: number): void {
  const rng = new SeededRandom(seed);
  for (const p of adapters.sites) ag.assign(p.B, Array.from({ length: p.B.size }, () => rng.uniform(-0.5, 0.5)));
}

const IDS = [[1, 5, 2, 9, 3, 7], [4, 4, 10, 0, 6, 2]];

/** Σ w ∘ logits with fixed weights: every logit matters. */
function weightedLogits(model: DecoderLM, backend: Backend): ag.Tensor {
  const ids = ag.tensor(backend, IDS.flat(), [2, 6], { dtype: 'i32' });
  const logits = model.forward(ids);
  const rng = new SeededRandom(3);
  const w = ag.tensor(backend, Array.from({ length: logits.size }, () => rng.uniform(-1, 1)), logits.shape);
  return ag.sum(ag.mul(logits, w));
}

async function buildAdapted(backend: Backend, lora: LoraConfig) {
  const model = new DecoderLM(backend, TOY, { seed: 11 });
  const adapters = applyLora(model, lora, { seed: 5 });
  randomizeB(adapters, 6);
  return { model, adapters };
}

async function adapterGrads(backend: Backend, lora: LoraConfig) {
  const { model, adapters } = await buildAdapted(backend, lora);
  adapters.setDropoutSeed(42);
  const loss = ag.tidy(() => {
    const l = weightedLogits(model, backend);
    ag.backward(l);
    return l;
  });
  const value = await loss.item();
  loss.dispose();
  const grads = new Map<string, Float64Array>();
  for (const [name, t] of adapters.parameters()) grads.set(name, Float64Array.from(await t.grad!.data()));
  const baseGrads = [...model.parameters().values()].filter((t) => t.grad !== null).length;
  return { value, grads, baseGrads, model, adapters };
}

describe('LoRA gradients', () => {
  for (const dropout of [0, 0.25]) {
    it(`every adapter (q/k/v inside the fused projection, o, gate, up, down) matches central differences on the CPU${dropout ? ', with dropout' : ''}, and the GPU matches the CPU`, async () => {
      const lora = { ...ALL, dropout };
      const ref = await adapterGrads(cpu, lora);
      expect(ref.baseGrads).toBe(0); // the frozen base gets no gradient
      // Finite differences over the A and B of one layer's k_proj (middle of the fused q/k/v), o_proj and down_proj.
      for (const name of ['model.layers.1.self_attn.k_proj.lora_A.weight', 'model.layers.1.self_attn.k_proj.lora_B.weight', 'model.layers.0.self_attn.o_proj.lora_B.weight', 'model.layers.0.mlp.down_proj.lora_A.weight', 'model.layers.1.mlp.gate_proj.lora_B.weight']) {
        const param = ref.adapters.parameters().get(name)!;
        const start = Float64Array.from(await param.data());
        const numeric = numericGradient((values) => {
          ag.assign(param, values);
          ref.adapters.setDropoutSeed(42);
          const out = ag.tidy(() => ag.noGrad(() => weightedLogits(ref.model, cpu)));
          // noGrad turns dropout off: with dropout, recompute the forward as training does.
          if (dropout > 0) {
            out.dispose();
            const withGrad = ag.tidy(() => weightedLogits(ref.model, cpu));
            const v = (withGrad.storage as { data: Float64Array }).data[0]!;
            withGrad.dispose();
            return v;
          }
          const v = (out.storage as { data: Float64Array }).data[0]!;
          out.dispose();
          return v;
        }, start, 1e-6);
        ag.assign(param, start);
        assertClose(ref.grads.get(name)!, numeric, { atol: 1e-6, rtol: 1e-5, label: `${name}: CPU gradient vs finite differences` });
      }
      const got = await adapterGrads(gpu, lora);
      expect(got.baseGrads).toBe(0);
      expect(got.value).toBeCloseTo(ref.value, 3);
      for (const [name, g] of ref.grads) assertClose(got.grads.get(name)!, g, { atol: 2e-4, rtol: 2e-3, label: `${name}: GPU gradient` });
      for (const r of [ref, got]) {
        r.adapters.dispose();
        r.model.dispose();
      }
    });
  }

  it('dropout changes the adapter term only while training: under noGrad the output is the undropped one', async () => {
    const a = await buildAdapted(cpu, { ...ALL, dropout: 0.5 });
    const b = await buildAdapted(cpu, { ...ALL, dropout: 0 });
    const plain = async (m: DecoderLM) => (await ag.noGrad(() => weightedLogits(m, cpu)).item());
    expect(await plain(a.model)).toBe(await plain(b.model));
    a.adapters.setDropoutSeed(1);
    const dropped = await ag.tidy(() => weightedLogits(a.model, cpu)).item();
    expect(Math.abs(dropped - (await plain(b.model)))).toBeGreaterThan(1e-3);
  });

  it('the matmul rule computes only the gradient of the operand that needs one, equal to the full rule', async () => {
    const rng = new SeededRandom(9);
    const data = (n: number) => Array.from({ length: n }, () => rng.uniform(-1, 1));
    for (const backend of [cpu, gpu] as Backend[]) {
      for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
        const a = data(12);
        const b = data(20);
        const weights = data(15);
        const shapeA = tA ? [4, 3] : [3, 4];
        const shapeB = tB ? [5, 4] : [4, 5];
        const run = async (needA: boolean, needB: boolean) => {
          const x = ag.tensor(backend, a, shapeA, { requiresGrad: needA });
          const y = ag.tensor(backend, b, shapeB, { requiresGrad: needB });
          const w = ag.tensor(backend, weights, [3, 5]);
          ag.backward(ag.sum(ag.mul(ag.matmul(x, y, { transposeA: tA, transposeB: tB }), w)));
          return { dA: x.grad ? await x.grad.toArray() : null, dB: y.grad ? await y.grad.toArray() : null };
        };
        const both = await run(true, true);
        const onlyA = await run(true, false);
        const onlyB = await run(false, true);
        expect(onlyA.dB).toBeNull();
        expect(onlyB.dA).toBeNull();
        assertClose(onlyA.dA!, both.dA!, { atol: 1e-6, rtol: 1e-5, label: `${backend.name} dA tA=${tA} tB=${tB}` });
        assertClose(onlyB.dB!, both.dB!, { atol: 1e-6, rtol: 1e-5, label: `${backend.name} dB tA=${tA} tB=${tB}` });
      }
    }
  });
});

describe('LoRA on the tiny Qwen2 checkpoint: SFT, merged export, PEFT adapter (done-when test)', () => {
  // A few fixed examples: prompt tokens, then the response tokens the loss is on.
  const EXAMPLES = [
    { prompt: [317, 12, 40, 7], response: [99, 150, 201, 319] },
    { prompt: [317, 55, 8], response: [3, 77, 260, 111, 319] },
    { prompt: [317, 200, 201, 202], response: [17, 17, 300, 319] },
  ];
  const T = Math.max(...EXAMPLES.map((e) => e.prompt.length + e.response.length));
  const ids = EXAMPLES.flatMap((e) => { const s = [...e.prompt, ...e.response]; return [...s, ...new Array<number>(T - s.length).fill(0)]; });
  const lengths = EXAMPLES.map((e) => e.prompt.length + e.response.length);
  const lossOf = (model: DecoderLM) => {
    const mask = ag.targetMask(model, EXAMPLES.map((e) => e.prompt.length), lengths, T);
    return ag.languageModelLoss(model, ag.tensor(model.backend, ids, [EXAMPLES.length, T], { dtype: 'i32' }), mask);
  };
  const logitsOf = async (model: DecoderLM) => ag.noGrad(() => ag.tidy(() => model.forward(ag.tensor(model.backend, ids, [EXAMPLES.length, T], { dtype: 'i32' }), { lengths }))).toArray();
  const lora: LoraConfig = { rank: 4, alpha: 8, dropout: 0.05, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] };

  it('lowers the loss, exports merged and as a PEFT adapter, and both reload with identical logits', async () => {
    const { model } = await loadHfModel(gpu, QWEN2);
    const baseBefore = await model.stateDict();
    const adapters = applyLora(model, lora, { seed: 1 });
    const trainable = adapters.parameters();
    expect([...model.parameters().values()].every((t) => !t.requiresGrad)).toBe(true);
    const opt = new AdamW(trainable, { lr: 1e-2 });
    const losses: number[] = [];
    for (let step = 0; step < 25; step++) {
      adapters.setDropoutSeed(step);
      const l = ag.tidy(() => {
        const loss = lossOf(model);
        ag.backward(loss);
        return ag.noGrad(() => ag.scale(loss, 1));
      });
      losses.push(await l.item());
      l.dispose();
      await opt.step();
    }
    expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);
    // The base weights did not move; only the optimizer's adapter parameters did.
    const baseAfter = await model.stateDict();
    for (const [name, t] of Object.entries(baseBefore)) expect(baseAfter[name]!.data).toEqual(t.data);
    expect(opt.state().tensors.size).toBe(2 * trainable.size);

    const adaptedLogits = await logitsOf(model);

    // Merged: an in-memory copy of the base with W + (alpha/r)·B·A, exported and reloaded.
    const mergedState = await adapters.mergedStateDict();
    const merged = await model.copy();
    merged.loadStateDict(mergedState);
    const mergedLogits = await logitsOf(merged);
    assertClose(mergedLogits, adaptedLogits, { atol: 1e-4, rtol: 1e-4, label: 'merged vs adapted logits' });
    const out = join(tmp, 'merged');
    const exported = await exportHfModel(model, out, { source: QWEN2, state: mergedState });
    expect(exported.files).toEqual(['config.json', 'model.safetensors', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']);
    expect((await readdir(tmp)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const reloaded = (await loadHfModel(gpu, out)).model;
    expect(await logitsOf(reloaded)).toEqual(mergedLogits);
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).architectures).toEqual(['Qwen2ForCausalLM']);
    expect(await readFile(join(out, 'tokenizer.json'))).toEqual(await readFile(join(QWEN2, 'tokenizer.json')));
    await expect(exportHfModel(model, out, { source: QWEN2 })).rejects.toThrow(/already exists/);

    // Golden: every adapted HF weight is fround(W + (alpha/r)·B·A), computed here in float64 from the files.
    const adapterDir = join(tmp, 'adapter');
    await exportPeftAdapter(adapters, adapterDir, { baseModelNameOrPath: QWEN2 });
    const base = (await loadSafetensors(join(QWEN2, 'model.safetensors'))).tensors;
    const peft = (await loadSafetensors(join(adapterDir, 'adapter_model.safetensors'))).tensors;
    const got = (await loadSafetensors(join(out, 'model.safetensors'))).tensors;
    const s = lora.alpha / lora.rank;
    let checked = 0;
    for (const name of Object.keys(got)) {
      const m = /^(model\.layers\.\d+\.(?:self_attn|mlp)\.(\w+))\.weight$/.exec(name);
      const W = tensorToFloat32(base[name]!);
      const G = tensorToFloat32(got[name]!);
      if (!m || !(lora.targetModules as string[]).includes(m[2]!)) {
        expect(G, name).toEqual(W); // untouched tensors are the base's, bit for bit
        continue;
      }
      const A = tensorToFloat32(peft[`base_model.model.${m[1]}.lora_A.weight`]!);
      const B = tensorToFloat32(peft[`base_model.model.${m[1]}.lora_B.weight`]!);
      const [rows, cols] = base[name]!.shape as [number, number];
      const expected = new Float32Array(rows * cols);
      for (let o = 0; o < rows; o++) {
        for (let i = 0; i < cols; i++) {
          let acc = 0;
          for (let k = 0; k < lora.rank; k++) acc += B[o * lora.rank + k]! * A[k * cols + i]!;
          expected[o * cols + i] = W[o * cols + i]! + s * acc;
        }
      }
      expect(G, name).toEqual(expected);
      checked++;
    }
    expect(checked).toBe(2 * 7);

    // Unmerged: the PEFT adapter loaded onto a fresh base gives the trained adapter's logits exactly.
    const config = await readPeftConfig(adapterDir);
    expect(config).toEqual({ lora, baseModelNameOrPath: QWEN2 });
    const fresh = (await loadHfModel(gpu, QWEN2)).model;
    const loaded = await loadPeftAdapter(fresh, adapterDir);
    expect(await logitsOf(fresh)).toEqual(adaptedLogits);

    for (const m of [loaded, adapters, fresh, reloaded, merged, model]) m.dispose();
    opt.dispose();
  });
});

describe('a PEFT adapter made by an independent script, against float64 PyTorch goldens (scripts/hf/lora-reference.py)', () => {
  interface LoraGoldens { r: number; lora_alpha: number; sequences: { name: string; input_ids: number[]; next_token_logprobs: number[]; last_logits: number[] }[] }
  const LORA = join(import.meta.dirname, 'fixtures', 'hf', 'qwen2-lora');
  for (const [name, tol] of [['gpu', 1e-4], ['cpu', 1e-9]] as const) {
    it(`${name}: qwen2 + the adapter (all seven projections, r 4, alpha 8) gives the golden log-probs (≤ ${tol}; merged on the CPU ≤ 1e-5), unmerged and merged`, async () => {
      const backend = name === 'gpu' ? gpu : cpu;
      const goldens = JSON.parse(await readFile(join(LORA, 'goldens.json'), 'utf8')) as LoraGoldens;
      const { model } = await loadHfModel(backend, QWEN2);
      const adapters = await loadPeftAdapter(model, LORA);
      expect(adapters.lora).toEqual({ rank: goldens.r, alpha: goldens.lora_alpha, dropout: 0, targetModules: [...LORA_TARGET_MODULES] });
      const merged = await model.copy();
      merged.loadStateDict(await adapters.mergedStateDict());
      for (const m of [model, merged]) {
        for (const seq of goldens.sequences) {
          const ids = ag.tensor(backend, seq.input_ids, [1, seq.input_ids.length], { dtype: 'i32' });
          const logp = await ag.noGrad(() => ag.tidy(() => ag.sequenceLogProbs(m, ids).logp)).toArray();
          // Merged weights are rounded to float32 once (as a saved model's are): on the float64 CPU
          // that rounding, not the arithmetic, bounds the agreement.
          const atol = m === merged && name === 'cpu' ? 1e-5 : tol;
          assertClose(logp, seq.next_token_logprobs, { atol, rtol: 0, label: `${name} ${m === model ? 'unmerged' : 'merged'} ${seq.name}` });
        }
      }
      for (const m of [adapters, merged, model]) m.dispose();
    });
  }
});

describe('exportHfModel', () => {
  it("keeps the source's max_position_embeddings for a model loaded with a shorter maxSeqLen, and its other keys", async () => {
    const { model } = await loadHfModel(cpu, QWEN2, { maxSeqLen: 16 });
    const out = join(tmp, 'short');
    await exportHfModel(model, out, { source: QWEN2 });
    const written = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    const original = JSON.parse(await readFile(join(QWEN2, 'config.json'), 'utf8'));
    expect(written.max_position_embeddings).toBe(32768);
    expect(written.sliding_window).toBe(original.sliding_window);
    expect(written.torch_dtype).toBe('float32');
    model.dispose();
  });
});

describe('PEFT layout', () => {
  it("writes PEFT's tensor names, shapes and adapter_config.json keys", async () => {
    const model = new DecoderLM(cpu, TOY, { seed: 1 });
    const adapters = applyLora(model, { rank: 3, alpha: 6, dropout: 0.1, targetModules: ['v_proj', 'q_proj'] }, { seed: 2 });
    const dir = join(tmp, 'peft-names');
    await exportPeftAdapter(adapters, dir, { baseModelNameOrPath: 'Qwen/Qwen2.5-0.5B' });
    const { tensors, metadata } = await loadSafetensors(join(dir, 'adapter_model.safetensors'));
    expect(metadata).toEqual({ format: 'pt' });
    const shapes = Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, t.shape]));
    expect(shapes).toEqual({
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': [3, 16],
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight': [16, 3],
      'base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight': [3, 16],
      'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight': [8, 3],
      'base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight': [3, 16],
      'base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight': [16, 3],
      'base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight': [3, 16],
      'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight': [8, 3],
    });
    // A is uniform in ±1/√in (PEFT's kaiming_uniform_(a=√5)), B zero.
    const A = tensorToFloat32(tensors['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight']!);
    expect(Math.max(...A.map(Math.abs))).toBeLessThanOrEqual(1 / 4);
    expect(Math.max(...A.map(Math.abs))).toBeGreaterThan(0.15);
    expect([...tensorToFloat32(tensors['base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight']!)].every((x) => x === 0)).toBe(true);
    const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 3, lora_alpha: 6, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj'],
      bias: 'none', fan_in_fan_out: false, base_model_name_or_path: 'Qwen/Qwen2.5-0.5B',
    });
    adapters.dispose();
    model.dispose();
  });

  it('refuses what it cannot load exactly, naming the file and the key or tensor', async () => {
    const model = new DecoderLM(cpu, TOY, { seed: 1 });
    const adapters = applyLora(model, { rank: 2, alpha: 4, dropout: 0, targetModules: ['q_proj'] }, { seed: 2 });
    const good = join(tmp, 'peft-good');
    await exportPeftAdapter(adapters, good);
    adapters.dispose();
    const config = JSON.parse(await readFile(join(good, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    const variant = async (name: string, change: Record<string, unknown>, weights = true) => {
      const dir = join(tmp, `peft-${name}`);
      await mkdir(dir);
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, ...change }));
      if (weights) await copyFile(join(good, 'adapter_model.safetensors'), join(dir, 'adapter_model.safetensors'));
      return dir;
    };
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['type', { peft_type: 'IA3' }, /adapter_config\.json: peft_type = "IA3" is not supported/],
      ['dora', { use_dora: true }, /use_dora = true is not supported/],
      ['regex', { target_modules: '.*q_proj' }, /target_modules = ".*q_proj" must be a list/],
      ['unknown', { target_modules: ['c_attn'] }, /target_modules = \["c_attn"\] names "c_attn"/],
      ['pattern', { rank_pattern: { q_proj: 8 } }, /rank_pattern = \{"q_proj":8\} is not supported/],
      ['rank', { r: 0 }, /adapter_config\.json: r must be a positive integer/],
      ['shape', { r: 3 }, /adapter_model\.safetensors does not match .*adapter_config\.json:\n {2}- tensor 'base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight' has shape \[2, 16\], adapter_config\.json and the model imply \[3, 16\]/],
      ['empty', { target_modules: [] }, /adapter_config\.json: target_modules must be a non-empty list/],
      ['missing', { target_modules: ['q_proj', 'o_proj'] }, /missing tensor 'base_model\.model\.model\.layers\.0\.self_attn\.o_proj\.lora_A\.weight'/],
    ];
    for (const [name, change, message] of cases) await expect(loadPeftAdapter(model, await variant(name, change)), name).rejects.toThrow(message);
    await expect(loadPeftAdapter(model, await variant('noweights', {}, false))).rejects.toThrow(/adapter_model\.safetensors/);
    await expect(loadPeftAdapter(model, join(tmp, 'nowhere'))).rejects.toThrow(/nowhere\/adapter_config\.json: cannot read it \(ENOENT\)/);
    expect(() => applyLora(model, { rank: 2, alpha: 4, dropout: 1, targetModules: ['q_proj'] }, {}, 'sft.lora')).toThrow(/sft\.lora\.dropout: must be in \[0, 1\), got 1/);
    expect(() => applyLora(model, { rank: 2, alpha: 4, dropout: 0, targetModules: ['qkv' as 'q_proj'] }, {}, 'sft.lora')).toThrow(/sft\.lora\.targetModules: "qkv" is not one of q_proj/);
    const gelu = new DecoderLM(cpu, { ...TOY, mlp: 'gelu' }, { seed: 1 });
    expect(() => applyLora(gelu, { rank: 2, alpha: 4, dropout: 0, targetModules: ['up_proj'] })).toThrow(/up_proj need a SwiGLU MLP/);
    gelu.dispose();
    model.dispose();
  });
});
