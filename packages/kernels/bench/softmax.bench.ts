// softmax / log-softmax over rows against tfjs-webgpu (same Dawn device, its fused one-workgroup-
// per-row softmax) and plain Float32Array loops ('js'). Work is the minimum traffic: the input
// read once and the output written once (2·n·4 bytes; our kernel reads the row twice).
import { logSoftmax, softmax, softmaxBackward } from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';
import type { BenchCase, BenchContext } from './harness.js';
import { oursRunner, tfPeer } from './elementwise.bench.js';

function jsSoftmax(x: Float32Array, y: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[o + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[o + c]! - m);
    const inv = 1 / s;
    for (let c = 0; c < cols; c++) y[o + c] = Math.exp(x[o + c]! - m) * inv;
  }
}

export default async function (ctx: BenchContext): Promise<BenchCase[]> {
  const { rt } = ctx;
  const shapes: [number, number][] = ctx.quick ? [[256, 1024], [32, 32768]] : [[4096, 1024], [512, 32768]];
  const cases: BenchCase[] = [];
  for (const [rows, cols] of shapes) {
    const n = rows * cols;
    const host = new SeededRandom(3).floats(n, -8, 8);
    const x = rt.upload(host, [rows, cols]);
    const dy = rt.upload(new SeededRandom(4).floats(n), [rows, cols]);
    const y = softmax(rt, x);
    const out = new Float32Array(n);
    const yHost = new Float32Array(n);
    jsSoftmax(host, yHost, rows, cols);
    const dyHost = new SeededRandom(4).floats(n);
    const input = [{ data: host, shape: [rows, cols] }];
    cases.push(
      {
        name: `softmax [${rows}, ${cols}]`,
        params: { rows, cols },
        work: 2 * n * 4,
        unit: 'GB/s',
        ours: oursRunner(rt, () => softmax(rt, x)),
        peers: {
          'tfjs-webgpu': tfPeer(ctx, input, (t, [a]) => t.softmax(a!)),
          js: () => jsSoftmax(host, out, rows, cols),
        },
      },
      {
        name: `logSoftmax [${rows}, ${cols}]`,
        params: { rows, cols },
        work: 2 * n * 4,
        unit: 'GB/s',
        ours: oursRunner(rt, () => logSoftmax(rt, x)),
        peers: { 'tfjs-webgpu': tfPeer(ctx, input, (t, [a]) => t.logSoftmax(a!)) },
      },
      {
        name: `softmax backward [${rows}, ${cols}]`,
        params: { rows, cols },
        work: 3 * n * 4,
        unit: 'GB/s',
        ours: oursRunner(rt, () => softmaxBackward(rt, y, dy)),
        // The softmax gradient y·(dy − Σ y·dy) composed from tfjs ops, from the same y.
        peers: {
          'tfjs-webgpu': tfPeer(ctx, [{ data: yHost, shape: [rows, cols] }, { data: dyHost, shape: [rows, cols] }], (t, [p, d]) =>
            t.tidy(() => t.mul(p!, t.sub(d!, t.sum(t.mul(p!, d!), -1, true)))),
          ),
        },
        dispose: () => {
          for (const a of [x, dy, y]) a.dispose();
        },
      },
    );
  }
  return cases;
}
