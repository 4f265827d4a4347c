// AdamW over a flat parameter vector, in place, against a plain Float32Array loop ('js').
// Work is the traffic of one step: read param, grad, m, v and write param, m, v: 7·n·4 bytes.
// And the optimizer step of the model bench's model (d128, 4 layers, dFF 512, byte vocabulary: 31
// tensors, 1.1M parameters): the global gradient norm (read back) then AdamW, multi-tensor
// (sumOfSquares, adamwUpdateMany) against one launch per tensor ('per tensor': square, sum and
// add per gradient, then adamwUpdate per tensor, as the optimizer did before).
import { adamwUpdate, adamwUpdateMany, binary, reduce, sumOfSquares, type GpuArray } from '../src/index.js';
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

  // The model bench's parameters: embedding and LM head [259, 128], per layer two norm gains [128],
  // qkv [128, 384], proj [128, 128], gate and up [128, 512], down [512, 128]; the final norm gain.
  const shapes: number[][] = [[259, 128], [259, 128], [128]];
  for (let l = 0; l < 4; l++) shapes.push([128], [128, 384], [128, 128], [128], [128, 512], [128, 512], [512, 128]);
  const model = shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    return { param: rt.upload(rng.floats(size), shape), grad: rt.upload(rng.floats(size, -1e-2, 1e-2), shape), m: rt.zeros(shape), v: rt.zeros(shape), weightDecay: shape.length > 1 ? 0.01 : 0 };
  });
  const modelParams = model.reduce((n, t) => n + t.param.size, 0);
  let modelStep = 0;
  const perTensor = async () => {
    let total: GpuArray | null = null;
    for (const { grad } of model) {
      const sq = binary(rt, 'mul', grad, grad);
      const s = reduce(rt, 'sum', sq);
      sq.dispose();
      if (total) {
        const next = binary(rt, 'add', total, s);
        total.dispose();
        s.dispose();
        total = next;
      } else total = s;
    }
    const norm = Math.sqrt((await rt.read(total!))[0]!);
    total!.dispose();
    if (!Number.isFinite(norm)) throw new Error('grad norm is not finite');
    modelStep++;
    for (const t of model) adamwUpdate(rt, t.param, t.grad, t.m, t.v, { lr: 1e-4, step: modelStep, weightDecay: t.weightDecay });
    await rt.sync();
  };
  const multiTensor = async () => {
    const squares = sumOfSquares(rt, model.map((t) => t.grad));
    const norm = Math.sqrt((await rt.read(squares))[0]!);
    squares.dispose();
    if (!Number.isFinite(norm)) throw new Error('grad norm is not finite');
    modelStep++;
    adamwUpdateMany(rt, model, { lr: 1e-4, step: modelStep });
    await rt.sync();
  };
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
    {
      name: `grad norm + adamw, d128 L4 model (${model.length} tensors)`,
      params: { tensors: model.length, n: modelParams },
      work: 8 * modelParams * 4, // the norm reads each gradient once, AdamW moves 7 values per parameter
      unit: 'GB/s',
      ours: multiTensor,
      peers: { 'per tensor': perTensor },
      dispose: () => {
        for (const t of model) for (const a of [t.param, t.grad, t.m, t.v]) a.dispose();
      },
    },
  ];
}
