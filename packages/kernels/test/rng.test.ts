import { beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  cpuTensor,
  dropout,
  dropoutBackward,
  dropoutBackwardReference,
  dropoutReference,
  gumbelFromBits,
  gumbelScoresReference,
  philox4x32,
  PHILOX_WGSL,
  randomBits,
  randomBitsReference,
  randomNormal,
  randomNormalReference,
  randomUniform,
  randomUniformReference,
  sampleCategorical,
  sampleCategoricalReference,
  withFlags,
  type KernelProgram,
} from '../src/index.js';
import { assertClose, dot, kernelFixture, numericGradient, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

// Random123 tests/kat_vectors (github.com/DEShawResearch/random123), the three "philox4x32 10"
// lines: counter (4 words), key (2 words), expected output (4 words).
const KAT: { counter: [number, number, number, number]; key: [number, number]; expected: [number, number, number, number] }[] = [
  { counter: [0, 0, 0, 0], key: [0, 0], expected: [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8] },
  {
    counter: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    key: [0xffffffff, 0xffffffff],
    expected: [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  },
  {
    counter: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    key: [0xa4093822, 0x299f31d0],
    expected: [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  },
];

// Runs the WGSL Philox on arbitrary (counter, key) pairs: 6 input words → 4 output words each.
const philoxProbe: KernelProgram = {
  name: 'philox-probe',
  variant: 'test',
  workgroupSize: [64],
  uniforms: [{ name: 'count', type: 'u32' }],
  bindings: [
    { name: 'input', type: 'u32', access: 'read' },
    { name: 'out', type: 'u32', access: 'read_write' },
  ],
  code: `${PHILOX_WGSL}
@compute @workgroup_size(WG_X) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i >= params.count) { return; }
  let b = i * 6u;
  let r = philox4x32_10(vec4<u32>(input[b], input[b + 1u], input[b + 2u], input[b + 3u]), vec2<u32>(input[b + 4u], input[b + 5u]));
  out[i * 4u] = r.x; out[i * 4u + 1u] = r.y; out[i * 4u + 2u] = r.z; out[i * 4u + 3u] = r.w;
}`,
};

// Runs the WGSL philoxGumbel on given u32 values.
const gumbelProbe: KernelProgram = {
  name: 'gumbel-probe',
  variant: 'test',
  workgroupSize: [64],
  uniforms: [{ name: 'count', type: 'u32' }],
  bindings: [
    { name: 'input', type: 'u32', access: 'read' },
    { name: 'out', type: 'f32', access: 'read_write' },
  ],
  code: `${PHILOX_WGSL}
@compute @workgroup_size(WG_X) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < params.count) { out[g.x] = philoxGumbel(input[g.x]); }
}`,
};

function meanVar(values: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  const mean = s / values.length;
  let v = 0;
  for (let i = 0; i < values.length; i++) v += (values[i]! - mean) ** 2;
  return { mean, variance: v / (values.length - 1) };
}

describe('Philox-4x32-10', () => {
  it('TypeScript reference reproduces the Random123 known-answer vectors', () => {
    for (const { counter, key, expected } of KAT) expect(philox4x32(counter, key)).toEqual(expected);
  });

  it('WGSL reproduces the known-answer vectors and the reference on random inputs, bit for bit', async () => {
    const rng = new SeededRandom(11);
    const inputs = [...KAT.map((k) => [...k.counter, ...k.key])];
    for (let i = 0; i < 200; i++) inputs.push(Array.from({ length: 6 }, () => rng.int(0, 0xffffffff)));
    const input = fx.rt.upload(new Uint32Array(inputs.flat()), [inputs.length * 6], 'u32');
    const out = fx.rt.empty([inputs.length * 4], 'u32');
    fx.rt.dispatch(philoxProbe, { bindings: [input, out], uniforms: { count: inputs.length }, workgroups: [Math.ceil(inputs.length / 64)] });
    const got = await fx.rt.read(out);
    const want = inputs.flatMap((w) => philox4x32([w[0]!, w[1]!, w[2]!, w[3]!], [w[4]!, w[5]!]));
    expect([...got]).toEqual(want);
    expect([...got.subarray(0, 12)]).toEqual(KAT.flatMap((k) => k.expected));
  });

  it('Gumbel variates keep full precision in both tails (u near 0 and near 1) and match the reference', async () => {
    const rng = new SeededRandom(12);
    const k = (i: number) => i * 512; // bits whose top 23 bits are i
    const values = [0, 511, k(1), k(2), k(1000), k(4194303), k(4194304), k(4194305), k(8388600), k(8388606), 0xffffffff];
    for (let i = 0; i < 500; i++) values.push(rng.int(0, 0xffffffff));
    const input = fx.rt.upload(new Uint32Array(values), [values.length], 'u32');
    const out = fx.rt.empty([values.length]);
    fx.rt.dispatch(gumbelProbe, { bindings: [input, out], uniforms: { count: values.length }, workgroups: [Math.ceil(values.length / 64)] });
    const want = values.map(gumbelFromBits);
    await fx.expectClose(out, want, { atol: 2e-6, rtol: 2e-6 });
    // The extremes are finite: u is never 0 or 1.
    expect(want[0]).toBeCloseTo(-Math.log(-Math.log(0.5 / 8388608)), 12);
    expect(want[values.length - 1 - 500]).toBeCloseTo(-Math.log(-Math.log1p(-0.5 / 8388608)), 12);
    expect(Number.isFinite(want[10]!)).toBe(true);
  });
});

describe('random streams', () => {
  it('randomBits and randomUniform are bit-exact against the reference for awkward sizes, seeds and offsets', async () => {
    for (const [count, seed, offset] of [
      [1, 0, 0],
      [3, 1, 0],
      [7, 42, 5],
      [1001, 2 ** 40 + 5, 2 ** 33 + 1],
      [65537, 123456789, 7],
    ] as [number, number, number][]) {
      const bits = await fx.rt.read(randomBits(fx.rt, [count], { seed, offset }));
      expect([...bits]).toEqual([...randomBitsReference(count, { seed, offset })]);
      const uniform = await fx.rt.read(randomUniform(fx.rt, [count], { seed, offset }));
      expect([...uniform]).toEqual([...randomUniformReference(count, { seed, offset })]);
    }
    // Element e of the stream is lane e % 4 of the Philox block ⌊e/4⌋: block 0 of seed 0, offset 0 is the first KAT vector.
    expect([...(await fx.rt.read(randomBits(fx.rt, [4], { seed: 0 })))]).toEqual(KAT[0]!.expected);
  });

  it('streams are unchanged when large arrays are launched in ranges (forced small ranges)', async () => {
    const count = 1001;
    const options = { seed: 5, offset: 6 };
    await withFlags({ 'rng.chunkElements': 200 }, async () => {
      expect([...(await fx.rt.read(randomBits(fx.rt, [count], options)))]).toEqual([...randomBitsReference(count, options)]);
      const x = fx.rt.upload(new Float32Array(count).fill(2));
      const { mask } = dropout(fx.rt, x, 0.5, options);
      expect([...(await fx.rt.read(mask))]).toEqual([...dropoutReference(cpuTensor(new Float32Array(count).fill(2), [count]), 0.5, options).mask.data]);
    });
  });

  it('gives the same numbers for the same (seed, offset) and independent streams for other offsets or seeds', async () => {
    const n = 100_000;
    const a = await fx.rt.read(randomUniform(fx.rt, [n], { seed: 7, offset: 0 }));
    const again = await fx.rt.read(randomUniform(fx.rt, [n], { seed: 7, offset: 0 }));
    const otherOffset = await fx.rt.read(randomUniform(fx.rt, [n], { seed: 7, offset: 1 }));
    const otherSeed = await fx.rt.read(randomUniform(fx.rt, [n], { seed: 8, offset: 0 }));
    expect(again).toEqual(a);
    const correlation = (x: ArrayLike<number>, y: ArrayLike<number>) => {
      const mx = meanVar(x);
      const my = meanVar(y);
      let c = 0;
      for (let i = 0; i < x.length; i++) c += (x[i]! - mx.mean) * (y[i]! - my.mean);
      return c / (x.length - 1) / Math.sqrt(mx.variance * my.variance);
    };
    // Independent streams: |r| within 4 standard errors (1/√n) of 0.
    expect(Math.abs(correlation(a, otherOffset))).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(correlation(a, otherSeed))).toBeLessThan(4 / Math.sqrt(n));
    // Neighbouring elements of one stream are uncorrelated too.
    expect(Math.abs(correlation(a.subarray(0, n - 1), a.subarray(1)))).toBeLessThan(4 / Math.sqrt(n));
  });

  it('uniform samples have mean 1/2 and variance 1/12 within 4 standard errors (1e5 samples)', async () => {
    const n = 100_000;
    const u = await fx.rt.read(randomUniform(fx.rt, [n], { seed: 2024, offset: 3 }));
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const { mean, variance } = meanVar(u);
    expect(Math.abs(mean - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    // Var of the sample variance of U(0,1): (1/80 − 1/144)/n.
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(4 * Math.sqrt((1 / 80 - 1 / 144) / n));
    // A 10-bin histogram passes chi-square (9 dof; 27.9 is the 0.1 % tail).
    const bins = new Array(10).fill(0);
    for (const x of u) bins[Math.floor(x * 10)]++;
    const chi2 = bins.reduce((s, o) => s + (o - n / 10) ** 2 / (n / 10), 0);
    expect(chi2).toBeLessThan(27.9);
  });

  it('normal samples follow the reference and have the requested mean and spread', async () => {
    for (const count of [1, 6, 1003]) {
      const got = await fx.rt.read(randomNormal(fx.rt, [count], { seed: 9, offset: 1, mean: 0.5, std: 2 }));
      // float32 log/sqrt/cos/sin against float64: errors stay far below the spread.
      assertClose(got, randomNormalReference(count, { seed: 9, offset: 1, mean: 0.5, std: 2 }), { atol: 2e-4, rtol: 2e-5, label: `n=${count}` });
    }
    const n = 100_000;
    const z = await fx.rt.read(randomNormal(fx.rt, [n], { seed: 31, offset: 0 }));
    const { mean, variance } = meanVar(z);
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(variance - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    const beyond2 = z.filter((v) => Math.abs(v) > 2).length / n; // 4.55 % for a standard normal
    expect(Math.abs(beyond2 - 0.0455)).toBeLessThan(4 * Math.sqrt((0.0455 * 0.9545) / n));
  });

  it('rejects seeds and offsets that are not integers in [0, 2^53)', () => {
    expect(() => randomUniform(fx.rt, [4], { seed: -1 })).toThrow(ArgumentError);
    expect(() => randomUniform(fx.rt, [4], { seed: 1.5 })).toThrow(/\[random-uniform\] argument "seed"/);
    expect(() => randomUniform(fx.rt, [4], { seed: 1, offset: 2 ** 60 })).toThrow(/\[random-uniform\] argument "offset"/);
  });
});

describe('dropout', () => {
  it('keeps elements where the uniform stream is ≥ p, scales by 1/(1 − p), and matches the reference', async () => {
    const rng = new SeededRandom(5);
    for (const [count, p] of [
      [1, 0.5],
      [7, 0.1],
      [1001, 0.3],
      [100, 0],
      [100, 1],
    ] as [number, number][]) {
      const xs = rng.floats(count, -3, 3);
      const x = fx.rt.upload(xs, [count]);
      const { y, mask } = dropout(fx.rt, x, p, { seed: 77, offset: count });
      const ref = dropoutReference(cpuTensor(xs, [count]), p, { seed: 77, offset: count });
      expect([...(await fx.rt.read(mask))]).toEqual([...ref.mask.data]);
      await fx.expectClose(y, ref.y.data, { atol: 0, rtol: 2e-7, label: `y n=${count} p=${p}` });
      if (p === 0) expect([...(await fx.rt.read(y))]).toEqual([...xs]);
      if (p === 1) expect([...(await fx.rt.read(y))].every((v) => v === 0)).toBe(true);
      // The mask is exactly randomUniform(...) ≥ p for the same stream.
      const u = await fx.rt.read(randomUniform(fx.rt, [count], { seed: 77, offset: count }));
      expect([...(await fx.rt.read(mask))]).toEqual([...u].map((v) => (v >= Math.fround(p) ? 1 : 0)));
    }
  });

  it('keeps a fraction 1 − p of 1e5 elements (within 4 standard errors) and preserves the mean', async () => {
    const n = 100_000;
    const p = 0.3;
    const x = fx.rt.upload(new Float32Array(n).fill(1));
    const { y, mask } = dropout(fx.rt, x, p, { seed: 3 });
    const kept = [...(await fx.rt.read(mask))].reduce((a, b) => a + b, 0) / n;
    expect(Math.abs(kept - (1 - p))).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
    const ys = await fx.rt.read(y);
    expect(new Set(ys)).toEqual(new Set([0, Math.fround(1 / 0.7)]));
    expect(Math.abs(meanVar(ys).mean - 1)).toBeLessThan(4 * Math.sqrt(p / (1 - p) / n));
  });

  it('backward: reference matches finite differences; the kernel matches the reference', async () => {
    const rng = new SeededRandom(6);
    const count = 57;
    const p = 0.4;
    const xs = rng.floats(count);
    const w = rng.floats(count);
    const options = { seed: 1, offset: 2 };
    const { mask } = dropoutReference(cpuTensor(xs, [count]), p, options);
    const refGrad = dropoutBackwardReference(cpuTensor(w, [count]), mask, p);
    const numeric = numericGradient((d) => dot(w, dropoutReference(cpuTensor(d, [count]), p, options).y.data), Float64Array.from(xs));
    assertClose(refGrad.data, numeric, { atol: 1e-8, rtol: 1e-7 });
    const gpu = dropout(fx.rt, fx.rt.upload(xs), p, options);
    const dx = dropoutBackward(fx.rt, fx.rt.upload(w), gpu.mask, p);
    await fx.expectClose(dx, refGrad.data, { atol: 1e-7, rtol: 1e-6 });
  });

  it('rejects bad arguments', () => {
    const x = fx.rt.empty([3]);
    expect(() => dropout(fx.rt, x, 1.5, { seed: 1 })).toThrow(/\[dropout\] argument "p": must be a probability in \[0, 1\], got 1.5/);
    expect(() => dropout(fx.rt, fx.rt.empty([3], 'i32'), 0.5, { seed: 1 })).toThrow(/\[dropout\] argument "x": expected dtype f32/);
    expect(() => dropoutBackward(fx.rt, x, fx.rt.empty([4]), 0.5)).toThrow(/\[dropout-backward\] argument "mask": expected shape \[3\], got \[4\]/);
  });
});

describe('sampleCategorical', () => {

  it('temperature 0 is greedy argmax: first maximum wins, NaN never wins, an all −inf row gives −1', async () => {
    const rng = new SeededRandom(9);
    const rows = 40;
    for (const vocab of [1, 3, 7, 130, 1000]) {
      const data = rng.floats(rows * vocab, -5, 5);
      if (vocab > 1) {
        data[vocab * 1 + vocab - 1] = 50; // maximum in the last column
        data[vocab * 2] = 50; // tie: the first index wins
        data[vocab * 2 + vocab - 1] = 50;
        data[vocab * 3] = NaN;
        data.fill(-Infinity, vocab * 5, vocab * 6);
        data[vocab * 6 + 1] = NaN;
        data.fill(-Infinity, vocab * 7, vocab * 8);
        data[vocab * 7 + vocab - 1] = -1e30;
      }
      const logits = fx.rt.upload(data, [rows, vocab]);
      for (const variant of fx.reduceVariants()) {
        await withFlags({ 'reduce.variant': variant }, async () => {
          const ids = await fx.rt.read(sampleCategorical(fx.rt, logits, { seed: 1, temperature: 0 }));
          const want = sampleCategoricalReference(cpuTensor(data, [rows, vocab]), { seed: 1, temperature: 0 });
          expect([...ids]).toEqual([...want]);
          if (vocab > 1) expect([ids[1], ids[2], ids[5], ids[7]]).toEqual([vocab - 1, 0, -1, vocab - 1]);
        });
      }
    }
  });

  it('matches the float64 reference sampler (up to float32 near-ties)', async () => {
    const rng = new SeededRandom(10);
    for (const [rows, vocab, temperature] of [
      [50, 1, 1],
      [300, 5, 1],
      [64, 257, 0.7],
      [16, 5000, 1.3],
    ] as [number, number, number][]) {
      const data = rng.floats(rows * vocab, -3, 3);
      const logits = fx.rt.upload(data, [rows, vocab]);
      const options = { seed: 123, offset: vocab, temperature };
      const want = sampleCategoricalReference(cpuTensor(data, [rows, vocab]), options);
      for (const variant of fx.reduceVariants()) {
        await withFlags({ 'reduce.variant': variant }, async () => {
          const ids = await fx.rt.read(sampleCategorical(fx.rt, logits, options));
          let mismatches = 0;
          for (let n = 0; n < rows; n++) {
            if (ids[n] === want[n]) continue;
            mismatches++;
            // A disagreement is only acceptable when the two scores are equal to float32 precision.
            const scores = gumbelScoresReference(data.subarray(n * vocab, (n + 1) * vocab), n, options);
            expect(Math.abs(scores[ids[n]!]! - scores[want[n]!]!)).toBeLessThan(1e-5 * (1 + Math.abs(scores[want[n]!]!)));
          }
          expect(mismatches).toBeLessThanOrEqual(Math.ceil(rows / 100));
        });
      }
      logits.dispose();
    }
  });

  it('draws from softmax(logits / T): chi-square against the probabilities (20,000 draws, fixed seed)', async () => {
    const base = [0.5, -1, 2, 0, 1, -0.5];
    const rows = 20_000;
    for (const temperature of [1, 0.6]) {
      const data = new Float32Array(rows * base.length);
      for (let n = 0; n < rows; n++) data.set(base, n * base.length);
      const ids = await fx.rt.read(sampleCategorical(fx.rt, fx.rt.upload(data, [rows, base.length]), { seed: 99, offset: 4, temperature }));
      const weights = base.map((l) => Math.exp(Math.fround(l) / temperature));
      const total = weights.reduce((a, b) => a + b, 0);
      const counts = new Array(base.length).fill(0);
      for (const id of ids) counts[id]++;
      const chi2 = counts.reduce((s, o, v) => s + (o - (rows * weights[v]!) / total) ** 2 / ((rows * weights[v]!) / total), 0);
      expect(chi2).toBeLessThan(20.5); // 5 degrees of freedom: the 0.1 % tail
      // Every row drew from its own part of the stream: the draws are not all alike.
      expect(new Set(ids).size).toBe(base.length);
    }
  });

  it('rejects bad arguments', () => {
    expect(() => sampleCategorical(fx.rt, fx.rt.empty([5]), { seed: 1 })).toThrow(/\[sample-categorical\] argument "logits": expected rank 2, got shape \[5\]/);
    expect(() => sampleCategorical(fx.rt, fx.rt.empty([2, 0]), { seed: 1 })).toThrow(/argument "logits": expected shape \[N, V\] with 1 ≤ V/);
    expect(() => sampleCategorical(fx.rt, fx.rt.empty([2, 3]), { seed: 1, temperature: -1 })).toThrow(/argument "temperature": must be ≥ 0/);
  });
});
