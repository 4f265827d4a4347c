// Generation: seeded sampling, greedy decoding against a full forward, batching of prompts of
// different lengths, the KV-cache path against recomputation, stops, the top-k/top-p mask kernel,
// and the rollout/trainer log-prob gap (log-probs from generation vs a training forward pass).
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { SeededRandom, assertClose, compareClose } from '@repirl/kernels/testing';
import * as ag from '../src/index.js';
import { CpuBackend, GpuBackend, type Backend, type Tokenizer } from '../src/index.js';
import { DecoderLM, assign, type DecoderConfig } from '../src/nn/index.js';
import { generate, topKTopPMask, topKTopPMaskReference, type GeneratedSequence } from '../src/generate/index.js';

let gpu: GpuBackend;
const cpu = new CpuBackend();
let model: DecoderLM;

const config: DecoderConfig = { vocabSize: 19, dModel: 32, nLayers: 2, nHeads: 2, dFF: 64, maxSeqLen: 48, norm: 'rms', mlp: 'swiglu' };
const prompts = [[1, 2, 3], [4, 5, 6, 7, 8, 9], [10]];

/**
 * A random model with its matrices scaled up: at GPT-2's init (std 0.02) logits are nearly flat
 * and blocks barely mix positions, which would let a broken cache or position bug pass unnoticed.
 * Scaled, logits spread over ±4 and changing the first token moves the last logits by ~3.
 */
async function peakyModel(backend: Backend, seed: number): Promise<DecoderLM> {
  const m = new DecoderLM(backend, config, { seed });
  for (const p of m.parameters().values()) if (p.rank === 2) assign(p, Float32Array.from(await p.data(), (v) => v * 15));
  return m;
}

beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  model = await peakyModel(gpu, 3);
});

/** Logits [B, T, V] of a training-style forward over prompt + response (right-padded). */
async function fullLogits(m: DecoderLM, seqs: number[][]) {
  const T = Math.max(...seqs.map((s) => s.length));
  const ids = seqs.flatMap((s) => [...s, ...new Array<number>(T - s.length).fill(0)]);
  const out = ag.noGrad(() => m.forward(ag.tensor(m.backend, ids, [seqs.length, T], { dtype: 'i32' }), { lengths: seqs.map((s) => s.length) }));
  const data = await out.data();
  out.dispose();
  return { data, T };
}

const argmax = (xs: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
};

