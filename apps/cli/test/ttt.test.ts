// `repirl prm ttt` end to end on a tiny SFT policy and a tiny rePIRL PRM run: the frozen PRM's run
// writes the monitor's metrics per validation point (and none of the verdict-based rollout
// metrics), the accuracy before and after with intervals and the monitor's verdict in
// summary.json and ttt.json; the online PRM's run stops on Ctrl-C and resumes to the same metrics,
// PRM and verdict as an uninterrupted one; configs that would let answers into the reward are
// refused naming the key. (The learning and the monitor's rule: packages/prm/test/ttt.test.ts.)
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runners, type Runners } from '../src/commands/runners.js';
import { makeCli, readJson, useTempDir, readJsonl, tinySftArgs, TINY_TASK } from './helpers.js';

const tmp = useTempDir('repirl-ttt-cli-');
const original: Runners = { ...runners };
const TASK = TINY_TASK;
const readMetrics = readJsonl;

let sft: string;
let prm: string;

beforeAll(async () => {
  const cli = makeCli();
  sft = join(tmp.path(), 'sft');
  const r = await cli.run(...tinySftArgs(30, sft));
  expect(r.code).toBe(0);
  prm = join(tmp.path(), 'prm');
  const p = await cli.run('prm', 'train', ...TASK, '--set', 'method=repirl', '--set', `init=${sft}`, '--set', 'rl.steps=1', '--set', 'rl.filter.enabled=false',
    '--set', 'rl.rollout.promptsPerStep=2', '--set', 'rl.rollout.k=2', '--set', 'rl.rollout.maxNewTokens=12', '--set', 'rl.validation.problems=2', '--set', 'rl.validation.every=0',
    '--set', 'eval.problems=2', '--set', 'eval.samplesPerProblem=2', '--set', 'eval.ns=[2]', '--progress', 'off', '--out', prm);
  expect(p.code, p.out).toBe(0);
}, 120_000);

afterAll(() => {
  Object.assign(runners, original);
});

/** 6 test prompts, 2 per step × 2 samples, validation after every step, a monitor window of 2. */
const SMALL = [
  ...TASK, '--set', 'problems=6', '--set', 'rl.steps=3', '--set', 'rl.rollout.promptsPerStep=2', '--set', 'rl.rollout.k=2', '--set', 'rl.rollout.maxNewTokens=12',
  '--set', 'rl.validation.every=1', '--set', 'rl.validation.k=0', '--set', 'rl.checkpoint.every=1', '--set', 'ttt.monitor.window=2', '--set', 'ttt.bootstrap=100', '--progress', 'off',
];

