// ProcessBench's metrics against values computed by hand on a small hand-written file, and the
// evaluation of a real (tiny, untrained) PRM: predictions are the first step below the threshold
// of its own step scores, a calibrated threshold is the F1-best one of the validation set, and
// samples past the context are counted, not scored.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecoderLM, GpuBackend } from '@repirl/autograd';
import { getRuntime } from '@repirl/kernels';
import { TaskCodec } from '@repirl/rl';
import {
  OutcomeHeadPrm, bestThreshold, encodeSteps, evaluateProcessBench, loadProcessBench, predictFirstError, processBenchMetrics, processBenchText, scoreSamples,
  type ProcessBenchSample,
} from '../src/index.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prm-processbench-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// A hand-written file of two subsets (a `subset` column), and step scores as a PRM might give them.
const RECORDS = [
  { id: 'a', subset: 'gsm8k', problem: 'What is 2 + 3 * 4?', steps: ['3 * 4 = 12', '2 + 12 = 15', 'So 15'], label: 1 },
  { id: 'b', subset: 'gsm8k', problem: 'What is 2 + 3 * 4?', steps: ['2 + 3 = 5', 'So 20'], label: 0 },
  { id: 'c', subset: 'gsm8k', problem: 'What is 9 - 4?', steps: ['9 - 4 = 5', 'So 5'], label: -1 },
  { id: 'd', subset: 'gsm8k', problem: 'What is 7 + 1?', steps: ['7 + 1 = 8', 'So 8'], label: -1 },
  { id: 'e', subset: 'math', problem: 'Solve x + 1 = 3.', steps: ['x = 3 - 1', 'x = 2', 'So x = 3'], label: 2 },
  { id: 'f', subset: 'math', problem: 'Solve 2x = 4.', steps: ['x = 2'], label: -1 },
  { id: 'g', subset: 'math', problem: 'Solve x - 1 = 0.', steps: ['x = 1', 'So 1'], label: -1 },
];
const SCORES: Record<string, number[]> = {
  a: [0.9, 0.3, 0.8], // first below 0.5: step 1 = label → right
  b: [0.6, 0.2], //       step 1 ≠ 0 → wrong
  c: [0.7, 0.9], //       none → right
  d: [0.8, 0.4], //       step 1, but all correct → wrong
  e: [0.9, 0.8, 0.1], //  step 2 → right
  f: [0.95], //           none → right
  g: [0.6, 0.55], //      none → right
};

async function handFile(): Promise<ProcessBenchSample[]> {
  const path = join(dir, 'hand.jsonl');
  await writeFile(path, RECORDS.map((r) => JSON.stringify(r)).join('\n'));
  return loadProcessBench(path);
}

