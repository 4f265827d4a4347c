// `repirl prm train` and `repirl prm eval` end to end on a tiny SFT policy: every learner runs,
// writes its PRM, its metrics and the held-out evaluation; the online ones stop on Ctrl-C and
// resume to the same metrics; `prm eval` scores a saved PRM; configs are validated.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runners, type Runners } from '../src/commands/runners.js';
import { makeCli } from './helpers.js';

let dir: string;
let sft: string;
const original: Runners = { ...runners };


const readJson = async (path: string): Promise<any> => JSON.parse(await readFile(path, 'utf8'));
const readMetrics = async (path: string): Promise<any[]> => (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

const TASK = ['--set', 'task.difficulty.steps=2', '--set', 'task.difficulty.range=10'];
/** A PRM run small enough for CI: 2 prompts × 2 samples per step (online), 4 problems × 2 samples (offline), 6 held-out problems × 4 samples. */
const ONLINE = ['repirl', 'airl-s', 'prime'];
const tinyPrm = (method: string) => [
  ...TASK, '--set', `method=${method}`,
  ...(ONLINE.includes(method)
    ? [
      // No accuracy filter: a 20-step SFT policy is rarely right, and PRIME's default band would drop every group.
      '--set', 'rl.steps=2', '--set', 'rl.filter.enabled=false', '--set', 'rl.rollout.promptsPerStep=2', '--set', 'rl.rollout.k=2', '--set', 'rl.rollout.maxNewTokens=16',
      '--set', 'rl.validation.problems=4', '--set', 'rl.validation.every=0', '--set', 'rl.checkpoint.every=1',
    ]
    : [
      '--set', 'problems=4', '--set', 'rollout.k=2', '--set', 'rollout.maxNewTokens=16', '--set', 'prm.epochs=2', '--set', 'prm.miniBatchSize=4',
      ...(method === 'shepherd' ? ['--set', 'prm.completions=2', '--set', 'prm.maxNewTokens=16'] : []),
    ]),
  '--set', 'eval.problems=6', '--set', 'eval.samplesPerProblem=4', '--set', 'eval.ns=[2,4]', '--progress', 'off',
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'repirl-prm-cli-'));
  sft = join(dir, 'sft');
  const cli = makeCli();
  const r = await cli.run(
    'sft', ...TASK, '--set', 'model.dModel=32', '--set', 'model.nLayers=1', '--set', 'model.nHeads=2', '--set', 'model.dFF=64', '--set', 'model.maxSeqLen=48',
    '--set', 'steps=20', '--set', 'optim.warmupSteps=1', '--set', 'batchSize=16', '--set', 'optim.lr=0.003', '--set', 'data.problems=128',
    '--set', 'validation.problems=4', '--set', 'validation.every=0', '--set', 'checkpoint.every=0', '--progress', 'off', '--out', sft,
  );
  expect(r.code).toBe(0);
});

afterAll(async () => {
  Object.assign(runners, original);
  await rm(dir, { recursive: true, force: true });
});

