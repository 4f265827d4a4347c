// The experiment commands on a Hugging Face model directory (model=DIR), on the tiny Qwen2
// checkpoint of packages/autograd/test/fixtures/hf (GQA, q/k/v biases, tied embeddings, an
// embedding padded past its tokenizer, two eos ids, a ChatML template): sft, rl, eval, prm train
// (one online and one offline learner) and prm eval start from it; checkpoints carry the
// tokenizer files and the codec, so runs continue, resume and evaluate without the directory;
// contradictory starts are refused naming the keys.
import { cp, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runners } from '../src/commands/runners.js';
import { HF_FIXTURES, makeCli, readJson, useTempDir } from './helpers.js';

const tmp = useTempDir('repirl-hf-model-');
const model = join(HF_FIXTURES, 'qwen2');
const TASK = ['--set', 'task.difficulty.steps=1', '--set', 'task.difficulty.range=10', '--progress', 'off'];
const readMetrics = async (path: string): Promise<any[]> => (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
const RL = ['--set', 'steps=2', '--set', 'rollout.promptsPerStep=2', '--set', 'rollout.k=2', '--set', 'rollout.maxNewTokens=8', '--set', 'validation.problems=2', '--set', 'validation.every=0', '--set', 'checkpoint.every=1'];

describe('model=DIR (a Hugging Face model directory)', () => {
  it('sft trains from it (the loss falls), its checkpoints carry hf/ and codec.json, and eval, rl and sft continue from them', async () => {
    const cli = makeCli();
    const sft = join(tmp.path(), 'sft');
    const r = await cli.run('sft', ...TASK, '--set', `model=${model}`, '--set', 'steps=12', '--set', 'batchSize=8', '--set', 'optim.lr=0.003', '--set', 'optim.warmupSteps=1',
      '--set', 'data.problems=64', '--set', 'validation.problems=2', '--set', 'validation.every=0', '--set', 'checkpoint.every=0', '--out', sft);
    expect(r.code).toBe(0);
    const losses = (await readMetrics(join(sft, 'metrics.jsonl'))).filter((m) => m['train/loss'] !== undefined).map((m) => m['train/loss']);
    expect(losses.at(-1)).toBeLessThan(losses[0] * 0.8);
    const { dir: checkpoint } = await readJson(join(sft, 'checkpoints', 'latest.json'));
    const files = await readdir(join(sft, checkpoint, 'hf'));
    expect(files).toEqual(expect.arrayContaining(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']));
    expect(await readJson(join(sft, checkpoint, 'codec.json'))).toMatchObject({ kind: 'repirl-codec', tokenizer: 'hf', template: 'chat' });
    // The manifest covers hf/ too, so a damaged tokenizer file is found like a damaged weight file.
    expect((await readJson(join(sft, checkpoint, 'manifest.json'))).files.map((f: { name: string }) => f.name)).toContain('hf/tokenizer.json');

    // The checkpoint alone (the directory copied away from its run) evaluates: its tokenizer travels with it.
    const moved = join(tmp.path(), 'moved-checkpoint');
    await cp(join(sft, checkpoint), moved, { recursive: true });
    const ev = await cli.run('eval', ...TASK, '--set', `checkpoint=${moved}`, '--set', 'problems=3', '--set', 'maxNewTokens=8', '--out', join(tmp.path(), 'eval'));
    expect(ev.code).toBe(0);
    expect(ev.out).toMatch(/greedy pass@1 [\d.]+ on 3 problems/);

    const rl = await cli.run('rl', ...TASK, '--set', `init=${sft}`, ...RL, '--out', join(tmp.path(), 'rl'));
    expect(rl.code).toBe(0);
    expect(await readdir(join(tmp.path(), 'rl'))).toEqual(expect.arrayContaining(['policy.safetensors', 'codec.json', 'hf']));

    // sft continuing an HF-started checkpoint: the model key names its architecture (the Hugging Face directory).
    const more = await cli.run('sft', ...TASK, '--set', `init=${sft}`, '--set', `model=${model}`, '--set', 'steps=1', '--set', 'batchSize=4', '--set', 'data.problems=8',
      '--set', 'validation.problems=2', '--set', 'validation.every=0', '--out', join(tmp.path(), 'sft-more'));
    expect(more.code).toBe(0);
    const toy = await cli.run('sft', ...TASK, '--set', `init=${sft}`, '--set', 'steps=1', '--out', join(tmp.path(), 'sft-toy'));
    expect(toy.code).toBe(1);
    expect(toy.out).toMatch(/was started from the Hugging Face model .*qwen2: set model=DIR/);
    const raw = await cli.run('eval', ...TASK, '--set', `checkpoint=${sft}`, '--set', 'template=raw', '--out', join(tmp.path(), 'eval-raw'));
    expect(raw.code).toBe(1);
    expect(raw.out).toMatch(/template is "raw" but the policy in .* was trained with template "chat"/);
  });

  it('rl from it stopped by Ctrl-C resumes to the same metrics and policy as an uninterrupted run', async () => {
    const cli = makeCli();
    const args = ['rl', ...TASK, '--set', `model=${model}`, ...RL];
    const full = join(tmp.path(), 'rl-full');
    expect((await cli.run(...args, '--out', full)).code).toBe(0);
    const real = runners.rl;
    runners.rl = (ctx) => real({ ...ctx, report: async (step, m) => {
      await ctx.report(step, m);
      if (step === 1) cli.signals.emit('SIGINT');
    } });
    const out = join(tmp.path(), 'rl-stopped');
    try {
      expect((await cli.run(...args, '--out', out)).code).toBe(130);
    } finally {
      runners.rl = real;
    }
    const resumed = await cli.run('rl', '--out', out, '--resume', '--progress', 'off');
    expect(resumed.code).toBe(0);
    const strip = (ms: any[]) => ms.map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'time' && !k.startsWith('timing/'))));
    expect(strip(await readMetrics(join(out, 'metrics.jsonl')))).toEqual(strip(await readMetrics(join(full, 'metrics.jsonl'))));
    expect(await readFile(join(out, 'policy.safetensors'))).toEqual(await readFile(join(full, 'policy.safetensors')));
  });

  it.each([
    ['repirl', ['--set', 'rl.steps=1', '--set', 'rl.filter.enabled=false', '--set', 'rl.rollout.promptsPerStep=2', '--set', 'rl.rollout.k=2', '--set', 'rl.rollout.maxNewTokens=8',
      '--set', 'rl.validation.problems=2', '--set', 'rl.validation.every=0']],
    ['orm', ['--set', 'problems=2', '--set', 'rollout.k=2', '--set', 'rollout.maxNewTokens=8', '--set', 'prm.epochs=1', '--set', 'prm.miniBatchSize=4']],
  ])('prm train --method %s from it, then prm eval of the saved PRM', async (method, keys) => {
    const cli = makeCli();
    const out = join(tmp.path(), `prm-${method}`);
    const evalKeys = ['--set', 'eval.problems=2', '--set', 'eval.samplesPerProblem=2', '--set', 'eval.ns=[2]'];
    const r = await cli.run('prm', 'train', ...TASK, '--set', `model=${model}`, '--set', `method=${method}`, ...keys, ...evalKeys, '--out', out);
    expect(r.code).toBe(0);
    const evaluation = await readJson(join(out, 'prm_eval.json'));
    expect(evaluation.samples).toHaveLength(4);
    // The PRM's step scores line up with the step labels under the model's own tokenizer.
    for (const s of evaluation.samples) expect(s.step_scores).toHaveLength(s.step_labels.length);
    expect(await readJson(join(out, 'codec.json'))).toMatchObject({ template: 'chat' });

    // prm eval samples from the run's model (its config.json) with the PRM's tokenizer.
    const again = await cli.run('prm', 'eval', ...TASK, '--set', `prm=${out}`, '--set', 'problems=2', '--set', 'samplesPerProblem=2', '--set', 'ns=[2]', '--set', 'maxNewTokens=8',
      '--out', join(tmp.path(), `prm-eval-${method}`));
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/repirl prm eval finished 3\/3/);
  });

  it('refuses contradictory or missing starts, naming the keys', async () => {
    const cli = makeCli();
    const both = await cli.run('rl', '--set', `model=${model}`, '--set', 'init=runs/x', '--dry-run');
    expect(both.code).toBe(2);
    expect(both.out).toMatch(/model: and init both say where the policy starts/);
    const none = await cli.run('eval', '--dry-run');
    expect(none.code).toBe(2);
    expect(none.out).toMatch(/checkpoint: is required: the starting policy is checkpoint=CHECKPOINT .* or model=DIR/);
    const missing = await cli.run('prm', 'train', '--set', `model=${join(tmp.path(), 'nowhere')}`, '--dry-run');
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(/model: no Hugging Face model directory at .*nowhere \(no config\.json there\)/);
    const chat = await cli.run('sft', ...TASK, '--set', 'template=chat', '--set', 'steps=1', '--out', join(tmp.path(), 'toy-chat'));
    expect(chat.code).toBe(1);
    expect(chat.out).toMatch(/template is "chat" but the model section is a byte-level toy model/);
    // A toy model key beside model=DIR is refused by the schema (model is a directory there).
    const mixed = await cli.run('sft', '--set', `model=${model}`, '--set', 'model.dModel=32', '--dry-run');
    expect(mixed.code).toBe(2);
  });
});
