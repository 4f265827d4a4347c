// Policy losses, KL estimators, the entropy bonus and loss aggregation:
// 1. hand-computed values and gradients on tiny tensors (the arithmetic is in the comments), on
//    the float64 CPU backend (exact) and on the GPU backend (float32 tolerance);
// 2. gradients w.r.t. logp against central finite differences (CPU);
// 3. micro-batch invariance: for every aggregation mode, the gradient of a tiny model's actor loss
//    on a whole mini-batch equals the sum of the gradients over micro-batches, for several splits
//    — while the naive per-micro-batch normalisation does not (the trl#3021 bug class).
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { SeededRandom, assertClose, numericGradient } from '@repirl/kernels/testing';
import * as ag from '@repirl/autograd';
import { CpuBackend, GpuBackend, type Backend, type Tensor } from '@repirl/autograd';
import {
  AdaptiveKlController,
  KL_ESTIMATOR_NAMES,
  LOSS_AGGREGATION_NAMES,
  POLICY_LOSS_NAMES,
  aggregateLoss,
  entropyBonus,
  klDivergence,
  klLoss,
  klPenaltyInReward,
  lossNormalisers,
  lossNormalisersFromMask,
  policyLoss,
  readPolicyLossStats,
  type KlEstimatorName,
  type LossAggregation,
  type LossNormalisers,
  type PolicyLossName,
  type PolicyLossOptions,
  type PolicyLossStats,
} from '../src/losses/index.js';

let gpu: GpuBackend;
const cpu = new CpuBackend();
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});

const backends = (): [string, Backend][] => [
  ['cpu', cpu],
  ['gpu', gpu],
];
/** Exact on the float64 backend, float32 rounding on the GPU. */
const tolOf = (b: Backend) => (b.name === 'cpu' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 2e-6, rtol: 2e-5 });

interface TokenData {
  shape: [number, number];
  /** Differentiated input (logp, or the entropy for the entropy bonus). */
  x: number[];
  /** Other [B, T] inputs by name, no gradient. */
  consts: Record<string, number[]>;
}

/**
 * Builds x as a parameter and the constants as tensors, evaluates `build`, backpropagates the
 * scalar it returns, and reads the value, dL/dx and any scalar extras (stats) it returned.
 */
async function evaluate(backend: Backend, data: TokenData, build: (x: Tensor, c: Record<string, Tensor>) => { loss: Tensor; extras?: Record<string, Tensor> }) {
  const x = ag.parameter(backend, data.x, data.shape);
  const out = ag.tidy(() => {
    const c = Object.fromEntries(Object.entries(data.consts).map(([k, v]) => [k, ag.tensor(backend, v, data.shape)]));
    const r = build(x, c);
    if (r.loss.requiresGrad) ag.backward(r.loss);
    return { loss: r.loss, extras: r.extras ?? {} };
  });
  const value = await out.loss.item();
  const grad = x.grad ? await x.grad.toArray() : new Array<number>(data.x.length).fill(0);
  const extras: Record<string, number> = {};
  for (const [k, t] of Object.entries(out.extras)) extras[k] = await t.item();
  out.loss.dispose();
  for (const t of Object.values(out.extras)) t.dispose();
  x.dispose();
  return { value, grad, extras };
}

function expectNumber(actual: number, expected: number, tol: { atol: number; rtol: number }, label: string): void {
  assertClose([actual], [expected], { ...tol, label });
}

/** Token-level inputs of a policy loss from log-ratios: oldLogp = −1 everywhere, logp = −1 + log r. */
function fromRatios(ratios: number[], advantages: number[], mask: number[]): TokenData {
  return {
    shape: [1, ratios.length],
    x: ratios.map((r) => -1 + Math.log(r)),
    consts: { oldLogp: ratios.map(() => -1), advantages, mask },
  };
}

function runPolicy(name: PolicyLossName, backend: Backend, data: TokenData, options: Omit<PolicyLossOptions, 'normalisers' | 'aggregation'> & { aggregation?: LossAggregation; normalisers: LossNormalisers }) {
  return evaluate(backend, data, (logp, c) => {
    const r = policyLoss(name, { logp, oldLogp: c.oldLogp!, advantages: c.advantages!, mask: c.mask! }, { aggregation: 'token-mean', ...options });
    return { loss: r.loss, extras: r.stats as unknown as Record<string, Tensor> };
  });
}

// ---------------------------------------------------------------- 1. hand-computed values

