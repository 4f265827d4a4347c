// The head-on-a-backbone PRMs on a tiny random policy (d = 32, 2 layers, byte tokenizer):
//  - TokenMlpPrm (rePIRL): the backbone starts as the policy; rewards are in (−1, 1), read at the
//    token's own position; gradients reach the head and, unless frozen, the backbone;
//  - OutcomeHeadPrm (ORM / Math-Shepherd): σ(logit) on the read tokens and 0 elsewhere, so step
//    scores are the per-step probabilities;
//  - save → load (files) → the same rewards.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { DecoderLM, GpuBackend, backward, loadCheckpoint, mul, sum, tensor, tidy, type Tensor } from '@repirl/autograd';
import { TaskCodec, packSequences, saveModel, type SequencePart } from '@repirl/rl';
import { OutcomeHeadPrm, TokenMlpPrm, scoreSamples, stepEndTokens, type TokenMlpPrmConfig } from '../src/index.js';

let gpu: GpuBackend;
let policy: DecoderLM;
const codec = new TaskCodec();
const decoder = { vocabSize: 259, dModel: 32, nLayers: 2, nHeads: 2, dFF: 64, maxSeqLen: 48 };
const part = (prompt: string, response: string): SequencePart => ({ promptIds: codec.encodePrompt(prompt), responseIds: codec.encodeResponse(response) });
const parts = [part('3 +4\n', '=7\n#### 7'), part('12 -5 *2\n', '=7\n=14\n#### 14'), part('1\n', '=9\n=3\n#### 3')];

beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  policy = new DecoderLM(gpu, decoder, { seed: 1 });
});

const read = async (t: Tensor) => {
  const data = Array.from(await t.data());
  t.dispose();
  return data;
};

