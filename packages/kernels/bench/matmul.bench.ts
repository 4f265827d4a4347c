// fp32 matmul C = A·B, square n³, against
//  - 'tfjs-webgpu': tf.matMul on the same Dawn device (inputs resident on the GPU, completion
//    awaited with `await c.data()`);
//  - 'tfjs-wasm': tf.matMul on the wasm backend (XNNPACK with SIMD, single-threaded in Node);
//  - 'js': a Float32Array i-k-j triple loop (up to 512³ only; it takes seconds at 1024³).
// Ours is measured to completion (`await rt.sync()`) with its inputs resident and a preallocated
// output. Work is 2·n³ FLOPs.
import { chooseMatmulConfig, matmul, matmulConfigKey, type Runtime } from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';
import type { BenchCase, BenchContext, Runner } from './harness.js';

type Tf = Awaited<ReturnType<BenchContext['tfWebgpu']>>;
type Tensor = import('@tensorflow/tfjs-core').Tensor;

function jsMatmul(a: Float32Array, b: Float32Array, c: Float32Array, M: number, K: number, N: number): void {
  c.fill(0);
  for (let i = 0; i < M; i++) {
    const ci = i * N;
    for (let k = 0; k < K; k++) {
      const aik = a[i * K + k]!;
      const bk = k * N;
      for (let j = 0; j < N; j++) c[ci + j]! += aik * b[bk + j]!;
    }
  }
}

/** A tfjs peer: inputs uploaded (and made resident by one warm-up product) before timing. */
function tfPeer(load: () => Promise<Tf>, aHost: Float32Array, bHost: Float32Array, n: number): Runner {
  let tf: Tf | null = null;
  let inputs: Tensor[] = [];
  return {
    before: async () => {
      tf = await load();
      inputs = [tf.tensor2d(aHost, [n, n]), tf.tensor2d(bHost, [n, n])];
      const warm = tf.matMul(inputs[0] as never, inputs[1] as never);
      await warm.data();
      warm.dispose();
    },
    run: async () => {
      const c = tf!.matMul(inputs[0] as never, inputs[1] as never);
      await c.data();
      c.dispose();
    },
    after: () => {
      for (const t of inputs) t.dispose();
      inputs = [];
    },
  };
}

function squareCase(ctx: BenchContext, n: number): BenchCase {
  const rt: Runtime = ctx.rt;
  const rng = new SeededRandom(n);
  const aHost = rng.floats(n * n);
  const bHost = rng.floats(n * n);
  const a = rt.upload(aHost, [n, n]);
  const b = rt.upload(bHost, [n, n]);
  const out = rt.empty([n, n]);
  const config = chooseMatmulConfig(rt, { M: n, N: n, K: n, transposeA: false, transposeB: false });
  const peers: Record<string, Runner> = {
    'tfjs-webgpu': tfPeer(() => ctx.tfWebgpu(), aHost, bHost, n),
  };
  // tfjs-wasm takes seconds per product above 2048³ (single-threaded): left out there.
  if (n <= 2048) peers['tfjs-wasm'] = tfPeer(() => ctx.tfWasm(), aHost, bHost, n);
  if (n <= 512) {
    const cHost = new Float32Array(n * n);
    peers.js = () => jsMatmul(aHost, bHost, cHost, n, n, n);
  }
  return {
    name: `matmul ${n}x${n}x${n}`,
    params: { M: n, K: n, N: n, variant: matmulConfigKey(config) },
    work: 2 * n * n * n,
    unit: 'GFLOP/s',
    ours: async () => {
      matmul(rt, a, b, { out });
      await rt.sync();
    },
    peers,
    dispose: () => {
      a.dispose();
      b.dispose();
      out.dispose();
    },
  };
}

export default async function matmulSuite(ctx: BenchContext): Promise<BenchCase[]> {
  // REPIRL_BENCH_MATMUL_SIZES=1024,4096 measures other sizes (a GPU needs n ≥ 4096 to fill it).
  const listed = (process.env.REPIRL_BENCH_MATMUL_SIZES ?? '').split(',').filter((x) => x.trim() !== '').map(Number);
  if (listed.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`REPIRL_BENCH_MATMUL_SIZES: expected positive integers, got "${process.env.REPIRL_BENCH_MATMUL_SIZES}"`);
  const sizes = listed.length > 0 ? listed : ctx.quick ? [256] : [256, 512, 1024];
  return sizes.map((n) => squareCase(ctx, n));
}
