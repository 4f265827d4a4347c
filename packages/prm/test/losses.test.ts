// PRM losses (rePIRL, AIRL-S, implicit PRM CE/DPO, ORM, Math-Shepherd):
// 1. values and gradients against hand-computed numbers (the arithmetic is in the comments), on the
//    float64 CPU backend (exact) and on the GPU backend (float32 tolerance);
// 2. numerics: importance weights on extreme values (±1e4, log-probs of −1e30) stay finite and
//    put weight 1 on the dominant sample; AIRL's logit form equals the BCE computed from
//    D = exp(f)/(exp(f) + π) for moderate values and stays finite at |ℓ| = 1e4, where D is NaN;
// 3. gradients against central finite differences (CPU) for every loss.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { SeededRandom, assertClose, numericGradient } from '@repirl/kernels/testing';
import * as ag from '@repirl/autograd';
import { CpuBackend, GpuBackend, type Backend, type Tensor } from '@repirl/autograd';
import {
  AIRL_REWARD_COMBINATIONS,
  PRM_LOSSES,
  PRM_LOSS_NAMES,
  airlDiscriminatorLoss,
  airlReward,
  bceWithLogits,
  combineAirlReward,
  effectiveSampleSize,
  implicitPrmCeLoss,
  implicitPrmDpoLoss,
  implicitStepRewards,
  importanceWeights,
  ormBceLoss,
  repirlIsMleLoss,
  shepherdBceLoss,
  shepherdLabels,
} from '../src/losses/index.js';

let gpu: GpuBackend;
const cpu = new CpuBackend();
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});

const backendNames = ['cpu', 'gpu'] as const;
const backendOf = (name: 'cpu' | 'gpu'): Backend => (name === 'cpu' ? cpu : gpu);
/** Exact on the float64 backend, float32 rounding on the GPU. */
const tolOf = (b: Backend) => (b.name === 'cpu' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 2e-6, rtol: 2e-5 });

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const LN3 = Math.log(3);

interface Evaluated {
  value: number;
  grad: number[];
  extras: Record<string, number[]>;
}

/**
 * Makes x a parameter, evaluates `build`, backpropagates the loss and reads the value, dL/dx
 * (zeros when no gradient reached x) and any extra tensors it returned.
 */
async function evaluate(
  backend: Backend,
  x: { data: number[]; shape: number[] },
  build: (x: Tensor) => { loss: Tensor; extras?: Record<string, Tensor> },
): Promise<Evaluated> {
  const param = ag.parameter(backend, x.data, x.shape);
  const out = ag.tidy(() => {
    const r = build(param);
    ag.backward(r.loss);
    return { loss: r.loss, extras: r.extras ?? {} };
  });
  const value = await out.loss.item();
  const grad = param.grad ? await param.grad.toArray() : new Array<number>(x.data.length).fill(0);
  const extras: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(out.extras)) extras[k] = await t.toArray();
  out.loss.dispose();
  for (const t of Object.values(out.extras)) t.dispose();
  param.dispose();
  return { value, grad, extras };
}

/** dL/dx from the autograd CPU backward equals central finite differences of the CPU forward. */
async function checkFiniteDifferences(x: { data: number[]; shape: number[] }, build: (x: Tensor) => Tensor, h = 1e-6): Promise<void> {
  const analytic = await evaluate(cpu, x, (p) => ({ loss: build(p) }));
  const f = (values: Float64Array) => {
    const p = ag.tensor(cpu, values, x.shape);
    const loss = ag.tidy(() => ag.noGrad(() => build(p)));
    const v = (loss.storage as unknown as { data: Float64Array }).data[0]!;
    loss.dispose();
    p.dispose();
    return v;
  };
  const numeric = numericGradient(f, Float64Array.from(x.data), h);
  assertClose(analytic.grad, numeric, { atol: 1e-7, rtol: 1e-6, label: 'finite differences' });
}

const expectClose = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol: { atol: number; rtol: number }, label: string) =>
  assertClose(actual, expected, { ...tol, label });

