// PRM export (issue 13 item 6, docs/prm-export.md): the backbone as a Hugging Face model directory
// plus prm_head.safetensors / prm_head.json. Export → loadExportedPrm gives identical token rewards
// for each PRM class, and the documented layout alone (PyTorch nn.Linear weights [out, in], the
// activations prm_head.json names, read at the token's own last hidden state) reproduces the
// rePIRL head's rewards in float64.
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { GpuBackend, assign, backward, loadHfModel, loadSafetensors, noGrad, sum, tensorToFloat32, tidy, type DecoderLM, type LoraTargetModule } from '@repirl/autograd';
import { packSequences, saveModel, type PackedBatch } from '@repirl/rl';
import { ImplicitPrm, OutcomeHeadPrm, StepHeadPrm, TokenMlpPrm, exportPrm, loadExportedPrm, loadPrm, tokenStateHidden, type PrmHeadFile, type SavedPrm } from '../src/index.js';

const QWEN2 = join(import.meta.dirname, '..', '..', 'autograd', 'test', 'fixtures', 'hf', 'qwen2');

let gpu: GpuBackend;
let tmp: string;
let policy: DecoderLM;
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  tmp = await mkdtemp(join(tmpdir(), 'repirl-prm-export-'));
  policy = (await loadHfModel(gpu, QWEN2, { maxSeqLen: 64 })).model;
});
afterAll(async () => {
  policy.dispose();
  await rm(tmp, { recursive: true, force: true });
});

// Two responses whose steps end at '\n' (byte 10).
const packed: PackedBatch = packSequences([
  { promptIds: [317, 40, 41], responseIds: [50, 10, 60, 61, 10, 70] },
  { promptIds: [317, 99], responseIds: [12, 13, 10, 14] },
], 0);

const rewards = async (prm: SavedPrm) => noGrad(() => tidy(() => prm.tokenRewards(packed))).toArray();

/** Moves every trainable weight a little, so nothing exported is at its initial value. */
async function perturb(prm: SavedPrm, seed: number): Promise<void> {
  let s = seed;
  for (const t of prm.trainableParameters().values()) {
    const data = Float32Array.from(await t.data());
    for (let i = 0; i < data.length; i++) {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      data[i]! += 0.01 * (s / 2 ** 31 - 0.5);
    }
    assign(t, data);
  }
}

