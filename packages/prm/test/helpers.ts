// Shared pieces of the learner tests: the starting policy — a tiny byte-level decoder SFT-ed briefly
// on the easiest arith-chain (one op, values < 10), optionally on solutions with slipped steps, so
// its samples at temperature 1 mix right and wrong steps —, its rollouts, a held-out eval set with
// exact step labels, and PRM step / response AUROC against the task's labels. Seeded throughout.
import { DecoderLM, GpuBackend, type Backend } from '@repirl/autograd';
import { getRuntime } from '@repirl/kernels';
import { SftTrainer, TaskCodec, arithChain, rollout, sftExamplesFromProblems, type RolloutSample } from '@repirl/rl';
import { responseAuroc, stepAuroc } from '../src/eval/auroc.js';
import { sampleEvalSet, type EvalSet } from '../src/eval/evaluate.js';
import { scoreSamples, type ProcessRewardModel } from '../src/models/prm.js';

export const codec = new TaskCodec();
export const difficulty = { steps: 1, range: 10 };
export const verify = arithChain.verify.bind(arithChain);
export const decoder = { vocabSize: 259, dModel: 32, nLayers: 2, nHeads: 2, dFF: 64, maxSeqLen: 48 };
export const maxNewTokens = 12;

/** The learner tests' larger starting policy: d = 48 after 200 steps on solutions with 20% slipped steps. */
export const SLIPPY_POLICY = { steps: 200, dModel: 48, dFF: 96, errorRate: 0.2 } as const;

/** The SLIPPY_POLICY on the GPU backend and its held-out eval set (heldOutSamples). */
export async function slippyFixture(): Promise<{ policy: DecoderLM; evalSet: EvalSet }> {
  const policy = await sftPolicy(new GpuBackend(await getRuntime()), SLIPPY_POLICY.steps, SLIPPY_POLICY);
  return { policy, evalSet: await heldOutSamples(policy) };
}

/**
 * A policy SFT-ed for `steps` steps (seeded): right on some problems, wrong on others. `errorRate`
 * > 0 trains on the task's noisy solutions (slips the sampled policy then repeats).
 */
export async function sftPolicy(backend: Backend, steps = 60, options: { dModel?: number; dFF?: number; errorRate?: number } = {}): Promise<DecoderLM> {
  const policy = new DecoderLM(backend, { ...decoder, dModel: options.dModel ?? decoder.dModel, dFF: options.dFF ?? decoder.dFF }, { seed: 1 });
  const errorRate = options.errorRate ?? 0;
  const trainer = new SftTrainer({
    policy,
    examples: sftExamplesFromProblems(arithChain.generate(1, 2000, difficulty), errorRate > 0 ? { task: arithChain, errorRate, seed: 1 } : {}),
    verify,
    config: { seed: 1, steps, batchSize: 32, optim: { lr: 3e-3, warmupSteps: 10, minLrRatio: 0.1 }, validation: { k: 0, beforeTraining: false } },
  });
  await trainer.run();
  trainer.dispose();
  return policy;
}

/** Held-out samples of `policy` (problems of seed 7, disjoint from training) with exact step labels. */
export function heldOutSamples(policy: DecoderLM, problems = 16, samplesPerProblem = 8): Promise<EvalSet> {
  return sampleEvalSet(policy, arithChain.generate(7, problems, difficulty), { task: arithChain, codec, samplesPerProblem, maxNewTokens, seed: 11 });
}

/** k samples per problem at temperature 1. */
export async function samplePolicy(policy: DecoderLM, seed: number, prompts: number, k: number): Promise<RolloutSample[]> {
  const problems = arithChain.generate(seed, prompts, difficulty);
  return (await rollout(policy, problems, { k, maxNewTokens: 12, seed, codec, verify })).samples;
}

/** Step AUROC (global step labels) and response AUROC (summed step scores vs correctness) of a PRM on samples. */
export async function prmAuroc(prm: ProcessRewardModel, samples: readonly RolloutSample[]): Promise<{ step: number; response: number }> {
  const scored = await scoreSamples(prm, samples, codec);
  const steps = samples.map((s, i) => {
    const labels = arithChain.stepLabels(s.problem, s.response).global;
    const scores = scored[i]!.steps;
    // A response cut off mid-line may have one more token span than labelled steps: pool the labelled ones.
    const n = Math.min(labels.length, scores.length);
    return { stepScores: scores.slice(0, n), stepLabels: labels.slice(0, n) };
  });
  const response = responseAuroc(samples.map((s, i) => ({ score: scored[i]!.steps.reduce((a, b) => a + b, 0), correct: s.verdict.correct })));
  return { step: stepAuroc(steps).value, response: response.value };
}
