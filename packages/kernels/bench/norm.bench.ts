// LayerNorm and RMSNorm, forward + backward (dx, dγ, dβ), against
//  - 'tfjs-webgpu': the usual composition (tf.moments / mean of squares, rsqrt, scale, shift) and
//    its backward written with tfjs ops, on the same Dawn device;
//  - 'js': plain Float32Array loops (two-pass forward, the same backward formulas).
// Work is the unavoidable traffic: forward reads x and writes y, backward reads dy and x and writes
// dx, so 5·N·D·4 bytes (γ, β, the per-row statistics and the dγ/dβ passes are not counted).
import { layerNorm, layerNormBackward, rmsNorm, rmsNormBackward, type GpuArray, type Runtime } from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';
import type { BenchCase, BenchContext } from './harness.js';

type Tf = Awaited<ReturnType<BenchContext['tfWebgpu']>>;
type Tensor = import('@tensorflow/tfjs-core').Tensor;

function jsLayerNorm(x: Float32Array, g: Float32Array, b: Float32Array, dy: Float32Array, rows: number, dim: number, out: { y: Float32Array; dx: Float32Array; dg: Float32Array; db: Float32Array }, rms: boolean): void {
  const { y, dx, dg, db } = out;
  dg.fill(0);
  db.fill(0);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let mean = 0;
    if (!rms) {
      for (let i = 0; i < dim; i++) mean += x[o + i]!;
      mean /= dim;
    }
    let v = 0;
    for (let i = 0; i < dim; i++) v += (x[o + i]! - mean) ** 2;
    const rs = 1 / Math.sqrt(v / dim + 1e-5);
    let sg = 0;
    let sgx = 0;
    for (let i = 0; i < dim; i++) {
      const xh = (x[o + i]! - mean) * rs;
      y[o + i] = xh * g[i]! + (rms ? 0 : b[i]!);
      const gg = dy[o + i]! * g[i]!;
      sg += gg;
      sgx += gg * xh;
      dg[i] += dy[o + i]! * xh;
      db[i] += dy[o + i]!;
    }
    const mg = rms ? 0 : sg / dim;
    for (let i = 0; i < dim; i++) {
      const xh = (x[o + i]! - mean) * rs;
      dx[o + i] = rs * (dy[o + i]! * g[i]! - mg - (xh * sgx) / dim);
    }
  }
}

async function normCase(ctx: BenchContext, kind: 'layer' | 'rms', rows: number, dim: number): Promise<BenchCase> {
  const rt: Runtime = ctx.rt;
  const rng = new SeededRandom(1);
  const xHost = rng.floats(rows * dim, -2, 2);
  const dyHost = rng.floats(rows * dim);
  const gHost = rng.floats(dim, 0.5, 1.5);
  const bHost = rng.floats(dim);
  const x = rt.upload(xHost, [rows, dim]);
  const dy = rt.upload(dyHost, [rows, dim]);
  const gamma = rt.upload(gHost);
  const beta = rt.upload(bHost);
  const ours = async () => {
    let arrays: GpuArray[];
    if (kind === 'layer') {
      const f = layerNorm(rt, x, gamma, beta);
      const b = layerNormBackward(rt, dy, x, gamma, f.mean, f.rstd);
      arrays = [f.y, f.mean, f.rstd, b.dx, b.dgamma, b.dbeta];
    } else {
      const f = rmsNorm(rt, x, gamma);
      const b = rmsNormBackward(rt, dy, x, gamma, f.rstd);
      arrays = [f.y, f.rstd, b.dx, b.dgamma];
    }
    for (const a of arrays) a.dispose();
    await rt.sync();
  };
  const jsOut = { y: new Float32Array(rows * dim), dx: new Float32Array(rows * dim), dg: new Float32Array(dim), db: new Float32Array(dim) };
  let tf: Tf | null = null;
  let tfIn: Tensor[] = [];
  // Forward and backward composed from tfjs ops (tfjs-core's Node bundle ships without gradient
  // registrations, so tf.grads is unavailable; this is the graph its autodiff would build).
  const tfStep = (t: Tf, xs: Tensor, g: Tensor, b: Tensor, d: Tensor): Tensor[] =>
    t.tidy(() => {
      let xc: Tensor;
      let rstd: Tensor;
      if (kind === 'layer') {
        const { mean, variance } = t.moments(xs, -1, true);
        xc = t.sub(xs, mean);
        rstd = t.rsqrt(t.add(variance, 1e-5));
      } else {
        xc = xs;
        rstd = t.rsqrt(t.add(t.mean(t.square(xs), -1, true), 1e-6));
      }
      const xhat = t.mul(xc, rstd);
      const y = kind === 'layer' ? t.add(t.mul(xhat, g), b) : t.mul(xhat, g);
      const gh = t.mul(d, g);
      const meanGX = t.mean(t.mul(gh, xhat), -1, true);
      const inner = kind === 'layer' ? t.sub(t.sub(gh, t.mean(gh, -1, true)), t.mul(xhat, meanGX)) : t.sub(gh, t.mul(xhat, meanGX));
      const dx = t.mul(inner, rstd);
      const dg = t.sum(t.mul(d, xhat), 0);
      return kind === 'layer' ? [y, dx, dg, t.sum(d, 0)] : [y, dx, dg];
    });
  return {
    name: `${kind === 'layer' ? 'layerNorm' : 'rmsNorm'} fwd+bwd [${rows}, ${dim}]`,
    params: { kind, rows, dim },
    work: 5 * rows * dim * 4,
    unit: 'GB/s',
    ours,
    peers: {
      'tfjs-webgpu': {
        before: async () => {
          tf = await ctx.tfWebgpu();
          const t = tf;
          tfIn = [t.tensor2d(xHost, [rows, dim]), t.tensor1d(gHost), t.tensor1d(bHost), t.tensor2d(dyHost, [rows, dim])];
        },
        run: async () => {
          const t = tf!;
          const [xs, g, b, d] = tfIn as [Tensor, Tensor, Tensor, Tensor];
          const out = tfStep(t, xs, g, b, d);
          // A one-element read of the last result waits for everything tfjs queued before it.
          const probe = t.slice(out[out.length - 1]!, [0], [1]);
          await probe.data();
          t.dispose([...out, probe]);
        },
        after: () => {
          tf?.dispose(tfIn);
          tfIn = [];
        },
      },
      js: () => jsLayerNorm(xHost, gHost, bHost, dyHost, rows, dim, jsOut, kind === 'rms'),
    },
    dispose: () => {
      for (const a of [x, dy, gamma, beta]) a.dispose();
    },
  };
}

export default async function (ctx: BenchContext): Promise<BenchCase[]> {
  const rows = ctx.quick ? 1024 : 8192;
  const dim = 768;
  return [await normCase(ctx, 'layer', rows, dim), await normCase(ctx, 'rms', rows, dim)];
}