describe('aggregation modes (hand-computed)', () => {
  // L = [[1, 2, 3], [4, 100, 100], [7, 7, 7]], M = [[1, 1, 1], [1, 0, 0], [0, 0, 0]]: the 100s and
  // the fully masked third row must not count. Token counts [3, 1, 0], maxLength 3:
  // tokens = 4, sequences = 2 (the empty row excluded), constant = 3 rows × 3 = 9.
  const data: TokenData = { shape: [3, 3], x: [1, 2, 3, 4, 100, 100, 7, 7, 7], consts: { mask: [1, 1, 1, 1, 0, 0, 0, 0, 0] } };
  const normalisers = lossNormalisers([3, 1, 0], { maxLength: 3 });
  const cases: Record<LossAggregation, { value: number; grad: number[] }> = {
    // (1 + 2 + 3 + 4)/4 = 2.5; each valid token weighs 1/4
    'token-mean': { value: 2.5, grad: [0.25, 0.25, 0.25, 0.25, 0, 0, 0, 0, 0] },
    // (6 + 4)/2 = 5; each valid token weighs 1/2
    'seq-mean-token-sum': { value: 5, grad: [0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0, 0] },
    // (6/3 + 4/1)/2 = 3; row 0 tokens weigh 1/(3·2), row 1's 1/(1·2)
    'seq-mean-token-mean': { value: 3, grad: [1 / 6, 1 / 6, 1 / 6, 0.5, 0, 0, 0, 0, 0] },
    // 10/9; each valid token weighs 1/9
    'seq-mean-token-sum-norm': { value: 10 / 9, grad: [1 / 9, 1 / 9, 1 / 9, 1 / 9, 0, 0, 0, 0, 0] },
  };

  it('normalisers count valid tokens, non-empty sequences and rows × maxLength', async () => {
    expect(normalisers).toEqual({ tokens: 4, sequences: 2, constant: 9 });
    const mask = ag.tensor(cpu, data.consts.mask!, [3, 3]);
    expect(await lossNormalisersFromMask(mask)).toEqual(normalisers);
    expect(await lossNormalisersFromMask(mask, { maxLength: 8 })).toEqual({ tokens: 4, sequences: 2, constant: 24 });
    expect(lossNormalisers([0, 0], { maxLength: 2 })).toEqual({ tokens: 1, sequences: 1, constant: 4 }); // empty: loss 0, not NaN
    expect(() => lossNormalisers([2, -1], { maxLength: 2 })).toThrow(/tokenCounts\[1\]/);
  });

  for (const mode of LOSS_AGGREGATION_NAMES) {
    it(`${mode} on both backends`, async () => {
      for (const [, backend] of backends()) {
        const got = await evaluate(backend, data, (x, c) => ({ loss: aggregateLoss(x, c.mask!, mode, normalisers) }));
        expectNumber(got.value, cases[mode].value, tolOf(backend), `${mode} value on ${backend.name}`);
        assertClose(got.grad, cases[mode].grad, { ...tolOf(backend), label: `${mode} gradient on ${backend.name}` });
      }
    });
  }

  it('rejects unknown modes, bad normalisers and shape mismatches', () => {
    const x = ag.tensor(cpu, [1, 2], [1, 2]);
    const mask = ag.tensor(cpu, [1, 1], [1, 2]);
    expect(() => aggregateLoss(x, mask, 'mean' as LossAggregation, normalisers)).toThrow(/unknown loss aggregation "mean".*token-mean/);
    expect(() => aggregateLoss(x, mask, 'token-mean', { ...normalisers, tokens: 0 })).toThrow(/normalisers.tokens/);
    expect(() => aggregateLoss(x, ag.tensor(cpu, [1, 1, 1], [1, 3]), 'token-mean', normalisers)).toThrow(/mask \[1, 3\]/);
  });
});

