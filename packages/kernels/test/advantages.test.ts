import { beforeAll, describe, expect, it } from 'vitest';
import {
  ADVANTAGE_ESTIMATORS,
  ADVANTAGE_ESTIMATOR_NAMES,
  advantagesReference,
  computeAdvantages,
  maskedWhiten,
  maskedWhitenReference,
  normalizeByMaxReturn,
  normalizeByMaxReturnReference,
  placeOutcome,
  placeOutcomeReference,
  rewardToGo,
  rewardToGoReference,
  withFlags,
  type AdvantageEstimatorName,
  type AdvantageInputs,
  type AdvantageOptions,
  type AdvantageReferenceInputs,
  type CpuTensor,
  type GpuArray,
} from '../src/index.js';
import { assertClose, kernelFixture, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

// ---------------------------------------------------------------- helpers

interface Case {
  rewards: number[][];
  mask: number[][];
  groups?: number[];
  values?: number[][];
  outcome?: number[];
}

function cpu(rows: number[][]): CpuTensor {
  const T = rows[0]?.length ?? 0;
  return { shape: [rows.length, T], data: Float64Array.from(rows.flat()) };
}

function hostInputs(c: Case): AdvantageReferenceInputs {
  return {
    rewards: cpu(c.rewards),
    mask: cpu(c.mask),
    ...(c.groups ? { groups: c.groups } : {}),
    ...(c.values ? { values: cpu(c.values) } : {}),
    ...(c.outcome ? { outcome: c.outcome } : {}),
  };
}

function gpuInputs(host: AdvantageReferenceInputs, maskType: 'f32' | 'u32' = 'f32'): { inputs: AdvantageInputs; arrays: GpuArray[] } {
  const [B, T] = host.rewards.shape as [number, number];
  const arrays: GpuArray[] = [];
  const up = (a: GpuArray) => (arrays.push(a), a);
  const inputs: AdvantageInputs = {
    rewards: up(fx.rt.upload(Float32Array.from(host.rewards.data), [B, T])),
    mask: up(fx.rt.upload(maskType === 'f32' ? Float32Array.from(host.mask.data) : Uint32Array.from(host.mask.data), [B, T], maskType)),
  };
  if (host.groups) inputs.groups = up(fx.rt.upload(Int32Array.from(host.groups), [B], 'i32'));
  if (host.values) inputs.values = up(fx.rt.upload(Float32Array.from(host.values.data), [B, T]));
  if (host.outcome) inputs.outcome = up(fx.rt.upload(Float32Array.from(host.outcome), [B]));
  return { inputs, arrays };
}

/** Runs the estimator on the GPU and returns the host copies (f32 inputs, as the GPU sees them). */
async function runGpu(name: string, host: AdvantageReferenceInputs, options?: AdvantageOptions, maskType: 'f32' | 'u32' = 'f32') {
  const { inputs, arrays } = gpuInputs(host, maskType);
  const result = computeAdvantages(fx.rt, name, inputs, options);
  const advantages = Array.from(await fx.rt.read(result.advantages));
  const returns = result.returns ? Array.from(await fx.rt.read(result.returns)) : undefined;
  result.advantages.dispose();
  result.returns?.dispose();
  for (const a of arrays) a.dispose();
  return { advantages, returns };
}

const HAND = { atol: 2e-5, rtol: 2e-5 };

/** Checks GPU and reference against hand-computed numbers. */
async function expectHand(name: AdvantageEstimatorName, c: Case, options: AdvantageOptions, want: { advantages: number[][]; returns?: number[][] }) {
  const host = hostInputs(c);
  const ref = ADVANTAGE_ESTIMATORS[name].reference(host, options);
  assertClose(ref.advantages.data, want.advantages.flat(), { ...HAND, label: `${name} reference advantages` });
  const got = await runGpu(name, host, options);
  assertClose(got.advantages, want.advantages.flat(), { ...HAND, label: `${name} GPU advantages` });
  if (want.returns) {
    assertClose(ref.returns!.data, want.returns.flat(), { ...HAND, label: `${name} reference returns` });
    assertClose(got.returns!, want.returns.flat(), { ...HAND, label: `${name} GPU returns` });
  } else {
    expect(got.returns).toBeUndefined();
  }
}

/** std of 1/√3 appears in the grpo cases: scores (1, 0, 0) have mean 1/3 and unbiased std √(1/3). */
const STD_100 = Math.sqrt(1 / 3) + 1e-6;

// ---------------------------------------------------------------- hand-computed cases

// One batch used by the sequence-level estimators: group 7 = rows 0, 1, 2 (scores 1, 0, 0 from an
// outcome on the last valid token; lengths 3, 2, 1) and row 3 alone in group −4 (score 2 = 1 + 1).
const SEQUENCE_CASE: Case = {
  rewards: [
    [0, 0, 1],
    [0, 0, 0],
    [0, 9, 9], // rewards under the mask do not count
    [1, 1, 5],
  ],
  mask: [
    [1, 1, 1],
    [1, 1, 0],
    [1, 0, 0],
    [1, 1, 0],
  ],
  groups: [7, 7, 7, -4],
};

describe('advantages: hand-computed cases', () => {
  it('grpo: scores 1,0,0 → (s − 1/3)/(√(1/3) + 1e-6); a group of one gives s/(1 + 1e-6) (verl) or 0', async () => {
    // mean 1/3; unbiased std √(((2/3)² + 2·(1/3)²)/2) = √(1/3) = 0.57735
    // A = (2/3)/0.57735 = 1.154700, −(1/3)/0.57735 = −0.577350; the singleton: 2/(1 + 1e-6)
    const a0 = (2 / 3) / STD_100;
    const a1 = -(1 / 3) / STD_100;
    const solo = 2 / (1 + 1e-6);
    await expectHand('grpo', SEQUENCE_CASE, {}, {
      advantages: [
        [a0, a0, a0],
        [a1, a1, 0],
        [a1, 0, 0],
        [solo, solo, 0],
      ],
    });
    await expectHand('grpo', SEQUENCE_CASE, { singletonGroups: 'zero' }, {
      advantages: [
        [a0, a0, a0],
        [a1, a1, 0],
        [a1, 0, 0],
        [0, 0, 0],
      ],
    });
    // Two samples with scores 3 and 1: mean 2, std √2 → ±1/(√2 + 1e-6) = ±0.707106
    const s = 1 / (Math.SQRT2 + 1e-6);
    await expectHand('grpo', { rewards: [[1, 2], [1, 0]], mask: [[1, 1], [1, 1]], groups: [0, 0] }, {}, { advantages: [[s, s], [-s, -s]] });
  });

  it('dr-grpo: scores 1,0,0 → 2/3, −1/3, −1/3 (no std); a group of one keeps its score', async () => {
    await expectHand('dr-grpo', SEQUENCE_CASE, {}, {
      advantages: [
        [2 / 3, 2 / 3, 2 / 3],
        [-1 / 3, -1 / 3, 0],
        [-1 / 3, 0, 0],
        [2, 2, 0],
      ],
    });
  });

  it('rloo: scores 1,0,0 → 1 − 0 = 1, 0 − (1+0)/2 = −0.5, −0.5; scores 3,1 → ±2', async () => {
    await expectHand('rloo', SEQUENCE_CASE, {}, {
      advantages: [
        [1, 1, 1],
        [-0.5, -0.5, 0],
        [-0.5, 0, 0],
        [2, 2, 0],
      ],
    });
    await expectHand('rloo', { rewards: [[3], [1]], mask: [[1], [1]], groups: [5, 5] }, {}, { advantages: [[2], [-2]] });
  });

  it('reinforce++: discounted returns, then whitening over the batch', async () => {
    // γ = 0.5. Row 0 rewards 1, 0, 2 → G = 1 + 0.5·(0 + 0.5·2) = 1.5, 0 + 0.5·2 = 1, 2.
    // Row 1 has one valid token with reward 4 → G = 4. Valid G: 1.5, 1, 2, 4; mean 2.125;
    // squared deviations 0.390625 + 1.265625 + 0.015625 + 3.515625 = 5.1875; unbiased var 1.729167;
    // std 1.314978 → A = −0.475293, −0.855528, −0.095059, 1.425880.
    const c: Case = { rewards: [[1, 0, 2], [4, 9, 9]], mask: [[1, 1, 1], [1, 0, 0]] };
    await expectHand('reinforce++', c, { gamma: 0.5 }, {
      advantages: [[-0.4752932, -0.8555277, -0.0950586], [1.4258796, 0, 0]],
      returns: [[1.5, 1, 2], [4, 0, 0]],
    });
    // Without whitening the advantages are the returns.
    await expectHand('reinforce++', c, { gamma: 0.5, whiten: false }, {
      advantages: [[1.5, 1, 2], [4, 0, 0]],
      returns: [[1.5, 1, 2], [4, 0, 0]],
    });
  });

  it('reinforce++-baseline: subtract the group mean of the scores, then whiten', async () => {
    // Group 1 = rows 0, 1 with scores 1, 0 → 0.5, −0.5; row 2 alone with score 3 → 3 (mean 0).
    // Tokens: 0.5, 0.5 | −0.5 | 3, 3: mean 1.3; squared deviations sum 10.3; unbiased var 2.575;
    // std 1.604681 → −0.498542, −0.498542, −1.121719, 1.059401, 1.059401.
    const c: Case = { rewards: [[0, 1], [0, 0], [1, 2]], mask: [[1, 1], [1, 0], [1, 1]], groups: [1, 1, 2] };
    await expectHand('reinforce++-baseline', c, {}, {
      advantages: [[-0.4985416, -0.4985416], [-1.1217185, 0], [1.0594008, 1.0594008]],
    });
    await expectHand('reinforce++-baseline', c, { whiten: false }, { advantages: [[0.5, 0.5], [-0.5, 0], [3, 3]] });
  });

  it('gae: γ = λ = 1 gives A_t = Σ r − V_t; γ = 0.9, λ = 0.5 by the recursion; masked tokens are skipped', async () => {
    // r = 0, 0, 1; V = 0.5, 0.2, 0.4.
    // γ=λ=1: δ2 = 1 − 0.4 = 0.6 = A2; δ1 = 0.4 − 0.2 = 0.2, A1 = 0.8; δ0 = 0.2 − 0.5 = −0.3, A0 = 0.5.
    //        returns = A + V = 1, 1, 1.
    // Row 1 is row 0 with a masked token inserted at t = 1 (reward 5, value 9 ignored): same numbers.
    const c: Case = {
      rewards: [[0, 0, 1, 0], [0, 5, 0, 1]],
      values: [[0.5, 0.2, 0.4, 7], [0.5, 9, 0.2, 0.4]],
      mask: [[1, 1, 1, 0], [1, 0, 1, 1]],
    };
    await expectHand('gae', c, { whiten: false }, {
      advantages: [[0.5, 0.8, 0.6, 0], [0.5, 0, 0.8, 0.6]],
      returns: [[1, 1, 1, 0], [1, 0, 1, 1]],
    });
    // γ = 0.9, λ = 0.5 (γλ = 0.45): δ2 = 0.6 = A2; δ1 = 0.9·0.4 − 0.2 = 0.16, A1 = 0.16 + 0.45·0.6 = 0.43;
    // δ0 = 0.9·0.2 − 0.5 = −0.32, A0 = −0.32 + 0.45·0.43 = −0.1265. returns = 0.3735, 0.63, 1.0.
    const one: Case = { rewards: [[0, 0, 1]], values: [[0.5, 0.2, 0.4]], mask: [[1, 1, 1]] };
    await expectHand('gae', one, { gamma: 0.9, lambda: 0.5, whiten: false }, {
      advantages: [[-0.1265, 0.43, 0.6]],
      returns: [[0.3735, 0.63, 1.0]],
    });
    // Whitened: A = −0.1265, 0.43, 0.6 has mean 0.301167, deviations −0.427667, 0.128833, 0.298833,
    // squares summing to 0.288798, unbiased std √0.144399 = 0.379999 → −1.125442, 0.339036, 0.786406.
    await expectHand('gae', one, { gamma: 0.9, lambda: 0.5 }, {
      advantages: [[-1.1254421, 0.3390362, 0.786406]],
      returns: [[0.3735, 0.63, 1.0]],
    });
  });

  // Group of two: row 0 process rewards 1, 0 and outcome 1; row 1 one valid token with reward 0.5
  // and outcome 0. Mean process rewards m = 0.5, 0.5.
  const PRIME_CASE: Case = { rewards: [[1, 0], [0.5, 3]], mask: [[1, 1], [1, 0]], groups: [11, 11], outcome: [1, 0] };

  it('prime-rloo-code: r·K/(K−1) − Σm/(K−1) per source, then reward-to-go and whitening', async () => {
    // K = 2: factor 2, process baseline Σm/(K−1) = 1, outcome baseline Σo/(K−1) = 1.
    // Row 0: process r' = 2·1 − 1 = 1, 2·0 − 1 = −1; outcome r' = 2·1 − 1 = 1 on t = 1.
    //        shaped 1, 0 → returns 1, 0.
    // Row 1: process r' = 2·0.5 − 1 = 0; outcome 2·0 − 1 = −1 → returns −1.
    // Whitened: values 1, 0, −1 have mean 0 and unbiased var 1 → 1, 0, −1.
    const opts = { batchNorm: false };
    await expectHand('prime-rloo-code', PRIME_CASE, opts, { advantages: [[1, 0], [-1, 0]], returns: [[1, 0], [-1, 0]] });
    // Coefficients: c_prm = 5, c_gt = 5 (verl's recipe) scales everything by 5.
    await expectHand('prime-rloo-code', PRIME_CASE, { ...opts, cPrm: 5, cGt: 5, whiten: false }, { advantages: [[5, 0], [-5, 0]], returns: [[5, 0], [-5, 0]] });
  });

  it('prime-rloo-paper: Σ_{s≥t}(r_s − mean_{j≠b} m_j) + (o_b − mean_{j≠b} o_j)', async () => {
    // Row 0: process baseline m_1 = 0.5; outcome advantage 1 − 0 = 1.
    //        t = 1: 0 − 0.5 = −0.5 → −0.5 + 1 = 0.5; t = 0: (1 − 0.5) + (−0.5) = 0 → 0 + 1 = 1.
    // Row 1: baseline m_0 = 0.5; outcome advantage 0 − 1 = −1. t = 0: 0.5 − 0.5 = 0 → −1.
    // (The released code gives 1, 0 | −1 here: its per-token term differs by (r − m_own)/(K−1).)
    const opts = { batchNorm: false, whiten: false };
    await expectHand('prime-rloo-paper', PRIME_CASE, opts, { advantages: [[1, 0.5], [-1, 0]], returns: [[1, 0.5], [-1, 0]] });
    // Whitened: 1, 0.5, −1 → mean 1/6, unbiased var (25/36 + 1/9 + 49/36)/2 = 13/12 → (v − 1/6)/√(13/12).
    const sd = Math.sqrt(13 / 12 + 1e-8);
    await expectHand('prime-rloo-paper', PRIME_CASE, { batchNorm: false }, {
      advantages: [[(1 - 1 / 6) / sd, (0.5 - 1 / 6) / sd], [(-1 - 1 / 6) / sd, 0]],
      returns: [[1, 0.5], [-1, 0]],
    });
  });

  it('prime batch normalisation: process rewards divided by max |reward-to-go| + 1e-6', async () => {
    // Rewards 2, 0 | 1: reward-to-go 2, 0 | 1 → max 2, so the process rewards become 1, 0 | 0.5
    // (up to the 1e-6) and the results equal the case above.
    const c: Case = { ...PRIME_CASE, rewards: [[2, 0], [1, 3]] };
    await expectHand('prime-rloo-code', c, { whiten: false }, { advantages: [[1, 0], [-1, 0]], returns: [[1, 0], [-1, 0]] });
    await expectHand('prime-rloo-paper', c, { whiten: false }, { advantages: [[1, 0.5], [-1, 0]], returns: [[1, 0.5], [-1, 0]] });
  });

  it('repirl-loo: per-timestep leave-one-out over the siblings still active', async () => {
    // Group of three, lengths 3, 2, 1; process rewards 1,0,0 | 0,1 | 2; outcomes 1, 0, 0.
    // Process reward-to-go G^p: 1,0,0 | 1,1 | 2.   Outcome reward-to-go G^o: 1,1,1 | 0,0 | 0.
    // t = 0 (all three active): A^p = 1 − (1+2)/2 = −0.5, 1 − (1+2)/2 = −0.5, 2 − (1+1)/2 = 1
    //                           A^o = 1 − 0 = 1, 0 − 1/2 = −0.5, 0 − 1/2 = −0.5
    // t = 1 (rows 0, 1):        A^p = 0 − 1 = −1, 1 − 0 = 1;  A^o = 1 − 0 = 1, 0 − 1 = −1
    // t = 2 (row 0 alone):      A^p = 0 − 0/max(1, 0) = 0;    A^o = 1
    // c_prm = 0.1, c_gt = 1: row 0: −0.05 + 1 = 0.95, −0.1 + 1 = 0.9, 0 + 1 = 1
    //                        row 1: −0.05 − 0.5 = −0.55, 0.1 − 1 = −0.9;  row 2: 0.1 − 0.5 = −0.4
    const c: Case = {
      rewards: [[1, 0, 0], [0, 1, 0], [2, 0, 0]],
      mask: [[1, 1, 1], [1, 1, 0], [1, 0, 0]],
      groups: [3, 3, 3],
      outcome: [1, 0, 0],
    };
    await expectHand('repirl-loo', c, { batchNorm: false, whiten: false, cPrm: 0.1 }, {
      advantages: [[0.95, 0.9, 1], [-0.55, -0.9, 0], [-0.4, 0, 0]],
    });
    // c_prm = c_gt = 1: 0.5, 0, 1 | −1, 0 | 0.5 (a sibling group row elsewhere in the batch must not count).
    const withStranger: Case = {
      rewards: [...c.rewards, [5, 5, 5]],
      mask: [...c.mask, [1, 1, 1]],
      groups: [3, 3, 3, 4],
      outcome: [1, 0, 0, 1],
    };
    await expectHand('repirl-loo', withStranger, { batchNorm: false, whiten: false }, {
      advantages: [[0.5, 0, 1], [-1, 0, 0], [0.5, 0, 0], [15 + 1, 10 + 1, 5 + 1]], // row 3 alone: G^p + G^o
    });
  });
});

describe('advantages: helpers (hand-computed)', () => {
  it('rewardToGo: γ = 0.5 over 1, 2, 3 is 2.75, 3.5, 3; a masked token is skipped', async () => {
    const rewards = fx.rt.upload([1, 2, 3, 1, 100, 3], [2, 3]);
    const mask = fx.rt.upload(new Uint32Array([1, 1, 1, 1, 0, 1]), [2, 3], 'u32');
    const out = rewardToGo(fx.rt, rewards, mask, { gamma: 0.5 });
    // Row 1 skips t = 1: G2 = 3, G0 = 1 + 0.5·3 = 2.5.
    const want = [2.75, 3.5, 3, 2.5, 0, 3];
    await fx.expectClose(out, want, HAND);
    assertClose(rewardToGoReference(cpu([[1, 2, 3], [1, 100, 3]]), cpu([[1, 1, 1], [1, 0, 1]]), 0.5).data, want, HAND);
    for (const a of [rewards, mask, out]) a.dispose();
  });

  it('maskedWhiten: [1, 2, 3, (100)] → [−1, 0, 1, 0]; biased and shift-mean-off variants', async () => {
    const values = fx.rt.upload([1, 2, 3, 100], [1, 4]);
    const mask = fx.rt.upload([1, 1, 1, 0], [1, 4]);
    const cases: [Parameters<typeof maskedWhiten>[3], number[]][] = [
      [{}, [-1, 0, 1, 0]], // mean 2, unbiased var (1 + 0 + 1)/2 = 1
      [{ unbiased: false }, [-1.2247449, 0, 1.2247449, 0]], // var 2/3 → ±1/√(2/3)
      [{ unbiased: false, shiftMean: false }, [0.7752551, 2, 3.2247449, 0]], // + mean 2 back
    ];
    for (const [opts, want] of cases) {
      for (const variant of ['shared', 'auto']) {
        await withFlags({ 'reduce.variant': variant }, async () => {
          const out = maskedWhiten(fx.rt, values, mask, opts);
          await fx.expectClose(out, want, { ...HAND, label: `${JSON.stringify(opts)} ${variant}` });
          out.dispose();
        });
      }
      assertClose(maskedWhitenReference(cpu([[1, 2, 3, 100]]), cpu([[1, 1, 1, 0]]), opts).data, want, HAND);
    }
    for (const a of [values, mask]) a.dispose();
  });

  it('normalizeByMaxReturn: divides by max |reward-to-go| + 1e-6', async () => {
    // Reward-to-go: row 0: 1 + (−3) = −2, −3; row 1: 0.5, 0 → max |G| = 3.
    const host = [[1, -3], [0.5, 0]];
    const want = [1 / 3.000001, -3 / 3.000001, 0.5 / 3.000001, 0];
    const rewards = fx.rt.upload(host.flat(), [2, 2]);
    const mask = fx.rt.upload([1, 1, 1, 1], [2, 2]);
    const out = normalizeByMaxReturn(fx.rt, rewards, mask);
    await fx.expectClose(out, want, { atol: 1e-7, rtol: 1e-6 });
    assertClose(normalizeByMaxReturnReference(cpu(host), cpu([[1, 1], [1, 1]])).data, want, { atol: 1e-12, rtol: 1e-12 });
    for (const a of [rewards, mask, out]) a.dispose();
  });

  it('placeOutcome: the score goes on the last valid token; a fully masked row gets nothing', async () => {
    const maskHost = [[1, 1, 0], [0, 0, 0], [1, 0, 1]];
    const want = [0, 5, 0, 0, 0, 0, 0, 0, 7];
    const scores = fx.rt.upload([5, 6, 7]);
    const mask = fx.rt.upload(maskHost.flat(), [3, 3]);
    const out = placeOutcome(fx.rt, scores, mask);
    await fx.expectClose(out, want, { atol: 0, rtol: 0 });
    assertClose(placeOutcomeReference([5, 6, 7], cpu(maskHost)).data, want, { atol: 0, rtol: 0 });
    for (const a of [scores, mask, out]) a.dispose();
  });
});

// ---------------------------------------------------------------- randomized against the reference

interface RandomSpec {
  B: number;
  T: number;
  seed: number;
}

/**
 * A random batch: group ids drawn from a non-contiguous set and shuffled (uneven groups, some of one
 * member), prefix masks of random length including 0 (a fully masked row) and T, some rows with
 * holes, rewards in [−1, 1] plus an outcome in {0, 1} on the last valid token.
 */
function randomBatch({ B, T, seed }: RandomSpec): AdvantageReferenceInputs {
  const rng = new SeededRandom(seed);
  const ids = [-7, 3, 1000, 42, 9, -1, 123456];
  const groups = Array.from({ length: B }, () => ids[rng.int(0, Math.min(ids.length, Math.max(1, Math.ceil(B / 3))) - 1)]!);
  groups[B - 1] = 777; // a group of one
  const mask = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    const len = b === 0 ? 0 : b === 1 ? T : rng.int(0, T);
    for (let t = 0; t < len; t++) mask[b * T + t] = 1;
    if (b % 5 === 4 && len > 2) mask[b * T + rng.int(1, len - 2)] = 0; // a hole inside the response
  }
  const rewards = new Float64Array(B * T);
  const values = new Float64Array(B * T);
  const outcome = Array.from({ length: B }, () => (rng.next() < 0.5 ? 1 : 0));
  for (let i = 0; i < B * T; i++) {
    rewards[i] = Math.fround(rng.uniform(-1, 1) * 0.2);
    values[i] = Math.fround(rng.uniform(-1, 1));
  }
  // The outcome also on the last valid token of the token rewards (for the single-source estimators).
  for (let b = 0; b < B; b++) {
    for (let t = T - 1; t >= 0; t--) {
      if (mask[b * T + t]) {
        rewards[b * T + t] = Math.fround(rewards[b * T + t]! + outcome[b]!);
        break;
      }
    }
  }
  return {
    rewards: { shape: [B, T], data: rewards },
    mask: { shape: [B, T], data: mask },
    groups,
    values: { shape: [B, T], data: values },
    outcome,
  };
}

