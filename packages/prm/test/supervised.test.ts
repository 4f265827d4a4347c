// The supervised PRM (TRL's PRMTrainer baseline) learns from step labels: on arith-chain solutions
// with slipped steps (exact labels from the task), trained from the tiny SFT-ed policy, its step
// AUROC on held-out prompts (arithmetic it must check, so the tiny model learns it slowly) rises
// from chance to clearly above 0.5; the held-out split is by
// prompt, the kept weights are the best epoch's, and the config names bad keys.
import { beforeAll, describe, expect, it } from 'vitest';
import { GpuBackend, type DecoderLM } from '@repirl/autograd';
import { getRuntime } from '@repirl/kernels';
import { ConfigError, arithChain, createRng } from '@repirl/rl';
import { epochLosses, isHeldOutPrompt, resolveSupervisedConfig, scoreSamples, encodeSteps, splitByPrompt, stepAuroc, trainSupervisedPrm, type StepLabelledSample } from '../src/index.js';
import { codec, difficulty, sftPolicy } from './helpers.js';

/** Solutions of `count` problems where each computation step slips with probability 1/2, labelled exactly (global labels). */
function labelledSet(seed: number, count: number): StepLabelledSample[] {
  const rng = createRng(seed);
  return arithChain.generate(seed, count, difficulty).map((p, i) => {
    const noisy = arithChain.noisySolution(p, rng, 0.5);
    return { id: `${seed}-${i}`, prompt: p.prompt, steps: noisy.stepLabels.steps, labels: noisy.stepLabels.global };
  });
}

let gpu: GpuBackend;
let policy: DecoderLM;
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  policy = await sftPolicy(gpu, 60);
});

describe('supervised PRM', () => {
  it('held-out step AUROC rises clearly above 0.5 from chance, and the kept weights are the best epoch\'s', async () => {
    const samples = labelledSet(21, 600);
    const { train, validation } = splitByPrompt(samples, 0.25);
    expect(validation.length).toBeGreaterThan(60);
    expect(train.some((x) => validation.some((v) => v.prompt === x.prompt))).toBe(false);
    const result = await trainSupervisedPrm({ policy, samples, codec, config: { seed: 3, epochs: 6, miniBatchSize: 16, optim: { lr: 1e-3 }, validation: { fraction: 0.25 } } });
    try {
      expect(result.counts).toMatchObject({ train: train.length, validation: validation.length, tooLong: 0 });
      const history = result.validation;
      expect(history.map((h) => h.epoch)).toEqual([-1, 0, 1, 2, 3, 4, 5]);
      const before = history[0]!.stepAuroc;
      const best = Math.max(...history.slice(1).map((h) => h.stepAuroc));
      // Measured: 0.46 before training, 0.67 at the best epoch (≈150 held-out prompts, ≈300 steps; AUROC's standard error ≈ 0.03).
      expect(before).toBeLessThan(0.55);
      expect(best).toBeGreaterThan(0.6);
      expect(best - before).toBeGreaterThan(0.12);
      const losses = epochLosses(result.metrics);
      expect(losses.at(-1)!).toBeLessThan(losses[0]!);
      // The PRM holds the best epoch's weights: scoring the held-out split again gives its AUROC.
      expect(history.find((h) => h.epoch === result.keptEpoch)!.stepAuroc).toBe(best);
      const seqs = validation.map((x) => encodeSteps(x.prompt, x.steps, codec, policy.config.maxSeqLen)!);
      const scored = await scoreSamples(result.prm, seqs, codec);
      const again = stepAuroc(scored.map((x, i) => ({ stepScores: x.steps, stepLabels: validation[i]!.labels }))).value;
      expect(again).toBeCloseTo(best, 5);
    } finally {
      result.prm.dispose();
    }
  });

  it("learns from labels given on a sample's own tokens (the exact-label diagnostic's rollouts), and not from the same labels shuffled", async () => {
    // As the diagnostic gives them: the response's tokens as sampled, its steps labelled by the task's labeller.
    const rng = createRng(8);
    const samples = arithChain.generate(22, 400, difficulty).map((p, i) => {
      const text = arithChain.noisySolution(p, rng, 0.5).text;
      const labels = arithChain.stepLabels(p, text);
      return { id: `t${i}`, prompt: p.prompt, steps: labels.steps, labels: labels.global, tokens: { promptIds: codec.encodePrompt(p.prompt), responseIds: codec.encodeResponse(text) } };
    });
    // The control: the same label counts, moved between steps at random.
    const pool = samples.flatMap((x) => x.labels);
    const shuffleRng = createRng(9);
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(shuffleRng.next() * (i + 1));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    let at = 0;
    const train = samples.filter((x) => !isHeldOutPrompt(x.prompt, 0.25));
    const shuffled = train.map((x) => ({ ...x, labels: x.labels.map(() => pool[at++]!) }));
    const validation = samples.filter((x) => isHeldOutPrompt(x.prompt, 0.25));
    const config = { seed: 3, epochs: 4, miniBatchSize: 16, optim: { lr: 1e-3 } };
    const best = async (set: typeof train) => {
      const result = await trainSupervisedPrm({ policy, samples: set, validation, codec, config });
      result.prm.dispose();
      return { before: result.validation[0]!.stepAuroc, best: Math.max(...result.validation.slice(1).map((h) => h.stepAuroc)) };
    };
    const exact = await best(train);
    const control = await best(shuffled);
    // Measured: 0.42 before training, 0.61 at the best epoch with the exact labels, 0.50 with them shuffled (≈100 held-out prompts).
    expect(exact.best).toBeGreaterThan(exact.before + 0.08);
    expect(exact.best).toBeGreaterThan(control.best + 0.05);
  });

  it('holds out whole prompts, and its config names a bad key', () => {
    expect(isHeldOutPrompt('7 +3\n', 0)).toBe(false);
    expect(isHeldOutPrompt('7 +3\n', 0.3)).toBe(isHeldOutPrompt('  7 +3 ', 0.3)); // the normalised prompt decides
    const share = labelledSet(5, 400).filter((x) => isHeldOutPrompt(x.prompt, 0.3)).length / 400;
    expect(share).toBeGreaterThan(0.1);
    expect(share).toBeLessThan(0.5);
    expect(resolveSupervisedConfig({}).validation).toEqual({ fraction: 0.1, keepBest: true });
    expect(() => resolveSupervisedConfig({ validation: { fraction: 2 } })).toThrow(ConfigError);
    expect(() => resolveSupervisedConfig({ validation: { fraction: 2 } })).toThrow(/validation\.fraction/);
  });
});