describe('policy losses (hand-computed)', () => {
  it('ppo-clip, symmetric ε = 0.2', async () => {
    // r = [1.5, 1.5, 0.5, 0.5, (masked) 1.5], A = [+1, −1, +1, −1, 7]; L = max(−A·r, −A·clip(r, 0.8, 1.2)):
    //   t0: max(−1.5, −1.2) = −1.2  clipped high (ratio 1.5 clips to 1.2), gradient 0
    //   t1: max( 1.5,  1.2) =  1.5  unclipped, dL/dlogp = −A·r = 1.5
    //   t2: max(−0.5, −0.8) = −0.5  unclipped, dL/dlogp = −0.5
    //   t3: max( 0.5,  0.8) =  0.8  clipped low, gradient 0
    // token-mean over 4 tokens: (−1.2 + 1.5 − 0.5 + 0.8)/4 = 0.15; gradient [0, 1.5, −0.5, 0, 0]/4.
    const data = fromRatios([1.5, 1.5, 0.5, 0.5, 1.5], [1, -1, 1, -1, 7], [1, 1, 1, 1, 0]);
    for (const [, backend] of backends()) {
      const tol = tolOf(backend);
      const got = await runPolicy('ppo-clip', backend, data, { clipLow: 0.2, normalisers: lossNormalisers([4], { maxLength: 5 }) });
      expectNumber(got.value, 0.15, tol, 'ppo-clip loss');
      assertClose(got.grad, [0, 0.375, -0.125, 0, 0], { ...tol, label: 'ppo-clip gradient' });
      // t0 clipped high, t3 clipped low; ratios mean (1.5 + 1.5 + 0.5 + 0.5)/4 = 1, min 0.5, max 1.5;
      // approx KL k1 = mean(−log r) = −(2·ln 1.5 + 2·ln 0.5)/4; k3 = mean(r − 1 − ln r).
      const k1 = -(2 * Math.log(1.5) + 2 * Math.log(0.5)) / 4;
      const k3 = (2 * (0.5 - Math.log(1.5)) + 2 * (-0.5 - Math.log(0.5))) / 4;
      const expected: Record<keyof PolicyLossStats, number> = {
        clipFrac: 0.5,
        clipFracHigh: 0.25,
        clipFracLow: 0.25,
        dualClipFrac: 0,
        approxKl: k1,
        approxKlK3: k3,
        ratioMean: 1,
        ratioMin: 0.5,
        ratioMax: 1.5,
      };
      for (const [k, v] of Object.entries(expected)) expectNumber(got.extras[k]!, v, { atol: tol.atol * 10, rtol: tol.rtol * 10 }, `ppo-clip stat ${k} on ${backend.name}`);
    }
  });

  it('ppo-clip with clip-higher (ε_low = 0.2, ε_high = 0.28)', async () => {
    // r = [1.5, 1.25, 0.7], A = [+1, +1, −1]:
    //   t0: clip to 1 + 0.28 = 1.28 → −1.28, gradient 0
    //   t1: 1.25 < 1.28, unclipped → −1.25, gradient −1.25 (symmetric ε = 0.2 would have clipped it)
    //   t2: clip to 1 − 0.2 = 0.8 → max(0.7, 0.8) = 0.8, gradient 0
    // token-mean: (−1.28 − 1.25 + 0.8)/3 = −1.73/3.
    const data = fromRatios([1.5, 1.25, 0.7], [1, 1, -1], [1, 1, 1]);
    for (const [, backend] of backends()) {
      const tol = tolOf(backend);
      const got = await runPolicy('ppo-clip', backend, data, { clipLow: 0.2, clipHigh: 0.28, normalisers: lossNormalisers([3], { maxLength: 3 }) });
      expectNumber(got.value, -1.73 / 3, tol, 'clip-higher loss');
      assertClose(got.grad, [0, -1.25 / 3, 0], { ...tol, label: 'clip-higher gradient' });
      expectNumber(got.extras.clipFracHigh!, 1 / 3, tol, 'clipFracHigh');
      expectNumber(got.extras.clipFracLow!, 1 / 3, tol, 'clipFracLow');
      // The same tokens with symmetric ε = 0.2: t1 clips to 1.2 → (−1.2 − 1.2 + 0.8)/3, no gradient anywhere.
      const symmetric = await runPolicy('ppo-clip', backend, data, { clipLow: 0.2, normalisers: lossNormalisers([3], { maxLength: 3 }) });
      expectNumber(symmetric.value, -1.6 / 3, tol, 'symmetric loss');
      assertClose(symmetric.grad, [0, 0, 0], { ...tol, label: 'symmetric gradient' });
    }
  });

  it('ppo-clip with dual-clip c = 3 caps negative advantages at −c·A', async () => {
    // r = [5, 5, 2], A = [−2, +1, −1], ε = 0.2:
    //   t0: max(−A·r, −A·clip(r)) = max(10, 2.4) = 10; A < 0 → min(10, −3·A = 6) = 6, gradient 0
    //   t1: A > 0, no dual clip: max(−5, −1.2) = −1.2, gradient 0
    //   t2: max(2, 1.2) = 2 < 3 = −3·A → 2, gradient −A·r = 2
    // token-mean: (6 − 1.2 + 2)/3 = 6.8/3; gradient [0, 0, 2/3]. Without dual clip t0 stays 10 with gradient 10.
    const data = fromRatios([5, 5, 2], [-2, 1, -1], [1, 1, 1]);
    const normalisers = lossNormalisers([3], { maxLength: 3 });
    for (const [, backend] of backends()) {
      const tol = tolOf(backend);
      const got = await runPolicy('ppo-clip', backend, data, { clipLow: 0.2, dualClip: 3, normalisers });
      expectNumber(got.value, 6.8 / 3, tol, 'dual-clip loss');
      assertClose(got.grad, [0, 0, 2 / 3], { ...tol, label: 'dual-clip gradient' });
      expectNumber(got.extras.dualClipFrac!, 1 / 3, tol, 'dualClipFrac');
      const plain = await runPolicy('ppo-clip', backend, data, { clipLow: 0.2, normalisers });
      expectNumber(plain.value, 10.8 / 3, tol, 'no dual-clip loss');
      assertClose(plain.grad, [10 / 3, 0, 2 / 3], { ...tol, label: 'no dual-clip gradient' });
      expectNumber(plain.extras.dualClipFrac!, 0, tol, 'dualClipFrac off');
    }
    await expect(runPolicy('ppo-clip', cpu, data, { dualClip: 1, normalisers })).rejects.toThrow(/dualClip must be > 1/);
  });

  it('vanilla-pg: −A·logp', async () => {
    // logp = [−0.5, −2, (masked) −3], A = [2, −1, 5]: L = [1, −2]; token-mean −0.5; gradient −A/2 = [−1, 0.5, 0].
    const data: TokenData = { shape: [1, 3], x: [-0.5, -2, -3], consts: { oldLogp: [-0.5, -2, -3], advantages: [2, -1, 5], mask: [1, 1, 0] } };
    for (const [, backend] of backends()) {
      const tol = tolOf(backend);
      const got = await runPolicy('vanilla-pg', backend, data, { normalisers: lossNormalisers([2], { maxLength: 3 }) });
      expectNumber(got.value, -0.5, tol, 'vanilla-pg loss');
      assertClose(got.grad, [-1, 0.5, 0], { ...tol, label: 'vanilla-pg gradient' });
      expectNumber(got.extras.ratioMean!, 1, tol, 'on-policy ratio');
      expectNumber(got.extras.clipFrac!, 0, tol, 'no clipping');
    }
  });

  it('gspo: one sequence-level ratio per response, token gradients', async () => {
    // seq-mean-token-mean over 3 rows, ε = 0.2, oldLogp = −1:
    //   row 0: log-ratios [0.1, −0.1, (masked) 5] → mean 0 → s = 1, A = +1: −1 per token;
    //          gradient per token −A·s/(2 tokens)/(3 rows) = −1/6
    //   row 1: log-ratios [0.4, 0.4, 0.4] → s = e^0.4 ≈ 1.4918 > 1.2, A = +1: clipped, −1.2 per token, gradient 0
    //   row 2: log-ratios [0.3, 0.5, (masked)] → mean 0.4 → s = e^0.4, A = −1: max(s, 1.2) = s, gradient s/2/3
    // loss = (−1 − 1.2 + e^0.4)/3.
    const s = Math.exp(0.4);
    const lr = [0.1, -0.1, 5, 0.4, 0.4, 0.4, 0.3, 0.5, 0];
    const data: TokenData = {
      shape: [3, 3],
      x: lr.map((v) => -1 + v),
      consts: { oldLogp: lr.map(() => -1), advantages: [1, 1, 1, 1, 1, 1, -1, -1, -1], mask: [1, 1, 0, 1, 1, 1, 1, 1, 0] },
    };
    for (const [, backend] of backends()) {
      const tol = tolOf(backend);
      const got = await runPolicy('gspo', backend, data, { clipLow: 0.2, aggregation: 'seq-mean-token-mean', normalisers: lossNormalisers([2, 3, 2], { maxLength: 3 }) });
      expectNumber(got.value, (-1 - 1.2 + s) / 3, tol, 'gspo loss');
      assertClose(got.grad, [-1 / 6, -1 / 6, 0, 0, 0, 0, s / 6, s / 6, 0], { ...tol, label: 'gspo gradient' });
      expectNumber(got.extras.clipFracHigh!, 3 / 7, tol, 'gspo clipFracHigh (row 1: 3 of 7 valid tokens)');
    }
  });

  it('cispo: clipped, detached IS weight on −A·logp; clipped tokens keep their gradient', async () => {
    // ε = 0.2, oldLogp = [−1 − ln 1.5, −2 − ln 0.5] so that logp = [−1, −2] has r = [1.5, 0.5], A = [1, 1]:
    //   t0: w = clip(1.5) = 1.2 → L = −1.2·1·(−1) = 1.2; gradient −w·A/2 = −0.6
    //   t1: w = clip(0.5) = 0.8 → L = −0.8·1·(−2) = 1.6; gradient −0.4
    // token-mean 1.4; both tokens clipped (PPO would give both zero gradient here).
    const data: TokenData = { shape: [1, 2], x: [-1, -2], consts: { oldLogp: [-1 - Math.log(1.5), -2 - Math.log(0.5)], advantages: [1, 1], mask: [1, 1] } };
    for (const [, backend] of backends()) {
      const tol = tolOf(backend);
      const got = await runPolicy('cispo', backend, data, { clipLow: 0.2, normalisers: lossNormalisers([2], { maxLength: 2 }) });
      expectNumber(got.value, 1.4, tol, 'cispo loss');
      assertClose(got.grad, [-0.6, -0.4], { ...tol, label: 'cispo gradient' });
      expectNumber(got.extras.clipFrac!, 1, tol, 'cispo clipFrac');
    }
  });

  it('stats of micro-batches add up; readPolicyLossStats reads them', async () => {
    const logp = ag.tensor(cpu, [-1, -1.5], [1, 2]);
    const old = ag.tensor(cpu, [-1, -1], [1, 2]);
    const r = policyLoss('ppo-clip', { logp, oldLogp: old, advantages: ag.tensor(cpu, [1, -1], [1, 2]), mask: ag.tensor(cpu, [1, 1], [1, 2]) }, { aggregation: 'token-mean', normalisers: lossNormalisers([2, 2], { maxLength: 2 }) });
    // ratios [1, e^−0.5 ≈ 0.607 < 0.8 with A < 0 → clipped low]; divided by the 4 tokens of the mini-batch: 1/4.
    const stats = await readPolicyLossStats(r.stats);
    expect(stats.clipFracLow).toBeCloseTo(0.25, 12);
    expect(stats.ratioMean).toBeCloseTo((1 + Math.exp(-0.5)) / 4, 12);
    expect(() => policyLoss('ppo', { logp, oldLogp: old, advantages: old, mask: old }, { aggregation: 'token-mean', normalisers: lossNormalisers([2], { maxLength: 2 }) })).toThrow(
      /unknown policy loss "ppo".*ppo-clip/,
    );
  });
});

