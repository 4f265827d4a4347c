// `repirl prm train --set method=supervised` on a step-labelled file and `repirl prm eval` on a
// ProcessBench-format file, end to end on a tiny SFT policy: the PRM trains on the file's step
// labels (TRL's stepwise format, written here from arith-chain solutions with slipped steps), is
// saved and scored on ProcessBench at the end; prm eval on the same file gives the same numbers;
// the metrics are in summary.json and the printed headline; bad files are refused naming file:line.
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { arithChain, createRng } from '@repirl/rl';
import { makeCli, readJson, useTempDir } from './helpers.js';

const tmp = useTempDir('repirl-prm-labelled-');
const PROCESSBENCH = new URL('./fixtures/prm-labelled/processbench-arith.jsonl', import.meta.url).pathname;
const TASK = ['--set', 'task.difficulty.steps=2', '--set', 'task.difficulty.range=10'];
let sft = '';
let labelled = '';

beforeAll(async () => {
  sft = join(tmp.path(), 'sft');
  const r = await makeCli().run(
    'sft', ...TASK, '--set', 'model.dModel=32', '--set', 'model.nLayers=1', '--set', 'model.nHeads=2', '--set', 'model.dFF=64', '--set', 'model.maxSeqLen=48',
    '--set', 'steps=20', '--set', 'optim.warmupSteps=1', '--set', 'batchSize=16', '--set', 'optim.lr=0.003', '--set', 'data.problems=128',
    '--set', 'validation.problems=4', '--set', 'validation.every=0', '--set', 'checkpoint.every=0', '--progress', 'off', '--out', sft,
  );
  expect(r.code).toBe(0);
  // TRL's stepwise format: arith-chain solutions whose steps slip with probability 1/2, labelled exactly.
  const rng = createRng(3);
  const rows = arithChain.generate(3, 96, { steps: 2, range: 10 }).map((p) => {
    const noisy = arithChain.noisySolution(p, rng, 0.5);
    return { prompt: p.prompt.trim(), completions: noisy.stepLabels.steps, labels: noisy.stepLabels.global };
  });
  labelled = join(tmp.path(), 'steps.jsonl');
  await writeFile(labelled, rows.map((r) => JSON.stringify(r)).join('\n'));
});

