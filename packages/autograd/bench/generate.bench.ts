// Generation throughput with and without the KV cache: a byte-vocabulary decoder (d = 128, 4
// layers, 4 heads, V = 259) sampling 128 new tokens for a batch of 8 prompts of 16 tokens. Without
// the cache every step recomputes the whole prefix (and reads the sampled ids back to build the
// next input); with it each step runs the model on one token per sequence.
//
//   npx tsx --conditions=source packages/autograd/bench/generate.bench.ts [--tokens 128] [--repeats 2]
//
// Prints tokens/s (generated tokens of the whole batch per second, wall time including the final
// read-back) for both paths and their ratio. One untimed warm-up run per path compiles the pipelines.
import { getRuntime } from '@repirl/kernels';
import { GpuBackend } from '../src/backends/gpu.js';
import { ByteTokenizer } from '../src/tokenizer/byte.js';
import { DecoderLM } from '../src/nn/index.js';
import { generate } from '../src/generate/index.js';

export interface GenerateBenchResult {
  newTokens: number;
  batch: number;
  cachedTokensPerSecond: number;
  uncachedTokensPerSecond: number;
  speedup: number;
}

export async function benchGenerate(options: { newTokens?: number; batch?: number; promptLength?: number; repeats?: number } = {}): Promise<GenerateBenchResult> {
  const newTokens = options.newTokens ?? 128;
  const batch = options.batch ?? 8;
  const promptLength = options.promptLength ?? 16;
  const repeats = options.repeats ?? 2;
  const backend = new GpuBackend(await getRuntime());
  const tokenizer = new ByteTokenizer();
  const model = new DecoderLM(
    backend,
    { vocabSize: tokenizer.vocabSize, dModel: 128, nLayers: 4, nHeads: 4, dFF: 512, maxSeqLen: promptLength + newTokens, norm: 'rms', mlp: 'swiglu' },
    { seed: 1 },
  );
  const prompts = Array.from({ length: batch }, (_, b) => tokenizer.encode(`prompt ${b}: `.padEnd(promptLength, '.')).slice(0, promptLength));

  const tokensPerSecond = async (cache: boolean) => {
    await generate(model, prompts, { maxNewTokens: Math.min(newTokens, 4), seed: 0, cache }); // compile pipelines
    let best = Infinity;
    for (let r = 0; r < repeats; r++) {
      const start = performance.now();
      const out = await generate(model, prompts, { maxNewTokens: newTokens, seed: r, cache });
      const seconds = (performance.now() - start) / 1000;
      if (out.some((s) => s.tokens.length !== newTokens)) throw new Error('benchmark: a sequence stopped early');
      best = Math.min(best, seconds);
    }
    return (batch * newTokens) / best;
  };
  const cached = await tokensPerSecond(true);
  const uncached = await tokensPerSecond(false);
  model.dispose();
  return { newTokens, batch, cachedTokensPerSecond: cached, uncachedTokensPerSecond: uncached, speedup: cached / uncached };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const r = await benchGenerate({ newTokens: arg('tokens'), batch: arg('batch'), repeats: arg('repeats') });
  console.log(`generation, d=128 L=4 H=4 V=259, batch ${r.batch}, ${r.newTokens} new tokens (best of runs, wall time)`);
  console.log(`  with KV cache:    ${r.cachedTokensPerSecond.toFixed(1)} tokens/s`);
  console.log(`  without KV cache: ${r.uncachedTokensPerSecond.toFixed(1)} tokens/s`);
  console.log(`  speedup:          ${r.speedup.toFixed(2)}×`);
}
