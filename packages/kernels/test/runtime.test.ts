import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ArgumentError,
  DeviceLostError,
  KernelError,
  Runtime,
  cast,
  castReference,
  sizeClass,
  withFlags,
  getFlag,
  type KernelProgram,
} from '../src/index.js';
import { kernelFixture, SeededRandom } from '../src/testing/index.js';

// A tiny program used to exercise the runtime itself.
const addOne: KernelProgram = {
  name: 'add-one',
  variant: 'test',
  workgroupSize: [64],
  uniforms: [{ name: 'n', type: 'u32' }],
  bindings: [
    { name: 'x', type: 'f32', access: 'read' },
    { name: 'y', type: 'f32', access: 'read_write' },
  ],
  code: `@compute @workgroup_size(WG_X) fn main(@builtin(global_invocation_id) g: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = g.y * nwg.x * WG_X + g.x;
    if (i < params.n) { y[i] = x[i] + 1.0; } }`,
};

const fx = kernelFixture(beforeAll);

describe('runtime', () => {
  it('negotiates the adapter maxima instead of the spec defaults', () => {
    const adapterLimits = fx.rt.adapter.limits;
    expect(fx.rt.limits.maxStorageBufferBindingSize).toBe(adapterLimits.maxStorageBufferBindingSize);
    expect(fx.rt.limits.maxComputeWorkgroupStorageSize).toBe(adapterLimits.maxComputeWorkgroupStorageSize);
    expect(fx.rt.limits.maxComputeInvocationsPerWorkgroup).toBe(adapterLimits.maxComputeInvocationsPerWorkgroup);
    expect(fx.rt.limits.maxBufferSize).toBe(adapterLimits.maxBufferSize);
  });

  it('uploads and reads back every dtype', async () => {
    const f = fx.rt.upload(new Float32Array([1.5, -2, 3e30]));
    const i = fx.rt.upload(new Int32Array([-7, 0, 2 ** 31 - 1]));
    const u = fx.rt.upload(new Uint32Array([0, 1, 2 ** 32 - 1]));
    expect([...(await fx.rt.read(f))]).toEqual([1.5, -2, Math.fround(3e30)]);
    expect([...(await fx.rt.read(i))]).toEqual([-7, 0, 2 ** 31 - 1]);
    expect([...(await fx.rt.read(u))]).toEqual([0, 1, 2 ** 32 - 1]);
    const z = fx.rt.zeros([5, 0]);
    expect((await fx.rt.read(z)).length).toBe(0);
    for (const a of [f, i, u, z]) a.dispose();
  });

  it('copies arrays whole or into a byte offset of a larger one, refusing what does not fit', async () => {
    const a = fx.rt.upload(new Uint32Array([7, 8]));
    const b = fx.rt.upload(new Uint32Array([9]));
    const target = fx.rt.zeros([4], 'u32');
    fx.rt.copy(a, target, 4);
    fx.rt.copy(b, target, 12);
    expect([...(await fx.rt.read(target))]).toEqual([0, 7, 8, 9]);
    const same = fx.rt.zeros([2], 'u32');
    fx.rt.copy(a, same);
    expect([...(await fx.rt.read(same))]).toEqual([7, 8]);
    expect(() => fx.rt.copy(a, target, 12)).toThrow(/\[copy\] argument "targetByteOffset": must be a multiple of 4 with 8 source bytes fitting the target's 16, got 12/);
    expect(() => fx.rt.copy(a, target, 2)).toThrow(ArgumentError);
    expect(() => fx.rt.copy(a, target)).toThrow(/\[copy\] argument "target": has 16 bytes, source has 8/);
    for (const x of [a, b, target, same]) x.dispose();
  });

  it('runs a kernel over a grid folded into 2-D (more than 65535 workgroups)', async () => {
    const n = 65535 * 64 + 1000; // needs 65551 workgroups of 64
    const x = fx.rt.upload(new Float32Array(n).map((_, k) => k % 1000));
    const y = fx.rt.empty([n]);
    const grid = fx.rt.grid(Math.ceil(n / 64));
    expect(grid[1]).toBeGreaterThan(1);
    fx.rt.dispatch(addOne, { bindings: [x, y], uniforms: { n }, workgroups: grid });
    const out = await fx.rt.read(y);
    expect(out[0]).toBe(1);
    expect(out[n - 1]).toBe(((n - 1) % 1000) + 1);
    let bad = 0;
    for (let k = 0; k < n; k++) if (out[k] !== (k % 1000) + 1) bad++;
    expect(bad).toBe(0);
    x.dispose();
    y.dispose();
  });

  it('returns live bytes to their starting value after 1,000 launches (no leak)', async () => {
    const x = fx.rt.upload(new Float32Array(100).fill(1));
    await fx.rt.sync();
    const start = fx.rt.memory();
    let y = x;
    for (let k = 0; k < 1000; k++) {
      const next = fx.rt.empty([100]);
      fx.rt.dispatch(addOne, { bindings: [y, next], uniforms: { n: 100 }, workgroups: [2] });
      if (y !== x) y.dispose();
      y = next;
    }
    const out = await fx.rt.read(y);
    expect(out[0]).toBe(1001); // x is 1 and each of the 1,000 launches adds one
    y.dispose();
    await fx.rt.sync();
    const end = fx.rt.memory();
    expect(end.liveBytes).toBe(start.liveBytes);
    expect(end.liveBuffers).toBe(start.liveBuffers);
    // The pool reached a steady state: a handful of buffers, not one per launch.
    expect(end.created - start.created).toBeLessThan(80);
    x.dispose();
  });

  it('rounds sizes up to 2^k or 1.5·2^k classes', () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(257)).toBe(384);
    expect(sizeClass(384)).toBe(384);
    expect(sizeClass(385)).toBe(512);
    expect(sizeClass(1 << 20)).toBe(1 << 20);
  });

  it('reports peak bytes from the pool', async () => {
    fx.rt.pool.resetPeak();
    const before = fx.rt.memory();
    const big = fx.rt.empty([1 << 18]); // 1 MiB
    const mid = fx.rt.memory();
    big.dispose();
    expect(mid.liveBytes - before.liveBytes).toBe(1 << 20);
    expect(fx.rt.memory().peakBytes).toBeGreaterThanOrEqual(before.liveBytes + (1 << 20));
  });

  it('turns a WGSL compile error into a KernelError that names the kernel and the line', async () => {
    const broken: KernelProgram = { ...addOne, variant: 'broken', code: addOne.code.replace('x[i] + 1.0', 'x[i] + undefinedThing') };
    const x = fx.rt.upload([1, 2]);
    const y = fx.rt.empty([2]);
    fx.rt.dispatch(broken, { bindings: [x, y], uniforms: { n: 2 }, workgroups: [1] });
    const error = await fx.rt.sync().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(KernelError);
    expect((error as KernelError).kernel).toBe('add-one');
    expect((error as Error).message).toMatch(/failed to compile.*undefinedThing/s);
    // The broken pipeline stays known: the next launch throws at once.
    expect(() => fx.rt.dispatch(broken, { bindings: [x, y], uniforms: { n: 2 }, workgroups: [1] })).toThrow(/failed to compile/);
    await fx.rt.sync(); // the runtime is still usable
    x.dispose();
    y.dispose();
  });

  it('rejects bad arguments with the kernel, the argument and the expectation', () => {
    const x = fx.rt.upload([1, 2]);
    const wrong = fx.rt.empty([2], 'i32');
    expect(() => fx.rt.dispatch(addOne, { bindings: [x, wrong], uniforms: { n: 2 }, workgroups: [1] })).toThrow(
      /\[add-one\] argument "y": expected dtype f32, got i32 \[2\]/,
    );
    expect(() => fx.rt.dispatch(addOne, { bindings: [x], uniforms: { n: 2 }, workgroups: [1] })).toThrow(/argument "bindings": expected 2 \(x, y\)/);
    expect(() => fx.rt.dispatch(addOne, { bindings: [x, x], uniforms: {}, workgroups: [1] })).toThrow(/uniform "n" is missing/);
    expect(() => fx.rt.dispatch(addOne, { bindings: [x, x], uniforms: { n: 2 }, workgroups: [70000] })).toThrow(/workgroups.x/);
    expect(() => fx.rt.upload([1, 2, 3], [2, 2])).toThrow(ArgumentError);
    x.dispose();
    wrong.dispose();
  });

  it('refuses a binding over the device limit, naming kernel and argument', () => {
    const limit = fx.rt.limits.maxStorageBufferBindingSize;
    const big = fx.rt.empty([limit / 4 + 64]);
    const y = fx.rt.empty([1]);
    expect(() => fx.rt.dispatch(addOne, { bindings: [big, y], uniforms: { n: 1 }, workgroups: [1] })).toThrow(
      /\[add-one\] argument "x": .* over this device's maxStorageBufferBindingSize/,
    );
    big.dispose();
    y.dispose();
  });

  it('times kernels with timestamp queries when the device has them', async () => {
    const x = fx.rt.upload(new Float32Array(1 << 16));
    const y = fx.rt.empty([1 << 16]);
    const profile = await fx.rt.profile(() => {
      for (let k = 0; k < 5; k++) fx.rt.dispatch(addOne, { bindings: [x, y], uniforms: { n: 1 << 16 }, workgroups: [1024] });
    });
    expect(profile.source).toBe(fx.rt.hasFeature('timestamp-query') ? 'timestamp' : 'wall');
    expect(profile.gpuMs).toBeGreaterThan(0);
    if (profile.source === 'timestamp') {
      expect(profile.kernels).toEqual([{ name: 'add-one', count: 5, ms: expect.any(Number), variants: { test: { count: 5, ms: expect.any(Number) } } }]);
      expect(profile.gpuMs).toBeLessThanOrEqual(profile.wallMs * 1.05);
    }
    x.dispose();
    y.dispose();
  });

  it('exposes variant flags that tests can force and restore', async () => {
    expect(getFlag('test.variant', 'a')).toBe('a');
    await withFlags({ 'test.variant': 'b' }, () => expect(getFlag('test.variant', 'a')).toBe('b'));
    expect(getFlag('test.variant', 'a')).toBe('a');
  });
});

