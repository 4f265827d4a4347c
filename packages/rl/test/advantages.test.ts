// The trainers' advantage API: token inputs built from per-sample scores, hand-computed GRPO /
// Dr.GRPO / RLOO through estimateAdvantages on both backends, and the GPU kernels against the
// float64 references for every registered estimator.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { SeededRandom, assertClose } from '@repirl/kernels/testing';
import * as ag from '@repirl/autograd';
import { CpuBackend, GpuBackend, type Backend } from '@repirl/autograd';
import { ADVANTAGES, ADVANTAGE_ESTIMATOR_NAMES, buildTokenRewards, estimateAdvantages, responseMask, type AdvantageTensorInputs } from '../src/advantages/index.js';

let gpu: GpuBackend;
const cpu = new CpuBackend();
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});
const backends = (): Backend[] => [cpu, gpu];
const tolOf = (b: Backend) => (b.name === 'cpu' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 1e-5, rtol: 1e-5 });

describe('token inputs from per-sample results', () => {
  it('places scores on the last valid token and dense rewards on valid tokens', async () => {
    // lengths [3, 1, 0], T = 4; dense rewards on valid tokens, scores added on the last one;
    // the empty third response has no token to carry its score.
    const { rewards, mask } = buildTokenRewards(cpu, { lengths: [3, 1, 0], maxLength: 4, scores: [1, 0.5, 2], dense: [[0.1, 0.2, 0.3], [0.4], []] });
    expect(rewards.shape).toEqual([3, 4]);
    assertClose(await rewards.toArray(), [0.1, 0.2, 1.3, 0, 0.9, 0, 0, 0, 0, 0, 0, 0], { atol: 1e-15, label: 'rewards' });
    expect(await mask.toArray()).toEqual([1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(await responseMask(cpu, [2, 0]).toArray()).toEqual([1, 1, 0, 0]); // T defaults to the longest response
  });

  it('rejects inconsistent lengths, scores and dense rewards', () => {
    expect(() => buildTokenRewards(cpu, { lengths: [3], maxLength: 2 })).toThrow(/shorter than the longest response/);
    expect(() => buildTokenRewards(cpu, { lengths: [2, 1], scores: [1] })).toThrow(/1 scores for 2 samples/);
    expect(() => buildTokenRewards(cpu, { lengths: [2], dense: [[1]] })).toThrow(/dense\[0\] has 1 rewards for a response of 2 tokens/);
    expect(() => responseMask(cpu, [1.5])).toThrow(/lengths\[0\]/);
  });
});

describe('hand-computed sequence estimators through estimateAdvantages', () => {
  // Five samples of two prompts, groups not contiguous: group 0 = rows {0, 2}, group 1 = rows {1, 3, 4}.
  const groups = [0, 1, 0, 1, 1];
  const scores = [1, 1, 0, 1, 0];
  const lengths = [2, 3, 1, 2, 3];
  /** Broadcast one advantage per row over its valid tokens (T = 3). */
  const broadcast = (perRow: number[]) => perRow.flatMap((a, b) => [0, 1, 2].map((t) => (t < lengths[b]! ? a : 0)));

  // GRPO, ε = 1e-6, std unbiased:
  //   group 0: scores [1, 0], mean 0.5, std √(2·0.25/1) = √0.5 → ±0.5/(√0.5 + ε) ≈ ±0.70711
  //   group 1: scores [1, 1, 0], mean 2/3, std √((1/9 + 1/9 + 4/9)/2) = √(1/3) → (1/3)/(√(1/3) + ε) ≈ 0.57735 and −(2/3)/(√(1/3) + ε) ≈ −1.15470
  const e = 1e-6;
  const g0 = 0.5 / (Math.sqrt(0.5) + e);
  const g1 = 1 / 3 / (Math.sqrt(1 / 3) + e);
  const expected: Record<'grpo' | 'dr-grpo' | 'rloo', number[]> = {
    grpo: broadcast([g0, g1, -g0, g1, -2 * g1]),
    // Dr.GRPO: s − mean, no std: [0.5, 1/3, −0.5, 1/3, −2/3]
    'dr-grpo': broadcast([0.5, 1 / 3, -0.5, 1 / 3, -2 / 3]),
    // RLOO: s − mean of the others: group 0 → 1 − 0, 0 − 1; group 1 → 1 − (1 + 0)/2 = 0.5 twice, 0 − (1 + 1)/2 = −1
    rloo: broadcast([1, 0.5, -1, 0.5, -1]),
  };

  for (const name of ['grpo', 'dr-grpo', 'rloo'] as const) {
    it(`${name} on both backends`, async () => {
      expect(g0).toBeCloseTo(0.70711, 5);
      for (const backend of backends()) {
        const { rewards, mask } = buildTokenRewards(backend, { lengths, scores, maxLength: 3 });
        const { advantages, returns } = estimateAdvantages(backend, name, { rewards, mask, groups });
        expect(advantages.shape).toEqual([5, 3]);
        expect(advantages.requiresGrad).toBe(false);
        expect(returns).toBeUndefined();
        assertClose(await advantages.toArray(), expected[name], { ...tolOf(backend), label: `${name} on ${backend.name}` });
        for (const t of [rewards, mask, advantages]) t.dispose();
      }
    });
  }
});

describe('GPU kernels agree with the float64 references for every estimator', () => {
  const [B, T] = [7, 9];
  const rng = new SeededRandom(5);
  const lengths = [9, 4, 0, 7, 1, 9, 5];
  const groups = [2, 0, 2, 1, 0, 2, 1]; // groups of 3, 2 and 2, interleaved
  const dense = lengths.map((n) => Array.from({ length: n }, () => rng.uniform(-0.5, 0.5)));
  const scores = lengths.map(() => (rng.next() < 0.5 ? 1 : 0));
  const values = Array.from({ length: B * T }, () => rng.uniform(-1, 1));
  const outcome = lengths.map(() => rng.uniform(0, 1));

  function inputs(backend: Backend): AdvantageTensorInputs {
    const { rewards, mask } = buildTokenRewards(backend, { lengths, scores, dense, maxLength: T });
    return { rewards, mask, groups, values: ag.tensor(backend, values, [B, T]), outcome };
  }

  it('the registry lists every kernel estimator with its formula', () => {
    expect(ADVANTAGE_ESTIMATOR_NAMES).toEqual(expect.arrayContaining(['grpo', 'dr-grpo', 'rloo', 'reinforce++', 'reinforce++-baseline', 'gae', 'prime-rloo-paper', 'prime-rloo-code', 'repirl-loo']));
    for (const name of ADVANTAGE_ESTIMATOR_NAMES) expect(ADVANTAGES[name].doc.length).toBeGreaterThan(10);
    expect(ADVANTAGES.gae.needs).toEqual(['values']);
  });

  for (const name of ADVANTAGE_ESTIMATOR_NAMES) {
    it(name, async () => {
      const options = { gamma: 0.9, lambda: 0.95, cPrm: 0.1 };
      const ref = estimateAdvantages(cpu, name, inputs(cpu), options);
      const got = estimateAdvantages(gpu, name, inputs(gpu), options);
      const expectedAdv = await ref.advantages.toArray();
      expect(expectedAdv.some((v) => Math.abs(v) > 1e-3)).toBe(true); // not a trivially zero case
      assertClose(await got.advantages.toArray(), expectedAdv, { atol: 2e-5, rtol: 2e-4, label: `${name} advantages` });
      expect(got.returns === undefined).toBe(ref.returns === undefined);
      if (ref.returns) assertClose(await got.returns!.toArray(), await ref.returns.toArray(), { atol: 2e-5, rtol: 2e-4, label: `${name} returns` });
      // Masked tokens get 0 on both backends.
      const adv = await got.advantages.toArray();
      lengths.forEach((n, b) => {
        for (let t = n; t < T; t++) expect(adv[b * T + t]).toBe(0);
      });
      got.advantages.dispose();
      got.returns?.dispose();
    });
  }

  it('names the missing input and the unknown estimator', () => {
    const { rewards, mask } = inputs(cpu);
    expect(() => estimateAdvantages(cpu, 'gae', { rewards, mask })).toThrow(/gae: needs values/);
    expect(() => estimateAdvantages(cpu, 'grpo', { rewards, mask, groups: [0, 1] })).toThrow(/groups has 2 entries for 7 samples/);
    expect(() => estimateAdvantages(cpu, 'ppo', { rewards, mask })).toThrow(/unknown advantage estimator "ppo".*grpo/);
    expect(() => estimateAdvantages(gpu, 'rloo', { rewards, mask, groups })).toThrow(/cpu backend/);
  });
});
