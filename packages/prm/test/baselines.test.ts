// The offline baselines on a tiny SFT-ed policy and the easiest arith-chain:
//  - the Math-Shepherd Monte-Carlo estimator: exact counts from a sampler whose outcomes are
//    fixed, and the expectations E[soft] = p, E[hard] = 1 − (1 − p)^N from one with known success
//    probabilities; the policy completer verifies a finished prefix as it is;
//  - ORM (BCE on correctness at the last token) and Math-Shepherd (BCE on MC labels at step ends):
//    the loss goes down, and response / step AUROC on held-out rollouts is above 0.5;
//  - configs name the key in errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { GpuBackend, Rng, type DecoderLM } from '@repirl/autograd';
import { ConfigError, arithChain, hasCompleteAnswerLine, type RolloutSample } from '@repirl/rl';
import {
  SAMPLER_BATCH_SIZE, epochLosses, monteCarloStepLabels, outcomeSamples, policyCompletionSampler, resolveOrmConfig, resolveShepherdConfig, stepPrefixes, trainOrm,
  trainShepherd, type CompletionSampler, type PrefixQuery,
} from '../src/index.js';
import { codec, difficulty, prmAuroc, samplePolicy, sftPolicy, verify } from './helpers.js';

let gpu: GpuBackend;
let policy: DecoderLM;
let train: RolloutSample[];
let held: RolloutSample[];
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  policy = await sftPolicy(gpu, 200);
  train = await samplePolicy(policy, 11, 48, 4);
  held = await samplePolicy(policy, 99, 32, 4);
});

const problem = arithChain.generate(5, 1, difficulty)[0]!;
const response = '=7\n=3\n#### 3\n';

describe('Math-Shepherd Monte-Carlo labels', () => {
  it('completes every step prefix N times and counts exactly', async () => {
    expect(stepPrefixes(response)).toEqual(['=7\n', '=7\n=3\n', '=7\n=3\n#### 3\n']);
    const seen: PrefixQuery[] = [];
    // Completion j of the prefix with k steps succeeds iff j < k: c_k = k of N = 4.
    const sampler: CompletionSampler = async (queries, n) => {
      seen.push(...queries);
      return queries.map((q) => Array.from({ length: n }, (_, j) => j < stepPrefixes(q.prefix).length - 1));
    };
    const [labels, empty] = await monteCarloStepLabels([{ problem, response }, { problem, response: '' }], sampler, { completions: 4, seed: 0 });
    expect(seen.map((q) => q.prefix)).toEqual(stepPrefixes(response));
    expect(labels).toEqual({ correct: [0, 1, 2], completions: 4, hard: [0, 1, 1], soft: [0, 0.25, 0.5] });
    expect(empty).toEqual({ correct: [], completions: 4, hard: [], soft: [] });
    await expect(monteCarloStepLabels([{ problem, response }], async (qs) => qs.map(() => [true]), { completions: 4, seed: 0 })).rejects.toThrow(/gave 1 completions/);
  });

  it('has the exact Monte-Carlo expectations for known success probabilities', async () => {
    const p = [0.1, 0.5, 0.8]; // success probability from the prefix of step k
    const N = 3;
    const sampler: CompletionSampler = async (queries, n, seed) => {
      const rng = new Rng(seed);
      return queries.map((q) => Array.from({ length: n }, () => rng.next() < p[stepPrefixes(q.prefix).length - 1]!));
    };
    const R = 3000;
    const sums = { hard: [0, 0, 0], soft: [0, 0, 0] };
    for (let seed = 0; seed < R; seed++) {
      const [labels] = await monteCarloStepLabels([{ problem, response }], sampler, { completions: N, seed });
      labels!.hard.forEach((v, k) => (sums.hard[k]! += v));
      labels!.soft.forEach((v, k) => (sums.soft[k]! += v));
    }
    p.forEach((pk, k) => {
      const hard = 1 - (1 - pk) ** N;
      // 4 standard errors of the mean of R draws.
      expect(Math.abs(sums.hard[k]! / R - hard)).toBeLessThan(4 * Math.sqrt((hard * (1 - hard)) / R));
      expect(Math.abs(sums.soft[k]! / R - pk)).toBeLessThan(4 * Math.sqrt((pk * (1 - pk)) / (N * R)));
    });
  });

  it('the policy completer verifies a finished prefix as it is and completes the others', async () => {
    const sampler = policyCompletionSampler(policy, { codec, verify, maxNewTokens: 12 });
    const right = `${problem.solution}\n`;
    const queries = [{ problem, prefix: '=999\n#### 999\n' }, { problem, prefix: right }, { problem, prefix: stepPrefixes(right)[0]! }];
    const [wrong, correct, partial] = await sampler(queries, 6, 1);
    expect(wrong).toEqual(new Array(6).fill(false));
    expect(correct).toEqual(new Array(6).fill(true));
    expect(partial).toHaveLength(6);
    expect(await sampler(queries, 6, 1)).toEqual([wrong, correct, partial]); // seeded
  });

  it('the policy completer generates in calls of SAMPLER_BATCH_SIZE sequences by default, not all at once', async () => {
    // All at once, a long rollout set's completions overflow a storage binding (an arith-chain run
    // of 768 rollouts asked for ~6k). Each generate() call draws from its own seed, so the default
    // reproduces an explicit batch of SAMPLER_BATCH_SIZE and differs from one call for them all.
    const queries = Array.from({ length: 3 }, (_, i) => ({ problem: arithChain.generate(40 + i, 1, difficulty)[0]!, prefix: '' }));
    const n = Math.ceil(SAMPLER_BATCH_SIZE / 3) + 8; // > SAMPLER_BATCH_SIZE rows in all
    const options = { codec, verify, maxNewTokens: 12 };
    const byDefault = await policyCompletionSampler(policy, options)(queries, n, 5);
    expect(await policyCompletionSampler(policy, { ...options, batchSize: SAMPLER_BATCH_SIZE })(queries, n, 5)).toEqual(byDefault);
    expect(await policyCompletionSampler(policy, { ...options, batchSize: 0 })(queries, n, 5)).not.toEqual(byDefault);
  });
});