describe('repirl prm ttt', () => {
  it('with the frozen PRM: the monitor per validation point, accuracy before and after with intervals, the verdict in the summary', async () => {
    const cli = makeCli();
    const out = join(tmp.path(), 'frozen');
    const r = await cli.run('prm', 'ttt', ...SMALL, '--set', `prm=${prm}`, '--out', out);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/test-time training with the frozen PRM: greedy pass@1 [\d.]+ \[[\d.]+, [\d.]+\] → [\d.]+ \[[\d.]+, [\d.]+\], gain -?[\d.]+ .*hacking monitor (quiet|flagged steps [\d, ]+)/);
    const metrics = await readMetrics(join(out, 'metrics.jsonl'));
    const validations = metrics.filter((m) => 'val/acc' in m);
    expect(validations.map((m) => m.step)).toEqual([0, 1, 2, 3]);
    for (const m of validations) expect(typeof m['val/ttt/prm_score']).toBe('number');
    // A verdict from the second point on (window 2).
    expect(validations.map((m) => typeof m['ttt/hacking'])).toEqual(['undefined', 'number', 'number', 'number']);
    for (const m of metrics.filter((x) => x.step > 0)) {
      expect(typeof m['ttt/prm_score']).toBe('number');
      for (const key of ['rollout/acc', 'critic/score/mean', 'critic/dense_outcome_corr', 'prm/loss']) expect(m[key], key).toBeUndefined();
    }
    const { results } = await readJson(join(out, 'summary.json'));
    const flagged = validations.filter((m) => m['ttt/hacking'] === 1).map((m) => m.step);
    expect(results['ttt/hacking_steps']).toEqual(flagged);
    expect(results['ttt/hacking']).toBe(flagged.length > 0 ? 1 : 0);
    expect(results['ttt/acc@start']).toBe(validations[0]['val/acc']);
    expect(results['ttt/acc@end']).toBe(validations[3]['val/acc']);
    expect(results['ttt/acc_gain']).toBeCloseTo(validations[3]['val/acc'] - validations[0]['val/acc'], 12);
    expect(results['ttt/acc@end/lo']).toBeLessThanOrEqual(results['ttt/acc@end']);
    expect(results['ttt/acc@end/hi']).toBeGreaterThanOrEqual(results['ttt/acc@end']);
    const ttt = await readJson(join(out, 'ttt.json'));
    expect(ttt.points.map((p: any) => p.step)).toEqual([0, 1, 2, 3]);
    expect(ttt.before.correct).toHaveLength(6);
    expect(ttt.mode).toBe('frozen');
  }, 60_000);

  it('with the online PRM: stopped by Ctrl-C and resumed, it ends with the same metrics, PRM and verdict as an uninterrupted run', async () => {
    const cli = makeCli();
    const args = ['prm', 'ttt', ...SMALL, '--set', `prm=${prm}`, '--set', 'ttt.prm=online', '--set', 'experts=16', '--set', 'learner.demosPerPrompt=1'];
    const full = join(tmp.path(), 'online-full');
    const f = await cli.run(...args, '--out', full);
    expect(f.code, f.out + f.err).toBe(0);
    const real = runners['prm-ttt'];
    runners['prm-ttt'] = (ctx) => real({ ...ctx, report: async (step, m) => {
      await ctx.report(step, m);
      if (step === 1) cli.signals.emit('SIGINT');
    } });
    const out = join(tmp.path(), 'online-stopped');
    const stopped = await cli.run(...args, '--out', out);
    expect(stopped.code).toBe(130);
    runners['prm-ttt'] = real;
    const resumed = await cli.run('prm', 'ttt', '--out', out, '--resume', '--progress', 'off');
    expect(resumed.code, resumed.out + resumed.err).toBe(0);
    const strip = (ms: any[]) => ms.map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'time' && !k.startsWith('timing/'))));
    const metrics = await readMetrics(join(out, 'metrics.jsonl'));
    expect(strip(metrics)).toEqual(strip(await readMetrics(join(full, 'metrics.jsonl'))));
    // The online PRM learned (rePIRL's loss against the pool's demonstrations) and was saved.
    expect(metrics.filter((m) => m.step > 0).every((m) => typeof m['prm/loss'] === 'number' && m['prm/experts'] === 2)).toBe(true);
    expect(await readFile(join(out, 'prm.safetensors'))).toEqual(await readFile(join(full, 'prm.safetensors')));
    expect((await readJson(join(out, 'ttt.json'))).results).toEqual((await readJson(join(full, 'ttt.json'))).results);
  }, 90_000);

  it('refuses what would let the answers into the reward, naming the key', async () => {
    const cli = makeCli();
    const cases: [string[], RegExp][] = [
      [['--set', 'rl.advantage.cGt=1'], /rl\.advantage\.cGt: must be 0 for test-time training/],
      [['--set', 'rl.filter.enabled=true'], /rl\.filter\.enabled: must be false/],
      [['--set', 'ttt.prm=online', '--set', 'learner.correctAsExperts=true'], /learner\.correctAsExperts: must be false/],
      [['--set', 'ttt.prm=stale'], /ttt\.prm/],
    ];
    for (const [extra, message] of cases) {
      const r = await cli.run('prm', 'ttt', ...TASK, '--set', `prm=${prm}`, ...extra, '--dry-run');
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.out + r.err).toMatch(message);
    }
    const none = await cli.run('prm', 'ttt', ...TASK, '--dry-run');
    expect(none.code).toBe(2);
    expect(none.out + none.err).toMatch(/prm/);
  });
});
