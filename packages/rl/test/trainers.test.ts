// Trainers on tiny byte-level policies (d = 64, 2 layers) and the easiest arith-chain (one op,
// values < 10):
//  - SFT lowers the loss and raises greedy accuracy on held-out problems; micro-batching leaves
//    the update unchanged;
//  - the CI-sized behaviour test: GRPO from the SFT policy raises the mean reward;
//  - PPO + GAE runs and its critic's value loss goes down;
//  - every algorithm preset runs a step with finite, verl-named metrics;
//  - configs are checked with errors that name the key and the allowed values.
// Everything is seeded: the same code gives the same numbers on every run.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { AdamW, CpuBackend, DecoderLM, GpuBackend, backward, noGrad, parameter, scale, tensor, tidy } from '@repirl/autograd';
import { ValueModel, valueLoss } from '../src/critic/index.js';
import { lossNormalisers } from '../src/losses/index.js';
import { arithChain } from '../src/tasks/index.js';
import {
  RL_ALGORITHMS, RlTrainer, SftTrainer, evaluatePolicy, resolveRlConfig, resolveSftConfig, sftExamplesFromProblems,
  sftExamplesFromTrajectories, type MetricsRecord, type RlConfigInput, type TrainerEvent,
} from '../src/trainers/index.js';
import { ConfigError } from '../src/config/index.js';
import { TaskCodec, packSequences, padRows, rollout } from '../src/rollout/index.js';

let gpu: GpuBackend;
const difficulty = { steps: 1, range: 10 };
const heldOut = arithChain.generate(2, 64, difficulty);
const codec = new TaskCodec();
const verify = arithChain.verify.bind(arithChain);
const decoder = { vocabSize: 259, dModel: 64, nLayers: 2, nHeads: 4, dFF: 128, maxSeqLen: 48 };

/** The SFT'd starting policy of the RL tests, and the records of its SFT run. */
let sftPolicy: DecoderLM;
const sftRecords: MetricsRecord[] = [];
let sftSeconds = 0;

const collect = (into: MetricsRecord[]) => (e: TrainerEvent) => {
  if (e.type === 'metrics') into.push(e.record);
};

beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  sftPolicy = new DecoderLM(gpu, decoder, { seed: 1 });
  const trainer = new SftTrainer({
    policy: sftPolicy,
    examples: sftExamplesFromProblems(arithChain.generate(1, 2000, difficulty)),
    validation: heldOut,
    verify,
    config: { seed: 1, steps: 100, batchSize: 32, optim: { lr: 3e-3, warmupSteps: 10, minLrRatio: 0.1 }, validation: { k: 0 } },
    onEvent: collect(sftRecords),
  });
  const summary = await trainer.run();
  sftSeconds = summary.trainSeconds;
  trainer.dispose();
});