describe('generate', () => {
  it('the same seed gives the same tokens; other seeds give other tokens', async () => {
    const a = await generate(model, prompts, { maxNewTokens: 12, seed: 7 });
    const b = await generate(model, prompts, { maxNewTokens: 12, seed: 7 });
    const c = await generate(model, prompts, { maxNewTokens: 12, seed: 8 });
    expect(b.map((s) => s.tokens)).toEqual(a.map((s) => s.tokens));
    expect(b.map((s) => s.logprobs)).toEqual(a.map((s) => s.logprobs));
    expect(c.map((s) => s.tokens)).not.toEqual(a.map((s) => s.tokens));
    for (const s of a) {
      expect(s.tokens).toHaveLength(12);
      expect(s.finishReason).toBe('length');
      for (const lp of s.logprobs) expect(lp).toBeLessThan(0);
    }
  });

  it('greedy decoding equals the argmax of a full forward re-run, and topK = 1 sampling', async () => {
    const greedy = await generate(model, prompts, { maxNewTokens: 10, greedy: true });
    const seqs = prompts.map((p, b) => [...p, ...greedy[b]!.tokens]);
    const { data, T } = await fullLogits(model, seqs);
    const V = config.vocabSize;
    prompts.forEach((p, b) =>
      greedy[b]!.tokens.forEach((tok, i) => {
        const row = (b * T + p.length - 1 + i) * V;
        expect(tok, `sequence ${b}, token ${i}`).toBe(argmax(data.subarray(row, row + V)));
      }),
    );
    const top1 = await generate(model, prompts, { maxNewTokens: 10, topK: 1, seed: 99 });
    expect(top1.map((s) => s.tokens)).toEqual(greedy.map((s) => s.tokens));
  });

  it('a batch of prompts of different lengths generates what each prompt generates alone', async () => {
    const batch = await generate(model, prompts, { maxNewTokens: 8, greedy: true });
    for (let b = 0; b < prompts.length; b++) {
      const [alone] = await generate(model, [prompts[b]!], { maxNewTokens: 8, greedy: true });
      expect(batch[b]!.tokens, `prompt ${b}`).toEqual(alone!.tokens);
      assertClose(batch[b]!.logprobs, alone!.logprobs, { atol: 1e-5, label: `log-probs of prompt ${b}` });
    }
  });

  it('the KV-cache path equals recomputing the prefix: tokens identical, logits close', async () => {
    for (const options of [{ greedy: true }, { seed: 5, temperature: 0.8, topP: 0.9 }]) {
      const cached = await generate(model, prompts, { maxNewTokens: 16, returnLogits: true, ...options });
      const recomputed = await generate(model, prompts, { maxNewTokens: 16, returnLogits: true, cache: false, ...options });
      expect(cached.map((s) => s.tokens)).toEqual(recomputed.map((s) => s.tokens));
      let worst = 0;
      cached.forEach((s, b) =>
        s.logits!.forEach((row, i) => {
          const r = compareClose(row, recomputed[b]!.logits![i]!, { atol: 1e-4, rtol: 1e-4 });
          worst = Math.max(worst, r.maxAbsError);
          expect(r.ok, `sequence ${b} step ${i}: ${r.message}`).toBe(true);
        }),
      );
      console.log(`cache vs no cache (${JSON.stringify(options)}): max |Δlogit| = ${worst.toExponential(2)}`);
    }
  });

  it('the CPU backend (float64 references) decodes the same greedy tokens', async () => {
    const onCpu = await model.copy({ backend: cpu });
    const g = await generate(model, prompts, { maxNewTokens: 6, greedy: true });
    const c = await generate(onCpu, prompts, { maxNewTokens: 6, greedy: true });
    expect(c.map((s) => s.tokens)).toEqual(g.map((s) => s.tokens));
    assertClose(c.flatMap((s) => s.logprobs), g.flatMap((s) => s.logprobs), { atol: 1e-4, label: 'CPU vs GPU log-probs' });
  });

  it('stop ids and stop strings end each sequence at its first occurrence, keeping the stop token', async () => {
    const letters: Tokenizer = {
      vocabSize: 19,
      specialTokens: { bos: 16, eos: 17, pad: 18 },
      encode: (text) => [...text].map((ch) => ch.charCodeAt(0) - 97),
      decode: (ids) => Array.from(ids, (id) => String.fromCharCode(97 + id)).join(''),
      isSpecial: (id) => id >= 16,
    };
    const options = { maxNewTokens: 20, seed: 3 };
    const full = await generate(model, prompts, options);
    const stopId = full[0]!.tokens[5]!;
    const stopString = letters.decode(full[1]!.tokens.slice(6, 8));
    const expected = (toks: number[]) => {
      for (let i = 0; i < toks.length; i++) {
        if (toks[i] === stopId) return { n: i + 1, stop: stopId as number | string };
        if (letters.decode(toks.slice(0, i + 1)).includes(stopString)) return { n: i + 1, stop: stopString };
      }
      return null;
    };
    const stopped = await generate(model, prompts, { ...options, stop: [stopId, stopString], tokenizer: letters });
    stopped.forEach((s, b) => {
      const want = expected(full[b]!.tokens);
      const n = want ? want.n : 20;
      expect(s.tokens, `sequence ${b}`).toEqual(full[b]!.tokens.slice(0, n));
      expect(s.logprobs).toEqual(full[b]!.logprobs.slice(0, n));
      expect(s.finishReason).toBe(want ? 'stop' : 'length');
      if (want) expect(s.stop).toBe(want.stop);
      expect(s.text).toBe(letters.decode(s.tokens));
    });
    expect(stopped[0]!.tokens.length).toBeLessThanOrEqual(6);
    expect(stopped[1]!.tokens.length).toBeLessThanOrEqual(8);
  });

  it('rollout/trainer gap: generation log-probs equal a training forward’s tokenLogProbs (< 1e-4)', async () => {
    const temperature = 0.7;
    const rollouts: GeneratedSequence[] = await generate(model, prompts, { maxNewTokens: 24, seed: 11, temperature, topK: 12, topP: 0.95 });
    // The trainer's view: one forward over prompt + response, log p(next token) at temperature.
    const seqs = prompts.map((p, b) => [...p, ...rollouts[b]!.tokens]);
    const T = Math.max(...seqs.map((s) => s.length));
    const B = seqs.length;
    const targets = seqs.flatMap((s) => Array.from({ length: T }, (_, t) => s[t + 1] ?? 0));
    const logp = ag.noGrad(() => {
      const logits = model.forward(ag.tensor(gpu, seqs.flatMap((s) => [...s, ...new Array<number>(T - s.length).fill(0)]), [B, T], { dtype: 'i32' }), {
        lengths: seqs.map((s) => s.length),
      });
      return ag.tokenLogProbs(ag.reshape(logits, [B * T, config.vocabSize]), ag.tensor(gpu, targets, [B * T], { dtype: 'i32' }), { temperature }).logp;
    });
    const trainer = await logp.data();
    let gap = 0;
    prompts.forEach((p, b) =>
      rollouts[b]!.logprobs.forEach((lp, i) => {
        gap = Math.max(gap, Math.abs(lp - trainer[b * T + p.length - 1 + i]!));
      }),
    );
    console.log(`rollout/trainer log-prob gap: max |Δ| = ${gap.toExponential(2)} over ${rollouts.reduce((n, s) => n + s.tokens.length, 0)} tokens`);
    expect(gap).toBeLessThan(1e-4);
  });

  it('leaves no GPU buffer behind (cache, no cache, stops, returned logits)', async () => {
    const runs = [{}, { cache: false }, { stop: [3, 4] }, { returnLogits: true, topP: 0.5 }];
    for (const r of runs) await generate(model, prompts, { maxNewTokens: 5, ...r }); // first use creates per-runtime buffers
    const live = gpu.rt.memory().liveBuffers;
    for (const r of runs) await generate(model, prompts, { maxNewTokens: 5, ...r });
    expect(gpu.rt.memory().liveBuffers).toBe(live);
  });

  it('refuses bad arguments with messages naming them', async () => {
    await expect(generate(model, [[1, 2]], { maxNewTokens: 47 })).rejects.toThrow(/longest prompt \(2 tokens\) \+ maxNewTokens \(47\) exceeds the model's maxSeqLen \(48\)/);
    await expect(generate(model, [[1, 19]], { maxNewTokens: 2 })).rejects.toThrow(/promptIds\[0\]\[1\] = 19 is not a token id/);
    await expect(generate(model, [[1]], { maxNewTokens: 2, stop: ['ab'] })).rejects.toThrow(/stop strings need options.tokenizer/);
    await expect(generate(model, [[1]], { maxNewTokens: 2, topP: 0 })).rejects.toThrow(/topP must be in \(0, 1\]/);
    await expect(generate(model, [[]], { maxNewTokens: 2 })).rejects.toThrow(/promptIds\[0\] must be a non-empty array/);
  });
});

describe('top-k / top-p mask', () => {
  it('the kernel keeps exactly the set the sort-based float64 reference keeps', async () => {
    const rng = new SeededRandom(21);
    const rows = 6;
    const V = 259;
    const logits = Array.from({ length: rows * V }, () => rng.normal(0, 2));
    logits[5] = -Infinity; // masked entries stay masked
    logits[2 * V + 3] = logits[2 * V + 9] = 9; // a tie for the largest logit of row 2: top-1 keeps both
    for (const opts of [{ topK: 5 }, { topP: 0.5, temperature: 0.7 }, { topK: 40, topP: 0.8 }, { topK: 1 }, { topP: 1e-6 }, { topK: 300 }]) {
      const masked = await ag.noGrad(() => topKTopPMask(ag.tensor(gpu, logits, [rows, V]), opts)).data();
      const want = topKTopPMaskReference(Float32Array.from(logits), rows, V, opts);
      const kept = (xs: ArrayLike<number>) => Array.from(xs, (x) => x > -Infinity);
      expect(kept(masked), JSON.stringify(opts)).toEqual(kept(want));
      const count = kept(masked).filter(Boolean).length;
      if (opts.topK === 5) expect(count).toBe(5 * rows);
      if (opts.topK === 1 || opts.topP === 1e-6) expect(count).toBe(rows + 1);
      if (opts.topK === 300) expect(count).toBe(rows * V - 1);
      // Kept logits pass through unchanged.
      masked.forEach((x, i) => {
        if (x > -Infinity) expect(x).toBe(Math.fround(logits[i]!));
      });
    }
  });

  it('sampled tokens stay inside the top-k set of their step', async () => {
    const out = await generate(model, prompts, { maxNewTokens: 10, seed: 2, topK: 3, returnLogits: true });
    for (const s of out) {
      s.tokens.forEach((tok, i) => {
        const row = s.logits![i]!;
        const third = [...row].sort((a, b) => b - a)[2]!;
        expect(row[tok]!).toBeGreaterThanOrEqual(third);
      });
    }
  });
});
