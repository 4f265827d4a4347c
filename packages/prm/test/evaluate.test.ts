// prm eval on eval sets whose labels are known: an oracle PRM (scores each step by its exact
// global label) must get step AUROC 1, first-error F1 1 and best-of-N at least majority vote; a
// PRM that scores the opposite way gets AUROC 0; one that ignores the steps gets 0.5. The samples
// are noisy expert solutions (exact labels by construction), so no policy has to be trained here;
// sampleEvalSet is checked on a random tiny policy for label/score alignment.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { CpuBackend, DecoderLM, GpuBackend, tensor, type Backend, type Tensor } from '@repirl/autograd';
import { TaskCodec, arithChain, createRng, type PackedBatch, type Problem } from '@repirl/rl';
import { evaluatePrm, sampleEvalSet, type EvalSet, type LabelledSample } from '../src/eval/evaluate.js';
import { stepEndTokens, type ProcessRewardModel } from '../src/models/prm.js';

const codec = new TaskCodec();
const task = arithChain;
const cpu = new CpuBackend();

/** M noisy solutions per problem, with their exact labels. */
function noisyEvalSet(problems: Problem[], m: number, errorRate: number, seed: number): EvalSet {
  const rng = createRng(seed);
  const samples: LabelledSample[] = [];
  problems.forEach((problem, pi) => {
    for (let j = 0; j < m; j++) {
      const { text } = task.noisySolution(problem, rng, errorRate);
      const verdict = task.verify(problem, text);
      samples.push({
        problem: pi,
        promptIds: codec.encodePrompt(problem.prompt),
        responseIds: codec.encodeResponse(text),
        response: codec.decodeResponse(codec.encodeResponse(text)),
        answer: verdict.parsedAnswer,
        correct: verdict.correct,
        labels: task.stepLabels(problem, text),
      });
    }
  });
  return { problems, samples, samplesPerProblem: m };
}

/** A PRM that reads the exact labels: +sign at the end of a correct step, −sign at a wrong one. */
class LabelPrm implements ProcessRewardModel {
  readonly kind = 'label-oracle';
  constructor(readonly backend: Backend, private readonly problems: Problem[], private readonly sign: number) {}
  tokenRewards(packed: PackedBatch): Tensor {
    const out = new Float64Array(packed.B * packed.T);
    for (let b = 0; b < packed.B; b++) {
      const row = Array.from(packed.ids.subarray(b * packed.L, b * packed.L + packed.seqLengths[b]!));
      const prompt = codec.decodeResponse(row.slice(0, packed.promptLengths[b]!));
      const responseIds = row.slice(packed.promptLengths[b]!);
      const problem = this.problems.find((p) => codec.decodeResponse(codec.encodePrompt(p.prompt)) === prompt)!;
      const labels = task.stepLabels(problem, codec.decodeResponse(responseIds));
      stepEndTokens(responseIds, codec).forEach((t, k) => (out[b * packed.T + t] = this.sign * (labels.global[k] ? 1 : -1)));
    }
    return tensor(this.backend, out, [packed.B, packed.T]);
  }
  trainableParameters(): Map<string, Tensor> {
    return new Map();
  }
  dispose(): void {}
}

/** A PRM that gives every step the same score (2, at its end token). */
class ConstantPrm extends LabelPrm {
  override tokenRewards(packed: PackedBatch): Tensor {
    const out = new Float64Array(packed.B * packed.T);
    for (let b = 0; b < packed.B; b++) {
      const start = b * packed.L + packed.promptLengths[b]!;
      const responseIds = Array.from(packed.ids.subarray(start, start + packed.responseLengths[b]!));
      for (const t of stepEndTokens(responseIds, codec)) out[b * packed.T + t] = 2;
    }
    return tensor(this.backend, out, [packed.B, packed.T]);
  }
}

describe('evaluatePrm', () => {
  const problems = task.generate(3, 12, { steps: 4, range: 20 });
  const set = noisyEvalSet(problems, 16, 0.25, 5);

  it('an oracle PRM scores AUROC 1, first-error F1 1, and best-of-N ≥ majority', async () => {
    const { metrics } = await evaluatePrm(new LabelPrm(cpu, problems, 1), set, { codec, ns: [4, 16], subsets: 64 });
    expect(metrics['prm_eval/policy_acc']).toBeGreaterThan(0.1);
    expect(metrics['prm_eval/policy_acc']).toBeLessThan(0.9);
    expect(metrics['prm_eval/step_auroc']).toBe(1);
    expect(metrics['prm_eval/first_error_f1_oracle']).toBe(1);
    expect(metrics['prm_eval/first_error_f1']).toBe(1);
    // min over ±1 step scores is +1 exactly for the all-correct solutions: best-of-16 nearly always finds one.
    expect(metrics['prm_eval/bo16/min']).toBeGreaterThan(0.95);
    expect(metrics['prm_eval/bo16/min']).toBeGreaterThanOrEqual(metrics['prm_eval/bo16/majority']!);
    expect(metrics['prm_eval/bo4/min']).toBeLessThanOrEqual(metrics['prm_eval/bo16/min']! + 1e-9);
    // The answer line's global label is the outcome, so 'last' ranks responses perfectly; 'min' need
    // not (two slips can cancel into a right answer with wrong steps).
    expect(metrics['prm_eval/response_auroc/last']).toBe(1);
    expect(metrics['prm_eval/response_auroc/min']).toBeGreaterThan(0.8);
  });

  it('a reversed PRM scores AUROC 0, and a constant one 0.5', async () => {
    const reversed = await evaluatePrm(new LabelPrm(cpu, problems, -1), set, { codec, ns: [4], subsets: 32 });
    expect(reversed.metrics['prm_eval/step_auroc']).toBe(0);
    expect(reversed.metrics['prm_eval/bo4/min']).toBeLessThan(reversed.metrics['prm_eval/bo4/majority']!);
    const constant = await evaluatePrm(new ConstantPrm(cpu, problems, 1), set, { codec, ns: [4], subsets: 32 });
    expect(constant.metrics['prm_eval/step_auroc']).toBeCloseTo(0.5, 10);
    // σ-product is used once scores leave [0, 1].
    expect(constant.product).toBe('product-sigmoid');
  });
});

describe('sampleEvalSet', () => {
  let gpu: GpuBackend;
  beforeAll(async () => {
    gpu = new GpuBackend(await getRuntime());
  });

  it('labels every sampled step and scores align with the labels', async () => {
    const problems = task.generate(4, 3, { steps: 2, range: 10 });
    const policy = new DecoderLM(gpu, { vocabSize: codec.tokenizer.vocabSize, dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, maxSeqLen: 64 }, { seed: 3 });
    const set = await sampleEvalSet(policy, problems, { task, codec, samplesPerProblem: 4, maxNewTokens: 16, seed: 1 });
    expect(set.samples).toHaveLength(12);
    expect(set.samples.map((s) => s.problem)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    for (const s of set.samples) {
      expect(s.labels!.steps.length).toBe(stepEndTokens(s.responseIds, codec).length);
      expect(s.correct).toBe(task.verify(problems[s.problem]!, s.response).correct);
    }
    const again = await sampleEvalSet(policy, problems, { task, codec, samplesPerProblem: 4, maxNewTokens: 16, seed: 1 });
    expect(again.samples.map((s) => s.response)).toEqual(set.samples.map((s) => s.response));
    policy.dispose();
  });
});