describe('ORM and Math-Shepherd', () => {
  it('ORM: the BCE goes down and the response AUROC on held-out rollouts is above 0.5', async () => {
    const { prm, metrics } = await trainOrm({ policy, samples: outcomeSamples(train), codec, config: { seed: 1, epochs: 6, miniBatchSize: 32, optim: { lr: 1e-3 } } });
    const losses = epochLosses(metrics);
    const auc = await prmAuroc(prm, held);
    const acc = train.filter((s) => s.verdict.correct).length / train.length;
    console.log(`ORM: ${train.length} rollouts (acc ${acc.toFixed(2)}), epoch loss ${losses.map((l) => l.toFixed(3)).join(' ')}; held-out response AUROC ${auc.response.toFixed(3)}, step AUROC ${auc.step.toFixed(3)}`);
    expect(acc).toBeGreaterThan(0.02);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.05);
    expect(auc.response).toBeGreaterThan(0.5);
    prm.dispose();
  });

  it('Math-Shepherd: MC labels agree with the exact labels, the BCE goes down, step AUROC above 0.5', async () => {
    const { prm, metrics, labels, completions } = await trainShepherd({
      policy, samples: train, codec, verify, config: { seed: 1, epochs: 6, miniBatchSize: 32, completions: 4, maxNewTokens: 12, optim: { lr: 1e-3 } },
    });
    // The compute it spent: N = 4 completions of every step prefix that does not already hold the answer line.
    expect(completions).toBe(train.reduce((n, s) => n + stepPrefixes(s.response).filter((p) => !hasCompleteAnswerLine(p)).length * 4, 0));
    expect(completions).toBeGreaterThan(0);
    // Hard MC labels against the exact global step labels: they should mostly agree.
    let agree = 0;
    let total = 0;
    train.forEach((s, i) => {
      const exact = arithChain.stepLabels(s.problem, s.response).global;
      labels[i]!.hard.slice(0, exact.length).forEach((h, k) => ((agree += Number((h === 1) === exact[k])), total++));
    });
    const losses = epochLosses(metrics);
    const auc = await prmAuroc(prm, held);
    console.log(`Math-Shepherd: MC hard labels agree with exact labels on ${agree}/${total} steps; epoch loss ${losses.map((l) => l.toFixed(3)).join(' ')}; ` +
      `held-out step AUROC ${auc.step.toFixed(3)}, response AUROC ${auc.response.toFixed(3)}`);
    expect(agree / total).toBeGreaterThan(0.7);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.05);
    expect(auc.step).toBeGreaterThan(0.5);
    prm.dispose();
  });

  it('checks configs, naming the key', () => {
    expect(resolveShepherdConfig()).toMatchObject({ completions: 8, labelMode: 'hard', epochs: 4, miniBatchSize: 32 });
    expect(() => resolveOrmConfig({ epochs: 0 })).toThrow(/epochs: 0 is out of range: must be an integer in \[1, 1000\]/);
    expect(() => resolveShepherdConfig({ labelMode: 'mixed' } as never)).toThrow(ConfigError);
    expect(() => resolveShepherdConfig({ labelMode: 'mixed' } as never)).toThrow(/labelMode: "mixed" is not one of "hard", "soft"/);
    expect(() => resolveOrmConfig({ completions: 4 } as never)).toThrow(/completions: unknown key; valid keys: seed, epochs/);
  });
});
