// Out-of-range token ids: sequenceLogProbs and languageModelLoss throw on both backends, naming the
// (row, column), the id and the vocabulary size, instead of giving NaN rows on the GPU; token ids
// computed on the GPU (no host copy) are reported by the GPU backend at its next read.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime, type GpuArray } from '@repirl/kernels';
import * as ag from '../src/index.js';
import { CpuBackend, GpuBackend, type Backend } from '../src/index.js';
import { DecoderLM, languageModelLoss, sequenceLogProbs, targetMask } from '../src/nn/index.js';

let gpu: GpuBackend;
const cpu = new CpuBackend();
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});

const VOCAB = 11;
const T = 5;
const config = { vocabSize: VOCAB, dModel: 32, nLayers: 1, nHeads: 2, dFF: 32, maxSeqLen: 8 };
// Row 1, column 3 holds 12, outside [0, 11).
const badIds = [1, 2, 3, 4, 5, 6, 7, 8, 12, 9];
const goodIds = [1, 2, 3, 4, 5, 6, 7, 8, 10, 9];
const outOfRange = /token id 12 at \(row 1, column 3\) is outside the vocabulary \[0, 11\)/;

/** Runs `body` on a fresh model inside tidy(); returns what it returns (e.g. a tensor to read). */
function withModel<R extends ag.Tensor | void>(backend: Backend, body: (model: DecoderLM) => R): R {
  const model = new DecoderLM(backend, config, { seed: 5 });
  try {
    return ag.tidy(() => body(model));
  } finally {
    model.dispose();
  }
}

const ids = (backend: Backend, values: number[]) => ag.tensor(backend, values, [2, T], { dtype: 'i32' });

describe('out-of-range token ids', () => {
  for (const name of ['gpu', 'cpu'] as const) {
    const backend = () => (name === 'gpu' ? gpu : cpu);

    it(`${name}: sequenceLogProbs throws naming the position, the id and the vocabulary`, () => {
      withModel(backend(), (model) => {
        expect(() => sequenceLogProbs(model, ids(model.backend, badIds))).toThrow(/^sequenceLogProbs: /);
        expect(() => sequenceLogProbs(model, ids(model.backend, badIds))).toThrow(outOfRange);
      });
    });

    it(`${name}: languageModelLoss throws naming the position, the id and the vocabulary`, () => {
      withModel(backend(), (model) => {
        const mask = targetMask(model, [0, 0], [T, T], T);
        expect(() => languageModelLoss(model, ids(model.backend, badIds), mask)).toThrow(/^languageModelLoss: /);
        expect(() => languageModelLoss(model, ids(model.backend, badIds), mask)).toThrow(outOfRange);
      });
    });

    it(`${name}: ids in range give finite log-probs`, async () => {
      const logp = withModel(backend(), (model) => sequenceLogProbs(model, ids(model.backend, goodIds)).logp);
      const values = await logp.data();
      logp.dispose();
      expect(values).toHaveLength(2 * (T - 1));
      for (const v of values) expect(Number.isFinite(v) && v < 0).toBe(true);
    });
  }

  it('gpu: tokenLogProbs checks targets uploaded from the host before launching', () => {
    ag.tidy(() => {
      const logits = ag.tensor(gpu, new Float32Array(3 * VOCAB), [3, VOCAB]);
      const targets = ag.tensor(gpu, [0, VOCAB, 1], [3], { dtype: 'i32' });
      expect(() => ag.tokenLogProbs(logits, targets)).toThrow(`row 1 has target id ${VOCAB}, outside the vocabulary [0, ${VOCAB})`);
    });
  });

  it('gpu: targets computed on the GPU are reported at the next read (the bad one among several pending launches)', async () => {
    const { logp, targets } = ag.tidy(() => {
      const logits = ag.tensor(gpu, new Float32Array(3 * VOCAB), [3, VOCAB]);
      // concat runs on the GPU and keeps no host copy, so the kernel's status must be read.
      const gpuIds = (ids: number[]) => ag.concat([ag.tensor(gpu, ids.slice(0, 2), [2], { dtype: 'i32' }), ag.tensor(gpu, ids.slice(2), [1], { dtype: 'i32' })], 0);
      ag.tokenLogProbs(logits, gpuIds([0, 1, 2])); // pending launches before and after the bad one: all their status words are read at once
      const targets = gpuIds([0, 1, -4]);
      expect(gpu.hostInts(targets.storage as GpuArray)).toBeUndefined();
      const logp = ag.tokenLogProbs(logits, targets).logp;
      ag.tokenLogProbs(logits, gpuIds([2, 1, 0]));
      return { logp, targets };
    });
    await expect(logp.data()).rejects.toThrow('row 2 has target id -4, outside the vocabulary [0, 11)');
    targets.dispose();
    // The report is consumed: the next read succeeds and shows the NaN row.
    const values = await logp.data();
    expect(Number.isNaN(values[2])).toBe(true);
    expect(values[0]).toBeCloseTo(-Math.log(VOCAB), 5);
    logp.dispose();
  });
});
