import { beforeAll, describe, expect, it } from 'vitest';
import {
  cpuTensor,
  logProbVariant,
  planLogProbChunks,
  tokenLogProbs,
  tokenLogProbsBackward,
  tokenLogProbsBackwardReference,
  tokenLogProbsReference,
  validateTargets,
  withFlags,
  type GpuArray,
} from '../src/index.js';
import { assertClose, dot, kernelFixture, numericGradient, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

/** Every kernel variant, forced by flags: both reductions of the workgroup layout, and the lane layout. */
const CONFIGS = [
  { label: 'workgroup layout, shared reduction', flags: { 'logprob.layout': 'workgroup', 'reduce.variant': 'shared' } },
  { label: 'workgroup layout, subgroup reduction', flags: { 'logprob.layout': 'workgroup', 'reduce.variant': 'subgroup' } },
  { label: 'lane layout', flags: { 'logprob.layout': 'lane' } },
] as const;

type Kind = 'normal' | 'large' | 'huge' | 'neginf';

/** Logits [n, v] and in-range targets; the kinds cover the magnitudes and masks the kernel must survive. */
function makeCase(rng: SeededRandom, n: number, v: number, kind: Kind): { logits: Float32Array; targets: Int32Array } {
  const logits = new Float32Array(n * v);
  const targets = rng.ints(n, 0, v - 1);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < v; j++) {
      let x = rng.normal(0, 3);
      if (kind === 'large') x = rng.pick([1e4, -1e4, 9999.5, rng.uniform(-1e4, 1e4)]);
      if (kind === 'huge') x = rng.pick([3e38, -3e38, 2.5e38, rng.normal(0, 3)]);
      if (kind === 'neginf' && rng.next() < 0.4) x = -Infinity;
      logits[r * v + j] = x;
    }
    if (kind === 'neginf') {
      const t = targets[r]!;
      if (r % 3 === 1) {
        for (let j = 0; j < v; j++) logits[r * v + j] = j === t ? rng.normal(0, 3) : -Infinity; // only the target is finite
      } else if (r % 3 === 2) {
        for (let j = 0; j < v; j++) logits[r * v + j] = -Infinity; // fully masked row
      } else if (v > 1) {
        logits[r * v + ((t + 1) % v)] = rng.normal(0, 3); // at least one finite logit besides the target
      }
    }
  }
  return { logits, targets };
}

/** The f32 value the GPU should produce: float64 reference rounded to f32 (overflow gives ±inf). */
function f32(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values, (x) => Math.fround(x));
}

function expectNoNaN(values: ArrayLike<number>, label: string): void {
  for (let i = 0; i < values.length; i++) if (Number.isNaN(values[i]!)) throw new Error(`${label}: NaN at ${i}`);
}

interface CheckOptions {
  temperature: number;
  entropyMode?: 'none' | 'given' | 'recompute';
  chunkRows?: number;
  inPlace?: boolean;
  tol?: { atol: number; rtol: number };
}

/** Runs forward and backward on the GPU and compares both with the float64 references. */
async function checkAgainstReference(n: number, v: number, logits: Float32Array, targets: Int32Array, o: CheckOptions, label: string): Promise<void> {
  const rng = new SeededRandom(n * 7919 + v);
  const gLogp = Float32Array.from({ length: n }, () => rng.normal());
  const gEntropy = Float32Array.from({ length: n }, () => rng.normal());
  const mode = o.entropyMode ?? 'given';
  const x = fx.rt.upload(logits, [n, v]);
  const t = fx.rt.upload(targets, [n], 'i32');
  const gl = fx.rt.upload(gLogp, [n]);
  const ge = fx.rt.upload(gEntropy, [n]);
  const fwd = tokenLogProbs(fx.rt, x, t, { temperature: o.temperature, entropy: true, chunkRows: o.chunkRows });
  const dx = tokenLogProbsBackward(fx.rt, x, t, fwd.lse, gl, {
    temperature: o.temperature,
    chunkRows: o.chunkRows,
    inPlace: o.inPlace,
    ...(mode !== 'none' ? { gEntropy: ge } : {}),
    ...(mode === 'given' ? { entropy: fwd.entropy! } : {}),
  });
  const [logp, lse, entropy, grad] = await Promise.all([fx.rt.read(fwd.logp), fx.rt.read(fwd.lse), fx.rt.read(fwd.entropy!), fx.rt.read(dx)]);
  await fwd.check();
  const cpu = cpuTensor(logits, [n, v]);
  const ref = tokenLogProbsReference(cpu, targets, { temperature: o.temperature, entropy: true });
  const refGrad = tokenLogProbsBackwardReference(cpu, targets, gLogp, { temperature: o.temperature, ...(mode !== 'none' ? { gEntropy } : {}) });
  const tol = o.tol ?? { atol: 1e-4, rtol: 1e-5 };
  assertClose(logp, f32(ref.logp), { ...tol, label: `${label} logp` });
  assertClose(lse, f32(ref.lse), { ...tol, label: `${label} lse` });
  assertClose(entropy, f32(ref.entropy!), { atol: 1e-4, rtol: 1e-4, label: `${label} entropy` });
  assertClose(grad, f32(refGrad.data), { atol: 3e-5, rtol: 1e-3, label: `${label} dLogits (${mode})` });
  expectNoNaN(grad, `${label} dLogits`);
  expectNoNaN(entropy, `${label} entropy`);
  fwd.dispose();
  for (const a of [t, gl, ge]) a.dispose();
  x.dispose();
  if (!o.inPlace) dx.dispose();
}