const SHAPES: RandomSpec[] = [
  { B: 5, T: 1, seed: 1 },
  { B: 9, T: 7, seed: 2 },
  { B: 13, T: 33, seed: 3 },
  { B: 40, T: 130, seed: 4 }, // several whitening partials
  { B: 70, T: 65, seed: 5 }, // more rows than one row workgroup, odd T
];

const OPTION_SETS: Record<AdvantageEstimatorName, AdvantageOptions[]> = {
  grpo: [{}, { singletonGroups: 'zero', epsilon: 1e-3 }],
  'dr-grpo': [{}, { singletonGroups: 'zero' }],
  rloo: [{}, { singletonGroups: 'zero' }],
  'reinforce++': [{ gamma: 1 }, { gamma: 0.9, unbiased: false }, { gamma: 0.97, whiten: false }],
  'reinforce++-baseline': [{}, { unbiased: false, singletonGroups: 'zero' }],
  gae: [{}, { gamma: 0.99, lambda: 0.95 }, { gamma: 0.9, lambda: 0.5, whiten: false }],
  'prime-rloo-paper': [{}, { gamma: 0.95, cPrm: 5, cGt: 5, batchNorm: false }, { whiten: false }],
  'prime-rloo-code': [{}, { gamma: 0.95, cPrm: 5, cGt: 5, batchNorm: false }, { whiten: false, unbiased: false }],
  'repirl-loo': [{ cPrm: 0.05 }, { cPrm: 0.1, gamma: 0.9, batchNorm: false }, { whiten: false }],
};

