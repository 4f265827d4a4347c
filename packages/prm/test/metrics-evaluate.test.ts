// evaluatePrm's issue-15 metrics end to end on host arrays: noisy arith-chain solutions (exact
// labels by construction) scored by label-reading PRMs on the float64 CPU backend — no policy, no GPU.
import { describe, expect, it } from 'vitest';
import { CpuBackend, tensor, type Backend, type Tensor } from '@repirl/autograd';
import { TaskCodec, arithChain, createRng, type PackedBatch, type Problem } from '@repirl/rl';
import { evaluatePrm, type EvalSet, type LabelledSample } from '../src/eval/evaluate.js';
import { stepEndTokens, type ProcessRewardModel } from '../src/models/prm.js';

const codec = new TaskCodec();
const task = arithChain;
const cpu = new CpuBackend();

function noisyEvalSet(problems: Problem[], m: number, errorRate: number, seed: number): EvalSet {
  const rng = createRng(seed);
  const samples: LabelledSample[] = [];
  problems.forEach((problem, pi) => {
    for (let j = 0; j < m; j++) {
      const { text } = task.noisySolution(problem, rng, errorRate);
      const verdict = task.verify(problem, text);
      const responseIds = codec.encodeResponse(text);
      samples.push({
        problem: pi, promptIds: codec.encodePrompt(problem.prompt), responseIds, response: codec.decodeResponse(responseIds),
        answer: verdict.parsedAnswer, correct: verdict.correct, labels: task.stepLabels(problem, text),
      });
    }
  });
  return { problems, samples, samplesPerProblem: m };
}

/** Puts `score(labels of the step, k)` on each step's end token of each response; 0 elsewhere. */
class StepFnPrm implements ProcessRewardModel {
  readonly kind = 'step-fn';
  constructor(readonly backend: Backend, private readonly problems: Problem[], private readonly score: (global: boolean, local: boolean, k: number, step: string) => number) {}
  tokenRewards(packed: PackedBatch): Tensor {
    const out = new Float64Array(packed.B * packed.T);
    for (let b = 0; b < packed.B; b++) {
      const row = Array.from(packed.ids.subarray(b * packed.L, b * packed.L + packed.seqLengths[b]!));
      const prompt = codec.decodeResponse(row.slice(0, packed.promptLengths[b]!));
      const responseIds = row.slice(packed.promptLengths[b]!);
      const problem = this.problems.find((p) => codec.decodeResponse(codec.encodePrompt(p.prompt)) === prompt)!;
      const l = task.stepLabels(problem, codec.decodeResponse(responseIds));
      stepEndTokens(responseIds, codec).forEach((t, k) => (out[b * packed.T + t] = this.score(l.global[k]!, l.local[k]!, k, l.steps[k]!)));
    }
    return tensor(this.backend, out, [packed.B, packed.T]);
  }
  trainableParameters(): Map<string, Tensor> {
    return new Map();
  }
  dispose(): void {}
}

