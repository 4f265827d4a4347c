// Test-time training (src/ttt): the hacking monitor's rule on made-up series (flagged exactly when
// the PRM score rises while the accuracy falls by the threshold, not in any other direction); the
// structure that keeps answers out of the reward (the reward model and the verifier see only
// unlabelled copies of the prompts during training; the real verifier only the labelled prompts at
// validation points); the config's refusals; and the behaviour: with an oracle PRM (the task's
// exact step labels) as the only reward, a few RL steps raise greedy accuracy on the prompts.
import { DecoderLM, GpuBackend, mul, tensor } from '@repirl/autograd';
import { getRuntime } from '@repirl/kernels';
import { arithChain, type MetricsRecord, type Problem, type RolloutBatch } from '@repirl/rl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProcessRewardModel } from '../src/models/prm.js';
import { OraclePrm } from '../src/search/oracle.js';
import { TokenMlpPrm } from '../src/models/token-mlp.js';
import {
  createTttTrainer, fittedChange, hackingSteps, hackingVerdict, resolveTttConfig, tttResults, unlabelled, UNLABELLED_VERDICT, type MonitorPoint,
} from '../src/ttt/index.js';
import { codec, difficulty, sftPolicy, verify } from './helpers.js';

const monitor = { window: 3, drop: 0.05, rise: 0 };
const series = (prm: number[], acc: number[]): MonitorPoint[] => prm.map((s, i) => ({ step: i * 10, prmScore: s, accuracy: acc[i]! }));

describe('the reward-hacking monitor', () => {
  it('fits the change over the window by least squares (two points: the difference)', () => {
    expect(fittedChange([0, 10], [0.2, 0.5])).toBeCloseTo(0.3, 12);
    expect(fittedChange([0, 10, 20], [0, 1, 0])).toBeCloseTo(0, 12);
    expect(fittedChange([0, 10, 30], [0, 1, 3])).toBeCloseTo(3, 12);
    expect(() => fittedChange([5, 5], [0, 1])).toThrow(/same step/);
  });

  it('flags the PRM score rising while the accuracy falls, and only that', () => {
    // Rising score, falling accuracy (by 0.1 over the window): flagged from the third point on.
    const hacked = series([0.1, 0.2, 0.3, 0.4], [0.6, 0.55, 0.5, 0.45]);
    expect(hackingVerdict(hacked.slice(0, 2), monitor)).toBeNull(); // fewer points than the window
    expect(hackingVerdict(hacked, monitor)).toMatchObject({ flagged: true });
    expect(hackingVerdict(hacked, monitor)!.accuracyChange).toBeCloseTo(-0.1, 12);
    expect(hackingSteps(hacked, monitor)).toEqual([20, 30]);
    // Both rising (TTT working), both falling, score falling while accuracy falls or rises: quiet.
    expect(hackingSteps(series([0.1, 0.2, 0.3, 0.4], [0.4, 0.5, 0.6, 0.7]), monitor)).toEqual([]);
    expect(hackingSteps(series([0.4, 0.3, 0.2, 0.1], [0.7, 0.6, 0.5, 0.4]), monitor)).toEqual([]);
    expect(hackingSteps(series([0.4, 0.3, 0.2, 0.1], [0.4, 0.5, 0.6, 0.7]), monitor)).toEqual([]);
    // A fall of exactly the threshold counts (accuracies are multiples of 1/N); a smaller one does not.
    expect(hackingVerdict(series([0.1, 0.2, 0.3], [0.55, 0.525, 0.5]), monitor)!.flagged).toBe(true);
    expect(hackingVerdict(series([0.1, 0.2, 0.3], [0.55, 0.53, 0.51]), monitor)!.flagged).toBe(false);
    // The score must rise by more than `rise`.
    expect(hackingVerdict(series([0.1, 0.11, 0.12], [0.6, 0.5, 0.4]), { ...monitor, rise: 0.05 })!.flagged).toBe(false);
    // The window decides which points count: an old fall followed by a recovery is not flagged.
    expect(hackingSteps(series([0.1, 0.2, 0.3, 0.4, 0.5], [0.9, 0.5, 0.5, 0.6, 0.7]), monitor)).toEqual([20]);
  });

  it('reports the accuracy before and after with bootstrap intervals, and the flagged steps', () => {
    const first = { step: 0, correct: [0, 0, 1, 0, 1, 0, 0, 1] };
    const last = { step: 20, correct: [1, 0, 1, 1, 1, 0, 1, 1] };
    const out = tttResults({ points: series([0.1, 0.2, 0.3], [3 / 8, 0.5, 6 / 8]), hackingSteps: [], first, last }, { resamples: 200, seed: 1 });
    expect(out['ttt/acc@start']).toBeCloseTo(3 / 8, 12);
    expect(out['ttt/acc@end']).toBeCloseTo(6 / 8, 12);
    expect(out['ttt/acc_gain']).toBeCloseTo(3 / 8, 12);
    expect(out['ttt/acc_gain/lo'] as number).toBeLessThanOrEqual(3 / 8);
    expect(out['ttt/acc_gain/hi'] as number).toBeGreaterThanOrEqual(3 / 8);
    expect(out['ttt/hacking']).toBe(0);
    expect(tttResults({ points: [], hackingSteps: [7], first: null, last: null }, { resamples: 200, seed: 1 })).toEqual({ 'ttt/hacking': 1, 'ttt/hacking_steps': [7] });
  });
});

