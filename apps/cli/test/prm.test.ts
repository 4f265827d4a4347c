// `repirl prm train` and `repirl prm eval` end to end on a tiny SFT policy: every learner runs,
// writes its PRM, its metrics and the held-out evaluation; the online ones stop on Ctrl-C and
// resume to the same metrics; `prm eval` scores a saved PRM; configs are validated.
import { EventEmitter } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';
import { runners, type Runners } from '../src/commands/runners.js';
import type { SignalSource } from '../src/run/index.js';

let dir: string;
let sft: string;
const original: Runners = { ...runners };

function makeCli() {
  const signals = new EventEmitter();
  const stdout: string[] = [];
  const run = async (...argv: string[]) => {
    stdout.length = 0;
    const code = await main(argv, (t) => stdout.push(t), {
      stderr: () => {}, isTTY: false, columns: 100, env: {}, now: () => 0, clock: () => Date.UTC(2025, 0, 1),
      signals: signals as unknown as SignalSource, exit: vi.fn(),
    });
    return { code, out: stdout.join('\n') };
  };
  return { run, signals };
}

const readJson = async (path: string): Promise<any> => JSON.parse(await readFile(path, 'utf8'));
const readMetrics = async (path: string): Promise<any[]> => (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

const TASK = ['--set', 'task.difficulty.steps=2', '--set', 'task.difficulty.range=10'];
/** A PRM run small enough for CI: 2 prompts × 2 samples per step, 6 held-out problems × 4 samples. */
const TINY_PRM = [
  // No accuracy filter: a 20-step SFT policy is rarely right, and PRIME's default band would drop every group.
  ...TASK, '--set', 'steps=2', '--set', 'rollout.filter.enabled=false', '--set', 'rollout.promptsPerStep=2', '--set', 'rollout.k=2', '--set', 'rollout.maxNewTokens=16',
  '--set', 'offline.problems=4', '--set', 'offline.epochs=2', '--set', 'offline.batchSize=4', '--set', 'offline.completions=2',
  '--set', 'eval.problems=6', '--set', 'eval.samplesPerProblem=4', '--set', 'eval.ns=[2,4]', '--set', 'eval.validationProblems=4', '--set', 'eval.every=0',
  '--set', 'checkpointEvery=1', '--progress', 'off',
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'repirl-prm-cli-'));
  sft = join(dir, 'sft');
  const cli = makeCli();
  const r = await cli.run(
    'sft', ...TASK, '--set', 'model.dModel=32', '--set', 'model.nLayers=1', '--set', 'model.nHeads=2', '--set', 'model.dFF=64', '--set', 'model.maxSeqLen=48',
    '--set', 'train.steps=20', '--set', 'train.warmup=1', '--set', 'train.batchSize=16', '--set', 'train.lr=0.003', '--set', 'data.problems=128',
    '--set', 'eval.problems=4', '--set', 'eval.every=0', '--set', 'checkpointEvery=0', '--progress', 'off', '--out', sft,
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
    const r = await cli.run('prm', 'train', ...TINY_PRM, '--set', `init=${sft}`, '--set', `method=${method}`, '--out', out);
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

    // prm eval on the saved PRM: the same held-out problems and policy give the same numbers.
    const again = await cli.run('prm', 'eval', ...TASK, '--set', `prm=${out}`, '--set', 'problems=6', '--set', 'samplesPerProblem=4', '--set', 'ns=[2,4]',
      '--set', 'seed=0', '--set', 'maxNewTokens=16', '--progress', 'off', '--out', join(dir, `eval-${method}`));
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/repirl prm eval finished 3\/3/);
    const reevaluated = await readJson(join(dir, `eval-${method}`, 'prm_eval.json'));
    expect(reevaluated.metrics['prm_eval/step_auroc']).toBeCloseTo(evaluation.metrics['prm_eval/step_auroc'], 5);
  });

  it('an online run stopped by Ctrl-C resumes to the same metrics and PRM as an uninterrupted one', async () => {
    const cli = makeCli();
    const args = ['prm', 'train', ...TINY_PRM, '--set', `init=${sft}`, '--set', 'method=repirl'];
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
    const rewards = await cli.run('prm', 'train', '--set', `init=${sft}`, '--set', 'policy.cPrm=0', '--set', 'policy.cGt=0', '--dry-run');
    expect(rewards.code).toBe(2);
    expect(rewards.out).toMatch(/policy\.cPrm/);
    const sub = await cli.run('prm', 'trian');
    expect(sub.code).toBe(2);
    expect(sub.out).toMatch(/unknown subcommand "trian".*did you mean "train"/);
  });
});