describe('repirl prm train', () => {
  it.each(['repirl', 'airl-s', 'prime', 'orm', 'shepherd', 'implicit-offline'])('--method %s trains, saves the PRM and evaluates it on held-out samples', async (method) => {
    const cli = makeCli();
    const out = join(dir, `prm-${method}`);
    const r = await cli.run('prm', 'train', ...tinyPrm(method), '--set', `init=${sft}`, '--out', out);
    expect(r.out).toMatch(new RegExp(`${method} PRM on arith-chain: step AUROC [\\d.]+|n/a`));
    expect(r.out).toMatch(/repirl prm train finished 2\/2: .*prm_eval\/step_auroc/);
    expect(r.code).toBe(0);
    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['prm.safetensors', 'prm.json', 'prm_eval.json', 'metrics.jsonl', 'summary.json', 'checkpoints']));
    const evaluation = await readJson(join(out, 'prm_eval.json'));
    expect(evaluation.samples).toHaveLength(24);
    for (const s of evaluation.samples) expect(s.step_scores).toHaveLength(s.step_labels.length);
    expect(evaluation.metrics['prm_eval/bo4/majority']).toBeGreaterThanOrEqual(0);
    const metrics = await readMetrics(join(out, 'metrics.jsonl'));
    expect(metrics.some((m) => Number.isFinite(m['prm/loss']))).toBe(true);
    // The sampling it spent: 2 steps × 2 prompts × 2 samples online (no filter), 4 problems × 2 offline, plus Math-Shepherd's completions.
    const { results } = await readJson(join(out, 'summary.json'));
    if (method === 'shepherd') expect(results['compute/mc_completions']).toBeGreaterThan(0);
    expect(results['compute/sampled_sequences']).toBe(8 + (results['compute/mc_completions'] ?? 0));

    // prm eval on the saved PRM: the same held-out problems and policy give the same numbers.
    const again = await cli.run('prm', 'eval', ...TASK, '--set', `prm=${out}`, '--set', 'problems=6', '--set', 'samplesPerProblem=4', '--set', 'ns=[2,4]',
      '--set', 'seed=0', '--set', 'maxNewTokens=16', '--progress', 'off', '--out', join(dir, `eval-${method}`));
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/repirl prm eval finished 3\/3/);
    const reevaluated = await readJson(join(dir, `eval-${method}`, 'prm_eval.json'));
    expect(reevaluated.metrics['prm_eval/step_auroc']).toBeCloseTo(evaluation.metrics['prm_eval/step_auroc'], 5);
  });

  it('prm.validation scores the PRM at each validation point (the best PRM and early stopping: packages/prm/test/validation.test.ts)', async () => {
    const cli = makeCli();
    const out = join(dir, 'prm-validated');
    const r = await cli.run('prm', 'train', ...tinyPrm('repirl'), '--set', `init=${sft}`, '--set', 'rl.validation.every=1',
      '--set', 'prm.validation.problems=6', '--set', 'prm.validation.samplesPerProblem=4', '--out', out);
    expect(r.code).toBe(0);
    // Before training (step 0) and after each step; 'auto' is the position-controlled step AUROC with step labels.
    const lines = (await readMetrics(join(out, 'metrics.jsonl'))).filter((m) => 'val/prm/step_auroc_position_controlled/sum' in m);
    expect(lines.map((m) => m.step)).toEqual([0, 1, 2]);
    // This 20-step SFT policy writes no correct step (every sample is cut at maxNewTokens), so no AUROC is defined:
    // NaN (null in JSON) everywhere, no best, and the last PRM is the one saved.
    expect(lines.every((m) => m['val/acc'] === 0 && m['val/prm/step_auroc_position_controlled/sum'] === null && m['val/prm/best'] === null)).toBe(true);
    const { results } = await readJson(join(out, 'summary.json'));
    expect(results['val/prm/best']).toBeUndefined();
    expect(r.out).not.toMatch(/the PRM of the best validation is kept/);
  });

  it('an online run stopped by Ctrl-C resumes to the same metrics and PRM as an uninterrupted one', async () => {
    const cli = makeCli();
    const args = ['prm', 'train', ...tinyPrm('repirl'), '--set', `init=${sft}`];
    const full = join(dir, 'full');
    expect((await cli.run(...args, '--out', full)).code).toBe(0);
    const real = runners['prm-train'];
    runners['prm-train'] = (ctx) => real({ ...ctx, report: async (step, m) => {
      await ctx.report(step, m);
      if (step === 1) cli.signals.emit('SIGINT');
    } });
    const out = join(dir, 'stopped');
    const stopped = await cli.run(...args, '--out', out);
    expect(stopped.code).toBe(130);
    expect(stopped.out).toContain(`continue with: repirl prm train --out ${out} --resume`);
    runners['prm-train'] = real;
    const resumed = await cli.run('prm', 'train', '--out', out, '--resume', '--progress', 'off');
    expect(resumed.code).toBe(0);
    const strip = (ms: any[]) => ms.map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'time' && !k.startsWith('timing/'))));
    expect(strip(await readMetrics(join(out, 'metrics.jsonl')))).toEqual(strip(await readMetrics(join(full, 'metrics.jsonl'))));
    expect(await readFile(join(out, 'prm.safetensors'))).toEqual(await readFile(join(full, 'prm.safetensors')));
  });

  it('rejects bad configs naming the key', async () => {
    const cli = makeCli();
    const bad = await cli.run('prm', 'train', '--set', `init=${sft}`, '--set', 'method=repril', '--dry-run');
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/method.*"repril".*did you mean "repirl"/s);
    const ns = await cli.run('prm', 'train', '--set', `init=${sft}`, '--set', 'eval.ns=[4,64]', '--dry-run');
    expect(ns.code).toBe(2);
    expect(ns.out).toMatch(/eval\.ns.*64 exceeds samplesPerProblem \(16\)/);
    const rewards = await cli.run('prm', 'train', '--set', `init=${sft}`, '--set', 'rl.advantage.cPrm=0', '--set', 'rl.advantage.cGt=0', '--dry-run');
    expect(rewards.code).toBe(2);
    expect(rewards.out).toMatch(/rl\.advantage\.cPrm: rl\.advantage\.cPrm and rl\.advantage\.cGt are both 0/);
    // Each method has its own keys: a key of another method is refused, not silently ignored.
    const foreign = await cli.run('prm', 'train', '--set', `init=${sft}`, '--set', 'method=orm', '--set', 'prm.beta=0.1', '--dry-run');
    expect(foreign.code).toBe(2);
    expect(foreign.out).toMatch(/prm\.beta: unknown key "beta"/);
    const sub = await cli.run('prm', 'trian');
    expect(sub.code).toBe(2);
    expect(sub.out).toMatch(/unknown subcommand "trian".*did you mean "train"/);
  });
});
