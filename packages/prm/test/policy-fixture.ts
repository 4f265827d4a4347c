// The starting policy of the learner tests: a tiny byte-level decoder (d = 48, 2 layers) SFT'd on
// the easiest arith-chain (one op, values < 10) with 20% slipped steps, so that its samples at
// temperature 1 are a mix of right and wrong steps (a PRM has something to separate), and the
// held-out eval set of its samples with exact step labels. Seeded: the same weights every run.
import { DecoderLM, GpuBackend } from '@repirl/autograd';
import { getRuntime } from '@repirl/kernels';
import { SftTrainer, TaskCodec, arithChain, sftExamplesFromProblems } from '@repirl/rl';
import { sampleEvalSet, type EvalSet } from '../src/index.js';

export const difficulty = { steps: 1, range: 10 };
export const codec = new TaskCodec();
export const verify = arithChain.verify.bind(arithChain);
export const decoder = { vocabSize: 259, dModel: 48, nLayers: 2, nHeads: 2, dFF: 96, maxSeqLen: 48 };
export const maxNewTokens = 12;

export async function sftPolicy(): Promise<{ gpu: GpuBackend; policy: DecoderLM }> {
  const gpu = new GpuBackend(await getRuntime());
  const policy = new DecoderLM(gpu, decoder, { seed: 1 });
  const examples = sftExamplesFromProblems(arithChain.generate(1, 2000, difficulty), { task: arithChain, errorRate: 0.2, seed: 1 });
  const trainer = new SftTrainer({ policy, examples, config: { seed: 1, steps: 200, batchSize: 32, optim: { lr: 3e-3 }, validation: { k: 0, beforeTraining: false } } });
  await trainer.run();
  trainer.dispose();
  return { gpu, policy };
}

/** Held-out samples of `policy` (problems of seed 7, disjoint from training) with exact step labels. */
export function heldOutSamples(policy: DecoderLM, problems = 16, samplesPerProblem = 8): Promise<EvalSet> {
  return sampleEvalSet(policy, arithChain.generate(7, problems, difficulty), { task: arithChain, codec, samplesPerProblem, maxNewTokens, seed: 11 });
}