describe('ProcessBench metrics', () => {
  it('equal the hand-computed accuracies and F1 per subset, and their average', async () => {
    const samples = await handFile();
    const scored = samples.map((x) => ({ ...x, stepScores: SCORES[x.id]! }));
    // Threshold 0.5: gsm8k error 1/2, correct 1/2, F1 1/2; math error 1/1, correct 2/2, F1 1; average 3/4.
    const r = processBenchMetrics(scored, 0.5, { resamples: 200 });
    expect(r.subsets.gsm8k).toMatchObject({ samples: 4, erroneous: 2, correct: 2 });
    expect([r.subsets.gsm8k!.errorAccuracy.value, r.subsets.gsm8k!.correctAccuracy.value, r.subsets.gsm8k!.f1.value]).toEqual([0.5, 0.5, 0.5]);
    expect([r.subsets.math!.errorAccuracy.value, r.subsets.math!.correctAccuracy.value, r.subsets.math!.f1.value]).toEqual([1, 1, 1]);
    expect(r.averageF1.value).toBe(0.75);
    expect(r.predictions.map((p) => p.prediction)).toEqual([1, 1, -1, 1, 2, -1, -1]);
    expect(r.metrics).toMatchObject({ 'processbench/gsm8k/f1': 0.5, 'processbench/math/f1': 1, 'processbench/avg_f1': 0.75, 'processbench/threshold': 0.5, 'processbench/samples': 7 });
    // Threshold 0.65: gsm8k error 2/2, correct 1/2, F1 2/3; math error 1/1, correct 1/2 (g: 0.6 < 0.65), F1 2/3.
    const r2 = processBenchMetrics(scored, 0.65, { resamples: 200 });
    expect(r2.subsets.gsm8k!.errorAccuracy.value).toBe(1);
    expect(r2.subsets.gsm8k!.correctAccuracy.value).toBe(0.5);
    expect(r2.subsets.gsm8k!.f1.value).toBeCloseTo(2 / 3, 12);
    expect(r2.subsets.math!.correctAccuracy.value).toBe(0.5);
    expect(r2.averageF1.value).toBeCloseTo(2 / 3, 12);
    expect(processBenchText(r)).toMatch(/gsm8k \(2 erroneous, 2 correct\): error acc 50\.0 \[[\d.]+, [\d.]+\], correct acc 50\.0 .*F1 50\.0[\s\S]*average F1 75\.0 \[/);
  });

  it('bootstraps over problems within each subset: intervals hold the value and are seeded', async () => {
    const samples = await handFile();
    const scored = samples.map((x) => ({ ...x, stepScores: SCORES[x.id]! }));
    const r = processBenchMetrics(scored, 0.5, { resamples: 400, seed: 3 });
    for (const s of Object.values(r.subsets)) {
      for (const iv of [s.errorAccuracy, s.correctAccuracy, s.f1]) {
        expect(iv.lo).toBeLessThanOrEqual(iv.value);
        expect(iv.hi).toBeGreaterThanOrEqual(iv.value);
        expect(iv.defined).toBeGreaterThan(0);
      }
    }
    // math: every resample where both classes appear gets F1 = 1 (every prediction is right).
    expect([r.subsets.math!.f1.lo, r.subsets.math!.f1.hi]).toEqual([1, 1]);
    // gsm8k has 3 problems (a and b share one): a resample of problems {a+b} alone has no correct sample (F1 undefined).
    expect(r.subsets.gsm8k!.f1.defined).toBeLessThan(400);
    expect(r.subsets.gsm8k!.f1.lo).toBeLessThan(r.subsets.gsm8k!.f1.hi);
    expect(processBenchMetrics(scored, 0.5, { resamples: 400, seed: 3 }).metrics).toEqual(r.metrics);
    // A subset without correct samples has undefined correct accuracy and F1 (NaN), as in the paper's formula.
    const onlyErrors = processBenchMetrics(scored.filter((x) => x.label >= 0), 0.5, { resamples: 50 });
    expect(onlyErrors.subsets.gsm8k!.correctAccuracy.value).toBeNaN();
    expect(onlyErrors.subsets.gsm8k!.f1.value).toBeNaN();
  });
});

describe('evaluateProcessBench with a PRM', () => {
  it('predicts the first step below the threshold of its own step scores, calibrates on a validation set, counts samples past the context', async () => {
    const gpu = new GpuBackend(await getRuntime());
    const policy = new DecoderLM(gpu, { vocabSize: 259, dModel: 16, nLayers: 1, nHeads: 2, dFF: 32, maxSeqLen: 64 }, { seed: 4 });
    const prm = OutcomeHeadPrm.fromPolicy(policy, { read: 'step-ends', seed: 5 });
    const codec = new TaskCodec();
    try {
      const samples = await handFile();
      const long: ProcessBenchSample = { id: 'long', subset: 'math', problem: 'Long?', steps: ['x'.repeat(80)], label: -1 };
      const report = await evaluateProcessBench(prm, [...samples, long], { codec, resamples: 100 });
      expect(report.tooLong).toBe(1);
      expect(report.metrics['processbench/too_long']).toBe(1);
      expect(report.threshold).toBe(0.5);
      const scored = await scoreSamples(prm, samples.map((x) => encodeSteps(x.problem, x.steps, codec, 64)!), codec);
      scored.forEach((x, i) => {
        expect(x.steps).toHaveLength(samples[i]!.steps.length);
        x.steps.forEach((p) => expect(p > 0 && p < 1).toBe(true)); // σ(logit): a probability per step
      });
      expect(report.predictions.map((p) => p.prediction)).toEqual(scored.map((x) => predictFirstError(x.steps, 0.5)));
      const calibrated = await evaluateProcessBench(prm, samples, { codec, resamples: 100, calibration: samples });
      const best = bestThreshold(scored.map((x, i) => ({ stepScores: x.steps, firstError: samples[i]!.label })));
      expect(calibrated.thresholdSource).toBe('calibrated');
      expect(calibrated.threshold).toBe(best.threshold);
      // Calibrated on the same samples, the pooled F1 there is the best one; per subset the hits must add up to it.
      const pooled = processBenchMetrics(calibrated.predictions.map((p, i) => ({ ...p, problem: samples[i]!.problem, subset: 'all' })), best.threshold, { resamples: 10 });
      expect(pooled.subsets.all!.f1.value).toBeCloseTo(best.f1, 12);
    } finally {
      prm.dispose();
      policy.dispose();
    }
  });
});
