// AdamW over a flat parameter vector, in place, against a plain Float32Array loop ('js').
// Work is the traffic of one step: read param, grad, m, v and write param, m, v: 7·n·4 bytes.
import { adamwUpdate } from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';
import type { BenchCase, BenchContext } from './harness.js';

function jsAdamW(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, step: number): void {
  const lr = 1e-3;
  const b1 = 0.9;
  const b2 = 0.999;
  const eps = 1e-8;
  const decay = 1 - lr * 0.01;
  const stepSize = lr / (1 - b1 ** step);
  const bias2Sqrt = Math.sqrt(1 - b2 ** step);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    const mi = (m[i] = b1 * m[i]! + (1 - b1) * gi);
    const vi = (v[i] = b2 * v[i]! + (1 - b2) * gi * gi);
    p[i] = p[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) / bias2Sqrt + eps);
  }
}

export default async function (ctx: BenchContext): Promise<BenchCase[]> {
  const { rt } = ctx;
  const n = ctx.quick ? 1_000_000 : 10_000_000;
  const rng = new SeededRandom(1);
  const pHost = rng.floats(n);
  const gHost = rng.floats(n);
  const param = rt.upload(pHost);
  const grad = rt.upload(gHost);
  const m = rt.zeros([n]);
  const v = rt.zeros([n]);
  const jm = new Float32Array(n);
  const jv = new Float32Array(n);
  let step = 0;
  let jsStep = 0;
  return [
    {
      name: `adamw ${n / 1e6}M params`,
      params: { n },
      work: 7 * n * 4,
      unit: 'GB/s',
      ours: async () => {
        adamwUpdate(rt, param, grad, m, v, { lr: 1e-3, step: ++step });
        await rt.sync();
      },
      peers: { js: () => jsAdamW(pHost, gHost, jm, jv, ++jsStep) },
      dispose: () => {
        for (const a of [param, grad, m, v]) a.dispose();
      },
    },
  ];
}
