// Shared pieces of the learner tests: a tiny policy SFT-ed briefly on the easiest arith-chain (one
// op, values < 10), its rollouts, and PRM step / response AUROC against the task's exact labels.
import { DecoderLM, type Backend } from '@repirl/autograd';
import { SftTrainer, TaskCodec, arithChain, rollout, sftExamplesFromProblems, type RolloutSample } from '@repirl/rl';
import { responseAuroc, stepAuroc } from '../src/eval/auroc.js';
import { scoreSamples, type ProcessRewardModel } from '../src/models/prm.js';

export const codec = new TaskCodec();
export const difficulty = { steps: 1, range: 10 };
export const verify = arithChain.verify.bind(arithChain);
export const decoder = { vocabSize: 259, dModel: 32, nLayers: 2, nHeads: 2, dFF: 64, maxSeqLen: 48 };

/** A policy SFT-ed for `steps` steps (seeded): right on some problems, wrong on others. */
export async function sftPolicy(backend: Backend, steps = 60): Promise<DecoderLM> {
  const policy = new DecoderLM(backend, decoder, { seed: 1 });
  const trainer = new SftTrainer({
    policy,
    examples: sftExamplesFromProblems(arithChain.generate(1, 2000, difficulty)),
    verify,
    config: { seed: 1, steps, batchSize: 32, optim: { lr: 3e-3 }, validation: { k: 0, beforeTraining: false } },
  });
  await trainer.run();
  trainer.dispose();
  return policy;
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