describe('tokenLogProbs references', () => {
  it('match hand-computed values and the masked-row convention', () => {
    const ln2 = Math.log(2);
    // rows: [0, 0] (uniform), [ln 3, 0] at T = 1, one logit, all −inf
    const logits = cpuTensor([0, 0, Math.log(3), 0, 5, 0, -Infinity, -Infinity], [4, 2]);
    const ref = tokenLogProbsReference(logits, [1, 0, 0, 1], { entropy: true });
    assertClose(ref.logp, [-ln2, Math.log(0.75), Math.log(1 / (1 + Math.exp(-5))), -Infinity], { atol: 1e-12 });
    assertClose(ref.lse, [ln2, Math.log(4), 5 + Math.log(1 + Math.exp(-5)), -Infinity], { atol: 1e-12 });
    const h = (p: number) => -p * Math.log(p) - (1 - p) * Math.log(1 - p);
    assertClose(ref.entropy!, [ln2, h(0.75), h(1 / (1 + Math.exp(-5))), 0], { atol: 1e-12 });
    const single = tokenLogProbsReference(cpuTensor([7], [1, 1]), [0], { temperature: 0.5, entropy: true });
    expect([single.logp[0], single.lse[0], single.entropy![0]]).toEqual([0, 14, 0]);
    const grad = tokenLogProbsBackwardReference(logits, [1, 0, 0, 1], [1, 1, 1, 1], { gEntropy: [1, 1, 1, 1] });
    assertClose(grad.data.subarray(0, 2), [-0.5, 0.5], { atol: 1e-12 }); // uniform row: entropy gradient is 0
    expect([...grad.data.subarray(6)]).toEqual([0, 0]);
  });

  for (const temperature of [0.7, 1, 1.3]) {
    it(`backward agrees with finite differences of the forward (T = ${temperature}, logp and entropy terms)`, () => {
      const rng = new SeededRandom(Math.round(temperature * 100));
      const n = 3;
      const v = 7;
      const x = Float64Array.from({ length: n * v }, () => rng.normal(0, 2));
      x[2] = -Infinity; // a masked non-target logit: its gradient is 0
      const targets = [0, 4, 6];
      const gLogp = [0.7, -1.2, 0.4];
      const gEntropy = [-0.3, 0.9, 1.5];
      for (const ge of [undefined, gEntropy]) {
        const f = (xs: Float64Array) => {
          const r = tokenLogProbsReference({ shape: [n, v], data: xs }, targets, { temperature, entropy: true });
          return dot(gLogp, r.logp) + (ge ? dot(ge, r.entropy!) : 0);
        };
        const numeric = numericGradient(f, x, 1e-6);
        const analytic = tokenLogProbsBackwardReference({ shape: [n, v], data: x }, targets, gLogp, { temperature, ...(ge ? { gEntropy: ge } : {}) });
        assertClose(analytic.data, numeric, { atol: 1e-7, rtol: 1e-6, label: ge ? 'with entropy' : 'logp only' });
      }
      // the entropy term alone, gLogp = 0, against −p_j (z_j − Σ p z) / T
      const r = tokenLogProbsReference({ shape: [n, v], data: x }, targets, { temperature, entropy: true });
      const onlyEntropy = tokenLogProbsBackwardReference({ shape: [n, v], data: x }, targets, [0, 0, 0], { temperature, gEntropy: [1, 1, 1] });
      for (let row = 0; row < n; row++) {
        const z = Array.from(x.subarray(row * v, (row + 1) * v), (xi) => xi / temperature);
        const p = z.map((zi) => Math.exp(zi - r.lse[row]!));
        const meanZ = z.reduce((a, zi, j) => a + (p[j]! > 0 ? p[j]! * zi : 0), 0);
        const want = z.map((zi, j) => (p[j]! > 0 ? (-p[j]! * (zi - meanZ)) / temperature : 0));
        assertClose(onlyEntropy.data.subarray(row * v, (row + 1) * v), want, { atol: 1e-12, rtol: 1e-9 });
      }
    });
  }

  it('reject out-of-range targets and bad shapes, naming the argument', () => {
    const logits = cpuTensor([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => tokenLogProbsReference(logits, [0, 3])).toThrow(/targets.*row 1 has target id 3/);
    expect(() => tokenLogProbsReference(logits, [-1, 0])).toThrow(/targets.*row 0 has target id -1/);
    expect(() => tokenLogProbsReference(logits, [0])).toThrow(/targets.*expected shape \[2\]/);
    expect(() => tokenLogProbsBackwardReference(logits, [0, 1], [1])).toThrow(/gLogp.*expected shape \[2\]/);
    expect(() => validateTargets([0, 1, 5, 9], 5)).toThrow(/\[tokenLogProbs\] argument "targets": row 2 has target id 5, outside the vocabulary \[0, 5\)/);
    expect(() => validateTargets([0, 4], 5)).not.toThrow();
  });
});

describe('tokenLogProbs on the GPU', () => {
  CONFIGS.forEach((config, ci) => {
    const variant = config.label;
    it(`${variant}: awkward shapes against the float64 reference (forward and backward)`, async () => {
      if (!fx.supports(config.flags)) return;
      await withFlags(config.flags, async () => {
        const rng = new SeededRandom(1 + ci);
        const modes = ['given', 'none', 'recompute'] as const;
        let k = 0;
        for (const n of [1, 3, 17]) {
          for (const v of [1, 7, 12, 33, 260, 1000, 4099]) {
            const temperature = k % 2 === 0 ? 0.7 : 1.3;
            const { logits, targets } = makeCase(rng, n, v, 'normal');
            await checkAgainstReference(n, v, logits, targets, { temperature, entropyMode: modes[k % 3] }, `${variant} N=${n} V=${v} T=${temperature}`);
            k++;
          }
        }
      });
    });

    it(`${variant}: ±1e4, ±3e38, −inf logits, only-target-finite and fully masked rows are NaN-free`, async () => {
      if (!fx.supports(config.flags)) return;
      await withFlags(config.flags, async () => {
        const rng = new SeededRandom(11 + ci);
        for (const kind of ['large', 'huge', 'neginf'] as const) {
          for (const temperature of [0.7, 1.3]) {
            for (const mode of ['given', 'recompute'] as const) {
              const n = 9;
              const v = kind === 'neginf' ? (mode === 'given' ? 36 : 33) : mode === 'given' ? 260 : 35; // vec4 and scalar loads
              const { logits, targets } = makeCase(rng, n, v, kind);
              const label = `${variant} ${kind} T=${temperature} ${mode}`;
              // log p next to lse ≈ 1.4e4 carries f32 rounding of the logits themselves (ulp 1e-3)
              const tol = kind === 'large' ? { atol: 1e-3, rtol: 1e-5 } : undefined;
              await checkAgainstReference(n, v, logits, targets, { temperature, entropyMode: mode, ...(tol ? { tol } : {}) }, label);
            }
          }
        }
      });
    });
  });

  it('forced workgroup sizes and scalar loads (logprob.vec4 = false) give the same results', async () => {
    const rng = new SeededRandom(5);
    const configs = [[8, true, 'workgroup'], [64, false, 'workgroup'], [256, true, 'workgroup'], [256, false, 'workgroup'], [64, true, 'lane'], [8, false, 'lane']] as const;
    for (const [wg, vec4, layout] of configs) {
      await withFlags({ 'logprob.workgroup': wg, 'logprob.vec4': vec4, 'logprob.layout': layout }, async () => {
        for (const v of [7, 260, 1000]) {
          const { logits, targets } = makeCase(rng, 5, v, 'normal');
          await checkAgainstReference(5, v, logits, targets, { temperature: 1.3, entropyMode: 'recompute' }, `${layout} wg=${wg} vec4=${vec4} V=${v}`);
        }
      });
    }
  });

  it('automatic variant choice: lane layout only for many short rows on a CPU device; the chosen path matches the reference', async () => {
    const software = (fx.rt.adapter as GPUAdapter & { info?: GPUAdapterInfo }).info?.architecture === 'software';
    expect(logProbVariant(fx.rt, 300, 260).layout).toBe(software ? 'lane' : 'workgroup');
    expect(logProbVariant(fx.rt, 300, 32768).layout).toBe('workgroup');
    expect(logProbVariant(fx.rt, 3, 260).layout).toBe('workgroup');
    expect(logProbVariant(fx.rt, 3, 260).width).toBe(4);
    expect(logProbVariant(fx.rt, 3, 259).width).toBe(1);
    const rng = new SeededRandom(10);
    const { logits, targets } = makeCase(rng, 300, 260, 'normal');
    await checkAgainstReference(300, 260, logits, targets, { temperature: 0.7, entropyMode: 'given' }, 'auto N=300 V=260');
  });

  it('the backward recompute path (row statistics recomputed in logit space) matches the saved-lse path', async () => {
    const rng = new SeededRandom(6);
    await withFlags({ 'logprob.trustLseBelow': 0 }, async () => {
      for (const v of [7, 1000]) {
        const { logits, targets } = makeCase(rng, 6, v, 'normal');
        await checkAgainstReference(6, v, logits, targets, { temperature: 0.7, entropyMode: 'given' }, `recompute V=${v}`);
      }
    });
  });

  for (const layout of ['workgroup', 'lane'] as const) {
    it(`${layout} layout, chunked path: small forced chunks with misaligned row offsets (option and flag), in place`, async () => {
      await withFlags({ 'logprob.layout': layout }, async () => {
        const rng = new SeededRandom(7);
        for (const [v, chunkRows] of [[33, 1], [7, 2], [260, 5], [12, 3], [1, 3]] as const) {
          const { logits, targets } = makeCase(rng, 17, v, 'normal');
          await checkAgainstReference(17, v, logits, targets, { temperature: 0.7, chunkRows }, `V=${v} chunkRows=${chunkRows}`);
          await checkAgainstReference(17, v, logits, targets, { temperature: 1.3, chunkRows, inPlace: true, entropyMode: 'recompute' }, `in place V=${v} chunkRows=${chunkRows}`);
        }
        await withFlags({ 'logprob.chunkRows': 4 }, async () => {
          const { logits, targets } = makeCase(rng, 17, 33, 'neginf');
          await checkAgainstReference(17, 33, logits, targets, { temperature: 1.3 }, 'flag chunkRows=4');
        });
      });
    });
  }

  it('plans chunks whose windows fit the binding limit and start aligned (V = 152,064 and odd V)', () => {
    const limits = fx.rt.limits;
    for (const v of [152064, 152063, 33]) {
      const n = 1000;
      const chunks = planLogProbChunks('tokenLogProbs', n, v, limits);
      expect(chunks.length).toBeGreaterThan(v > 1000 ? 1 : 0);
      let next = 0;
      for (const c of chunks) {
        expect(c.row0).toBe(next);
        next += c.rows;
        for (const [w, first, count] of [[c.matrix, c.row0 * v, c.rows * v], [c.vector, c.row0, c.rows]] as const) {
          expect(w.byteOffset % limits.minStorageBufferOffsetAlignment).toBe(0);
          expect(w.byteLength).toBeLessThanOrEqual(limits.maxStorageBufferBindingSize);
          expect(w.byteOffset / 4 + w.base).toBe(first);
          expect(w.byteLength / 4 - w.base).toBe(count);
        }
      }
      expect(next).toBe(n);
    }
    expect(() => planLogProbChunks('tokenLogProbs', 2, limits.maxStorageBufferBindingSize / 4, limits)).toThrow(/tokenLogProbs.*logits.*does not fit in one binding/);
  });

  it('V = 152,064 with a logits buffer larger than one binding (N·V·4 > maxStorageBufferBindingSize)', async () => {
    const v = 152064;
    const n = Math.floor(fx.rt.limits.maxStorageBufferBindingSize / (4 * v)) + 3;
    expect(n * v * 4).toBeGreaterThan(fx.rt.limits.maxStorageBufferBindingSize);
    const rng = new SeededRandom(8);
    const logits = new Float32Array(n * v);
    for (let i = 0; i < logits.length; i++) logits[i] = (rng.next() - 0.5) * 8;
    const targets = rng.ints(n, 0, v - 1);
    targets[n - 1] = v - 1;
    const x = fx.rt.upload(logits, [n, v]);
    const t = fx.rt.upload(targets, [n], 'i32');
    const gl = fx.rt.upload(Float32Array.from({ length: n }, (_, i) => (i % 5) - 2), [n]);
    const fwd = tokenLogProbs(fx.rt, x, t, { temperature: 0.7, entropy: true });
    const dx = tokenLogProbsBackward(fx.rt, x, t, fwd.lse, gl, { temperature: 0.7 });
    await fwd.check();
    const ref = tokenLogProbsReference(cpuTensor(logits, [n, v]), targets, { temperature: 0.7, entropy: true });
    await fx.expectClose(fwd.logp, f32(ref.logp), { atol: 1e-4, rtol: 1e-5, label: 'logp' });
    await fx.expectClose(fwd.entropy!, f32(ref.entropy!), { atol: 1e-4, rtol: 1e-5, label: 'entropy' });
    // the gradient of the last rows, which live beyond the first binding window
    const rows = [n - 2, n - 1];
    const sub = cpuTensor(logits.subarray(rows[0]! * v), [2, v]);
    const refGrad = tokenLogProbsBackwardReference(sub, [targets[n - 2]!, targets[n - 1]!], [((n - 2) % 5) - 2, ((n - 1) % 5) - 2], { temperature: 0.7 });
    const got = await fx.rt.read({ array: dx, byteOffset: rows[0]! * v * 4, byteLength: 2 * v * 4 });
    assertClose(got, f32(refGrad.data), { atol: 1e-7, rtol: 1e-3, label: 'dLogits of the last rows' });
    for (const a of [x, t, gl, dx]) a.dispose();
    fwd.dispose();
  });

  it('out-of-range target ids: NaN rows, and check() throws naming tokenLogProbs, targets, the row and the id', async () => {
    const rng = new SeededRandom(9);
    const n = 10;
    const v = 13;
    const { logits } = makeCase(rng, n, v, 'normal');
    for (const [chunkRows, layout] of [[undefined, 'workgroup'], [3, 'workgroup'], [undefined, 'lane'], [4, 'lane']] as const) {
      await withFlags({ 'logprob.layout': layout }, async () => {
        for (const [badRow, badId] of [[4, -1], [7, 13], [0, 1 << 30]] as const) {
          const targets = rng.ints(n, 0, v - 1);
          targets[badRow] = badId;
          if (badRow < 7) targets[9] = -5; // a later bad row: the first one is reported
          const x = fx.rt.upload(logits, [n, v]);
          const t = fx.rt.upload(targets, [n], 'i32');
          const fwd = tokenLogProbs(fx.rt, x, t, { chunkRows });
          await expect(fwd.check()).rejects.toThrow(`[tokenLogProbs] argument "targets": row ${badRow} has target id ${badId}, outside the vocabulary [0, ${v})`);
          const logp = await fx.rt.read(fwd.logp);
          expect(Number.isNaN(logp[badRow]!)).toBe(true);
          const good = targets.map((id) => (id >= 0 && id < v ? id : 0));
          const ref = tokenLogProbsReference(cpuTensor(logits, [n, v]), good);
          for (let r = 0; r < n; r++) if (targets[r]! >= 0 && targets[r]! < v) expect(Math.abs(logp[r]! - ref.logp[r]!)).toBeLessThan(1e-4);
          const gl = fx.rt.upload(new Float32Array(n).fill(1), [n]);
          const dLogits = tokenLogProbsBackward(fx.rt, x, t, fwd.lse, gl, { chunkRows });
          const dx = await fx.rt.read(dLogits);
          expect(Array.from(dx.subarray(badRow * v, (badRow + 1) * v)).every(Number.isNaN)).toBe(true);
          expect(Number.isNaN(dx[((badRow + 1) % 7) * v]!)).toBe(false);
          fwd.dispose();
          for (const a of [x, t, gl, dLogits]) a.dispose();
        }
      });
    }
    // in-range targets pass the check
    const x = fx.rt.upload(logits, [n, v]);
    const t = fx.rt.upload(rng.ints(n, 0, v - 1), [n], 'i32');
    const fwd = tokenLogProbs(fx.rt, x, t);
    await expect(fwd.check()).resolves.toBeUndefined();
    fwd.dispose();
    x.dispose();
    t.dispose();
  });

  it('empty batch (N = 0) gives empty outputs', async () => {
    const x = fx.rt.upload(new Float32Array(0), [0, 5]);
    const t = fx.rt.upload(new Int32Array(0), [0], 'i32');
    const fwd = tokenLogProbs(fx.rt, x, t, { entropy: true });
    expect(fwd.logp.shape).toEqual([0]);
    expect(fwd.entropy!.shape).toEqual([0]);
    const dx = tokenLogProbsBackward(fx.rt, x, t, fwd.lse, fwd.logp);
    expect(dx.shape).toEqual([0, 5]);
    await fwd.check();
    await fx.rt.sync();
  });

  it('bad arguments name the kernel, the argument and the expected shape', () => {
    const arrays: GpuArray[] = [];
    const up = (data: number[], shape: number[], dtype?: 'i32') => {
      const a = fx.rt.upload(dtype === 'i32' ? Int32Array.from(data) : Float32Array.from(data), shape, dtype);
      arrays.push(a);
      return a;
    };
    const x = up([1, 2, 3, 4, 5, 6], [2, 3]);
    const t = up([0, 1], [2], 'i32');
    const lse = up([0, 0], [2]);
    const g = up([1, 1], [2]);
    expect(() => tokenLogProbs(fx.rt, x, up([0, 1, 2], [3], 'i32'))).toThrow('[tokenLogProbs] argument "targets": expected shape [2], got [3]');
    expect(() => tokenLogProbs(fx.rt, x, up([0, 1], [2]))).toThrow(/\[tokenLogProbs\] argument "targets": expected dtype i32/);
    expect(() => tokenLogProbs(fx.rt, up([1, 2], [2]), t)).toThrow('[tokenLogProbs] argument "logits": expected shape [*, *], got [2]');
    expect(() => tokenLogProbs(fx.rt, up([], [2, 0]), t)).toThrow(/\[tokenLogProbs\] argument "logits": expected shape \[N, V\] with V ≥ 1/);
    expect(() => tokenLogProbs(fx.rt, x, t, { temperature: 0 })).toThrow(/\[tokenLogProbs\] argument "temperature": must be a finite number > 0/);
    expect(() => tokenLogProbs(fx.rt, x, t, { temperature: NaN })).toThrow(/temperature/);
    expect(() => tokenLogProbs(fx.rt, x, t, { chunkRows: 1.5 })).toThrow(/\[tokenLogProbs\] argument "chunkRows"/);
    expect(() => tokenLogProbsBackward(fx.rt, x, t, up([0, 0, 0], [3]), g)).toThrow('[tokenLogProbsBackward] argument "lse": expected shape [2], got [3]');
    expect(() => tokenLogProbsBackward(fx.rt, x, t, lse, up([1], [1]))).toThrow('[tokenLogProbsBackward] argument "gLogp": expected shape [2], got [1]');
    expect(() => tokenLogProbsBackward(fx.rt, x, t, lse, g, { gEntropy: up([1, 1, 1, 1], [2, 2]) })).toThrow(
      '[tokenLogProbsBackward] argument "options.gEntropy": expected shape [2], got [2, 2]',
    );
    expect(() => tokenLogProbsBackward(fx.rt, x, t, lse, g, { gEntropy: g, entropy: up([0], [1]) })).toThrow('[tokenLogProbsBackward] argument "options.entropy": expected shape [2], got [1]');
    expect(() => tokenLogProbsBackward(fx.rt, x, up([0, 1], [2], 'i32'), lse, g, { temperature: -1 })).toThrow(/\[tokenLogProbsBackward\] argument "temperature"/);
    for (const a of arrays) a.dispose();
  });
});