describe('KL estimators (hand-computed)', () => {
  // x = logp − ref = [0.1, −0.2, (masked) 3]; ref = [−1, −1, −1], token-mean over 2 tokens, coef β = 2.
  const x = [0.1, -0.2, 3];
  const data: TokenData = { shape: [1, 3], x: x.map((v) => -1 + v), consts: { ref: [-1, -1, -1], mask: [1, 1, 0] } };
  const k3 = (v: number) => Math.exp(-v) + v - 1;
  // k3 at x = 0.1: e^−0.1 + 0.1 − 1 = 0.904837418 + 0.1 − 1 ≈ 0.0048374; at x = −0.2: e^0.2 − 0.2 − 1 ≈ 0.0214028.
  // Per-token values and gradients dk/dlogp; the loss is β·mean and its gradient β·dk/2.
  const cases: Record<KlEstimatorName, { values: [number, number]; grads: [number, number] }> = {
    k1: { values: [0.1, -0.2], grads: [1, 1] },
    k2: { values: [0.005, 0.02], grads: [0.1, -0.2] }, // ½x², gradient x
    k3: { values: [k3(0.1), k3(-0.2)], grads: [1 - Math.exp(-0.1), 1 - Math.exp(0.2)] }, // gradient 1 − e^−x
    abs: { values: [0.1, 0.2], grads: [1, -1] },
    'k1+': { values: [0.1, -0.2], grads: [0.1, -0.2] }, // straight-through: value of k1, gradient of k2
    'k3+': { values: [k3(0.1), k3(-0.2)], grads: [0.1, -0.2] },
    'abs+': { values: [0.1, 0.2], grads: [0.1, -0.2] },
  };

  it('k3 at logp − ref = 0.1 is e^−0.1 + 0.1 − 1', () => {
    expect(k3(0.1)).toBeCloseTo(0.0048374180, 9);
  });

  for (const name of KL_ESTIMATOR_NAMES) {
    it(`${name} in the loss: value and gradient on both backends`, async () => {
      const c = cases[name];
      for (const [, backend] of backends()) {
        const tol = tolOf(backend);
        const got = await evaluate(backend, data, (logp, t) => {
          const r = klLoss(logp, t.ref!, t.mask!, { estimator: name, coef: 2, aggregation: 'token-mean', normalisers: lossNormalisers([2], { maxLength: 3 }) });
          return { loss: r.loss, extras: { kl: r.kl } };
        });
        expectNumber(got.value, (2 * (c.values[0] + c.values[1])) / 2, tol, `${name} loss`);
        expectNumber(got.extras.kl!, (c.values[0] + c.values[1]) / 2, tol, `${name} metric`);
        assertClose(got.grad, [c.grads[0], c.grads[1], 0], { ...tol, label: `${name} gradient` });
      }
    });
  }

  it('k3 clamps like verl: exponent at ±20, value at ±10', async () => {
    // x = −30: e^30 would be the value; verl clamps ref − logp to 20 and the result to 10.
    const v = await ag.tidy(() => klDivergence('k3', ag.tensor(cpu, [-30], [1, 1]), ag.tensor(cpu, [0], [1, 1]))).item();
    expect(v).toBe(10);
  });

  it('in the reward: rewards − β·k on valid tokens, without gradient', async () => {
    // k1 with x = [0.1, −0.2, 0.05, (masked) 3], β = 0.5, rewards [0, 0, 1, 9]:
    //   [0 − 0.05, 0 + 0.1, 1 − 0.025, 9] = [−0.05, 0.1, 0.975, 9]; mean k over 3 valid tokens = −0.05/3.
    for (const [, backend] of backends()) {
      const tol = tolOf(backend);
      const logp = ag.parameter(backend, [0.1, -0.2, 0.05, 3].map((v) => v - 1), [1, 4]);
      const r = klPenaltyInReward(ag.tensor(backend, [0, 0, 1, 9], [1, 4]), logp, ag.tensor(backend, [-1, -1, -1, -1], [1, 4]), ag.tensor(backend, [1, 1, 1, 0], [1, 4]), {
        estimator: 'k1',
        coef: 0.5,
      });
      expect(r.rewards.requiresGrad).toBe(false);
      assertClose(await r.rewards.toArray(), [-0.05, 0.1, 0.975, 9], { ...tol, label: 'penalised rewards' });
      assertClose(await r.kl.toArray(), [0.1, -0.2, 0.05, 0], { ...tol, label: 'masked k' });
      expectNumber(await r.meanKl.item(), -0.05 / 3, tol, 'mean k');
      logp.dispose();
    }
  });

  it('adaptive KL coefficient moves toward the target by at most 20% per horizon', () => {
    const c = new AdaptiveKlController(0.1, 0.05, 100);
    c.update(0.5, 10); // error clipped to +0.2 → β·(1 + 0.2·10/100) = 0.102
    expect(c.value).toBeCloseTo(0.102, 12);
    c.update(0.04, 100); // error −0.2 → 0.102·0.8
    expect(c.value).toBeCloseTo(0.0816, 12);
    expect(() => klDivergence('k4', ag.tensor(cpu, [0], [1, 1]), ag.tensor(cpu, [0], [1, 1]))).toThrow(/unknown KL estimator "k4".*k3/);
  });
});

