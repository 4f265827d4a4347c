// Reductions against tfjs-webgpu (same Dawn device) and plain Float32Array loops ('js'). Work is
// the bytes read (the input once) plus the bytes written.
import { reduceSum } from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';
import type { BenchCase, BenchContext } from './harness.js';
import { oursRunner, tfPeer } from './elementwise.bench.js';

export default async function (ctx: BenchContext): Promise<BenchCase[]> {
  const { rt } = ctx;
  const rows = ctx.quick ? 256 : 4096;
  const cols = 1024;
  const n = rows * cols;
  const host = new SeededRandom(2).floats(n);
  const x = rt.upload(host, [rows, cols]);
  const rowOut = new Float32Array(rows);
  const colOut = new Float32Array(cols);
  const input = [{ data: host, shape: [rows, cols] }];
  return [
    {
      name: `sum rows [${rows}, ${cols}] axis 1`,
      params: { rows, cols, axis: 1 },
      work: (n + rows) * 4,
      unit: 'GB/s',
      ours: oursRunner(rt, () => reduceSum(rt, x, { axis: 1 })),
      peers: {
        'tfjs-webgpu': tfPeer(ctx, input, (t, [a]) => t.sum(a!, 1)),
        js: () => {
          for (let r = 0; r < rows; r++) {
            let s = 0;
            for (let c = 0; c < cols; c++) s += host[r * cols + c]!;
            rowOut[r] = s;
          }
        },
      },
    },
    {
      name: `sum columns [${rows}, ${cols}] axis 0`,
      params: { rows, cols, axis: 0 },
      work: (n + cols) * 4,
      unit: 'GB/s',
      ours: oursRunner(rt, () => reduceSum(rt, x, { axis: 0 })),
      peers: {
        'tfjs-webgpu': tfPeer(ctx, input, (t, [a]) => t.sum(a!, 0)),
        js: () => {
          colOut.fill(0);
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) colOut[c] += host[r * cols + c]!;
        },
      },
    },
    {
      name: `sum all [${n}]`,
      params: { n },
      work: n * 4,
      unit: 'GB/s',
      ours: oursRunner(rt, () => reduceSum(rt, x)),
      peers: {
        'tfjs-webgpu': tfPeer(ctx, input, (t, [a]) => t.sum(a!)),
        js: () => {
          let s = 0;
          for (let i = 0; i < n; i++) s += host[i]!;
          rowOut[0] = s;
        },
      },
      dispose: () => x.dispose(),
    },
  ];
}