describe('SFT', () => {
  it('lowers the loss and raises greedy accuracy on held-out problems', () => {
    const train = sftRecords.filter((r) => r.step > 0);
    expect(train).toHaveLength(100);
    const mean = (rs: MetricsRecord[]) => rs.reduce((a, r) => a + r['train/loss']!, 0) / rs.length;
    const [first, last] = [mean(train.slice(0, 5)), mean(train.slice(-10))];
    const before = sftRecords[0]!;
    const after = sftRecords.at(-1)!;
    console.log(`SFT: loss ${first.toFixed(3)} → ${last.toFixed(3)}, held-out greedy acc ${before['val/acc']} → ${after['val/acc']}, ` +
      `val/nll ${before['val/nll']!.toFixed(3)} → ${after['val/nll']!.toFixed(3)}, ${(100 / sftSeconds).toFixed(1)} steps/s (batch 32)`);
    expect(before.step).toBe(0);
    expect(last).toBeLessThan(first / 4);
    expect(after['val/nll']!).toBeLessThan(before['val/nll']! / 4);
    expect(before['val/acc']).toBe(0);
    expect(after['val/acc']!).toBeGreaterThanOrEqual(0.25);
    for (const key of ['train/lr', 'train/grad_norm', 'train/tokens', 'timing/step_s']) expect(Number.isFinite(train[0]![key])).toBe(true);
  });

  it('micro-batching gives the same update (global token normaliser)', async () => {
    const examples = sftExamplesFromProblems(arithChain.generate(5, 64, difficulty));
    const losses: number[] = [];
    const weights: Float32Array[] = [];
    for (const microBatchSize of [0, 3]) {
      const policy = await sftPolicy.copy();
      const records: MetricsRecord[] = [];
      const trainer = new SftTrainer({ policy, examples, config: { steps: 1, batchSize: 16, microBatchSize, optim: { lr: 1e-3 } }, onEvent: collect(records) });
      await trainer.run();
      losses.push(records[0]!['train/loss']!);
      weights.push(Float32Array.from(await policy.parameters().get('blocks.0.attn.qkv.weight')!.data()));
      trainer.dispose();
      policy.dispose();
    }
    expect(losses[1]).toBeCloseTo(losses[0]!, 5);
    let worst = 0;
    weights[0]!.forEach((w, i) => (worst = Math.max(worst, Math.abs(w - weights[1]![i]!))));
    expect(worst).toBeLessThan(1e-6);
  });

  it('builds examples from expert or noisy solutions and from trajectories', () => {
    const ps = arithChain.generate(3, 20, { steps: 4, range: 20 });
    expect(sftExamplesFromProblems(ps).map((e) => e.response)).toEqual(ps.map((p) => p.solution));
    const noisy = sftExamplesFromProblems(ps, { task: arithChain, errorRate: 0.5, seed: 1 });
    expect(noisy.some((e, i) => e.response !== ps[i]!.solution)).toBe(true);
    expect(sftExamplesFromProblems(ps, { task: arithChain, errorRate: 0.5, seed: 1 })).toEqual(noisy); // seeded
    expect(() => sftExamplesFromProblems(ps, { errorRate: 0.5 })).toThrow(/need the task/);
    const trajectories = [{ id: 'a', prompt: '1 +1\n', response: '=2\n#### 2', correct: true }, { id: 'b', prompt: '1 +1\n', response: '=3\n#### 3', correct: false }];
    expect(sftExamplesFromTrajectories(trajectories, { onlyCorrect: true })).toEqual([{ prompt: '1 +1\n', response: '=2\n#### 2', id: 'a' }]);
  });
});

/** Runs an RL trainer from a copy of the SFT policy and returns its records. */
async function runRl(config: RlConfigInput, extra: { train?: typeof heldOut; keepPolicy?: boolean } = {}) {
  const policy = await sftPolicy.copy();
  const records: MetricsRecord[] = [];
  const trainer = await RlTrainer.create({ policy, train: extra.train ?? arithChain.generate(3, 32, difficulty), verify, codec, config, onEvent: collect(records) });
  const summary = await trainer.run();
  trainer.dispose();
  if (!extra.keepPolicy) policy.dispose();
  return { records, summary, policy };
}

