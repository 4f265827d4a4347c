// SFT a tiny byte-level policy on the arithmetic chain, then a few GRPO steps, printing held-out
// greedy accuracy before and after each. Run from packages/rl:
//   npx tsx --conditions=source examples/sft-then-grpo.ts
import { getRuntime } from '@repirl/kernels';
import { DecoderLM, GpuBackend } from '@repirl/autograd';
import { RlTrainer, SftTrainer, TaskCodec, arithChain, evaluatePolicy, sftExamplesFromProblems } from '../src/index.js';

const gpu = new GpuBackend(await getRuntime());
const difficulty = { steps: 1, range: 10 };
const codec = new TaskCodec();
const verify = arithChain.verify.bind(arithChain);
const heldOut = arithChain.generate(1000, 64, difficulty);
const accuracy = async (policy: DecoderLM) => (await evaluatePolicy(policy, heldOut, { maxNewTokens: 12, codec, verify })).metrics['val/acc']!;

const policy = new DecoderLM(gpu, { vocabSize: 259, dModel: 64, nLayers: 2, nHeads: 4, dFF: 128, maxSeqLen: 48 }, { seed: 1 });
const sft = new SftTrainer({
  policy,
  examples: sftExamplesFromProblems(arithChain.generate(1, 2000, difficulty), { task: arithChain, errorRate: 0.3, seed: 2 }),
  verify,
  config: { seed: 1, steps: 100, batchSize: 32, optim: { lr: 3e-3 } },
});
await sft.run();
sft.dispose();
console.log(`after SFT on noisy solutions: held-out greedy accuracy ${(await accuracy(policy)).toFixed(3)}`);

const grpo = await RlTrainer.create({
  policy,
  train: arithChain.generate(3, 64, difficulty),
  verify,
  codec,
  config: { algorithm: 'grpo', seed: 3, steps: 12, rollout: { promptsPerStep: 16, k: 8, maxNewTokens: 12 }, actor: { lr: 1e-3, ppoEpochs: 2, miniBatches: 2 } },
  onEvent: (e) => {
    if (e.type === 'metrics') console.log(`GRPO step ${e.record.step}: mean reward ${Number(e.record['critic/score/mean']).toFixed(3)}`);
  },
});
await grpo.run();
grpo.dispose();
console.log(`after GRPO: held-out greedy accuracy ${(await accuracy(policy)).toFixed(3)}`);