const RANDOM_TOL = { atol: 2e-4, rtol: 2e-4 };

async function compareWithReference(name: AdvantageEstimatorName, spec: RandomSpec, options: AdvantageOptions, maskType: 'f32' | 'u32', label: string) {
  const host = randomBatch(spec);
  const want = advantagesReference(name, host, options);
  const got = await runGpu(name, host, options, maskType);
  assertClose(got.advantages, want.advantages.data, { ...RANDOM_TOL, label: `${label} advantages` });
  if (want.returns) assertClose(got.returns!, want.returns.data, { ...RANDOM_TOL, label: `${label} returns` });
  else expect(got.returns).toBeUndefined();
  // Masked tokens are exactly 0, and nothing is NaN (the fully masked row included).
  for (let i = 0; i < got.advantages.length; i++) {
    expect(Number.isFinite(got.advantages[i]!)).toBe(true);
    if (host.mask.data[i] === 0) expect(got.advantages[i]).toBe(0);
  }
}

describe('advantages: GPU against the float64 reference on random batches', () => {
  for (const name of ADVANTAGE_ESTIMATOR_NAMES) {
    it(`${name}: odd T, T = 1, uneven and singleton groups, non-contiguous ids, holes, a fully masked row`, async () => {
      for (const [k, spec] of SHAPES.entries()) {
        for (const [j, options] of OPTION_SETS[name].entries()) {
          const maskType = (k + j) % 2 === 0 ? 'f32' : 'u32';
          await compareWithReference(name, spec, options, maskType, `${name} B=${spec.B} T=${spec.T} ${JSON.stringify(options)} mask ${maskType}`);
        }
      }
    });
  }

  it('every reduction variant (subgroup and shared) gives the same results', async () => {
    const spec = { B: 40, T: 130, seed: 9 };
    for (const variant of fx.reduceVariants()) {
      await withFlags({ 'reduce.variant': variant }, async () => {
        for (const name of ADVANTAGE_ESTIMATOR_NAMES) {
          await compareWithReference(name, spec, OPTION_SETS[name][0]!, 'f32', `${name} reduce.variant=${variant}`);
        }
        // The helpers that reduce, on a batch with many whitening partials.
        const host = randomBatch({ B: 64, T: 257, seed: 10 });
        const { inputs, arrays } = gpuInputs(host);
        const white = maskedWhiten(fx.rt, inputs.rewards, inputs.mask, { unbiased: false, shiftMean: false });
        await fx.expectClose(white, maskedWhitenReference(host.rewards, host.mask, { unbiased: false, shiftMean: false }).data, { ...RANDOM_TOL, label: `maskedWhiten ${variant}` });
        const norm = normalizeByMaxReturn(fx.rt, inputs.rewards, inputs.mask, { gamma: 0.9 });
        await fx.expectClose(norm, normalizeByMaxReturnReference(host.rewards, host.mask, 0.9).data, { ...RANDOM_TOL, label: `normalizeByMaxReturn ${variant}` });
        for (const a of [...arrays, white, norm]) a.dispose();
      });
    }
  });

  it('rewardToGo and placeOutcome against the reference', async () => {
    const host = randomBatch({ B: 33, T: 31, seed: 11 });
    const { inputs, arrays } = gpuInputs(host, 'u32');
    const g = rewardToGo(fx.rt, inputs.rewards, inputs.mask, { gamma: 0.8 });
    await fx.expectClose(g, rewardToGoReference(host.rewards, host.mask, 0.8).data, RANDOM_TOL);
    const placed = placeOutcome(fx.rt, inputs.outcome!, inputs.mask);
    await fx.expectClose(placed, placeOutcomeReference(host.outcome!, host.mask).data, { atol: 0, rtol: 0 });
    for (const a of [...arrays, g, placed]) a.dispose();
  });

  it('large group ids spread over many rows (the GPU group scan beyond one workgroup)', async () => {
    // 300 rows in 61 groups of uneven size, ids far apart and interleaved.
    const rng = new SeededRandom(12);
    const host = randomBatch({ B: 300, T: 5, seed: 13 });
    host.groups = Array.from({ length: 300 }, () => rng.int(0, 60) * 1_000_003 - 30_000_000);
    for (const name of ['rloo', 'grpo', 'repirl-loo', 'prime-rloo-code'] as const) {
      const want = advantagesReference(name, host, {});
      const got = await runGpu(name, host, {});
      assertClose(got.advantages, want.advantages.data, { ...RANDOM_TOL, label: name });
    }
  });

  it('empty batches: B = 0 and T = 0 give empty outputs', async () => {
    for (const [B, T] of [[0, 5], [3, 0]] as const) {
      const host: AdvantageReferenceInputs = {
        rewards: { shape: [B, T], data: new Float64Array(0) },
        mask: { shape: [B, T], data: new Float64Array(0) },
        values: { shape: [B, T], data: new Float64Array(0) },
        groups: Array.from({ length: B }, (_, b) => b % 2),
        outcome: Array.from({ length: B }, () => 1),
      };
      for (const name of ADVANTAGE_ESTIMATOR_NAMES) {
        const got = await runGpu(name, host, {});
        expect(got.advantages.length).toBe(0);
        expect(advantagesReference(name, host, {}).advantages.data.length).toBe(0);
      }
    }
  });
});

