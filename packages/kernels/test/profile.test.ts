// The runtime's profiler (issue 17): exact counts for a known sequence of ops, per-kernel GPU
// times that add up, the same results with profiling on and off, no extra submit when on, and the
// host-timed fallback on a device without timestamp-query.
import { beforeAll, describe, expect, it } from 'vitest';
import { Runtime, matmul, softmax, type GpuArray, type KernelProgram, type RuntimeCounters } from '../src/index.js';
import { kernelFixture, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

const addOne: KernelProgram = {
  name: 'add-one',
  variant: 'test',
  workgroupSize: [64],
  uniforms: [{ name: 'n', type: 'u32' }],
  bindings: [
    { name: 'x', type: 'f32', access: 'read' },
    { name: 'y', type: 'f32', access: 'read_write' },
  ],
  code: `@compute @workgroup_size(WG_X) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    if (g.x < params.n) { y[g.x] = x[g.x] + 1.0; } }`,
};

function diff(after: RuntimeCounters, before: RuntimeCounters): RuntimeCounters {
  const d = { ...after };
  for (const k of Object.keys(d) as (keyof RuntimeCounters)[]) d[k] -= before[k];
  return d;
}

/** N chained matmuls and a softmax, read back once: a known sequence of ops. */
async function chain(rt: Runtime, n: number): Promise<Float32Array> {
  const rng = new SeededRandom(7);
  const a = rt.upload(rng.floats(33 * 29, -1, 1), [33, 29]);
  const w = rt.upload(rng.floats(29 * 29, -0.3, 0.3), [29, 29]);
  const made: GpuArray[] = [a, w];
  let x = a;
  for (let i = 0; i < n; i++) made.push((x = matmul(rt, x, w)));
  const y = softmax(rt, x);
  made.push(y);
  const out = (await rt.read(y)) as Float32Array;
  for (const t of made) t.dispose();
  return out;
}

describe('profiler', () => {
  it('counts exactly: N matmuls → N dispatches, one read-back per read', async () => {
    const rt = fx.rt;
    await rt.sync();
    const before = rt.counters();
    const profile = await rt.profile(async () => {
      await chain(rt, 5);
    });
    const counted = diff(rt.counters(), before);
    expect(profile.counts.dispatches).toBe(6); // 5 matmuls + 1 softmax
    expect(profile.counts.readbacks).toBe(1);
    expect(profile.counts.readbackBytes).toBe(33 * 29 * 4);
    expect(profile.counts.uploads).toBe(2);
    expect(profile.counts.uploadBytes).toBe((33 * 29 + 29 * 29) * 4);
    expect(profile.counts.arrays).toBe(2 + 5 + 1);
    expect(profile.counts.syncs).toBe(0);
    // The profiler adds no submit, dispatch or pool buffer of its own.
    expect(counted).toEqual(profile.counts);
    const byName = Object.fromEntries(profile.kernels.map((k) => [k.name, k.count]));
    if (profile.source === 'timestamp') {
      expect(byName).toEqual({ matmul: 5, softmax: 1 });
      const sum = profile.kernels.reduce((s, k) => s + k.ms, 0);
      expect(sum).toBeCloseTo(profile.gpuMs, 6);
      for (const k of profile.kernels) expect(Object.values(k.variants!).reduce((s, v) => s + v.count, 0)).toBe(k.count);
      expect(profile.gpuMs).toBeGreaterThan(0);
      expect(profile.gpuMs).toBeLessThanOrEqual(profile.wallMs * 1.05);
    }
    expect(profile.host.encodeMs).toBeGreaterThan(0);
    expect(profile.host.waitMs).toBeGreaterThanOrEqual(0);
  });

  it('leaves results and submits unchanged (no extra submit when on)', async () => {
    const rt = fx.rt;
    await rt.sync();
    const c0 = rt.counters();
    const off = await chain(rt, 3);
    const offCounts = diff(rt.counters(), c0);
    let on: Float32Array | null = null;
    const profile = await rt.profile(async () => {
      on = await chain(rt, 3);
    });
    expect([...on!]).toEqual([...off]);
    expect(profile.counts.submits).toBe(offCounts.submits);
    expect(profile.counts.dispatches).toBe(offCounts.dispatches);
  });

  it('times more passes than one query set holds', async () => {
    const rt = fx.rt;
    if (!rt.hasFeature('timestamp-query')) return; // the fallback test below covers devices without it
    const x = rt.upload(new Float32Array(64));
    const y = rt.empty([64]);
    const n = 2048 + 37; // past the query set's 2048 passes: resolved in two chunks
    const profile = await rt.profile(() => {
      for (let i = 0; i < n; i++) rt.dispatch(addOne, { bindings: [x, y], uniforms: { n: 64 }, workgroups: [1] });
    });
    expect(profile.kernels).toEqual([{ name: 'add-one', count: n, ms: expect.any(Number), variants: { test: { count: n, ms: expect.any(Number) } } }]);
    expect(profile.counts.dispatches).toBe(n);
    expect(profile.counts.submits).toBe(Math.ceil(n / rt.submitBatch));
    expect([...(await rt.read(y))]).toEqual(new Array(64).fill(1));
    x.dispose();
    y.dispose();
  });

  it('falls back to host timing per dispatch without timestamp-query', async () => {
    const rt = await Runtime.create({ disableFeatures: ['timestamp-query'] });
    try {
      const withTimestamps = await chain(fx.rt, 2);
      let out: Float32Array | null = null;
      const profile = await rt.profile(async () => {
        out = await chain(rt, 2);
      });
      expect(profile.source).toBe('wall');
      expect(Object.fromEntries(profile.kernels.map((k) => [k.name, k.count]))).toEqual({ matmul: 2, softmax: 1 });
      expect(profile.counts.dispatches).toBe(3);
      expect(profile.gpuMs).toBeGreaterThan(0);
      expect([...out!]).toEqual([...withTimestamps]);
    } finally {
      rt.destroy();
    }
  });
});