describe('entropy bonus (hand-computed)', () => {
  it('−coef·agg(H), and agg(H) as the metric', async () => {
    // H = [0.5, 1.5, (masked) 9], coef 0.01, token-mean: loss = −0.01·(0.5 + 1.5)/2 = −0.01; gradient −0.01/2 per valid token.
    const data: TokenData = { shape: [1, 3], x: [0.5, 1.5, 9], consts: { mask: [1, 1, 0] } };
    for (const [, backend] of backends()) {
      const tol = tolOf(backend);
      const got = await evaluate(backend, data, (h, c) => {
        const r = entropyBonus(h, c.mask!, { coef: 0.01, aggregation: 'token-mean', normalisers: lossNormalisers([2], { maxLength: 3 }) });
        return { loss: r.loss, extras: { entropy: r.entropy } };
      });
      expectNumber(got.value, -0.01, tol, 'entropy bonus');
      expectNumber(got.extras.entropy!, 1, tol, 'entropy metric');
      assertClose(got.grad, [-0.005, -0.005, 0], { ...tol, label: 'entropy bonus gradient' });
    }
  });
});

// ---------------------------------------------------------------- 2. finite differences (CPU)

describe('gradients w.r.t. logp against finite differences (CPU)', () => {
  const rng = new SeededRandom(11);
  const [B, T] = [3, 5];
  const lengths = [5, 2, 4];
  const mask = Array.from({ length: B * T }, (_, i) => (i % T < lengths[Math.floor(i / T)]! ? 1 : 0));
  const logp = Array.from({ length: B * T }, () => rng.uniform(-3, -0.2));
  // Log-ratios up to ±1.3: some tokens inside the clip range, some clipped, some past the dual clip (r > 2).
  const oldLogp = logp.map((v) => v - rng.uniform(-1.3, 1.3));
  const ref = logp.map((v) => v - rng.uniform(-0.5, 0.5));
  const advantages = Array.from({ length: B * T }, () => rng.uniform(-2, 2));
  // One advantage per sequence (GSPO's setting): with token-varying advantages GSPO's token
  // gradient sg(s)·∇logp_t is by design not the derivative of its value, which couples the row.
  const rowAdvantage = Array.from({ length: B }, () => rng.uniform(-2, 2));
  const seqAdvantages = Array.from({ length: B * T }, (_, i) => rowAdvantage[Math.floor(i / T)]!);
  const normalisers = lossNormalisers(lengths, { maxLength: T });
  const data: TokenData = { shape: [B, T], x: logp, consts: { oldLogp, ref, advantages, seqAdvantages, mask } };

  async function check(label: string, build: (x: Tensor, c: Record<string, Tensor>) => Tensor) {
    const got = await evaluate(cpu, data, (x, c) => ({ loss: build(x, c) }));
    const f = (values: Float64Array) => {
      const x = ag.tensor(cpu, values, data.shape);
      return ag.tidy(() => {
        const c = Object.fromEntries(Object.entries(data.consts).map(([k, v]) => [k, ag.tensor(cpu, v, data.shape)]));
        return (ag.noGrad(() => build(x, c)).storage as { data: Float64Array }).data[0]!;
      });
    };
    const numeric = numericGradient(f, Float64Array.from(logp), 1e-6);
    assertClose(got.grad, numeric, { atol: 1e-7, rtol: 1e-6, label: `${label}: gradient vs finite differences` });
    // The check is only meaningful if the loss depends on logp at all.
    expect(numeric.some((g) => Math.abs(g) > 1e-3)).toBe(true);
  }

  // cispo is left out on purpose: its IS weight is detached, so its gradient is not the derivative of its value.
  for (const name of POLICY_LOSS_NAMES.filter((n) => n !== 'cispo')) {
    for (const mode of LOSS_AGGREGATION_NAMES) {
      it(`${name}, ${mode}`, () =>
        check(`${name}/${mode}`, (x, c) => policyLoss(name, { logp: x, oldLogp: c.oldLogp!, advantages: name === 'gspo' ? c.seqAdvantages! : c.advantages!, mask: c.mask! }, { aggregation: mode, normalisers, clipLow: 0.2, clipHigh: 0.28, ...(name === 'ppo-clip' ? { dualClip: 2 } : {}) }).loss));
    }
  }

  it('cispo: the gradient is −clip(r)·A·M/N (the weight is a constant)', async () => {
    const got = await evaluate(cpu, data, (x, c) => ({ loss: policyLoss('cispo', { logp: x, oldLogp: c.oldLogp!, advantages: c.advantages!, mask: c.mask! }, { aggregation: 'token-mean', normalisers, clipLow: 0.2, clipHigh: 0.28 }).loss }));
    const expected = logp.map((v, i) => (-Math.min(Math.max(Math.exp(v - oldLogp[i]!), 0.8), 1.28) * advantages[i]! * mask[i]!) / normalisers.tokens);
    assertClose(got.grad, expected, { atol: 1e-12, rtol: 1e-10, label: 'cispo gradient' });
  });

  for (const name of KL_ESTIMATOR_NAMES.filter((n) => !n.endsWith('+'))) {
    it(`KL ${name} in the loss, seq-mean-token-mean`, () =>
      check(`kl ${name}`, (x, c) => klLoss(x, c.ref!, c.mask!, { estimator: name, coef: 0.7, aggregation: 'seq-mean-token-mean', normalisers }).loss));
  }

  it('straight-through KL variants take exactly the gradient of k2', async () => {
    const k2 = await evaluate(cpu, data, (x, c) => ({ loss: klLoss(x, c.ref!, c.mask!, { estimator: 'k2', coef: 1, aggregation: 'token-mean', normalisers }).loss }));
    for (const name of ['k1+', 'k3+', 'abs+'] as const) {
      const got = await evaluate(cpu, data, (x, c) => ({ loss: klLoss(x, c.ref!, c.mask!, { estimator: name, coef: 1, aggregation: 'token-mean', normalisers }).loss }));
      assertClose(got.grad, k2.grad, { atol: 1e-14, rtol: 1e-12, label: `${name} gradient = k2 gradient` });
    }
  });
});