describe('optional features', () => {
  it('casts f32 ↔ f16 with round-to-nearest when shader-f16 is present', async () => {
    if (!fx.rt.hasFeature('shader-f16')) return; // the forced-off test below covers devices without it
    const rng = new SeededRandom(3);
    const values = [...rng.floats(301, -70000, 70000), 0, -0, 1e-8, 65504, 65520, 1 / 3];
    const x = fx.rt.upload(values);
    const h = cast(fx.rt, x, 'f16');
    const back = cast(fx.rt, h, 'f32');
    const expected = castReference(await fx.rt.read(x), 'f16'); // from the f32 values the kernel casts
    await fx.expectClose(back, expected, { atol: 0, rtol: 0 });
    await fx.expectClose(h, expected, { atol: 0, rtol: 0 });
    for (const a of [x, h, back]) a.dispose();
  });

  it('works with every optional feature forced off', async () => {
    const off = await Runtime.create({ disableFeatures: ['shader-f16', 'subgroups', 'timestamp-query'] });
    try {
      expect(off.features.size).toBe(0);
      expect(() => off.empty([4], 'f16')).toThrow(/shader-f16/);
      const x = off.upload([1.7, -2.7]);
      const i = cast(off, x, 'i32');
      expect([...(await off.read(i))]).toEqual([1, -2]);
      const profile = await off.profile(() => off.dispatch(addOne, { bindings: [x, off.empty([2])], uniforms: { n: 2 }, workgroups: [1] }));
      expect(profile.source).toBe('wall');
    } finally {
      off.destroy();
    }
  });
});

