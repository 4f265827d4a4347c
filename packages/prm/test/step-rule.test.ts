// The step rule of the codec (issue 14) reaches every PRM: step-end tokens, step-head rewards,
// Math-Shepherd's step prefixes; and evaluatePrm on samples without exact step labels (problems
// from a file) computes the outcome metrics only.
import { describe, expect, it } from 'vitest';
import { CpuBackend, tensor, type Backend, type Tensor } from '@repirl/autograd';
import { TaskCodec, makeStepLabels, parseStepRule, segmentSteps, stepEnds, type PackedBatch } from '@repirl/rl';
import { evaluatePrm, type EvalSet } from '../src/eval/evaluate.js';
import { stepPrefixes } from '../src/learners/shepherd.js';
import { stepEndTokens, type ProcessRewardModel } from '../src/models/prm.js';

const text = 'Step 1: 3 + 4 = 7\nso seven.\n\nStep 2: 7 × 2 = 14 é\n\n#### 14\n';

describe('stepEndTokens under the codec\'s step rule', () => {
  it('lines (default), paragraphs, step markers and a regex: the byte offsets of stepEnds, one per segmented step', () => {
    for (const spelling of ['lines', 'paragraphs', 'step-markers', '/\\n(?=Step)/']) {
      const rule = parseStepRule(spelling);
      const codec = new TaskCodec({ stepRule: rule });
      const ids = codec.tokenizer.encode(text);
      const ends = stepEndTokens(ids, codec);
      expect(ends).toEqual(stepEnds(text, 'byte', rule));
      expect(ends).toHaveLength(segmentSteps(text, rule).length);
    }
    expect(stepEndTokens(new TaskCodec().tokenizer.encode(text), new TaskCodec({ stepRule: 'paragraphs' }))).toHaveLength(3);
  });

  it('maps character ends to tokens when the bytes are not valid UTF-8 (the decoded text is not the bytes)', () => {
    const codec = new TaskCodec({ stepRule: 'paragraphs' });
    const ids = [...codec.tokenizer.encode('a\n\n'), 0xff, ...codec.tokenizer.encode('b\n\nc')];
    const ends = stepEndTokens(ids, codec);
    expect(ends).toHaveLength(3);
    expect(ends[0]).toBe(1); // the first '\n' after "a"
    expect(ends.at(-1)).toBe(ids.length - 1);
  });

  it('Math-Shepherd completes from the prefix of each step of the rule', () => {
    expect(stepPrefixes(text)).toHaveLength(4);
    const paragraphs = stepPrefixes(text, 'paragraphs');
    expect(paragraphs).toEqual(['Step 1: 3 + 4 = 7\nso seven.\n', 'Step 1: 3 + 4 = 7\nso seven.\n\nStep 2: 7 × 2 = 14 é\n', text]);
  });
});

/** A reward of +1 on every token of a correct response, -1 otherwise (read from the text's answer). */
class OutcomePrm implements ProcessRewardModel {
  readonly kind = 'outcome-fn';
  constructor(readonly backend: Backend, private readonly codec: TaskCodec) {}
  tokenRewards(packed: PackedBatch): Tensor {
    const out = new Float64Array(packed.B * packed.T);
    for (let b = 0; b < packed.B; b++) {
      const n = packed.responseLengths[b]!;
      const response = this.codec.decodeResponse(Array.from(packed.targets.subarray(b * packed.T, b * packed.T + n)));
      for (let t = 0; t < n; t++) out[b * packed.T + t] = response.includes('#### 7') ? 1 : -1;
    }
    return tensor(this.backend, out, [packed.B, packed.T]);
  }
  trainableParameters(): Map<string, Tensor> {
    return new Map();
  }
  dispose(): void {}
}

describe('evaluatePrm without step labels', () => {
  it('gives policy accuracy, response AUROC and best-of-N, and no step metric', async () => {
    const codec = new TaskCodec({ stepRule: 'paragraphs' });
    const problems = [{ id: 'a', prompt: 'What is 3 + 4?', answer: '7' }, { id: 'b', prompt: 'What is 2 + 5?', answer: '7' }];
    const responses = ['3 + 4\n\n#### 7\n', '3 + 4\n\n#### 8\n', 'so\n\n#### 7\n', '#### 9\n'];
    const set: EvalSet = {
      problems,
      samplesPerProblem: 4,
      samples: problems.flatMap((p, pi) => responses.map((response) => {
        const responseIds = codec.tokenizer.encode(response);
        const answer = /#### (\d+)/.exec(response)![1]!;
        return { problem: pi, promptIds: codec.encodePrompt(p.prompt), responseIds, response, answer, correct: answer === '7', labels: null };
      })),
    };
    const report = await evaluatePrm(new OutcomePrm(new CpuBackend(), codec), set, { codec, ns: [2, 4], subsets: 16, bootstrap: { resamples: 20 } });
    const m = report.metrics;
    expect(m['prm_eval/policy_acc']).toBe(0.5);
    expect(m['prm_eval/response_auroc/min']).toBe(1);
    expect(m['prm_eval/bo4/min']).toBe(1);
    expect(m['prm_eval/bo4/majority']).toBeGreaterThanOrEqual(0);
    expect(Object.keys(m).filter((k) => k.includes('step_auroc') || k.includes('first_error') || k.includes('baseline'))).toEqual([]);
    expect(report.stepScores[0]).toHaveLength(2); // paragraphs: "3 + 4" and "#### 7"
    const mixed = { ...set, samples: set.samples.map((s, i) => (i === 0 ? { ...s, labels: makeStepLabels(['3 + 4', '#### 7'], [true, true], [true, true]) } : s)) };
    await expect(evaluatePrm(new OutcomePrm(new CpuBackend(), codec), mixed, { codec, bootstrap: false })).rejects.toThrow(/some samples have step labels and some have none/);
  });
});
