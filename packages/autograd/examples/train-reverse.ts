// Trains a tiny decoder to reverse 5 symbols, then samples from it with the KV cache.
// Run from packages/autograd: npx tsx --conditions=source examples/train-reverse.ts
import { getRuntime, SeededRandom } from '@repirl/kernels';
import { AdamW, DecoderLM, GpuBackend, backward, generate, languageModelLoss, targetMask, tensor, tidy, warmupCosine } from '../src/index.js';

const backend = new GpuBackend(await getRuntime());
const SEP = 8;
const rng = new SeededRandom(1);
const example = () => {
  const xs = Array.from({ length: 5 }, () => rng.int(0, 7));
  return [...xs, SEP, ...xs.slice().reverse()];
};

const model = new DecoderLM(backend, { vocabSize: 9, dModel: 64, nLayers: 2, nHeads: 4, dFF: 128, maxSeqLen: 16, mlp: 'gelu' }, { seed: 3 });
const steps = 300;
const opt = new AdamW(model.parameters(), { lr: warmupCosine({ peak: 3e-3, warmupSteps: 20, totalSteps: steps }), weightDecay: 0, maxGradNorm: 1 });
for (let step = 0; step < steps; step++) {
  const batch = Array.from({ length: 32 }, example);
  const loss = tidy(() => {
    const ids = tensor(backend, batch.flat(), [32, 11], { dtype: 'i32' });
    const l = languageModelLoss(model, ids, targetMask(model, new Array(32).fill(6), new Array(32).fill(11), 11));
    backward(l);
    return l;
  });
  if (step % 50 === 0) console.log(`step ${step}: loss ${(await loss.item()).toFixed(4)}`);
  loss.dispose();
  await opt.step();
}
const [out] = await generate(model, [[3, 1, 4, 1, 5, SEP]], { maxNewTokens: 5, greedy: true });
console.log('reverse of 3 1 4 1 5 →', out!.tokens.join(' '), `(log-probs ${out!.logprobs.map((l) => l.toFixed(3)).join(', ')})`);