describe('TokenMlpPrm', () => {
  it('starts from the policy backbone and gives finite rewards in (−1, 1), one per response token', async () => {
    const prm = TokenMlpPrm.fromPolicy(policy, { seed: 3 });
    expect(prm.config.hidden).toBe(64);
    const source = policy.parameters();
    for (const [name, p] of prm.backbone.parameters()) expect(await p.data()).toEqual(await source.get(name)!.data());
    const packed = packSequences(parts, codec.padId);
    const r = await read(tidy(() => prm.tokenRewards(packed)));
    expect(r).toHaveLength(packed.B * packed.T);
    const valid = r.filter((_, i) => packed.mask[i] === 1);
    for (const v of valid) expect(Math.abs(v)).toBeLessThan(1);
    // A random head gives rewards that vary from token to token.
    expect(Math.max(...valid) - Math.min(...valid)).toBeGreaterThan(1e-5);
    prm.dispose();
  });

  it('reads token t at its own position: changing token t changes r_t, changing token t + 1 does not', async () => {
    const prm = TokenMlpPrm.fromPolicy(policy, { seed: 3 });
    const base = part('3 +4\n', '=7\n#### 7');
    const changed = { ...base, responseIds: [...base.responseIds] };
    changed.responseIds[2] = 'x'.charCodeAt(0); // the '\n' after "=7"
    const [a, b] = await Promise.all([base, changed].map((p) => read(tidy(() => prm.tokenRewards(packSequences([p], codec.padId))))));
    expect(a.slice(0, 2)).toEqual(b.slice(0, 2)); // tokens before the change (causal)
    expect(Math.abs(a[2]! - b[2]!)).toBeGreaterThan(1e-6); // the changed token itself
    prm.dispose();
  });

  it('passes gradients to the head and the backbone, and only to the head when frozen', async () => {
    for (const freezeBackbone of [false, true]) {
      const prm = TokenMlpPrm.fromPolicy(policy, { seed: 3, freezeBackbone });
      const trainable = prm.trainableParameters();
      expect([...trainable.keys()].some((n) => n.startsWith('backbone.'))).toBe(!freezeBackbone);
      expect([...trainable.keys()].some((n) => n.startsWith('backbone.lmHead.'))).toBe(false);
      const packed = packSequences(parts, codec.padId);
      tidy(() => backward(sum(mul(prm.tokenRewards(packed), tensor(gpu, packed.mask, [packed.B, packed.T])))));
      const gradNorm = async (name: string) => {
        const g = prm.parameters().get(name)!.grad;
        return g ? Array.from(await g.data()).reduce((a, v) => a + v * v, 0) : 0;
      };
      expect(await gradNorm('head.fc1.weight')).toBeGreaterThan(0);
      expect(await gradNorm('head.out.bias')).toBeGreaterThan(0);
      const backboneGrad = await gradNorm('backbone.blocks.0.attn.qkv.weight');
      if (freezeBackbone) expect(backboneGrad).toBe(0);
      else expect(backboneGrad).toBeGreaterThan(0);
      prm.dispose();
    }
  });

  it('saves and loads (safetensors files) to the same rewards', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'repirl-prm-'));
    try {
      const prm = TokenMlpPrm.fromPolicy(policy, { seed: 5, hidden: 16, freezeBackbone: true });
      await saveModel(dir, 'prm', prm);
      // Rebuilt from the saved config, filled from the saved state dict.
      const saved = await loadCheckpoint(dir, { name: 'prm' });
      const config = saved.config as { kind: string; model: TokenMlpPrmConfig };
      expect(config.kind).toBe('TokenMlpPrm');
      const loaded = new TokenMlpPrm(gpu, config.model, { empty: true });
      loaded.loadStateDict(saved.tensors);
      expect(loaded.config).toEqual(prm.config);
      expect([...loaded.trainableParameters().keys()]).toEqual([...prm.trainableParameters().keys()]);
      const packed = packSequences(parts, codec.padId);
      const [a, b] = await Promise.all([prm, loaded].map((m) => read(tidy(() => m.tokenRewards(packed)))));
      expect(b).toEqual(a);
      const other = TokenMlpPrm.fromPolicy(policy, { seed: 6, hidden: 16 });
      expect(await read(tidy(() => other.tokenRewards(packed)))).not.toEqual(a); // the test can tell heads apart
      for (const m of [prm, loaded, other]) m.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('OutcomeHeadPrm', () => {
  it("'step-ends' puts σ(logit) on each step end and 0 elsewhere; step scores are those probabilities", async () => {
    const prm = OutcomeHeadPrm.fromPolicy(policy, { read: 'step-ends', seed: 2 });
    const packed = packSequences(parts, codec.padId);
    const positions = prm.readPositions(packed);
    expect(positions).toEqual(parts.map((p) => stepEndTokens(p.responseIds, codec)));
    expect(positions[1]).toEqual([2, 6, 14]); // "=7\n=14\n#### 14\n"
    const logits = await read(tidy(() => prm.logits(packed)));
    const rewards = await read(tidy(() => prm.tokenRewards(packed)));
    const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
    let k = 0;
    positions.forEach((ts, b) => {
      for (let t = 0; t < packed.T; t++) {
        const v = rewards[b * packed.T + t]!;
        if (ts.includes(t)) expect(v).toBeCloseTo(sigmoid(logits[k++]!), 6);
        else expect(v).toBe(0);
      }
    });
    const scored = await scoreSamples(prm, parts, codec);
    expect(scored[1]!.steps).toHaveLength(3);
    expect(scored[1]!.steps[2]).toBeCloseTo(sigmoid(logits[positions[0]!.length + 2]!), 6);
    prm.dispose();
  });

  it("'last' reads one logit at the last response token; gradients reach the head", async () => {
    const prm = OutcomeHeadPrm.fromPolicy(policy, { read: 'last', seed: 2 });
    const packed = packSequences(parts, codec.padId);
    expect(prm.readPositions(packed)).toEqual(parts.map((p) => [p.responseIds.length - 1]));
    tidy(() => backward(sum(prm.logits(packed))));
    expect((await prm.head.linear.weight.grad!.data()).some((v) => v !== 0)).toBe(true);
    expect(() => new OutcomeHeadPrm(gpu, { decoder, read: 'first' as never })).toThrow(/read must be one of last, step-ends/);
    prm.dispose();
  });
});