describe('test-time training', () => {
  let gpu: GpuBackend;
  let start: DecoderLM;
  const prompts: Problem[] = arithChain.generate(7, 24, difficulty);

  beforeAll(async () => {
    gpu = new GpuBackend(await getRuntime());
    start = await sftPolicy(gpu, 100);
  }, 120_000);
  afterAll(() => start?.dispose());

  it('refuses what would let an answer into the reward, naming the key', () => {
    const fails = (input: Record<string, unknown>, key: string) => expect(() => resolveTttConfig(input)).toThrow(key);
    fails({ rl: { advantage: { cGt: 0.5 } } }, 'rl.advantage.cGt');
    fails({ rl: { filter: { enabled: true } } }, 'rl.filter.enabled');
    fails({ rl: { advantage: { estimator: 'grpo' } } }, 'rl.advantage.estimator');
    fails({ learner: { correctAsExperts: true } }, 'learner.correctAsExperts');
    fails({ rl: { advantage: { cPrm: 0 } } }, 'rl.advantage.cPrm');
    const c = resolveTttConfig({});
    expect([c.rl.advantage.cGt, c.rl.advantage.cPrm, c.rl.filter.enabled, c.ttt.prm]).toEqual([0, 1, false, 'frozen']);
  });

  it('unlabelled copies keep the prompt only', () => {
    const p: Problem = { id: 'x', prompt: 'What?\n', answer: '4', solution: '#### 4', meta: { seed: 1 } };
    expect(unlabelled(p)).toEqual({ id: 'x', prompt: 'What?\n', answer: '' });
  });

  it('the reward never receives an answer; the real verifier sees only the labelled prompts, at validation points', async () => {
    const policy = await start.copy();
    const prm = TokenMlpPrm.fromPolicy(policy, { seed: 2 });
    const verified: Problem[] = [];
    const spyVerify = (problem: Problem, response: string) => {
      verified.push(problem);
      return verify(problem, response);
    };
    const run = await createTttTrainer({
      policy, prm, prompts: prompts.slice(0, 6), verify: spyVerify, codec,
      config: { rl: { seed: 1, steps: 2, rollout: { promptsPerStep: 3, k: 2, maxNewTokens: 12 }, validation: { every: 1, k: 0 } } },
    });
    const rewarded: Problem[] = [];
    const score = run.reward.score.bind(run.reward);
    run.reward.score = (batch: RolloutBatch, step: number) => {
      rewarded.push(...batch.samples.map((x) => x.problem));
      for (const x of batch.samples) expect(x.verdict).toEqual(UNLABELLED_VERDICT);
      return score(batch, step);
    };
    try {
      await run.trainer.run();
    } finally {
      run.dispose();
      prm.dispose();
      policy.dispose();
    }
    expect(rewarded).toHaveLength(2 * 3 * 2);
    for (const p of rewarded) expect(p).toEqual({ id: p.id, prompt: p.prompt, answer: '' });
    // 3 validations (before training, after steps 1 and 2) × 6 labelled prompts, and nothing else.
    expect(verified).toHaveLength(3 * 6);
    for (const p of verified) expect(prompts).toContain(p);
  }, 120_000);

  /** TTT on 8 prompts from the SFT policy with `prm` as the only reward; its validation records (greedy and 8 samples per prompt) and the monitor's report. */
  async function ttt(prm: ProcessRewardModel) {
    const few = prompts.slice(0, 8);
    const policy = await start.copy();
    const records: MetricsRecord[] = [];
    const run = await createTttTrainer({
      policy, prm, prompts: few, verify, codec,
      config: {
        rl: {
          seed: 3, steps: 20, rollout: { promptsPerStep: 8, k: 8, maxNewTokens: 12 }, actor: { lr: 2e-3, ppoEpochs: 2, miniBatches: 2 }, kl: { coef: 0.001 },
          validation: { every: 10, k: 8 },
        },
        ttt: { monitor: { window: 2 } },
      },
      onEvent: (e) => {
        if (e.type === 'metrics') records.push(e.record);
      },
    });
    try {
      await run.trainer.run();
    } finally {
      run.dispose();
      policy.dispose();
    }
    const validations = records.filter((r) => r['val/acc'] !== undefined);
    expect(validations.map((r) => r.step)).toEqual([0, 10, 20]);
    expect(records.filter((r) => r.step > 0).every((r) => Number.isFinite(r['ttt/prm_score']))).toBe(true);
    return { validations, report: run.reward.report(), sampled: validations.map((r) => r['val/mean@k']!) };
  }

  it('with an oracle PRM as the only reward, accuracy on the prompts rises and the monitor stays quiet; with the oracle reversed, it falls and the monitor flags it', async () => {
    const oracle = new OraclePrm(gpu, arithChain, prompts, codec);
    const good = await ttt(oracle);
    // Sampled accuracy (8 per prompt) rises by 10 points or more; greedy does not fall; the oracle's score of the greedy responses does not fall either.
    expect(good.sampled.at(-1)!).toBeGreaterThanOrEqual(good.sampled[0]! + 0.1);
    expect(good.report.points.at(-1)!.accuracy).toBeGreaterThanOrEqual(good.report.points[0]!.accuracy);
    expect(good.report.hackingSteps).toEqual([]);
    expect(good.validations.slice(1).map((r) => r['ttt/hacking'])).toEqual([0, 0]);

    // The reversed oracle rewards wrong steps: the policy learns to be wrong while the PRM's score rises — what the monitor is for.
    const reversed: ProcessRewardModel = {
      kind: 'reversed-oracle', backend: gpu, trainableParameters: () => new Map(), dispose: () => {},
      tokenRewards: (packed) => mul(oracle.tokenRewards(packed), tensor(gpu, [-1], [1])),
    };
    const bad = await ttt(reversed);
    expect(bad.sampled.at(-1)!).toBeLessThan(bad.sampled[0]!);
    expect(bad.report.points.at(-1)!.prmScore).toBeGreaterThan(bad.report.points[0]!.prmScore);
    expect(bad.report.hackingSteps.length).toBeGreaterThan(0);
    expect(bad.validations.some((r) => r['ttt/hacking'] === 1)).toBe(true);
  }, 300_000);
});
