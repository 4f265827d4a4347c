// Elementwise kernels against tfjs-webgpu (same Dawn device) and plain Float32Array loops ('js').
// Work is the unavoidable memory traffic in bytes: inputs read once, output written once (a
// broadcast operand that fits in cache is counted once).
import { add, gelu, binaryBackward } from '../src/index.js';
import type { GpuArray } from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';
import type { BenchCase, BenchContext, Runner } from './harness.js';

type Tf = Awaited<ReturnType<BenchContext['tfWebgpu']>>;
type Tensor = import('@tensorflow/tfjs-core').Tensor;

/**
 * A tfjs-webgpu peer: uploads its inputs in `before`, runs `op` per iteration and waits for it by
 * reading one element of the result (a full readback would time the copy, not the kernel).
 */
export function tfPeer(ctx: BenchContext, inputs: { data: Float32Array; shape: number[] }[], op: (tf: Tf, xs: Tensor[]) => Tensor | Tensor[]): Runner {
  let tf: Tf | null = null;
  let xs: Tensor[] = [];
  return {
    before: async () => {
      tf = await ctx.tfWebgpu();
      const t = tf;
      xs = inputs.map((i) => t.tensor(i.data, i.shape));
    },
    run: async () => {
      const t = tf!;
      const out = op(t, xs);
      const ys = Array.isArray(out) ? out : [out];
      // One element of the last result: tfjs runs its queue in order, so this waits for all of it.
      const probe = t.tidy(() => t.slice(t.reshape(ys[ys.length - 1]!, [-1]), [0], [1]));
      await probe.data();
      t.dispose([...ys, probe]);
    },
    after: () => {
      tf?.dispose(xs);
      xs = [];
    },
  };
}

/** Runs a launcher, disposes its outputs and waits for the GPU. */
export function oursRunner(rt: BenchContext['rt'], launch: () => GpuArray | GpuArray[]): Runner {
  return async () => {
    const out = launch();
    for (const a of Array.isArray(out) ? out : [out]) a.dispose();
    await rt.sync();
  };
}

export default async function (ctx: BenchContext): Promise<BenchCase[]> {
  const { rt } = ctx;
  const rows = ctx.quick ? 256 : 4096;
  const cols = 1024;
  const n = rows * cols;
  const rng = new SeededRandom(1);
  const aHost = rng.floats(n);
  const bHost = rng.floats(n);
  const biasHost = rng.floats(cols);
  const a = rt.upload(aHost, [rows, cols]);
  const b = rt.upload(bHost, [rows, cols]);
  const bias = rt.upload(biasHost, [cols]);
  const jsOut = new Float32Array(n);
  const label = `${n >= 1 << 20 ? `${n / (1 << 20)}M` : `${n / 1024}k`}`;
  return [
    {
      name: `add ${label} + ${label}`,
      params: { rows, cols, broadcast: false },
      work: 3 * n * 4,
      unit: 'GB/s',
      ours: oursRunner(rt, () => add(rt, a, b)),
      peers: {
        'tfjs-webgpu': tfPeer(ctx, [{ data: aHost, shape: [rows, cols] }, { data: bHost, shape: [rows, cols] }], (t, [x, y]) => t.add(x!, y!)),
        js: () => {
          for (let i = 0; i < n; i++) jsOut[i] = aHost[i]! + bHost[i]!;
        },
      },
    },
    {
      name: `add [${rows}, ${cols}] + [${cols}] (broadcast)`,
      params: { rows, cols, broadcast: true },
      work: 2 * n * 4 + cols * 4,
      unit: 'GB/s',
      ours: oursRunner(rt, () => add(rt, a, bias)),
      peers: {
        'tfjs-webgpu': tfPeer(ctx, [{ data: aHost, shape: [rows, cols] }, { data: biasHost, shape: [cols] }], (t, [x, y]) => t.add(x!, y!)),
        js: () => {
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) jsOut[r * cols + c] = aHost[r * cols + c]! + biasHost[c]!;
        },
      },
    },
    {
      name: `gelu ${label}`,
      params: { rows, cols },
      work: 2 * n * 4,
      unit: 'GB/s',
      ours: oursRunner(rt, () => gelu(rt, a)),
      peers: {
        'tfjs-webgpu': tfPeer(ctx, [{ data: aHost, shape: [rows, cols] }], (t, [x]) =>
          t.tidy(() => t.mul(t.mul(x!, 0.5), t.add(1, t.tanh(t.mul(Math.sqrt(2 / Math.PI), t.add(x!, t.mul(0.044715, t.pow(x!, 3)))))))),
        ),
      },
    },
    {
      name: `mul backward [${rows}, ${cols}] · [${cols}]`,
      params: { rows, cols },
      // reads a, dy, writes da; the db path reads its full-shape product once more for the sum.
      work: 5 * n * 4,
      unit: 'GB/s',
      ours: oursRunner(rt, () => {
        const g = binaryBackward(rt, 'mul', a, bias, b);
        return [g.da, g.db];
      }),
      peers: {
        'tfjs-webgpu': tfPeer(ctx, [{ data: aHost, shape: [rows, cols] }, { data: biasHost, shape: [cols] }, { data: bHost, shape: [rows, cols] }], (t, [x, w, dy]) =>
          t.tidy(() => [t.mul(dy!, w!), t.sum(t.mul(dy!, x!), 0)]),
        ),
      },
      dispose: () => {
        for (const t of [a, b, bias]) t.dispose();
      },
    },
  ];
}
