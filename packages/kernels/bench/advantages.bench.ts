// Token-level advantage estimators on a GRPO-sized batch (B = 512 responses of up to T = 1024
// tokens, 128 prompts × 4 samples with shuffled, non-contiguous group ids, responses of uneven
// length) against the float64 CPU reference in plain JS on the same data. Throughput is B·T
// token slots per second.
import type { BenchCase, BenchContext } from './harness.js';
import {
  ADVANTAGE_ESTIMATOR_NAMES,
  advantagesReference,
  computeAdvantages,
  type AdvantageInputs,
  type AdvantageOptions,
  type AdvantageReferenceInputs,
  type AdvantageEstimatorName,
} from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';

/** Options as the method's authors run them (γ, λ, coefficients). */
const OPTIONS: Record<AdvantageEstimatorName, AdvantageOptions> = {
  grpo: {},
  'dr-grpo': {},
  rloo: {},
  'reinforce++': { gamma: 0.99 },
  'reinforce++-baseline': {},
  gae: { gamma: 1, lambda: 0.95 },
  'prime-rloo-paper': {},
  'prime-rloo-code': {},
  'repirl-loo': { cPrm: 0.05 },
};

function makeBatch(B: number, T: number, samplesPerPrompt: number): AdvantageReferenceInputs {
  const rng = new SeededRandom(2024);
  // Group ids: prompt p gets id 7919·p + 13, rows shuffled so that groups are not contiguous.
  const groups = Array.from({ length: B }, (_, b) => 7919 * Math.floor(b / samplesPerPrompt) + 13);
  for (let i = B - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [groups[i], groups[j]] = [groups[j]!, groups[i]!];
  }
  const mask = new Float64Array(B * T);
  const rewards = new Float64Array(B * T);
  const values = new Float64Array(B * T);
  const outcome = Array.from({ length: B }, () => (rng.next() < 0.4 ? 1 : 0));
  for (let b = 0; b < B; b++) {
    const len = rng.int(Math.ceil(T / 4), T);
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      mask[i] = t < len ? 1 : 0;
      rewards[i] = Math.fround(0.1 * rng.uniform(-1, 1)) + (t === len - 1 ? outcome[b]! : 0);
      values[i] = Math.fround(rng.uniform(-1, 1));
    }
  }
  return { rewards: { shape: [B, T], data: rewards }, mask: { shape: [B, T], data: mask }, groups, values: { shape: [B, T], data: values }, outcome };
}

export default async function advantagesBench(ctx: BenchContext): Promise<BenchCase[]> {
  const { rt, quick } = ctx;
  const [B, T] = quick ? [64, 128] : [512, 1024];
  const host = makeBatch(B, T, 4);
  const inputs: AdvantageInputs = {
    rewards: rt.upload(Float32Array.from(host.rewards.data), [B, T]),
    mask: rt.upload(Float32Array.from(host.mask.data), [B, T]),
    groups: rt.upload(Int32Array.from(host.groups!), [B], 'i32'),
    values: rt.upload(Float32Array.from(host.values!.data), [B, T]),
    outcome: rt.upload(Float32Array.from(host.outcome!), [B]),
  };
  const cases: BenchCase[] = ADVANTAGE_ESTIMATOR_NAMES.map((name, k) => ({
    name: `advantages ${name} ${B}x${T}`,
    params: { estimator: name, B, T, samplesPerPrompt: 4 },
    work: B * T,
    unit: 'Melem/s',
    ours: async () => {
      const result = computeAdvantages(rt, name, inputs, OPTIONS[name]);
      await rt.sync();
      result.advantages.dispose();
      result.returns?.dispose();
    },
    peers: {
      // The float64 reference: the same formulas as straightforward JS loops.
      js: () => advantagesReference(name, host, OPTIONS[name]),
    },
    extra: () => ({ peak_pool_bytes: rt.memory().peakBytes }),
    // The inputs are shared by all cases; the last case releases them.
    ...(k === ADVANTAGE_ESTIMATOR_NAMES.length - 1 ? { dispose: () => Object.values(inputs).forEach((a) => a?.dispose()) } : {}),
  }));
  return cases;
}