describe('RL', () => {
  it('GRPO raises the mean reward of the SFT policy (CI-sized behaviour test)', async () => {
    const train = arithChain.generate(3, 32, difficulty);
    // Mean reward = accuracy of 8 samples per training prompt at temperature 1, same seed before and after.
    const meanReward = async (policy: DecoderLM) =>
      (await evaluatePolicy(policy, train, { k: 8, maxNewTokens: 12, seed: 77, codec, verify })).metrics['val/mean@k']!;
    const before = await meanReward(sftPolicy);
    const started = performance.now();
    const { records, policy } = await runRl(
      {
        algorithm: 'grpo',
        seed: 3,
        steps: 12,
        rollout: { promptsPerStep: 16, k: 8, maxNewTokens: 12 },
        actor: { lr: 1e-3, ppoEpochs: 2, miniBatches: 2 },
        kl: { coef: 0.001 },
      },
      { train, keepPolicy: true },
    );
    const seconds = (performance.now() - started) / 1000;
    const after = await meanReward(policy);
    policy.dispose();
    console.log(`GRPO: mean reward ${before.toFixed(3)} → ${after.toFixed(3)} in 12 steps of 128 samples (4 updates each), ` +
      `${(12 / seconds).toFixed(2)} steps/s; rollout/acc per step ${records.map((r) => r['rollout/acc']!.toFixed(2)).join(' ')}`);
    expect(before).toBeGreaterThan(0.05);
    expect(before).toBeLessThan(0.5);
    expect(after).toBeGreaterThan(before + 0.1);
    // The metrics stream carries verl's names.
    const r = records.at(-1)!;
    for (const key of [
      'actor/pg_loss', 'actor/entropy', 'actor/kl', 'actor/kl_coef', 'actor/clip_frac', 'actor/ppo_kl', 'actor/grad_norm', 'actor/lr',
      'critic/score/mean', 'critic/rewards/mean', 'critic/advantages/mean', 'response_length/mean', 'rollout/acc', 'rollout/logprob_diff',
      'timing/rollout_s', 'timing/update_s', 'timing/step_s',
    ]) {
      expect(Number.isFinite(r[key]), key).toBe(true);
    }
    expect(r['actor/lr']).toBe(1e-3);
    // Rollout log-probs come from the trainer's kernel: the first update starts on-policy.
    for (const rec of records) expect(rec['rollout/logprob_diff']!).toBeLessThan(1e-4);
  });

  it('an OnlineRewardModel scores each batch, its metrics and state reach the records, and the dense–outcome correlation is measured', async () => {
    const calls: number[] = [];
    const sign = (correct: boolean) => (correct ? 1 : -1);
    // A "reward model" that knows the verdict: +0.5 / −0.5 on the last token, so its sequence reward correlates perfectly with the outcome.
    const rewardModel = {
      async score(batch: { samples: { responseIds: number[]; verdict: { correct: boolean } }[] }, step: number) {
        calls.push(step);
        return {
          rewards: batch.samples.map((s) => s.responseIds.map((_, t) => (t === s.responseIds.length - 1 ? 0.5 * sign(s.verdict.correct) : 0))),
          metrics: { 'prm/calls': calls.length },
        };
      },
      checkpointContent: () => ({ models: {}, optimizers: {}, state: { calls: calls.length } }),
      restoreState: () => {},
    };
    const policy = await sftPolicy.copy();
    const records: MetricsRecord[] = [];
    const trainer = await RlTrainer.create({
      policy, train: arithChain.generate(3, 32, difficulty), verify, codec, rewardModel, onEvent: collect(records),
      config: { algorithm: 'grpo', seed: 5, steps: 3, rollout: { promptsPerStep: 8, k: 4, maxNewTokens: 12 } },
    });
    await trainer.run();
    trainer.dispose();
    policy.dispose();
    expect(calls).toEqual([1, 2, 3]);
    expect(records.filter((r) => r.step > 0).map((r) => r['prm/calls'])).toEqual([1, 2, 3]);
    const mixed = records.filter((r) => r.step > 0 && r['critic/score/mean']! > 0 && r['critic/score/mean']! < 1);
    expect(mixed.length).toBeGreaterThan(0);
    for (const r of mixed) expect(r['critic/dense_outcome_corr']).toBeCloseTo(1, 6);
    await expect(RlTrainer.create({ policy: sftPolicy, train: heldOut, rewardModel, denseRewards: () => [], config: {} })).rejects.toThrow(/not both/);
  });

  it('PPO + GAE: the critic\'s value loss goes down', async () => {
    // The actor is frozen for the first 4 steps (verl's critic warmup), so the critic regresses a
    // fixed policy's returns; steps 5–6 update both. Each step: 2 epochs × 4 mini-batches.
    // vf_explained_var compares each step's fresh returns with the values from before its updates.
    const { records } = await runRl({
      algorithm: 'ppo',
      seed: 4,
      steps: 6,
      rollout: { promptsPerStep: 8, k: 8, maxNewTokens: 12 },
      actor: { lr: 1e-3, ppoEpochs: 2, miniBatches: 4 },
      critic: { lr: 1e-3, freezeActorSteps: 4 },
      kl: { coef: 0.01 },
    });
    const vf = records.map((r) => r['critic/vf_loss']!);
    const explained = records.map((r) => r['critic/vf_explained_var']!);
    console.log(`PPO: critic/vf_loss per step ${vf.map((v) => v.toFixed(4)).join(' ')}; vf_explained_var ${explained.map((v) => v.toFixed(2)).join(' ')}`);
    expect(records[0]!['critic/values/mean']).toBe(0); // the value head starts at zero …
    expect(Math.abs(explained[0]!)).toBeLessThan(1e-6); // … so it explains nothing at first
    // On fresh batches of a fixed policy, the loss falls from E[R²]/2 toward Var(R)/2 as the
    // critic learns the mean return (more, on a fixed batch: see the next test).
    expect((vf[2]! + vf[3]!) / 2).toBeLessThan(vf[0]! * 0.8);
    const r = records[3]!;
    expect(Math.abs(r['critic/values/mean']! - r['critic/returns/mean']!)).toBeLessThan(0.5 * r['critic/returns/mean']!);
    expect(records[0]!['actor/pg_loss']).toBeUndefined(); // frozen actor
    for (const key of ['actor/pg_loss', 'actor/clip_frac', 'critic/vf_loss', 'critic/vf_clipfrac', 'critic/returns/mean', 'critic/values/mean', 'actor/kl']) {
      expect(Number.isFinite(records[5]![key]), key).toBe(true);
    }
  });

  it('the critic fits a fixed batch: its value loss goes down', async () => {
    const critic = ValueModel.fromPolicy(sftPolicy);
    const samples = (await rollout(sftPolicy, heldOut.slice(0, 4), { k: 4, maxNewTokens: 12, seed: 1, codec, verify })).samples;
    const packed = packSequences(samples, codec.padId);
    // Targets: the outcome on every token (a Monte-Carlo return with γ = 1).
    const returns = padRows(samples.map((s) => s.responseIds.map(() => s.score)), packed);
    const optimizer = new AdamW(critic.trainableParameters(), { lr: 1e-3 });
    const normalisers = lossNormalisers(packed.responseLengths, { maxLength: 12 });
    const losses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const loss = tidy(() => {
        const mask = tensor(gpu, packed.mask, [packed.B, packed.T]);
        const values = critic.values(packed);
        const { loss } = valueLoss(values, noGrad(() => scale(values, 1)), tensor(gpu, returns, [packed.B, packed.T]), mask, { clip: null, normalisers });
        backward(loss);
        return noGrad(() => scale(loss, 1));
      });
      losses.push(await loss.item());
      loss.dispose();
      await optimizer.step();
    }
    console.log(`critic on a fixed batch: value loss ${losses[0]!.toFixed(4)} → ${losses.at(-1)!.toFixed(4)} in 40 steps`);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 4);
    optimizer.dispose();
    critic.dispose();
  });

  it('valueLoss: hand-computed clipped loss, clip fraction and gradient (float64)', async () => {
    // Token 0: V = 1, V_old = 0.5, R = 2, c = 0.2: unclipped (1 − 2)² = 1, clipped (0.7 − 2)² = 1.69 wins;
    //          the clamp is saturated, so no gradient.
    // Token 1: V = 0.4, V_old = 0.5, R = 0: both terms 0.16 (inside the clip range); gradient
    //          ½·2·0.4 / N = 0.2 with N = 2 tokens.
    // Token 2 is masked.  loss = ½·(1.69 + 0.16)/2 = 0.4625; clipFrac = 1/2.
    const cpu = new CpuBackend();
    const values = parameter(cpu, [1, 0.4, 7], [1, 3]);
    const mk = (xs: number[]) => tensor(cpu, xs, [1, 3]);
    const normalisers = lossNormalisers([2], { maxLength: 3 });
    const { loss, clipFrac } = valueLoss(values, mk([0.5, 0.5, 0]), mk([2, 0, 0]), mk([1, 1, 0]), { clip: 0.2, normalisers });
    expect(await loss.item()).toBeCloseTo(0.4625, 12);
    expect(await clipFrac.item()).toBeCloseTo(0.5, 12);
    backward(loss);
    const grad = await values.grad!.toArray();
    expect(grad[0]).toBeCloseTo(0, 12);
    expect(grad[1]).toBeCloseTo(0.2, 12);
    expect(grad[2]).toBeCloseTo(0, 12);
    const plain = valueLoss(values, mk([0.5, 0.5, 0]), mk([2, 0, 0]), mk([1, 1, 0]), { clip: null, normalisers });
    expect(await plain.loss.item()).toBeCloseTo((0.5 * (1 + 0.16)) / 2, 12);
  });

  it('an RL step leaks no GPU memory: live bytes are equal after steps 2 and 4', async () => {
    const rt = await getRuntime();
    const policy = await sftPolicy.copy();
    const live: number[] = [];
    const trainer = await RlTrainer.create({
      policy, train: arithChain.generate(3, 32, difficulty), verify, codec,
      config: { algorithm: 'ppo', seed: 6, steps: 4, rollout: { promptsPerStep: 4, k: 4, maxNewTokens: 12 }, kl: { coef: 0.01 }, actor: { miniBatches: 2, microBatchSize: 3, entropyCoef: 0.01 } },
      onEvent: async (e) => {
        if (e.type === 'metrics' && (e.record.step === 2 || e.record.step === 4)) {
          await rt.sync();
          live.push(rt.memory().liveBytes);
        }
      },
    });
    await trainer.run();
    expect(live).toHaveLength(2);
    expect(live[1]).toBe(live[0]);
    trainer.dispose();
    policy.dispose();
  });

  it('every algorithm runs a step with finite metrics', async () => {
    for (const algorithm of RL_ALGORITHMS) {
      const { records } = await runRl({ algorithm, seed: 5, steps: 1, rollout: { promptsPerStep: 4, k: 4, maxNewTokens: 12 }, kl: { coef: 0.01 }, actor: { entropyCoef: 0.01 } });
      const r = records[0]!;
      for (const [key, value] of Object.entries(r)) expect(Number.isFinite(value), `${algorithm}: ${key}`).toBe(true);
      expect(r['actor/pg_loss'], algorithm).toBeDefined();
      expect(r['actor/kl'], algorithm).toBeDefined();
      expect(r['critic/vf_loss'] !== undefined, algorithm).toBe(algorithm === 'ppo');
    }
  });
});