describe('evaluatePrm: issue-15 metrics', () => {
  const problems = task.generate(3, 12, { steps: 4, range: 20 });
  const set = noisyEvalSet(problems, 16, 0.25, 5);
  const options = { codec, ns: [4, 16], subsets: 16, bootstrap: { resamples: 100 }, temperatures: [10, 1, 0.1] };

  it('an oracle: every step variant 1, baselines beside it, intervals around every metric, paired differences', async () => {
    const report = await evaluatePrm(new StepFnPrm(cpu, problems, (g) => (g ? 1 : -1)), set, options);
    const m = report.metrics;
    for (const v of ['step_auroc', 'step_auroc/sum', 'step_auroc/mean', 'step_auroc_no_answer/sum', 'step_auroc_position_controlled/sum', 'step_auroc_position_controlled/mean', 'step_auroc_pos1/sum']) {
      expect(m[`prm_eval/${v}`], v).toBe(1);
      expect(m[`prm_eval/${v}/lo`], v).toBe(1);
      expect(m[`prm_eval/${v}/hi`], v).toBe(1);
    }
    expect(m['prm_eval/step_auroc_local']).toBe(m['prm_eval/step_auroc_local/sum']);
    expect(m['prm_eval/step_auroc_local/sum']).toBeLessThan(1);
    // Baselines: position is informative pooled (errors carry forward), 0.5 within positions.
    expect(m['prm_eval/step_auroc/baseline-position']).toBeGreaterThan(0.55);
    expect(m['prm_eval/step_auroc_position_controlled/baseline-position']).toBe(0.5);
    expect(m['prm_eval/step_auroc/baseline-length']).toBeGreaterThanOrEqual(0.5);
    expect([1, -1]).toContain(m['prm_eval/baseline_length_sign']);
    expect(m['prm_eval/diff/step_auroc_position_controlled/sum-minus-baseline-position']).toBe(0.5);
    expect(m['prm_eval/diff/step_auroc_position_controlled/sum-minus-baseline-position/separated']).toBe(1);
    // Every metric with an interval: lo ≤ value ≤ hi (up to NaN).
    for (const key of Object.keys(report.intervals)) {
      const [v, lo, hi] = [m[key]!, m[`${key}/lo`]!, m[`${key}/hi`]!];
      if (Number.isNaN(v)) continue;
      expect(lo, key).toBeLessThanOrEqual(v + 1e-12);
      expect(hi, key).toBeGreaterThanOrEqual(v - 1e-12);
    }
    for (const key of ['prm_eval/policy_acc', 'prm_eval/first_error_f1', 'prm_eval/response_auroc/min', 'prm_eval/bo16/majority', 'prm_eval/bo16/weighted/official']) {
      expect(report.intervals[key], key).toBeDefined();
    }
    expect(m['prm_eval/samples/lo']).toBeUndefined();
    // Votes: both named forms, τ from the other half, and the kept names.
    for (const n of [4, 16]) {
      for (const k of ['min', 'majority', 'weighted', 'weighted/official', 'weighted/step-mean']) expect(m[`prm_eval/bo${n}/${k}`], `bo${n}/${k}`).toBeGreaterThanOrEqual(0);
      expect([10, 1, 0.1]).toContain(m[`prm_eval/bo${n}/weighted/step-mean/tau0`]);
      expect([10, 1, 0.1]).toContain(m[`prm_eval/bo${n}/weighted/official/tau1`]);
      const d = `prm_eval/diff/bo${n}/weighted-step-mean-minus-majority`;
      expect(m[d]).toBeCloseTo(m[`prm_eval/bo${n}/weighted/step-mean`]! - m[`prm_eval/bo${n}/majority`]!, 12);
      expect(m[`${d}/lo`]).toBeLessThanOrEqual(m[d]! + 1e-12);
    }
    expect(report.stepMeans).toHaveLength(set.samples.length);
    expect(report.read).toBeUndefined();
  });

  it('a position-only PRM: good pooled, 0.5 position-controlled, not separated from the position baseline', async () => {
    const report = await evaluatePrm(new StepFnPrm(cpu, problems, (_g, _l, k) => -k), set, options);
    const m = report.metrics;
    expect(m['prm_eval/step_auroc/sum']).toBeGreaterThan(0.55);
    expect(m['prm_eval/step_auroc/sum']).toBeCloseTo(m['prm_eval/step_auroc/baseline-position']!, 12);
    expect(m['prm_eval/step_auroc_position_controlled/sum']).toBe(0.5);
    expect(m['prm_eval/diff/step_auroc/sum-minus-baseline-position']).toBeCloseTo(0, 12);
    expect(m['prm_eval/diff/step_auroc/sum-minus-baseline-position/separated']).toBe(0);
  });

  it('an answer-line-only PRM: chance without the answer line', async () => {
    const report = await evaluatePrm(new StepFnPrm(cpu, problems, (g, _l, _k, step) => (step.startsWith('####') ? (g ? 1 : -1) : 0)), set, options);
    const m = report.metrics;
    expect(m['prm_eval/step_auroc/sum']).toBeGreaterThan(0.55);
    expect(m['prm_eval/step_auroc_no_answer/sum']).toBe(0.5);
    expect(m['prm_eval/step_auroc_no_answer/sum/lo']).toBe(0.5);
    expect(m['prm_eval/step_auroc_no_answer/sum/hi']).toBe(0.5);
  });

  it('is deterministic per seed, and bootstrap: false leaves the intervals out', async () => {
    const prm = new StepFnPrm(cpu, problems, (g, l, k) => (g ? 0.5 : 0) + (l ? 0.3 : 0) - 0.1 * k);
    const a = await evaluatePrm(prm, set, { ...options, seed: 3 });
    const b = await evaluatePrm(prm, set, { ...options, seed: 3 });
    expect(b.metrics).toEqual(a.metrics);
    const none = await evaluatePrm(prm, set, { ...options, seed: 3, bootstrap: false });
    expect(Object.keys(none.metrics).some((k) => k.endsWith('/lo'))).toBe(false);
    expect(none.metrics['prm_eval/step_auroc']).toBe(a.metrics['prm_eval/step_auroc']);
  });
});
