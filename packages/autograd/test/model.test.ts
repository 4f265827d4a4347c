// A whole 2-layer decoder LM: forward and backward on the GPU agree with the float64 CPU backend
// (same weights, every parameter gradient), copies are exact and freezable, and checkpoints
// round-trip exactly and refuse mismatched shapes by naming the tensor.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { SeededRandom, assertClose, compareClose } from '@repirl/kernels/testing';
import * as ag from '../src/index.js';
import { CpuBackend, GpuBackend } from '../src/index.js';
import { DecoderLM, assign, type DecoderConfig } from '../src/nn/index.js';

let gpu: GpuBackend;
const cpu = new CpuBackend();
let dir: string;
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  dir = await mkdtemp(join(tmpdir(), 'repirl-model-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const B = 2;
const T = 7;
const base: DecoderConfig = { vocabSize: 19, dModel: 32, nLayers: 2, nHeads: 2, dFF: 48, maxSeqLen: 16 };
const variants: { name: string; config: DecoderConfig; lengths?: number[] }[] = [
  { name: 'RMSNorm + SwiGLU, untied head', config: { ...base, norm: 'rms', mlp: 'swiglu', tiedEmbeddings: false } },
  { name: 'LayerNorm + GELU, tied embeddings, biases, padded batch', config: { ...base, norm: 'layer', mlp: 'gelu', tiedEmbeddings: true, bias: true }, lengths: [7, 4] },
];

const rng = new SeededRandom(3);
const ids = Array.from({ length: B * T }, () => rng.int(0, base.vocabSize - 1));
const lossWeights = Array.from({ length: B * T * base.vocabSize }, () => rng.uniform(-1, 1));

/**
 * loss = Σ w ∘ logits − mean log p(next token): every logit matters, and the token log-prob
 * primitive the trainers use is part of the graph. Returns the loss, the logits and the gradients.
 */
async function run(model: DecoderLM, lengths?: number[]) {
  const backend = model.backend;
  const { loss, logits } = ag.tidy(() => {
    const x = ag.tensor(backend, ids, [B, T], { dtype: 'i32' });
    const logits = model.forward(x, lengths ? { lengths } : {});
    const targets = ag.tensor(backend, [...ids.slice(1), ids[0]!], [B * T], { dtype: 'i32' });
    const { logp } = ag.tokenLogProbs(ag.reshape(logits, [B * T, base.vocabSize]), targets);
    const w = ag.tensor(backend, lossWeights, logits.shape);
    const loss = ag.sub(ag.sum(ag.mul(logits, w)), ag.mean(logp));
    ag.backward(loss);
    return { loss, logits };
  });
  const result = { loss: await loss.item(), logits: Float64Array.from(await logits.data()), grads: new Map<string, Float64Array>() };
  for (const [name, p] of model.parameters()) {
    if (!p.grad) throw new Error(`parameter ${name} got no gradient`);
    result.grads.set(name, Float64Array.from(await p.grad.data()));
  }
  loss.dispose();
  logits.dispose();
  model.zeroGrad();
  return result;
}

async function logitsOf(model: DecoderLM): Promise<Float32Array | Float64Array> {
  const out = ag.noGrad(() => ag.tidy(() => model.forward(ag.tensor(model.backend, ids, [B, T], { dtype: 'i32' }))));
  const data = (await out.data()) as Float32Array | Float64Array;
  out.dispose();
  return data;
}

describe('DecoderLM on GPU vs the float64 CPU backend', () => {
  for (const v of variants) {
    it(`${v.name}: logits and every parameter gradient agree`, async () => {
      const model = new DecoderLM(gpu, v.config, { seed: 11 });
      const reference = await model.copy({ backend: cpu });
      const got = await run(model, v.lengths);
      const want = await run(reference, v.lengths);
      expect(got.loss).toBeCloseTo(want.loss, 3);
      assertClose(got.logits, want.logits, { atol: 1e-5, rtol: 1e-4, label: 'logits' });
      expect([...got.grads.keys()]).toEqual([...want.grads.keys()]);
      let worst = 0;
      for (const [name, g] of got.grads) {
        const r = compareClose(g, want.grads.get(name)!, { atol: 1e-5, rtol: 1e-3 });
        worst = Math.max(worst, r.maxAbsError);
        assertClose(g, want.grads.get(name)!, { atol: 1e-5, rtol: 1e-3, label: `gradient of ${name}` });
      }
      console.log(`${v.name}: ${model.parameters().size} parameter tensors, max |Δgrad| GPU vs CPU = ${worst.toExponential(2)}`);
      model.dispose();
      reference.dispose();
    });
  }

  it('a training step inside tidy() leaves no GPU buffer behind', async () => {
    const model = new DecoderLM(gpu, variants[1]!.config, { seed: 2 });
    await run(model, variants[1]!.lengths); // first use creates per-runtime buffers
    const live = gpu.rt.memory().liveBuffers;
    await run(model, variants[1]!.lengths);
    expect(gpu.rt.memory().liveBuffers).toBe(live);
    model.dispose();
  });

  it('parameter names follow the module tree', () => {
    const model = new DecoderLM(cpu, variants[0]!.config);
    const names = [...model.parameters().keys()];
    expect(names).toContain('embed.weight');
    expect(names).toContain('blocks.0.attn.qkv.weight');
    expect(names).toContain('blocks.1.mlp.down.weight');
    expect(names).toContain('lmHead.weight');
    expect(model.parameters().get('blocks.0.attn.qkv.weight')!.shape).toEqual([32, 96]);
    const tied = new DecoderLM(cpu, variants[1]!.config);
    expect([...tied.parameters().keys()].some((n) => n.startsWith('lmHead'))).toBe(false);
    expect([...tied.parameters().keys()]).toContain('blocks.1.mlp.fc.bias');
  });
});

describe('copies', () => {
  it('copy() gives identical logits; a frozen copy gets no gradients; copies are independent', async () => {
    const policy = new DecoderLM(gpu, variants[0]!.config, { seed: 5 });
    const reference = await policy.copy({ frozen: true });
    expect(await logitsOf(reference)).toEqual(await logitsOf(policy));
    for (const p of reference.parameters().values()) expect(p.requiresGrad).toBe(false);

    const loss = ag.tidy(() => {
      const x = ag.tensor(gpu, ids, [B, T], { dtype: 'i32' });
      const l = ag.add(ag.sum(policy.forward(x)), ag.sum(reference.forward(x)));
      ag.backward(l);
      return l;
    });
    loss.dispose();
    for (const [name, p] of policy.parameters()) expect(p.grad, name).not.toBeNull();
    for (const [name, p] of reference.parameters()) expect(p.grad, name).toBeNull();

    // Changing the copy leaves the original alone.
    const before = await logitsOf(policy);
    const w = reference.parameters().get('embed.weight')!;
    assign(w, new Float32Array(w.size).fill(0.5));
    expect(await logitsOf(policy)).toEqual(before);
    expect(await logitsOf(reference)).not.toEqual(before);
    policy.dispose();
    reference.dispose();
  });

  it('the same seed gives the same weights, another seed other weights', async () => {
    const a = await new DecoderLM(cpu, base, { seed: 1 }).stateDict();
    const b = await new DecoderLM(cpu, base, { seed: 1 }).stateDict();
    const c = await new DecoderLM(cpu, base, { seed: 2 }).stateDict();
    expect(a['blocks.1.attn.proj.weight']!.data).toEqual(b['blocks.1.attn.proj.weight']!.data);
    expect(a['blocks.1.attn.proj.weight']!.data).not.toEqual(c['blocks.1.attn.proj.weight']!.data);
    // GPT-2 init: residual projections have std 0.02/√(2·layers).
    const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    expect(std(a['blocks.0.attn.qkv.weight']!.data)).toBeCloseTo(0.02, 2);
    expect(std(a['blocks.0.attn.proj.weight']!.data)).toBeCloseTo(0.01, 2);
  });
});

describe('checkpoints', () => {
  it('save → load gives identical logits', async () => {
    const model = new DecoderLM(gpu, variants[1]!.config, { seed: 9 });
    await ag.saveCheckpoint(dir, { tensors: await model.stateDict(), config: { model: model.config } });
    const loaded = await ag.loadCheckpoint(dir);
    const restored = new DecoderLM(gpu, loaded.config.model as DecoderConfig, { empty: true });
    restored.loadStateDict(loaded.tensors);
    expect(await logitsOf(restored)).toEqual(await logitsOf(model));
    model.dispose();
    restored.dispose();
  });

  it('a checkpoint with a wrong shape, a missing or an extra tensor is refused, naming the tensor', async () => {
    const small = new DecoderLM(cpu, base, { seed: 1 });
    await ag.saveCheckpoint(dir, { tensors: await small.stateDict(), config: {} }, { name: 'small' });
    const { tensors } = await ag.loadCheckpoint(dir, { name: 'small' });
    const wider = new DecoderLM(cpu, { ...base, dFF: 64 }, { empty: true });
    expect(() => wider.loadStateDict(tensors)).toThrow(/tensor 'blocks\.0\.mlp\.gate\.weight' has shape \[32, 48\] but the model expects \[32, 64\]/);
    const { ['normF.weight']: _dropped, ...missing } = tensors;
    expect(() => small.loadStateDict(missing)).toThrow(/tensor 'normF\.weight' \[32\] is missing/);
    const extra = { ...tensors, 'head.weight': { dtype: 'F32' as const, shape: [2], data: new Float32Array(2) } };
    expect(() => small.loadStateDict(extra)).toThrow(/tensor 'head\.weight' is not a parameter/);
    expect(() => small.loadStateDict(extra, { allowExtra: true })).not.toThrow();
  });
});