// ---------------------------------------------------------------- 3. micro-batch invariance

describe('micro-batch invariance of the actor loss gradient', () => {
  // A tiny policy: logits = X·W over fixed features X [B·T, F], W [F, V] trainable, then the fused
  // log-prob (and entropy) kernel. The actor loss is ppo-clip (clip-higher, dual-clip) + β·k3 KL in
  // the loss − entropy bonus, all aggregated with one mode.
  const [B, T, F, V] = [4, 6, 5, 7];
  const lengths = [6, 2, 4, 1]; // uneven: micro-batches hold different numbers of tokens
  const rng = new SeededRandom(2024);
  const features = Array.from({ length: B * T * F }, () => rng.uniform(-1, 1));
  const targets = Array.from({ length: B * T }, () => rng.int(0, V - 1));
  const w0 = Array.from({ length: F * V }, () => rng.uniform(-0.5, 0.5));
  const noise = (scale: number) => Array.from({ length: B * T }, () => rng.uniform(-scale, scale));
  const oldShift = noise(0.8); // oldLogp = logp(W0) + shift: ratios ≈ e^±0.8, so clipping and dual clip happen
  const refShift = noise(0.4);
  const advantages = noise(1.5);
  const normalisers = lossNormalisers(lengths, { maxLength: T });

  /** Host rows [rows] of a [B, T, …] array, trimmed to `cols` tokens (per-micro-batch padding). */
  function take(values: readonly number[], rows: readonly number[], cols: number, inner = 1): number[] {
    return rows.flatMap((b) => values.slice(b * T * inner, (b * T + cols) * inner));
  }

  /** log π(targets) and entropy for the given rows, [rows, cols]. */
  function policy(backend: Backend, w: Tensor, rows: readonly number[], cols: number) {
    const x = ag.tensor(backend, take(features, rows, cols, F), [rows.length * cols, F]);
    const ids = ag.tensor(backend, take(targets, rows, cols), [rows.length * cols], { dtype: 'i32' });
    const { logp, entropy } = ag.tokenLogProbs(ag.matmul(x, w), ids, { entropy: true });
    return { logp: ag.reshape(logp, [rows.length, cols]), entropy: ag.reshape(entropy!, [rows.length, cols]) };
  }

  // oldLogp and refLogp: the initial policy's log-probs (float64, CPU) shifted by fixed noise.
  const initial = (() => {
    const w = ag.tensor(cpu, w0, [F, V]);
    const lp = (ag.noGrad(() => policy(cpu, w, [0, 1, 2, 3], T).logp).storage as { data: Float64Array }).data;
    return Array.from(lp);
  })();
  const oldLogp = initial.map((v, i) => v + oldShift[i]!);
  const refLogp = initial.map((v, i) => v + refShift[i]!);

  /** The actor loss of one micro-batch (rows), with the given normalisers. */
  function actorLoss(backend: Backend, w: Tensor, rows: readonly number[], mode: LossAggregation, n: LossNormalisers) {
    const cols = Math.max(...rows.map((b) => lengths[b]!)); // trim the micro-batch to its longest response
    const { logp, entropy } = policy(backend, w, rows, cols);
    const host = (values: readonly number[]) => ag.tensor(backend, take(values, rows, cols), [rows.length, cols]);
    const mask = host(Array.from({ length: B * T }, (_, i) => (i % T < lengths[Math.floor(i / T)]! ? 1 : 0)));
    const pg = policyLoss('ppo-clip', { logp, oldLogp: host(oldLogp), advantages: host(advantages), mask }, { aggregation: mode, normalisers: n, clipLow: 0.2, clipHigh: 0.28, dualClip: 1.8 });
    const kl = klLoss(logp, host(refLogp), mask, { estimator: 'k3', coef: 0.1, aggregation: mode, normalisers: n });
    const ent = entropyBonus(entropy, mask, { coef: 0.01, aggregation: mode, normalisers: n });
    return { loss: ag.add(ag.add(pg.loss, kl.loss), ent.loss), clipFrac: pg.stats.clipFrac, dualClipFrac: pg.stats.dualClipFrac };
  }

  /**
   * Accumulates gradients over micro-batches as a trainer does (backward per micro-batch, summing
   * into W.grad). `normalisersOf` gives each micro-batch its normalisers and the factor its loss
   * is scaled by.
   */
  async function accumulate(backend: Backend, splits: readonly (readonly number[])[], mode: LossAggregation, normalisersOf: (rows: readonly number[]) => { n: LossNormalisers; factor: number }) {
    const w = ag.parameter(backend, w0, [F, V]);
    let loss = 0;
    let clipFrac = 0;
    let dualClipFrac = 0;
    for (const rows of splits) {
      const { n, factor } = normalisersOf(rows);
      const out = ag.tidy(() => {
        const r = actorLoss(backend, w, rows, mode, n);
        const scaled = ag.scale(r.loss, factor);
        ag.backward(scaled);
        return { loss: scaled, clipFrac: r.clipFrac, dualClipFrac: r.dualClipFrac };
      });
      loss += await out.loss.item();
      clipFrac += await out.clipFrac.item();
      dualClipFrac += await out.dualClipFrac.item();
      for (const t of [out.loss, out.clipFrac, out.dualClipFrac]) t.dispose();
    }
    const grad = await w.grad!.toArray();
    w.dispose();
    return { loss, grad, clipFrac, dualClipFrac };
  }

  const global = () => ({ n: normalisers, factor: 1 });
  /** The bug: each micro-batch normalised by its own counts, then averaged over micro-batches. */
  const naive = (count: number) => (rows: readonly number[]) => {
    const cols = Math.max(...rows.map((b) => lengths[b]!));
    return { n: lossNormalisers(rows.map((b) => lengths[b]!), { maxLength: cols }), factor: 1 / count };
  };

  const SPLITS: Record<string, number[][]> = {
    '1+3': [[0], [1, 2, 3]],
    '2+2': [[0, 1], [2, 3]],
    '1+1+1+1': [[0], [1], [2], [3]],
    '3+1 (reordered)': [[3, 0, 2], [1]],
  };

  for (const [backendName, tol] of [
    ['cpu', { atol: 1e-12, rtol: 1e-9 }],
    ['gpu', { atol: 1e-6, rtol: 1e-4 }],
  ] as const) {
    for (const mode of LOSS_AGGREGATION_NAMES) {
      it(`${mode} on ${backendName}: Σ micro-batch gradients = mini-batch gradient; naive normalisation is not`, async () => {
        const backend = backendName === 'cpu' ? cpu : gpu;
        const full = await accumulate(backend, [[0, 1, 2, 3]], mode, global);
        expect(full.clipFrac).toBeGreaterThan(0); // the clip and the dual clip are exercised
        expect(full.dualClipFrac).toBeGreaterThan(0);
        const scaleOf = Math.max(...full.grad.map(Math.abs));
        for (const [name, splits] of Object.entries(SPLITS)) {
          const micro = await accumulate(backend, splits, mode, global);
          assertClose(micro.grad, full.grad, { ...tol, label: `${mode}, split ${name}: accumulated gradient` });
          expectNumber(micro.loss, full.loss, tol, `${mode}, split ${name}: summed loss`);
          expectNumber(micro.clipFrac, full.clipFrac, tol, `${mode}, split ${name}: summed clip fraction`);
        }
        // Naive per-micro-batch normalisation changes the gradient: for every mode on 1+3 (a mean of
        // one sequence and a mean of three is not a mean of four), and for token-mean on 2+2 too
        // (rows 0+1 hold 8 tokens, rows 2+3 hold 5). For seq-mean-* on 2+2 the naive average happens
        // to be right (equal sequence counts), which is why the bug hides in common settings.
        const naiveCases: [string, number[][]][] = [['1+3', SPLITS['1+3']!]];
        if (mode === 'token-mean') naiveCases.push(['2+2', SPLITS['2+2']!]);
        for (const [name, splits] of naiveCases) {
          const wrong = await accumulate(backend, splits, mode, naive(splits.length));
          const gap = Math.max(...wrong.grad.map((g, i) => Math.abs(g - full.grad[i]!)));
          expect(gap, `${mode}, split ${name}: the naive gradient should differ`).toBeGreaterThan(1e-2 * scaleOf);
        }
      });
    }
  }
});