describe('PRM_LOSSES registry', () => {
  it('names every loss with a doc and a function', () => {
    expect(PRM_LOSS_NAMES).toEqual(['repirl-is-mle', 'airl-s-discriminator', 'implicit-prm-ce', 'implicit-prm-dpo', 'orm-bce', 'shepherd-bce', 'supervised-step-bce']);
    for (const name of PRM_LOSS_NAMES) {
      expect(PRM_LOSSES[name].doc.length).toBeGreaterThan(20);
      expect(typeof PRM_LOSSES[name].fn).toBe('function');
    }
  });
});

// ---------------------------------------------------------------- rePIRL

describe('repirl-is-mle (hand-computed)', () => {
  // Samples 0, 1 = policy (group 0), sample 2 = expert.
  // R = [1, 2, 0.5]; log π_old = [1, 2 − ln 3, −7 (expert: ignored)]
  // R − log π_old = [0, ln 3] → w = softmax = [1/(1+3), 3/(1+3)] = [1/4, 3/4], and 0 for the expert.
  // R̄ = [0.2, −0.4, 0.6]:  L = 1/4·0.2 + 3/4·(−0.4) − 0.6 = 0.05 − 0.3 − 0.6 = −0.85
  // dL/dR̄ = [1/4, 3/4, −1].
  const R = [1, 2, 0.5];
  const oldLogProb = [1, 2 - LN3, -7];
  const isExpert = [false, false, true];
  const Rbar = { data: [0.2, -0.4, 0.6], shape: [3] };

  for (const name of backendNames) {
    it(`importance weights 1/4, 3/4 and the loss (${name})`, async () => {
      const b = backendOf(name);
      const out = await evaluate(b, Rbar, (rbar) => {
        const r = PRM_LOSSES['repirl-is-mle'].fn({ R: ag.tensor(b, R), Rbar: rbar, oldLogProb, isExpert });
        return { loss: r.loss, extras: { weights: r.weights } };
      });
      expectClose([out.value], [-0.85], tolOf(b), 'loss');
      expectClose(out.grad, [0.25, 0.75, -1], tolOf(b), 'dL/dR̄');
      expectClose(out.extras.weights!, [0.25, 0.75, 0], tolOf(b), 'weights');
    });

    it(`uniform mode: mean of +R̄ (policy) and −R̄ (expert) (${name})`, async () => {
      // w ≡ 1 (micro-batches of one sample): L = (0.2 − 0.4 − 0.6)/3 = −0.8/3; dL/dR̄ = [1/3, 1/3, −1/3].
      const b = backendOf(name);
      const out = await evaluate(b, Rbar, (rbar) => {
        const r = repirlIsMleLoss({ R: ag.tensor(b, R), Rbar: rbar, oldLogProb, isExpert }, { mode: 'uniform' });
        return { loss: r.loss, extras: { weights: r.weights } };
      });
      expectClose([out.value], [-0.8 / 3], tolOf(b), 'loss');
      expectClose(out.grad, [1 / 3, 1 / 3, -1 / 3], tolOf(b), 'dL/dR̄');
      expectClose(out.extras.weights!, [1, 1, 0], tolOf(b), 'weights');
    });

    it(`softmax per group, sum or mean over groups (${name})`, async () => {
      // Policy: samples 0, 1 in group 0 (R − log π_old = 0, ln 3), sample 2 alone in group 1 (= 5);
      // experts 3, 4 (their group ids 7 do not matter). w = [1/4, 3/4, 1, 0, 0].
      // R̄ = [0.2, −0.4, 0.1, 0.6, 0.2]
      // sum:  0.05 − 0.3 + 0.1 − (0.6 + 0.2)/2 = −0.15 − 0.4 = −0.55;  dL/dR̄ = [1/4, 3/4, 1, −1/2, −1/2]
      // mean: (0.05 − 0.3 + 0.1)/2 − 0.4 = −0.475;                    dL/dR̄ = [1/8, 3/8, 1/2, −1/2, −1/2]
      const b = backendOf(name);
      const inputs = (rbar: Tensor) => ({
        R: ag.tensor(b, [1, 2, 5, 0, 0]),
        Rbar: rbar,
        oldLogProb: [1, 2 - LN3, 0, 0, 0],
        isExpert: [false, false, false, true, true],
        groups: [0, 0, 1, 7, 7],
      });
      const x = { data: [0.2, -0.4, 0.1, 0.6, 0.2], shape: [5] };
      const summed = await evaluate(b, x, (rbar) => {
        const r = repirlIsMleLoss(inputs(rbar));
        return { loss: r.loss, extras: { weights: r.weights } };
      });
      expectClose([summed.value], [-0.55], tolOf(b), 'loss (sum)');
      expectClose(summed.grad, [0.25, 0.75, 1, -0.5, -0.5], tolOf(b), 'dL/dR̄ (sum)');
      expectClose(summed.extras.weights!, [0.25, 0.75, 1, 0, 0], tolOf(b), 'weights');
      const averaged = await evaluate(b, x, (rbar) => ({ loss: repirlIsMleLoss(inputs(rbar), { groupReduction: 'mean' }).loss }));
      expectClose([averaged.value], [-0.475], tolOf(b), 'loss (mean)');
      expectClose(averaged.grad, [0.125, 0.375, 0.5, -0.5, -0.5], tolOf(b), 'dL/dR̄ (mean)');
    });

    it(`no gradient reaches R through the weights (${name})`, async () => {
      // With R a parameter and R̄ a constant, the loss must not depend on R on the tape.
      const b = backendOf(name);
      const r = ag.parameter(b, R, [3]);
      const rbar = ag.tensor(b, Rbar.data);
      const out = repirlIsMleLoss({ R: r, Rbar: rbar, oldLogProb, isExpert });
      expect(r.requiresGrad).toBe(true);
      expect(out.loss.requiresGrad).toBe(false);
      expect(out.weights.requiresGrad).toBe(false);
      expectClose([await out.loss.item()], [-0.85], tolOf(b), 'loss');
      for (const t of [r, rbar, out.loss, out.weights]) t.dispose();
    });

    it(`extreme values: finite weights, the dominant sample gets 1 (${name})`, async () => {
      const b = backendOf(name);
      const read = async (R: number[], old: number[], expert: boolean[], groups?: number[]) => {
        const t = ag.tensor(b, R);
        const w = importanceWeights(t, old, expert, groups);
        const values = await w.toArray();
        w.dispose();
        t.dispose();
        return values;
      };
      // R − log π_old = [1e4, 0, −1e4]: exp(1e4) overflows, the max-subtracted softmax gives
      // [1, e^−1e4, e^−2e4] = [1, 0, 0].
      const a = await read([1e4, 0, 0], [0, 0, 1e4], [false, false, false]);
      expect(a.every(Number.isFinite)).toBe(true);
      expectClose(a, [1, 0, 0], tolOf(b), 'R − log π_old = ±1e4');
      // A log-prob of −1e30 (a vanishingly unlikely sample): R − log π_old = [1e30 + 0.5, 50.3] → [1, 0].
      // The expert's old log-prob is ignored (even NaN).
      const c = await read([0.5, 0.3, 0.1], [-1e30, -50, Number.NaN], [false, false, true]);
      expect(c.every(Number.isFinite)).toBe(true);
      expectClose(c, [1, 0, 0], tolOf(b), 'log π_old = −1e30');
      // Two groups, each with an extreme entry: w = [1, 0 | 0, 1].
      const d = await read([0, 0, 1e4, -1e4], [-1e30, 0, 0, -1e30], [false, false, false, false], [0, 0, 1, 1]);
      expect(d.every(Number.isFinite)).toBe(true);
      expectClose(d, [1, 0, 0, 1], tolOf(b), 'two groups');
      expect(effectiveSampleSize(d)).toBeCloseTo(2, 5);
    });
  }

  it('the loss with extreme weights is finite and equals the dominant sample’s R̄ minus the expert mean', async () => {
    // w = [1, 0]: L = R̄₀ − R̄₂ = 0.3 − 0.5 = −0.2; dL/dR̄ = [1, 0, −1].
    const out = await evaluate(cpu, { data: [0.3, -0.2, 0.5], shape: [3] }, (rbar) => ({
      loss: repirlIsMleLoss({ R: ag.tensor(cpu, [0, 1e4, 0]), Rbar: rbar, oldLogProb: [-1e30, 0, 0], isExpert: [false, false, true] }).loss,
    }));
    expectClose([out.value], [-0.2], tolOf(cpu), 'loss');
    expectClose(out.grad, [1, 0, -1], tolOf(cpu), 'grad');
  });

  it('only experts or only policy samples', async () => {
    // Only policy samples: L = Σ w R̄ with w = [1/4, 3/4]: 0.05 − 0.3 = −0.25.
    const p = await evaluate(cpu, { data: [0.2, -0.4], shape: [2] }, (rbar) => ({
      loss: repirlIsMleLoss({ R: ag.tensor(cpu, [1, 2]), Rbar: rbar, oldLogProb: [1, 2 - LN3], isExpert: [false, false] }).loss,
    }));
    expectClose([p.value], [-0.25], tolOf(cpu), 'policy only');
    // Only experts: L = −mean R̄ = −(0.2 − 0.4)/2 = 0.1; the weights are all 0.
    const e = await evaluate(cpu, { data: [0.2, -0.4], shape: [2] }, (rbar) => {
      const r = repirlIsMleLoss({ R: ag.tensor(cpu, [1, 2]), Rbar: rbar, oldLogProb: [0, 0], isExpert: [true, true] });
      return { loss: r.loss, extras: { weights: r.weights } };
    });
    expectClose([e.value], [0.1], tolOf(cpu), 'experts only');
    expect(e.extras.weights).toEqual([0, 0]);
  });

  it('effective sample size', () => {
    // (1/4 + 3/4)² / (1/16 + 9/16) = 16/10 = 1.6; uniform over 4 → 4.
    expect(effectiveSampleSize([0.25, 0.75])).toBeCloseTo(1.6, 12);
    expect(effectiveSampleSize([0.25, 0.25, 0.25, 0.25])).toBeCloseTo(4, 12);
  });

  it('gradients match finite differences (both modes)', async () => {
    const rbar = { data: [0.3, -0.7, 0.1, 0.45, -0.2], shape: [5] };
    const inputs = (x: Tensor) => ({
      R: ag.tensor(cpu, [0.4, -1.1, 2.0, 0.3, 0.9]),
      Rbar: x,
      oldLogProb: [-3.2, -1.5, -4.0, -2.0, -9.0],
      isExpert: [false, false, false, true, true],
      groups: [0, 0, 1, 0, 1],
    });
    await checkFiniteDifferences(rbar, (x) => repirlIsMleLoss(inputs(x)).loss);
    await checkFiniteDifferences(rbar, (x) => repirlIsMleLoss(inputs(x), { mode: 'uniform' }).loss);
  });
});