describe('configs', () => {
  it('fill defaults from the algorithm preset', () => {
    expect(resolveRlConfig({ algorithm: 'dr-grpo' }).actor.aggregation).toBe('seq-mean-token-sum-norm');
    expect(resolveRlConfig({ algorithm: 'rloo' }).kl).toMatchObject({ placement: 'reward', estimator: 'k1' });
    const ppo = resolveRlConfig({ algorithm: 'ppo', rollout: { maxNewTokens: 20 } });
    expect(ppo.advantage).toMatchObject({ estimator: 'gae', lambda: 0.95 });
    expect(ppo.validation.maxNewTokens).toBe(0); // 0: the rollout's budget
    expect(resolveRlConfig({ algorithm: 'grpo', actor: { aggregation: 'seq-mean-token-mean' } }).actor.aggregation).toBe('seq-mean-token-mean');
    expect(resolveRlConfig({ actor: { clipLow: 0.1 } }).actor.clipHigh).toBeNull(); // null: clipLow
    expect(resolveRlConfig({ rollout: { promptsPerStep: 3 } }).filter.maxBuffer).toBeNull(); // null: promptsPerStep
    // A preset default is a default: the user's value wins, and the other algorithms' presets do not leak in.
    expect(resolveRlConfig({ algorithm: 'ppo', advantage: { lambda: 0.9 } }).advantage.lambda).toBe(0.9);
    expect(resolveRlConfig({ algorithm: 'grpo' }).advantage.lambda).toBe(1);
  });

  it('name the key and the allowed values in errors', () => {
    const error = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(error(() => resolveRlConfig({ algorithm: 'ppo2' } as never))).toMatch(/algorithm: "ppo2" is not one of "grpo", "dr-grpo", "rloo", "reinforce\+\+", "reinforce\+\+-baseline", "ppo" \(did you mean "ppo"\?\)/);
    expect(error(() => resolveRlConfig({ actor: { aggregation: 'token_mean' } } as never))).toMatch(/actor\.aggregation: "token_mean" is not one of "token-mean", "seq-mean-token-sum"/);
    expect(error(() => resolveRlConfig({ actor: { lrr: 1 } } as never))).toMatch(/actor\.lrr: unknown key \(did you mean "lr"\?\); valid keys in "actor": lr, /);
    expect(error(() => resolveRlConfig({ rollout: { k: 0 } }))).toMatch(/rollout\.k: 0 is out of range: must be an integer in \[1, 1024\]/);
    expect(error(() => resolveRlConfig({ filter: { low: 0.9, high: 0.5 } }))).toMatch(/filter\.low: 0\.9 is above filter\.high \(0\.5\)/);
    expect(error(() => resolveRlConfig({ actor: { dualClip: 0.5 } }))).toMatch(/actor\.dualClip: 0\.5 is out of range: must be a number in \(1, 100\]/);
    expect(resolveRlConfig({ actor: { dualClip: null } }).actor.dualClip).toBeNull();
    expect(error(() => resolveRlConfig({ rollout: { promptsPerStep: 1, k: 2 }, actor: { miniBatches: 3 } }))).toMatch(/actor\.miniBatches: 3 exceeds the samples per step/);
    expect(error(() => resolveSftConfig({ optim: { schedule: 'exp' } } as never))).toMatch(/optim\.schedule: "exp" is not one of "constant", "cosine", "linear"/);
    expect(error(() => resolveSftConfig({ rollout: {} } as never))).toMatch(/rollout: unknown key; valid keys: seed, steps/);
  });

  it('RlTrainer.create checks the policy context against prompts + budget', async () => {
    const policy = await sftPolicy.copy();
    await expect(RlTrainer.create({ policy, train: heldOut, config: { rollout: { maxNewTokens: 45 } } })).rejects.toThrow(/rollout\.maxNewTokens \(45\) exceeds the policy's maxSeqLen \(48\)/);
    await expect(RlTrainer.create({ policy, train: [], config: {} })).rejects.toThrow(/no training problems/);
    policy.dispose();
  });
});
