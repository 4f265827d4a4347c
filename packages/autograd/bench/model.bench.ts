// Whole-model throughput: training tokens/s of the reference tiny config (d = 128, 4 layers,
// 4 heads, T = 128, byte vocabulary) against the same step on the float64 CPU reference backend,
// and generation tokens/s with the KV cache against recomputing the prefix every step; both also
// against PyTorch on the same CPU, 1 thread (scripts/bench/torch-decoder.py: the same model in
// float32, a full AdamW step; decode sampled with its KV cache), when /usr/bin/python3 imports torch.
// REPIRL_PROFILE=1 first profiles one training step and one decode step of the same model
// (bench/profile.ts: GPU time per kernel, host time, dispatches, submits, allocations, read-backs).
import { getRuntime } from '@repirl/kernels';
import type { BenchCase, BenchContext } from '@repirl/kernels/bench';
import { AdamW, ByteTokenizer, CpuBackend, DecoderLM, GpuBackend, backward, generate, languageModelLoss, targetMask, tensor, tidy, type Backend, type DecoderConfig } from '../src/index.js';
import { torchPeer } from './torch-peer.js';

const tokenizer = new ByteTokenizer();

/** The bench model: d = 128, 4 layers, 4 heads, byte vocabulary (the profile uses the same). */
export const BENCH_MODEL: DecoderConfig = { vocabSize: tokenizer.vocabSize, dModel: 128, nLayers: 4, nHeads: 4, dFF: 512, maxSeqLen: 256 };
export const BENCH_PROMPTS = Array.from({ length: 8 }, (_, b) => tokenizer.encode(`prompt ${b}: `.padEnd(16, '.')).slice(0, 16));

export function trainer(backend: Backend, config: DecoderConfig, batch: number, T: number) {
  const model = new DecoderLM(backend, config, { seed: 1 });
  const opt = new AdamW(model.parameters(), { lr: 1e-4 });
  const ids = Array.from({ length: batch * T }, (_, i) => (i * 7919) % 256);
  return {
    step: async () => {
      tidy(() => {
        const x = tensor(backend, ids, [batch, T], { dtype: 'i32' });
        backward(languageModelLoss(model, x, targetMask(model, new Array(batch).fill(0), new Array(batch).fill(T), T)));
      });
      await opt.step(); // reads the gradient norm: the step has finished on the GPU
    },
    dispose: () => {
      opt.dispose();
      model.dispose();
    },
  };
}

export default async function (ctx: BenchContext): Promise<BenchCase[]> {
  if (process.env.REPIRL_PROFILE === '1') await (await import('./profile.js')).profileModel(ctx);
  const gpu = new GpuBackend(await getRuntime());
  const T = ctx.quick ? 32 : 128;
  const batch = 4;
  const config = BENCH_MODEL;
  const gpuTrainer = trainer(gpu, config, batch, T);
  const cpuTrainer = trainer(new CpuBackend(), config, batch, T);

  const newTokens = ctx.quick ? 16 : 128;
  const genBatch = BENCH_PROMPTS.length;
  const model = new DecoderLM(gpu, { ...config, maxSeqLen: 16 + newTokens }, { seed: 2 });
  const prompts = BENCH_PROMPTS;
  const torchShape = {
    vocabSize: config.vocabSize, dModel: config.dModel, nLayers: config.nLayers, nHeads: config.nHeads, nKvHeads: config.nHeads,
    headDim: config.dModel / config.nHeads, dFF: config.dFF, qkvBias: false, ropeBase: 10000, normEps: 1e-6, tiedEmbeddings: false,
  };
  const torchIterations = ctx.quick ? 2 : 5;
  const sample = (cache: boolean) => async () => {
    const out = await generate(model, prompts, { maxNewTokens: newTokens, seed: 0, cache });
    if (out.some((s) => s.tokens.length !== newTokens)) throw new Error('a sequence stopped early');
  };
  return [
    {
      name: `train step d128 L4 H4 T${T} B${batch}`,
      params: { dModel: 128, layers: 4, heads: 4, T, batch, vocab: tokenizer.vocabSize },
      work: batch * T,
      unit: 'tokens/s',
      ours: gpuTrainer.step,
      peers: { 'cpu-float64': cpuTrainer.step, 'pytorch 1 thread': torchPeer('train', { ...torchShape, T, batch }, 1, torchIterations) },
      minIterations: 3,
      dispose: () => {
        gpuTrainer.dispose();
        cpuTrainer.dispose();
      },
    },
    {
      name: `generate ${newTokens} tokens B${genBatch} with KV cache`,
      params: { dModel: 128, layers: 4, heads: 4, newTokens, batch: genBatch, prompt: 16 },
      work: genBatch * newTokens,
      unit: 'tokens/s',
      ours: sample(true),
      peers: {
        'no-cache': sample(false),
        'pytorch 1 thread': torchPeer('decode', { ...torchShape, batch: genBatch, prompt: 16, newTokens }, 1, torchIterations),
      },
      minIterations: 2,
      dispose: () => model.dispose(),
    },
  ];
}