// ---------------------------------------------------------------- AIRL-S

describe('airl-s-discriminator', () => {
  // f = [0.5, −1, 2], log π = [−1, −0.5, −2] → ℓ = f − log π = [1.5, −0.5, 4]; y = [1, 0, 1].
  // BCE per step: y = 1 → −log σ(ℓ) = log(1 + e^−ℓ); y = 0 → −log(1 − σ(ℓ)) = log(1 + e^ℓ):
  //   log(1 + e^−1.5) = 0.201413..., log(1 + e^−0.5) = 0.474076..., log(1 + e^−4) = 0.018149...
  // L = (0.201413 + 0.474076 + 0.018149)/3 = 0.231213...;  dL/df = (σ(ℓ) − y)/3.
  const f = { data: [0.5, -1, 2], shape: [3] };
  const logPi = [-1, -0.5, -2];
  const labels = [1, 0, 1];
  const ell = [1.5, -0.5, 4];
  const expected = (Math.log1p(Math.exp(-1.5)) + Math.log1p(Math.exp(-0.5)) + Math.log1p(Math.exp(-4))) / 3;
  const expectedGrad = ell.map((l, i) => (sigmoid(l) - labels[i]!) / 3);

  it('the hand-computed numbers above', () => {
    expect(expected).toBeCloseTo((0.2014132779827524 + 0.4740769841801067 + 0.01814992791780978) / 3, 12);
  });

  for (const name of backendNames) {
    it(`BCE on the logit f − log π (${name})`, async () => {
      const b = backendOf(name);
      const out = await evaluate(b, f, (x) => {
        const r = PRM_LOSSES['airl-s-discriminator'].fn({ f: x, logPi, labels });
        return { loss: r.loss, extras: { logits: r.logits, reward: airlReward(x, logPi) } };
      });
      expectClose([out.value], [expected], tolOf(b), 'loss');
      expectClose(out.grad, expectedGrad, tolOf(b), 'dL/df');
      expectClose(out.extras.logits!, ell, tolOf(b), 'logits');
      expectClose(out.extras.reward!, ell, tolOf(b), 'policy reward f − log π');
    });

    it(`finite at |ℓ| = 1e4 (${name})`, async () => {
      // ℓ = [1e4, −1e4, 1e4, −1e4], y = [1, 0, 0, 1]: per-step BCE [0, 0, 1e4, 1e4] → L = 5000;
      // dL/df = (σ(ℓ) − y)/4 = [0, 0, 1/4, −1/4]. Forming D = e^f/(e^f + π) directly gives inf/inf = NaN.
      const b = backendOf(name);
      const out = await evaluate(b, { data: [1e4, -1e4, 1e4, -1e4], shape: [4] }, (x) => ({
        loss: airlDiscriminatorLoss({ f: x, logPi: [0, 0, 0, 0], labels: [1, 0, 0, 1] }).loss,
      }));
      expect(Number.isFinite(out.value)).toBe(true);
      expectClose([out.value], [5000], tolOf(b), 'loss');
      expectClose(out.grad, [0, 0, 0.25, -0.25], tolOf(b), 'dL/df');
      expect(Number.isNaN(Math.exp(1e4) / (Math.exp(1e4) + 1))).toBe(true);
    });
  }

  it('equals the BCE computed from D = exp(f)/(exp(f) + π) for moderate values', async () => {
    const rng = new SeededRandom(3);
    const fv = Array.from({ length: 8 }, () => rng.uniform(-3, 3));
    const lp = Array.from({ length: 8 }, () => rng.uniform(-6, -0.1));
    const y = [1, 0, 1, 1, 0, 0, 1, 0];
    let direct = 0;
    for (let i = 0; i < 8; i++) {
      const D = Math.exp(fv[i]!) / (Math.exp(fv[i]!) + Math.exp(lp[i]!));
      direct -= y[i]! * Math.log(D) + (1 - y[i]!) * Math.log(1 - D);
    }
    direct /= 8;
    const out = await evaluate(cpu, { data: fv, shape: [8] }, (x) => ({ loss: airlDiscriminatorLoss({ f: x, logPi: lp, labels: y }).loss }));
    expectClose([out.value], [direct], { atol: 1e-12, rtol: 1e-10 }, 'logit form vs D form');
    // The policy reward is log D − log(1 − D) = f − log π.
    const D0 = Math.exp(fv[0]!) / (Math.exp(fv[0]!) + Math.exp(lp[0]!));
    expect(Math.log(D0) - Math.log(1 - D0)).toBeCloseTo(fv[0]! - lp[0]!, 10);
  });

  it('gradients match finite differences', async () => {
    await checkFiniteDifferences({ data: [0.3, -1.2, 2.5, 0, -0.4], shape: [5] }, (x) =>
      airlDiscriminatorLoss({ f: x, logPi: [-0.7, -2.0, -0.1, 0, -3.3], labels: [1, 0, 1, 0, 1] }).loss,
    );
  });

  it('reward combinations with the outcome', () => {
    // r̂ = [1, −2, 0.5] (Σ = −0.5, mean = −1/6, min = −2), r_o = 1, λ = 0.1.
    const r = [1, -2, 0.5];
    const got = Object.fromEntries(AIRL_REWARD_COMBINATIONS.map((c) => [c, combineAirlReward(r, 1, c, 0.1)]));
    expect(got['outcome-plus-sum']).toBeCloseTo(0.95, 12);
    expect(got['outcome-plus-mean']).toBeCloseTo(1 - 0.1 / 6, 12);
    expect(got['outcome-plus-min']).toBeCloseTo(0.8, 12);
    expect(got['outcome-only']).toBe(1);
    expect(got['process-only']).toBeCloseTo(-0.5, 12);
  });
});