describe('device loss', () => {
  let lostRt: Runtime;
  afterAll(() => lostRt?.destroy());

  it('surfaces as a DeviceLostError, not a hang', async () => {
    lostRt = await Runtime.create();
    const x = lostRt.upload([1, 2, 3]);
    lostRt.device.destroy(); // what a driver reset looks like from here
    await expect(lostRt.read(x)).rejects.toBeInstanceOf(DeviceLostError);
    expect(() => lostRt.empty([2])).toThrow(DeviceLostError);
  });
});

describe('OpenGL ES fallback backend', () => {
  it('runs kernels in compatibility mode beside the Vulkan device', async () => {
    const gl = await Runtime.create({ backend: 'opengles' });
    try {
      expect(gl.backend).toBe('opengles');
      // Compatibility-mode defaults allow 128 invocations; the negotiation must have raised it.
      expect(gl.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
      const x = gl.upload([1.5, -2.5, 7]);
      expect([...(await gl.read(cast(gl, x, 'i32')))]).toEqual([1, -2, 7]);
      const y = gl.empty([3]);
      gl.dispatch(addOne, { bindings: [x, y], uniforms: { n: 3 }, workgroups: [1] });
      expect([...(await gl.read(y))]).toEqual([2.5, -1.5, 8]);
    } finally {
      gl.destroy();
    }
  });
});
