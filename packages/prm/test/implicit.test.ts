// The implicit PRM and AIRL-S's step head, on a tiny random byte-level policy (d = 32, 1 layer):
//  - implicit step rewards equal β × the hand-summed log π_φ − log π_ref over each step's tokens,
//    with the log-probs computed separately from the two LMs and the step spans found by hand;
//  - a loss's gradients reach every parameter of π_φ and none of the reference, and an optimizer
//    step changes π_φ and leaves the reference bit-identical;
//  - save → loadPrm gives the same rewards (and a differently trained PRM does not);
//  - the step head puts f on step-end tokens only, its step scores are f there, and it saves and loads.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { AdamW, DecoderLM, GpuBackend, backward, noGrad, tidy, type Tensor } from '@repirl/autograd';
import { TaskCodec, packSequences, responseLogProbs, saveModel, unpadRows, type SequencePart } from '@repirl/rl';
import { ImplicitPrm, StepHeadPrm, implicitPrmCeLoss, loadPrm, meanBceWithLogits, scoreSamples } from '../src/index.js';

let gpu: GpuBackend;
let policy: DecoderLM;
const codec = new TaskCodec();
const decoder = { vocabSize: 259, dModel: 32, nLayers: 1, nHeads: 2, dFF: 64, maxSeqLen: 48 };
const texts: [string, string][] = [
  ['3 +4\n', '=7\n#### 7\n'],
  ['9 -2 *3\n', '=7\n=21\n#### 21\n'],
  ['1 +1\n', '=3\n#### 2'], // no final newline: the last step ends at its last character
];
const parts: SequencePart[] = texts.map(([p, r]) => ({ promptIds: codec.encodePrompt(p), responseIds: Array.from(new TextEncoder().encode(r)) }));
const labels = [1, 1, 0];

const read = async (t: Tensor) => {
  const data = Array.from(await t.data());
  t.dispose();
  return data;
};

/** One AdamW step of the CE loss on the fixed parts: π_φ moves away from π_ref. */
async function trainOnce(prm: ImplicitPrm, lr = 1e-2): Promise<void> {
  const optimizer = new AdamW(prm.trainableParameters(), { lr, weightDecay: 0 });
  const packed = packSequences(parts, codec.padId);
  tidy(() => {
    backward(implicitPrmCeLoss({ ...prm.logRatioInputs(packed), labels }, { beta: prm.beta }).loss);
  });
  await optimizer.step();
  optimizer.dispose();
}

beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
  policy = new DecoderLM(gpu, decoder, { seed: 3 });
});