describe('PRM export', () => {
  const cases: [string, () => SavedPrm][] = [
    ['token-mlp (rePIRL)', () => TokenMlpPrm.fromPolicy(policy, { hidden: 24, seed: 3 })],
    ['outcome-head (Math-Shepherd)', () => OutcomeHeadPrm.fromPolicy(policy, { read: 'step-ends', seed: 4 })],
    ['step-head (AIRL-S)', () => StepHeadPrm.fromPolicy(policy, { seed: 5 })],
    ['implicit (PRIME)', () => ImplicitPrm.fromPolicy(policy, { beta: 0.5 })],
  ];
  for (const [name, make] of cases) {
    it(`${name}: export → loadExportedPrm gives identical token rewards`, async () => {
      const prm = make();
      await perturb(prm, 7);
      const dir = join(tmp, name.split(' ')[0]!);
      const files = await exportPrm(prm, dir, { source: QWEN2 });
      expect(files.slice(0, 5)).toEqual(['config.json', 'model.safetensors', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']);
      expect((await readdir(tmp)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      const loaded = await loadExportedPrm(gpu, dir);
      const want = await rewards(prm);
      expect(want.some((x) => x !== 0)).toBe(true);
      expect(await rewards(loaded)).toEqual(want);
      loaded.dispose();
      prm.dispose();
    });
  }

  it('the documented layout alone reproduces the rePIRL head: tanh(out(relu(fc2(relu(fc1(h)))))) with nn.Linear weights [out, in]', async () => {
    const prm = TokenMlpPrm.fromPolicy(policy, { hidden: 8, seed: 9 });
    const dir = join(tmp, 'layout');
    await exportPrm(prm, dir, { source: QWEN2 });
    const file = JSON.parse(await readFile(join(dir, 'prm_head.json'), 'utf8')) as PrmHeadFile;
    expect(file).toMatchObject({ format: 'repirl-prm-head', version: 1, prm: 'token-mlp' });
    expect(file.layers).toEqual([
      { name: 'fc1', in: 64, out: 8, activation: 'relu' }, { name: 'fc2', in: 8, out: 8, activation: 'relu' }, { name: 'out', in: 8, out: 1, activation: 'tanh' },
    ]);
    const { tensors } = await loadSafetensors(join(dir, 'prm_head.safetensors'));
    expect(Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, t.shape]))).toEqual({
      'fc1.weight': [8, 64], 'fc1.bias': [8], 'fc2.weight': [8, 8], 'fc2.bias': [8], 'out.weight': [1, 8], 'out.bias': [1],
    });
    // The exported backbone's last hidden state at each response token, then the head from the files in float64.
    const backbone = (await loadHfModel(gpu, dir, { maxSeqLen: 64 })).model;
    const hidden = await noGrad(() => tidy(() => tokenStateHidden(backbone, packed))).toArray();
    backbone.dispose();
    const act = { relu: (x: number) => Math.max(0, x), tanh: Math.tanh, sigmoid: (x: number) => 1 / (1 + Math.exp(-x)), none: (x: number) => x };
    const rows = packed.B * packed.T;
    const expected: number[] = [];
    for (let r = 0; r < rows; r++) {
      let x = hidden.slice(r * 64, r * 64 + 64);
      for (const layer of file.layers) {
        const W = tensorToFloat32(tensors[`${layer.name}.weight`]!);
        const b = tensorToFloat32(tensors[`${layer.name}.bias`]!);
        x = Array.from({ length: layer.out }, (_, o) => act[layer.activation](b[o]! + x.reduce((acc, v, i) => acc + W[o * layer.in + i]! * v, 0)));
      }
      expected.push(x[0]!);
    }
    const got = await rewards(prm);
    for (let i = 0; i < rows; i++) expect(got[i]).toBeCloseTo(expected[i]!, 5);
    prm.dispose();
  });

  it('PRMs through LoRA: only the head and the adapters train; saveModel → loadPrm is exact; the export merges the adapters', async () => {
    const lora = { rank: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj', 'up_proj'] as LoraTargetModule[] };
    const prms: SavedPrm[] = [TokenMlpPrm.fromPolicy(policy, { hidden: 8, seed: 3, lora }), ImplicitPrm.fromPolicy(policy, { beta: 0.5, lora, seed: 4 })];
    for (const prm of prms) {
      const names = [...prm.trainableParameters().keys()];
      expect(names.every((n) => n.startsWith('head.') || n.startsWith('lora.')), prm.kind).toBe(true);
      expect(names.some((n) => n.startsWith('lora.'))).toBe(true);
      if (prm instanceof ImplicitPrm) expect(await rewards(prm)).toEqual(new Array(packed.B * packed.T).fill(0)); // B = 0: π_φ = π_ref
      // One gradient step's worth: every trainable parameter gets a gradient, no frozen one does.
      tidy(() => backward(sum(prm.tokenRewards(packed))));
      for (const [name, t] of prm.parameters()) {
        const trains = names.includes(name);
        if (!trains) expect(t.grad, name).toBeNull();
      }
      expect([...prm.trainableParameters().values()].filter((t) => t.grad !== null).length).toBeGreaterThan(0);
      prm.zeroGrad();
      await perturb(prm, 11);
      const want = await rewards(prm);
      const saved = join(tmp, `lora-${prm.kind}`);
      await saveModel(saved, 'prm', prm);
      const reloaded = await loadPrm(gpu, saved);
      expect(await rewards(reloaded)).toEqual(want);
      const out = join(tmp, `lora-${prm.kind}-export`);
      await exportPrm(prm, out);
      const file = JSON.parse(await readFile(join(out, 'prm_head.json'), 'utf8')) as PrmHeadFile;
      expect(file.repirl.config.lora).toBeUndefined();
      const exported = await loadExportedPrm(gpu, out);
      const got = await rewards(exported);
      for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 4);
      for (const m of [exported, reloaded, prm]) m.dispose();
    }
  });

  it('refuses to write over an existing directory and names a missing head file', async () => {
    const prm = StepHeadPrm.fromPolicy(policy, { seed: 1 });
    const dir = join(tmp, 'twice');
    await exportPrm(prm, dir);
    await expect(exportPrm(prm, dir)).rejects.toThrow(/twice already exists/);
    await expect(loadExportedPrm(gpu, join(tmp, 'none'))).rejects.toThrow(/none\/prm_head\.json: cannot read it/);
    prm.dispose();
  });
});
