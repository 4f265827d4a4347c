// Training behaviour of the whole stack: a decoder learns a sequence task, and a training step
// leaks nothing (the pool's live bytes are the same after step 10 and step 50).
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime, SeededRandom, type Runtime } from '@repirl/kernels';
import { AdamW, DecoderLM, GpuBackend, backward, generate, languageModelLoss, targetMask, tensor, tidy, warmupCosine } from '../src/index.js';

let rt: Runtime;
let gpu: GpuBackend;
beforeAll(async () => {
  rt = await getRuntime();
  gpu = new GpuBackend(rt);
});

// Reverse task: "a b c d e SEP" → "e d c b a". Needs attention to the right positions.
const SYMBOLS = 8;
const SEP = SYMBOLS;
const LEN = 5;

function batch(rng: SeededRandom, n: number): number[][] {
  return Array.from({ length: n }, () => {
    const xs = Array.from({ length: LEN }, () => rng.int(0, SYMBOLS - 1));
    return [...xs, SEP, ...xs.slice().reverse()];
  });
}

function trainStep(model: DecoderLM, opt: AdamW, seqs: number[][]) {
  const T = seqs[0]!.length;
  tidy(() => {
    const ids = tensor(gpu, seqs.flat(), [seqs.length, T], { dtype: 'i32' });
    const mask = targetMask(model, seqs.map(() => LEN + 1), seqs.map(() => T), T);
    backward(languageModelLoss(model, ids, mask));
  });
  return opt.step();
}

describe('training', () => {
  it('a training step leaks nothing: live bytes are equal after step 10 and step 50', async () => {
    const model = new DecoderLM(gpu, { vocabSize: SYMBOLS + 1, dModel: 32, nLayers: 2, nHeads: 2, dFF: 64, maxSeqLen: 16 }, { seed: 1 });
    const opt = new AdamW(model.parameters(), { lr: 1e-3 });
    const rng = new SeededRandom(2);
    const live: number[] = [];
    for (let step = 1; step <= 50; step++) {
      await trainStep(model, opt, batch(rng, 8));
      if (step === 10 || step === 50) {
        await rt.sync();
        live.push(rt.memory().liveBytes);
      }
    }
    expect(live[1]).toBe(live[0]);
    opt.dispose();
    model.dispose();
  });

  it('learns to reverse a sequence: ≥ 95% exact match on held-out inputs', async () => {
    const model = new DecoderLM(gpu, { vocabSize: SYMBOLS + 1, dModel: 64, nLayers: 2, nHeads: 4, dFF: 128, maxSeqLen: 16, mlp: 'gelu' }, { seed: 3 });
    const steps = 400;
    const opt = new AdamW(model.parameters(), { lr: warmupCosine({ peak: 3e-3, warmupSteps: 20, totalSteps: steps }), weightDecay: 0, maxGradNorm: 1 });
    const rng = new SeededRandom(4);
    for (let step = 0; step < steps; step++) await trainStep(model, opt, batch(rng, 32));
    const heldOut = batch(new SeededRandom(999), 64);
    const outs = await generate(model, heldOut.map((s) => s.slice(0, LEN + 1)), { maxNewTokens: LEN, greedy: true });
    const exact = outs.filter((o, i) => o.tokens.join(',') === heldOut[i]!.slice(LEN + 1).join(',')).length / heldOut.length;
    console.log(`reverse task: held-out exact match ${(exact * 100).toFixed(1)}% after ${steps} steps`);
    expect(exact).toBeGreaterThanOrEqual(0.95);
    opt.dispose();
    model.dispose();
  });
});
