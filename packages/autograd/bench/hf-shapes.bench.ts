// Real model shapes (issue 13 item 7, issue 17 item 3): SmolLM2-135M's and Qwen2.5-0.5B's
// architectures (their config.json values; random weights, nothing downloaded) on our GPU path:
// prefill tokens/s at T = 512, decode tokens/s (batch 8, 16-token prompts, 128 new tokens, KV
// cache, sampled), one LoRA training step (rank 16 on q/k/v/o, the base frozen, AdamW on the
// adapters), and the peak GPU bytes of each (the buffer pool's live bytes: weights + the step).
// Peers in the same run: our own path with f16 projection weights (prefill, decode), and PyTorch
// on the same CPU (scripts/bench/torch-decoder.py, the same shapes and batch, float32, 1 thread and
// its default threads) when /usr/bin/python3 imports torch; otherwise a printed note.
//
// Heavy: minutes for the 0.5B shape on 2 cores. Prefill and the training step make one untimed
// full-size run first (pipelines, and the first allocation of every buffer, which costs lavapipe as
// much as the run itself); decode a 2-token one (its buffers are small). Then 1 timed run for the
// 0.5B shape and 2 for SmolLM2's. The PyTorch script warms up the same way.
// REPIRL_BENCH_SHAPES=smollm2-135m (or qwen2.5-0.5b) runs one shape; REPIRL_BENCH_QUICK=1 runs
// 2-layer versions at small sizes (a smoke test of the suite).
import { cpus } from 'node:os';
import { getRuntime } from '@repirl/kernels';
import type { BenchCase, BenchContext } from '@repirl/kernels/bench';
import {
  AdamW,
  DecoderLM,
  GpuBackend,
  applyLora,
  backward,
  generate,
  languageModelLoss,
  noGrad,
  targetMask,
  tensor,
  tidy,
  type DecoderConfig,
  type WeightStorage,
} from '../src/index.js';
import { torchPeer } from './torch-peer.js';

interface Shape {
  name: string;
  config: Omit<DecoderConfig, 'maxSeqLen'> & { nKvHeads: number; headDim: number; ropeBase: number; normEps: number };
  /** Timed runs per runner. */
  iterations: number;
}

// From the models' config.json: HuggingFaceTB/SmolLM2-135M (LlamaForCausalLM) and Qwen/Qwen2.5-0.5B (Qwen2ForCausalLM).
const SHAPES: Shape[] = [
  {
    name: 'smollm2-135m',
    config: { vocabSize: 49152, dModel: 576, nLayers: 30, nHeads: 9, nKvHeads: 3, headDim: 64, dFF: 1536, tiedEmbeddings: true, ropeBase: 100000, normEps: 1e-5 },
    iterations: 2,
  },
  {
    name: 'qwen2.5-0.5b',
    config: { vocabSize: 151936, dModel: 896, nLayers: 24, nHeads: 14, nKvHeads: 2, headDim: 64, dFF: 4864, tiedEmbeddings: true, ropeBase: 1e6, normEps: 1e-6, qkvBias: true },
    iterations: 1,
  },
];

const LORA = { rank: 16, alpha: 32, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] as const };

// ---------------------------------------------------------------- the suite