// ---------------------------------------------------------------- implicit PRM

describe('implicit PRM (PRIME)', () => {
  // B = 2, T = 3.  log π_φ = [[−1, −2, −0.5], [−0.3, −1.2, −9]], log π_ref = [[−1.5, −1, −0.5], [−0.5, −1, 0]],
  // mask = [[1, 1, 1], [1, 1, 0]]. Log-ratios: row 0 [0.5, −1, 0] → Σ = −0.5; row 1 [0.2, −0.2, (masked)] → Σ = 0.
  // β = 2 → r = [−1, 0].
  const logp = { data: [-1, -2, -0.5, -0.3, -1.2, -9], shape: [2, 3] };
  const logpRef = [-1.5, -1, -0.5, -0.5, -1, 0];
  const mask = [1, 1, 1, 1, 1, 0];

  for (const name of backendNames) {
    it(`CE on outcome labels (${name})`, async () => {
      // y = [0, 1]: L = (−log(1 − σ(−1)) − log σ(0))/2 = (log(1 + e^−1) + log 2)/2 = (0.313262 + 0.693147)/2
      // dL/dlog π_φ[b, t] = β · mask · (σ(r_b) − y_b)/B: row 0 = σ(−1) = 0.268941 (×3); row 1 = −0.5, −0.5, 0.
      const b = backendOf(name);
      const out = await evaluate(b, logp, (x) => {
        const r = PRM_LOSSES['implicit-prm-ce'].fn({ logpPolicy: x, logpRef: ag.tensor(b, logpRef, [2, 3]), mask, labels: [0, 1] }, { beta: 2 });
        return { loss: r.loss, extras: { rewards: r.rewards } };
      });
      expectClose([out.value], [(Math.log1p(Math.exp(-1)) + Math.LN2) / 2], tolOf(b), 'loss');
      const s = sigmoid(-1);
      expectClose(out.grad, [s, s, s, -0.5, -0.5, 0], tolOf(b), 'grad');
      expectClose(out.extras.rewards!, [-1, 0], tolOf(b), 'r = β Σ log-ratio');
    });

    it(`DPO on a (chosen, rejected) pair (${name})`, async () => {
      // chosen = row 0 (Δ = −0.5), rejected = row 1 (Δ = 0), β = 2: margin = 2(−0.5 − 0) = −1;
      // L = −log σ(−1) = log(1 + e) = 1.313262; dL/dlog π_φ(chosen) = −β(1 − σ(−1)) = −1.462117 per token.
      const b = backendOf(name);
      const rejected = { logpPolicy: ag.tensor(b, [-0.3, -1.2, -9], [1, 3]), logpRef: [-0.5, -1, 0], mask: [1, 1, 0] };
      const out = await evaluate(b, { data: [-1, -2, -0.5], shape: [1, 3] }, (x) => {
        const r = PRM_LOSSES['implicit-prm-dpo'].fn({ chosen: { logpPolicy: x, logpRef: [-1.5, -1, -0.5], mask: [1, 1, 1] }, rejected }, { beta: 2 });
        return { loss: r.loss, extras: { margins: r.margins } };
      });
      expectClose([out.value], [Math.log1p(Math.E)], tolOf(b), 'loss');
      const g = -2 * (1 - sigmoid(-1));
      expectClose(out.grad, [g, g, g], tolOf(b), 'grad');
      expectClose(out.extras.margins!, [-1], tolOf(b), 'margin');
      rejected.logpPolicy.dispose();
    });

    it(`implicitStepRewards = hand-summed log-ratios over each step (${name})`, async () => {
      // B = 2, T = 5, β = 0.5.
      // row 0: log-ratio [9 (prompt, mask 0), 0.4, −0.2, 1.0, −0.6], steps end at [2, 4]:
      //   step 0 = tokens 0..2 → 0.4 − 0.2 = 0.2 → ×β 0.1;  step 1 = tokens 3..4 → 0.4 → 0.2
      // row 1: log-ratio [0.3, −0.1, 0.7, 5 (pad), 5 (pad)], steps end at [0, 1, 2]:
      //   [0.3, −0.1, 0.7] → ×β [0.15, −0.05, 0.35]
      // K = 3; row 0's third step does not exist (stepMask 0, reward 0).
      const b = backendOf(name);
      const ratio = [9, 0.4, -0.2, 1.0, -0.6, 0.3, -0.1, 0.7, 5, 5];
      const ref = ratio.map((_, i) => -1 - 0.1 * i);
      const pol = ratio.map((r, i) => r + ref[i]!);
      const m = [0, 1, 1, 1, 1, 1, 1, 1, 0, 0];
      const out = await evaluate(b, { data: pol, shape: [2, 5] }, (x) => {
        const r = implicitStepRewards(x, ref, m, [[2, 4], [0, 1, 2]], 0.5);
        // Σ of the real steps' rewards, so dL/dlog π_φ = β on every masked-in token covered by a step.
        return { loss: ag.sum(ag.mul(r.stepRewards, r.stepMask)), extras: { steps: r.stepRewards, stepMask: r.stepMask, tokens: r.tokenRewards } };
      });
      expectClose(out.extras.steps!, [0.1, 0.2, 0, 0.15, -0.05, 0.35], tolOf(b), 'step rewards');
      expect(out.extras.stepMask).toEqual([1, 1, 0, 1, 1, 1]);
      expectClose(out.extras.tokens!, [0, 0.2, -0.1, 0.5, -0.3, 0.15, -0.05, 0.35, 0, 0], tolOf(b), 'token rewards');
      expectClose(out.grad, m.map((v) => 0.5 * v), tolOf(b), 'grad');
    });
  }

  it('step rewards sum to the response reward when the steps cover the response', async () => {
    const rng = new SeededRandom(11);
    const pol = Array.from({ length: 12 }, () => rng.uniform(-4, 0));
    const ref = Array.from({ length: 12 }, () => rng.uniform(-4, 0));
    const m = [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const x = ag.tensor(cpu, pol, [1, 12]);
    const r = implicitStepRewards(x, ref, m, [[3, 6, 11]], 0.05);
    const steps = await r.stepRewards.toArray();
    let total = 0;
    for (let t = 2; t < 12; t++) total += 0.05 * (pol[t]! - ref[t]!);
    expect(steps.reduce((a, v) => a + v, 0)).toBeCloseTo(total, 12);
    let first = 0;
    for (let t = 2; t <= 3; t++) first += 0.05 * (pol[t]! - ref[t]!);
    expect(steps[0]).toBeCloseTo(first, 12);
    for (const t of [x, r.stepRewards, r.stepMask, r.tokenRewards]) t.dispose();
  });

  it('rejects step ends out of order or past the sequence', () => {
    const x = ag.tensor(cpu, [0, 0, 0], [1, 3]);
    expect(() => implicitStepRewards(x, [0, 0, 0], [1, 1, 1], [[2, 1]], 1)).toThrow(/out of order/);
    expect(() => implicitStepRewards(x, [0, 0, 0], [1, 1, 1], [[3]], 1)).toThrow(/outside/);
    x.dispose();
  });

  it('gradients match finite differences (CE and DPO)', async () => {
    const ref = [-1.1, -0.4, -2.3, -0.9, -1.7, -0.2];
    const m = [1, 1, 0, 1, 1, 1];
    await checkFiniteDifferences({ data: [-0.8, -0.6, -2.0, -1.5, -1.1, -0.3], shape: [2, 3] }, (x) =>
      implicitPrmCeLoss({ logpPolicy: x, logpRef: ref, mask: m, labels: [1, 0] }, { beta: 0.7 }).loss,
    );
    await checkFiniteDifferences({ data: [-0.8, -0.6, -2.0, -1.5, -1.1, -0.3], shape: [2, 3] }, (x) =>
      implicitPrmDpoLoss(
        { chosen: { logpPolicy: x, logpRef: ref, mask: m }, rejected: { logpPolicy: ag.tensor(cpu, [-1, -2, -3, -0.5, -0.5, -0.5], [2, 3]), logpRef: ref, mask: [1, 1, 1, 1, 0, 0] } },
        { beta: 0.7 },
      ).loss,
    );
  });
});

// ---------------------------------------------------------------- baselines

describe('orm-bce and shepherd-bce', () => {
  it('Math-Shepherd labels from Monte-Carlo counts', () => {
    // 4, 1, 0 of N = 4 completions correct: hard [1, 1, 0], soft [1, 1/4, 0].
    expect(shepherdLabels([4, 1, 0], 4, 'hard')).toEqual([1, 1, 0]);
    expect(shepherdLabels([4, 1, 0], 4, 'soft')).toEqual([1, 0.25, 0]);
    expect(() => shepherdLabels([5], 4, 'soft')).toThrow();
  });

  for (const name of backendNames) {
    it(`ORM BCE (${name})`, async () => {
      // s = [2, −1], y = [1, 1]: L = (log(1 + e^−2) + log(1 + e))/2 = (0.126928 + 1.313262)/2;
      // dL/ds = (σ(s) − 1)/2 = [−0.059601, −0.365529].
      const b = backendOf(name);
      const out = await evaluate(b, { data: [2, -1], shape: [2] }, (x) => PRM_LOSSES['orm-bce'].fn({ scores: x, labels: [1, 1] }));
      expectClose([out.value], [(Math.log1p(Math.exp(-2)) + Math.log1p(Math.E)) / 2], tolOf(b), 'loss');
      expectClose(out.grad, [(sigmoid(2) - 1) / 2, (sigmoid(-1) - 1) / 2], tolOf(b), 'grad');
    });

    it(`Math-Shepherd BCE, hard and soft labels (${name})`, async () => {
      // s = [0, ln 3, 1] (σ = [1/2, 3/4, e/(1+e)]).
      // soft y = [1, 1/4, 0]: L = (log 2 − (1/4 log 3/4 + 3/4 log 1/4) + log(1 + e))/3
      // hard y = [1, 1, 0]:   L = (log 2 − log 3/4 + log(1 + e))/3
      // dL/ds = (σ(s) − y)/3: soft [−1/6, 1/6, σ(1)/3]; hard [−1/6, −1/12, σ(1)/3].
      const b = backendOf(name);
      const counts = [4, 1, 0];
      const x = { data: [0, LN3, 1], shape: [3] };
      const soft = await evaluate(b, x, (s) => PRM_LOSSES['shepherd-bce'].fn({ stepScores: s, labels: shepherdLabels(counts, 4, 'soft') }));
      expectClose([soft.value], [(Math.LN2 - (0.25 * Math.log(0.75) + 0.75 * Math.log(0.25)) + Math.log1p(Math.E)) / 3], tolOf(b), 'soft loss');
      expectClose(soft.grad, [-1 / 6, 1 / 6, sigmoid(1) / 3], tolOf(b), 'soft grad');
      const hard = await evaluate(b, x, (s) => shepherdBceLoss({ stepScores: s, labels: shepherdLabels(counts, 4, 'hard') }));
      expectClose([hard.value], [(Math.LN2 - Math.log(0.75) + Math.log1p(Math.E)) / 3], tolOf(b), 'hard loss');
      expectClose(hard.grad, [-1 / 6, -1 / 12, sigmoid(1) / 3], tolOf(b), 'hard grad');
    });
  }

  it('BCE with logits is finite at ±1e4 and exact near 0', async () => {
    // BCE(1e4, 1) = 0, BCE(1e4, 0) = 1e4, BCE(−1e4, 1) = 1e4, BCE(0, y) = log 2.
    const x = ag.tensor(cpu, [1e4, 1e4, -1e4, 0]);
    const l = bceWithLogits(x, [1, 0, 1, 0.3]);
    expectClose(await l.toArray(), [0, 1e4, 1e4, Math.LN2], tolOf(cpu), 'bce');
    l.dispose();
    x.dispose();
  });

  it('gradients match finite differences', async () => {
    await checkFiniteDifferences({ data: [1.3, -0.2, 0.01, -2.2], shape: [4] }, (x) => ormBceLoss({ scores: x, labels: [1, 0, 1, 0] }).loss);
    await checkFiniteDifferences({ data: [1.3, -0.2, 0.01, -2.2], shape: [4] }, (x) => shepherdBceLoss({ stepScores: x, labels: [1, 0.25, 0.5, 0] }).loss);
  });
});