// ---------------------------------------------------------------- registry and bad arguments

describe('advantages: registry and argument checks', () => {
  it('registers every estimator with a formula and a matching name', () => {
    expect(ADVANTAGE_ESTIMATOR_NAMES).toEqual([
      'grpo',
      'dr-grpo',
      'rloo',
      'reinforce++',
      'reinforce++-baseline',
      'gae',
      'prime-rloo-paper',
      'prime-rloo-code',
      'repirl-loo',
    ]);
    for (const name of ADVANTAGE_ESTIMATOR_NAMES) {
      const entry = ADVANTAGE_ESTIMATORS[name];
      expect(entry.name).toBe(name);
      expect(entry.doc.length).toBeGreaterThan(20);
    }
  });

  it('an unknown estimator name lists the known ones', () => {
    const host = hostInputs({ rewards: [[1]], mask: [[1]] });
    const { inputs, arrays } = gpuInputs(host);
    expect(() => computeAdvantages(fx.rt, 'ppo', inputs)).toThrow(
      /\[advantages\] argument "estimator": unknown estimator "ppo" \(known: grpo, dr-grpo, rloo, reinforce\+\+, reinforce\+\+-baseline, gae, prime-rloo-paper, prime-rloo-code, repirl-loo\)/,
    );
    expect(() => advantagesReference('toString', host)).toThrow(/unknown estimator "toString"/);
    for (const a of arrays) a.dispose();
  });

  it('shape, dtype and missing-input errors name the estimator, the argument and the expected shape', () => {
    const B = 4;
    const T = 7;
    const rewards = fx.rt.upload(new Float32Array(B * T), [B, T]);
    const mask = fx.rt.upload(new Float32Array(B * T).fill(1), [B, T]);
    const shortMask = fx.rt.upload(new Float32Array(B * 6), [B, 6]);
    const intMask = fx.rt.upload(new Int32Array(B * T), [B, T], 'i32');
    const groups = fx.rt.upload(new Int32Array(B), [B], 'i32');
    const shortGroups = fx.rt.upload(new Int32Array(3), [3], 'i32');
    const floatGroups = fx.rt.upload(new Float32Array(B), [B]);
    const flat = fx.rt.upload(new Float32Array(B * T), [B * T]);
    const values = fx.rt.upload(new Float32Array(B * T), [B, T]);
    const badValues = fx.rt.upload(new Float32Array(B * (T + 1)), [B, T + 1]);
    const outcome = fx.rt.upload(new Float32Array(B), [B]);
    const longOutcome = fx.rt.upload(new Float32Array(B + 1), [B + 1]);

    expect(() => computeAdvantages(fx.rt, 'grpo', { rewards: flat, mask, groups })).toThrow(/\[advantages\/grpo\] argument "rewards": expected rank 2, got shape \[28\]/);
    expect(() => computeAdvantages(fx.rt, 'grpo', { rewards, mask: shortMask, groups })).toThrow(/\[advantages\/grpo\] argument "mask": expected shape \[4, 7\], got \[4, 6\]/);
    expect(() => computeAdvantages(fx.rt, 'rloo', { rewards, mask: intMask, groups })).toThrow(/argument "mask": expected dtype f32 or u32, got i32/);
    expect(() => computeAdvantages(fx.rt, 'rloo', { rewards, mask, groups: shortGroups })).toThrow(/\[advantages\/rloo\] argument "groups": expected shape \[4\], got \[3\]/);
    expect(() => computeAdvantages(fx.rt, 'rloo', { rewards, mask, groups: floatGroups })).toThrow(/argument "groups": expected dtype i32, got f32/);
    expect(() => computeAdvantages(fx.rt, 'dr-grpo', { rewards, mask })).toThrow(/\[advantages\/dr-grpo\] argument "groups": is required \(i32 \[B\] = \[4\]/);
    expect(() => computeAdvantages(fx.rt, 'gae', { rewards, mask })).toThrow(/\[advantages\/gae\] argument "values": is required \(f32 \[B, T\] = \[4, 7\]\)/);
    expect(() => computeAdvantages(fx.rt, 'gae', { rewards, mask, values: badValues })).toThrow(/\[advantages\/gae\] argument "values": expected shape \[4, 7\], got \[4, 8\]/);
    expect(() => computeAdvantages(fx.rt, 'repirl-loo', { rewards, mask, groups })).toThrow(/\[advantages\/repirl-loo\] argument "outcome": is required \(f32 \[B\] = \[4\]/);
    expect(() => computeAdvantages(fx.rt, 'prime-rloo-code', { rewards, mask, groups, outcome: longOutcome })).toThrow(/argument "outcome": expected shape \[4\], got \[5\]/);
    expect(() => computeAdvantages(fx.rt, 'reinforce++', { rewards, mask }, { gamma: NaN })).toThrow(/\[advantages\/reinforce\+\+\] argument "gamma": must be a finite number, got NaN/);
    expect(() => computeAdvantages(fx.rt, 'grpo', { rewards, mask, groups }, { epsilon: -1 })).toThrow(/argument "epsilon": must be ≥ 0/);
    expect(() => computeAdvantages(fx.rt, 'grpo', { rewards, mask, groups }, { singletonGroups: 'drop' as 'zero' })).toThrow(/argument "singletonGroups"/);
    expect(() => computeAdvantages(fx.rt, 'gae', { rewards, mask, values }, { lambda: Infinity })).toThrow(/argument "lambda"/);
    // Helpers.
    expect(() => maskedWhiten(fx.rt, rewards, shortMask)).toThrow(/\[masked-whiten\] argument "mask": expected shape \[4, 7\], got \[4, 6\]/);
    expect(() => rewardToGo(fx.rt, flat, mask)).toThrow(/\[reward-to-go\] argument "rewards": expected rank 2/);
    expect(() => normalizeByMaxReturn(fx.rt, rewards, shortMask)).toThrow(/\[normalize-by-max-return\] argument "mask": expected shape \[4, 7\]/);
    expect(() => placeOutcome(fx.rt, longOutcome, mask)).toThrow(/\[place-outcome\] argument "scores": expected shape \[4\], got \[5\]/);
    for (const a of [rewards, mask, shortMask, intMask, groups, shortGroups, floatGroups, flat, values, badValues, outcome, longOutcome]) a.dispose();
  });
});
