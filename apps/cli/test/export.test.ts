// `repirl export` (issue 13 item 6) on policies built from the tiny Qwen2 checkpoint: a LoRA
// policy's final folder (merged weights + adapter/ + hf/) exports to a Hugging Face directory that
// reloads with the merged logits, and to a PEFT adapter that reloads onto the base with the
// adapted logits; a LoRA checkpoint (adapters only) merges onto base=DIR; a PRM exports with its
// head files; mistakes are refused before anything is written.
import { cp, mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { GpuBackend, applyLora, assign, loadHfModel, loadPeftAdapter, noGrad, tensor, tidy, type DecoderLM, type LoraAdapters } from '@repirl/autograd';
import { TokenMlpPrm } from '@repirl/prm';
import { saveModel, savePolicy } from '@repirl/rl';
import { HF_FIXTURES, makeCli, useTempDir } from './helpers.js';

const QWEN2 = join(HF_FIXTURES, 'qwen2');
const tmp = useTempDir('repirl-export-');
let gpu: GpuBackend;
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});

const IDS = [317, 12, 40, 7, 99, 150, 201, 319];
const logitsOf = (m: DecoderLM) => noGrad(() => tidy(() => m.forward(tensor(m.backend, IDS, [1, IDS.length], { dtype: 'i32' })))).toArray();

/** The qwen2 fixture with LoRA adapters whose B is non-zero (as after training). */
async function adaptedPolicy(): Promise<{ model: DecoderLM; adapters: LoraAdapters }> {
  const { model } = await loadHfModel(gpu, QWEN2);
  const adapters = applyLora(model, { rank: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, { seed: 1 });
  let s = 5;
  for (const p of adapters.sites) assign(p.B, Array.from({ length: p.B.size }, () => ((s = (s * 69069 + 1) % 2 ** 32) / 2 ** 32 - 0.5) * 0.2));
  return { model, adapters };
}

describe('repirl export', () => {
  it('a LoRA policy folder: merged → a Hugging Face directory with the merged logits; merge=false → its PEFT adapter', async () => {
    const { model, adapters } = await adaptedPolicy();
    const adapted = await logitsOf(model);
    const run = join(tmp.path(), 'run');
    await savePolicy(run, model, { lora: adapters });
    await cp(QWEN2, join(run, 'hf'), { recursive: true });
    const cli = makeCli();

    const merged = join(tmp.path(), 'merged');
    const r = await cli.run('export', '--set', `from=${run}`, '--set', `out=${merged}`);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('config.json, model.safetensors, generation_config.json, tokenizer.json, tokenizer_config.json');
    const reloaded = (await loadHfModel(gpu, merged)).model;
    const got = await logitsOf(reloaded);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(adapted[i]!, 4);
    expect(await readFile(join(merged, 'tokenizer.json'))).toEqual(await readFile(join(QWEN2, 'tokenizer.json')));

    const peft = join(tmp.path(), 'peft');
    const p = await cli.run('export', '--set', `from=${run}`, '--set', `out=${peft}`, '--set', 'merge=false', '--set', `base=${QWEN2}`);
    expect(p.code, p.out).toBe(0);
    expect((await readdir(peft)).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(JSON.parse(await readFile(join(peft, 'adapter_config.json'), 'utf8')).base_model_name_or_path).toBe(QWEN2);
    const base = (await loadHfModel(gpu, QWEN2)).model;
    const loaded = await loadPeftAdapter(base, peft);
    expect(await logitsOf(base)).toEqual(adapted);

    // Refusals, each before anything is written.
    const again = await cli.run('export', '--set', `from=${run}`, '--set', `out=${merged}`);
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/out: .*merged already exists/);
    const none = await cli.run('export', '--set', `from=${join(tmp.path(), 'nowhere')}`, '--set', `out=${join(tmp.path(), 'x')}`);
    expect(none.out).toMatch(/from: .*nowhere does not exist/);
    const usage = await cli.run('export', '--set', `from=${run}`);
    expect(usage.code).toBe(2);
    expect(usage.out).toMatch(/out: is required/);
    for (const m of [loaded, base, reloaded, adapters, model]) m.dispose();
  });

  it('a LoRA checkpoint (adapters only) needs base=, then merges onto it; a full fine-tune has no adapter to export', async () => {
    const { model, adapters } = await adaptedPolicy();
    const adapted = await logitsOf(model);
    const checkpoint = join(tmp.path(), 'ckpt');
    await mkdir(checkpoint);
    await saveModel(checkpoint, 'lora', adapters);
    const cli = makeCli();
    const noBase = await cli.run('export', '--set', `from=${checkpoint}`, '--set', `out=${join(tmp.path(), 'a')}`);
    expect(noBase.code).toBe(1);
    expect(noBase.out).toMatch(/holds LoRA adapters only .*set base=DIR/);
    const out = join(tmp.path(), 'from-ckpt');
    const r = await cli.run('export', '--set', `from=${checkpoint}`, '--set', `out=${out}`, '--set', `base=${QWEN2}`);
    expect(r.code, r.out).toBe(0);
    const reloaded = (await loadHfModel(gpu, out)).model;
    const got = await logitsOf(reloaded);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(adapted[i]!, 4);

    const full = join(tmp.path(), 'full');
    await savePolicy(full, reloaded);
    const noAdapter = await cli.run('export', '--set', `from=${full}`, '--set', `out=${join(tmp.path(), 'b')}`, '--set', 'merge=false');
    expect(noAdapter.out).toMatch(/merge=false: .*full holds no LoRA adapter/);
    for (const m of [reloaded, adapters, model]) m.dispose();
  });

  it('a PRM: the backbone as a Hugging Face directory plus prm_head.safetensors and prm_head.json', async () => {
    const { model } = await loadHfModel(gpu, QWEN2);
    const prm = TokenMlpPrm.fromPolicy(model, { hidden: 8, seed: 2 });
    const dir = join(tmp.path(), 'prm-run');
    await saveModel(dir, 'prm', prm);
    const out = join(tmp.path(), 'prm-out');
    const r = await makeCli().run('export', '--set', `from=${dir}`, '--set', `out=${out}`, '--set', `source=${QWEN2}`);
    expect(r.code, r.out).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'prm_head.json', 'prm_head.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    prm.dispose();
    model.dispose();
  });
});