export default async function (ctx: BenchContext): Promise<BenchCase[]> {
  const rt = await getRuntime();
  const gpu = new GpuBackend(rt);
  const f16 = rt.hasFeature('shader-f16');
  const wanted = (process.env.REPIRL_BENCH_SHAPES ?? SHAPES.map((s) => s.name).join(',')).split(',').map((s) => s.trim());
  for (const w of wanted) if (!SHAPES.some((s) => s.name === w)) throw new Error(`REPIRL_BENCH_SHAPES: unknown shape "${w}" (${SHAPES.map((s) => s.name).join(', ')})`);
  const threadsDefault = cpus().length;
  const cases: BenchCase[] = [];

  for (const shape of SHAPES.filter((s) => wanted.includes(s.name))) {
    const c = ctx.quick ? { ...shape.config, nLayers: 2 } : shape.config;
    const T = ctx.quick ? 32 : 512;
    const decode = { batch: 8, prompt: 16, newTokens: ctx.quick ? 4 : 128 };
    const iterations = ctx.quick ? 1 : shape.iterations;
    const config: DecoderConfig = { ...c, maxSeqLen: Math.max(T, decode.prompt + decode.newTokens) };
    const tag = `${shape.name}${ctx.quick ? ' (2 layers)' : ''}`;
    const torchShape = { ...c, qkvBias: !!c.qkvBias, T, prompt: decode.prompt, newTokens: decode.newTokens, loraRank: LORA.rank, loraAlpha: LORA.alpha, loraTargets: ['q', 'k', 'v', 'o'] };
    const params = { vocab: c.vocabSize, dModel: c.dModel, layers: c.nLayers, heads: c.nHeads, kvHeads: c.nKvHeads, dFF: c.dFF };

    // Models are built lazily (the 0.5B shape's random init takes seconds and 2 GB) and shared by the cases of a shape.
    const models = new Map<WeightStorage, DecoderLM>();
    const model = (weights: WeightStorage) => {
      let m = models.get(weights);
      if (!m) models.set(weights, (m = new DecoderLM(gpu, config, { seed: 1, weights })));
      return m;
    };
    const dispose = (weights: WeightStorage) => {
      models.get(weights)?.dispose();
      models.delete(weights);
    };
    const weightBytes = (m: DecoderLM) => [...m.parameters().values()].reduce((n, t) => n + (t.storage as { byteLength: number }).byteLength, 0);

    /** A runner of ours whose peak GPU bytes are kept; `warm` (a small untimed run) replaces the harness's full-size warm-up. */
    const peaks: Record<string, number> = {};
    const ours = (key: string, warm: (() => Promise<unknown>) | null, timed: () => Promise<unknown>) => ({
      before: async () => {
        await warm?.();
        rt.resetPeakMemory();
      },
      run: timed,
      after: () => {
        peaks[key] = rt.memory().peakBytes;
      },
    });

    const prefill = (weights: WeightStorage, len: number) => async () => {
      const m = model(weights);
      const ids = Array.from({ length: len }, (_, i) => (i * 7919) % c.vocabSize);
      const logits = noGrad(() => tidy(() => m.forward(tensor(gpu, ids, [1, len], { dtype: 'i32' }))));
      logits.dispose(); // the buffer returns to the pool after the queued work that writes it
      await rt.sync(); // the forward has finished on the GPU (no 300 MB read-back of the logits)
    };
    cases.push({
      name: `${tag} prefill T${T} B1`,
      params: { ...params, T, batch: 1 },
      work: T,
      unit: 'tokens/s',
      ours: ours('prefill', null, prefill('f32', T)),
      peers: {
        ...(f16 ? { 'ours, f16 weights': ours('prefill-f16', null, prefill('f16', T)) } : {}),
        'pytorch 1 thread': torchPeer('prefill', { ...torchShape, batch: 1 }, 1, iterations),
        [`pytorch ${threadsDefault} threads`]: torchPeer('prefill', { ...torchShape, batch: 1 }, threadsDefault, iterations),
      },
      minIterations: iterations,
      extra: () => ({ weights_bytes: weightBytes(model('f32')), peak_gpu_bytes: peaks.prefill ?? NaN, ...(f16 ? { peak_gpu_bytes_f16_weights: peaks['prefill-f16'] ?? NaN } : {}) }),
    });

    const prompts = Array.from({ length: decode.batch }, (_, b) => Array.from({ length: decode.prompt }, (_, i) => (b * 131 + i * 17) % c.vocabSize));
    const sample = (weights: WeightStorage, newTokens: number) => async () => {
      const out = await generate(model(weights), prompts, { maxNewTokens: newTokens, seed: 0, cache: true });
      if (out.some((s) => s.tokens.length !== newTokens)) throw new Error('a sequence stopped early');
    };
    cases.push({
      name: `${tag} decode ${decode.newTokens} tokens B${decode.batch} KV cache`,
      params: { ...params, ...decode },
      work: decode.batch * decode.newTokens,
      unit: 'tokens/s',
      ours: ours('decode', sample('f32', 2), sample('f32', decode.newTokens)),
      peers: {
        ...(f16 ? { 'ours, f16 weights': ours('decode-f16', sample('f16', 2), sample('f16', decode.newTokens)) } : {}),
        'pytorch 1 thread': torchPeer('decode', { ...torchShape, batch: decode.batch }, 1, iterations),
        [`pytorch ${threadsDefault} threads`]: torchPeer('decode', { ...torchShape, batch: decode.batch }, threadsDefault, iterations),
      },
      minIterations: iterations,
      warmup: false,
      extra: () => ({ peak_gpu_bytes: peaks.decode ?? NaN, ...(f16 ? { peak_gpu_bytes_f16_weights: peaks['decode-f16'] ?? NaN } : {}) }),
      dispose: () => dispose('f16'),
    });

    // LoRA on the f32 base (frozen by applyLora); the optimizer sees only the adapters.
    let trainer: { step: (len: number) => Promise<void>; dispose: () => void } | null = null;
    const train = (len: number) => async () => {
      if (!trainer) {
        const m = model('f32');
        const adapters = applyLora(m, { ...LORA, targetModules: [...LORA.targetModules] }, { seed: 3 });
        const opt = new AdamW(adapters.parameters(), { lr: 1e-4 });
        trainer = {
          step: async (n: number) => {
            const ids = Array.from({ length: n }, (_, i) => (i * 7919 + 11) % c.vocabSize);
            tidy(() => {
              const x = tensor(gpu, ids, [1, n], { dtype: 'i32' });
              backward(languageModelLoss(m, x, targetMask(m, [0], [n], n)));
            });
            await opt.step(); // reads the gradient norm: the step has finished on the GPU
          },
          dispose: () => {
            opt.dispose();
            adapters.dispose();
          },
        };
      }
      await trainer.step(len);
    };
    cases.push({
      name: `${tag} LoRA train step T${T} B1 r${LORA.rank} q/k/v/o`,
      params: { ...params, T, batch: 1, loraRank: LORA.rank, loraTargets: 'q,k,v,o' },
      work: T,
      unit: 'tokens/s',
      ours: ours('train', null, train(T)),
      peers: {
        'pytorch 1 thread': torchPeer('train', { ...torchShape, batch: 1 }, 1, iterations),
        [`pytorch ${threadsDefault} threads`]: torchPeer('train', { ...torchShape, batch: 1 }, threadsDefault, iterations),
      },
      minIterations: iterations,
      extra: () => ({ peak_gpu_bytes: peaks.train ?? NaN }),
      dispose: () => {
        trainer?.dispose();
        trainer = null;
        dispose('f32');
      },
    });
  }
  return cases;
}