describe('implicit PRM', () => {
  it('starts at zero reward and its step rewards are β × the summed log-ratios of each step', async () => {
    const prm = ImplicitPrm.fromPolicy(policy, { beta: 0.5 });
    const zero = await scoreSamples(prm, parts, codec);
    for (const s of zero) for (const r of s.tokens) expect(r).toBe(0);
    await trainOnce(prm);

    const scored = await scoreSamples(prm, parts, codec);
    const packed = packSequences(parts, codec.padId);
    const [lm, ref] = await Promise.all(
      [prm.lm, prm.reference].map(async (model) => {
        const t = noGrad(() => tidy(() => responseLogProbs(model, packed).logp));
        return unpadRows(await read(t), packed);
      }),
    );
    let largest = 0;
    texts.forEach(([, response], b) => {
      // Step spans by hand: a step ends at each '\n', and the text's last byte ends the last one.
      const ends = [...response].flatMap((ch, i) => (ch === '\n' || i === response.length - 1 ? [i] : []));
      expect(scored[b]!.stepEnds).toEqual([...new Set(ends)]);
      let start = 0;
      const expected = scored[b]!.stepEnds.map((end) => {
        let s = 0;
        for (let t = start; t <= end; t++) s += 0.5 * (lm[b]![t]! - ref[b]![t]!);
        start = end + 1;
        return s;
      });
      expected.forEach((e, k) => {
        expect(scored[b]!.steps[k]).toBeCloseTo(e, 5);
        largest = Math.max(largest, Math.abs(e));
      });
    });
    expect(largest).toBeGreaterThan(1e-3); // the PRM moved: the comparison is not 0 = 0
    prm.dispose();
  });

  it('trains π_φ only: gradients reach every π_φ parameter and no reference parameter', async () => {
    const prm = ImplicitPrm.fromPolicy(policy);
    const trainable = prm.trainableParameters();
    expect([...trainable.keys()].every((n) => n.startsWith('lm.'))).toBe(true);
    expect(trainable.size).toBe(policy.parameters().size);
    const refBefore = await Promise.all([...prm.reference.parameters().values()].map((p) => p.data().then((d) => Float32Array.from(d))));
    const lmBefore = Float32Array.from(await prm.lm.parameters().get('blocks.0.attn.qkv.weight')!.data());

    const packed = packSequences(parts, codec.padId);
    tidy(() => backward(implicitPrmCeLoss({ ...prm.logRatioInputs(packed), labels }, { beta: prm.beta }).loss));
    for (const [name, p] of prm.parameters()) {
      if (name.startsWith('lm.')) expect(p.grad, name).toBeTruthy();
      else expect(p.grad, name).toBeFalsy();
    }
    prm.zeroGrad();
    await trainOnce(prm);
    const refAfter = await Promise.all([...prm.reference.parameters().values()].map((p) => p.data().then((d) => Float32Array.from(d))));
    refAfter.forEach((d, i) => expect(d).toEqual(refBefore[i]));
    const lmAfter = Float32Array.from(await prm.lm.parameters().get('blocks.0.attn.qkv.weight')!.data());
    expect(lmAfter).not.toEqual(lmBefore);
    prm.dispose();
  });

  it('saves and loads to the same rewards', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'repirl-implicit-'));
    try {
      const prm = ImplicitPrm.fromPolicy(policy, { beta: 0.1 });
      await trainOnce(prm);
      await saveModel(dir, 'prm', prm);
      const loaded = await loadPrm(gpu, dir);
      expect(loaded).toBeInstanceOf(ImplicitPrm);
      expect(loaded.config).toEqual(prm.config);
      const packed = packSequences(parts, codec.padId);
      const [a, b] = await Promise.all([prm, loaded].map((m) => read(tidy(() => m.tokenRewards(packed)))));
      expect(b).toEqual(a);
      expect(a.some((v) => v !== 0)).toBe(true);
      // A PRM trained further scores differently: the comparison can fail.
      await trainOnce(prm);
      expect(await read(tidy(() => prm.tokenRewards(packed)))).not.toEqual(a);
      prm.dispose();
      loaded.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('step-head PRM (AIRL-S f)', () => {
  it('puts f on step-end tokens only; step scores are f there; trains all but the LM head', async () => {
    const prm = StepHeadPrm.fromPolicy(policy);
    await trainHead(prm); // f now differs between steps
    const scored = await scoreSamples(prm, parts, codec);
    const packed = packSequences(parts, codec.padId);
    const f = unpadRows(await read(noGrad(() => tidy(() => prm.tokenScores(packed)))), packed);
    const values = await read(noGrad(() => tidy(() => prm.stepValues(packed).f)));
    let n = 0;
    scored.forEach((s, b) => {
      s.tokens.forEach((r, t) => (s.stepEnds.includes(t) ? expect(r).toBeCloseTo(f[b]![t]!, 6) : expect(Math.abs(r)).toBe(0)));
      s.steps.forEach((v, k) => {
        expect(v).toBeCloseTo(f[b]![s.stepEnds[k]!]!, 6);
        expect(values[n++]).toBeCloseTo(v, 6);
      });
    });
    expect(new Set(values.map((v) => v.toFixed(5))).size).toBeGreaterThan(1);
    expect([...prm.trainableParameters().keys()].some((k) => k.startsWith('backbone.lmHead'))).toBe(false);
    expect(prm.trainableParameters().has('head.linear.weight')).toBe(true);
    prm.dispose();
  });

  it('saves and loads to the same rewards', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'repirl-step-head-'));
    try {
      const prm = StepHeadPrm.fromPolicy(policy, { seed: 4 });
      await saveModel(dir, 'prm', prm);
      const loaded = await loadPrm(gpu, dir);
      expect(loaded).toBeInstanceOf(StepHeadPrm);
      const packed = packSequences(parts, codec.padId);
      const [a, b] = await Promise.all([prm, loaded].map((m) => read(tidy(() => m.tokenRewards(packed)))));
      expect(b).toEqual(a);
      const other = StepHeadPrm.fromPolicy(policy, { seed: 5 });
      expect(await read(tidy(() => other.tokenRewards(packed)))).not.toEqual(a); // the test can tell heads apart
      for (const m of [prm, loaded, other]) m.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** One step that pushes f up on the first sample's steps and down on the others'. */
async function trainHead(prm: StepHeadPrm): Promise<void> {
  const optimizer = new AdamW(prm.trainableParameters(), { lr: 1e-2, weightDecay: 0 });
  const packed = packSequences(parts, codec.padId);
  tidy(() => {
    const { f, ends } = prm.stepValues(packed);
    const y = ends.flatMap((row, b) => row.map(() => (b === 0 ? 1 : 0)));
    backward(meanBceWithLogits(f, y));
  });
  await optimizer.step();
  optimizer.dispose();
}