describe('repirl prm train --set method=orm|implicit-offline --set labelled.path=F', () => {
  it.each(['orm', 'implicit-offline'])("%s learns from the file's solutions labelled by their outcome (nothing sampled), then is evaluated as usual", async (method) => {
    const out = join(tmp.path(), `prm-${method}-labelled`);
    const r = await makeCli().run('prm', 'train', ...TASK, '--set', `method=${method}`, '--set', `labelled.path=${labelled}`, '--set', `init=${sft}`,
      '--set', 'prm.epochs=2', '--set', 'prm.miniBatchSize=16', '--set', 'eval.problems=4', '--set', 'eval.samplesPerProblem=4', '--set', 'eval.ns=[2,4]',
      '--progress', 'off', '--out', out);
    expect(r.code, r.out + r.err).toBe(0);
    // 96 solutions; with 2 steps + the answer line, each slipping with probability 1/2, about 1 in 8 is right throughout.
    const m = /(\d+) labelled solutions from .* \((\d+) with every step right/.exec(r.out);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(96);
    expect(Number(m![2])).toBeGreaterThan(0);
    expect(Number(m![2])).toBeLessThan(48);
    const { results } = await readJson(join(out, 'summary.json'));
    expect(results).toMatchObject({ 'compute/sampled_sequences': 0, 'data/labelled_samples': 96, 'data/too_long': 0 });
    expect(results).toHaveProperty('prm_eval/response_auroc/min');
  });

  it('is refused for Math-Shepherd, naming the key', async () => {
    const r = await makeCli().run('prm', 'train', ...TASK, '--set', 'method=shepherd', '--set', `labelled.path=${labelled}`, '--set', `init=${sft}`, '--progress', 'off',
      '--out', join(tmp.path(), 'prm-shepherd-labelled'));
    expect(r.code).toBe(2);
    expect(r.out + r.err).toMatch(/labelled\.path: is for orm and implicit-offline/);
  });
});

describe('repirl prm train --set method=supervised', () => {
  it('trains on the file\'s step labels, keeps the best epoch, scores ProcessBench at the end; prm eval on the file gives the same numbers', async () => {
    const cli = makeCli();
    const out = join(tmp.path(), 'prm-supervised');
    const r = await cli.run('prm', 'train', '--set', 'method=supervised', '--set', `data.path=${labelled}`, '--set', `init=${sft}`,
      '--set', 'prm.epochs=2', '--set', 'prm.miniBatchSize=8', '--set', 'prm.validation.fraction=0.25', '--set', `processbench.path=${PROCESSBENCH}`,
      '--set', 'processbench.resamples=50', '--progress', 'off', '--out', out);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/supervised: 96 labelled samples \(288 steps, \d+ wrong\)/);
    expect(r.out).toMatch(/supervised PRM: held-out step AUROC [\d.]+ before training, [\d.]+ at the kept epoch [12] of 2/);
    expect(r.out).toMatch(/easy \(2 erroneous, 2 correct\): error acc [\d.]+ \[[\d.]+, [\d.]+\], correct acc [\d.]+ .*F1 /);
    expect(r.out).toMatch(/hard \(2 erroneous, 2 correct\)/);
    expect(r.out).toMatch(/average F1 ([\d.]+|n\/a) \[.*\] \(threshold 0\.5000, given; 95% bootstrap intervals over problems\)/);
    expect(r.out).toMatch(/repirl prm train finished 2\/2: .*processbench\/avg_f1/);
    expect(await readdir(out)).toEqual(expect.arrayContaining(['prm.safetensors', 'prm.json', 'processbench.json', 'metrics.jsonl', 'summary.json', 'checkpoints']));
    const summary = await readJson(join(out, 'summary.json'));
    const results = summary.results as Record<string, number>;
    for (const key of ['processbench/avg_f1', 'processbench/easy/f1', 'processbench/easy/error_acc', 'processbench/hard/correct_acc', 'val/prm/step_auroc']) expect(results).toHaveProperty(key);
    const pb = await readJson(join(out, 'processbench.json'));
    expect(pb.predictions).toHaveLength(8);
    for (const p of pb.predictions) expect(p.step_scores.length).toBeGreaterThanOrEqual(3);

    const again = await cli.run('prm', 'eval', '--set', `prm=${out}`, '--set', `processbench.path=${PROCESSBENCH}`, '--set', 'processbench.resamples=50',
      '--progress', 'off', '--out', join(tmp.path(), 'eval'));
    expect(again.code, again.out + again.err).toBe(0);
    expect(again.out).toMatch(/repirl prm eval finished 3\/3: .*processbench\/avg_f1/);
    const reevaluated = await readJson(join(tmp.path(), 'eval', 'processbench.json'));
    expect(reevaluated.metrics).toEqual(pb.metrics);
    expect(reevaluated.predictions).toEqual(pb.predictions);
  });

  it('refuses a labelled file with a bad row, naming file:line and the field', async () => {
    const bad = join(tmp.path(), 'bad.jsonl');
    await writeFile(bad, `${JSON.stringify({ prompt: '1 +2', completions: ['=3', '#### 3'], labels: [true, true] })}\n${JSON.stringify({ prompt: '1 +2', completions: ['=3'], labels: [true, false] })}\n`);
    const r = await makeCli().run('prm', 'train', '--set', 'method=supervised', '--set', `data.path=${bad}`, '--set', `init=${sft}`, '--progress', 'off', '--out', join(tmp.path(), 'bad-run'));
    // Read and checked before the run directory exists: a usage error, nothing written.
    expect(r.code).toBe(2);
    expect(`${r.out}\n${r.err}`).toMatch(/bad\.jsonl:2: field "labels" has 2 labels but "completions" has 1 steps/);
    expect(await readdir(tmp.path())).not.toContain('bad-run');
    const dry = await makeCli().run('prm', 'train', '--set', 'method=supervised', '--set', `data.path=${labelled}`, '--set', `init=${sft}`,
      '--set', `processbench.path=${PROCESSBENCH}`, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.err).toMatch(/data\.path .*steps\.jsonl: jsonl, layout trl: 96 samples, 288 steps \(\d+ wrong\)\n  example steps\.jsonl:1: prompt "\d+ [^"]+"; steps "=\d+" [+-], /);
    expect(dry.err).toMatch(/processbench\.path .*processbench-arith\.jsonl: 8 ProcessBench samples; subsets easy \(2 erroneous, 2 correct\), hard \(2 erroneous, 2 correct\)/);
    const missing = await makeCli().run('prm', 'eval', '--set', `prm=${join(tmp.path(), 'prm-supervised')}`, '--set', 'processbench.path=/nonexistent/pb.jsonl', '--progress', 'off', '--out', join(tmp.path(), 'x'));
    expect(missing.code, missing.out + missing.err).toBe(2);
    expect(`${missing.out}\n${missing.err}`).toMatch(/processbench\.path/);
  });
});
