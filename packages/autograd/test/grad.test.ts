// Every gradient rule, checked twice: on the float64 CPU backend against central finite
// differences, and on the GPU backend against the CPU backend.
import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { SeededRandom, assertClose, numericGradient } from '@repirl/kernels/testing';
import * as ag from '../src/index.js';
import { CpuBackend, GpuBackend, type Backend, type Tensor } from '../src/index.js';

let gpu: GpuBackend;
const cpu = new CpuBackend();
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});

interface Input {
  shape: number[];
  data: number[];
  int?: boolean; // an integer input (ids): no gradient
}

type Build = (xs: Tensor[], backend: Backend) => Tensor;

function makeInputs(backend: Backend, inputs: Input[], values?: Float64Array[]): Tensor[] {
  return inputs.map((inp, k) =>
    inp.int ? ag.tensor(backend, inp.data, inp.shape, { dtype: 'i32' }) : ag.parameter(backend, values?.[k] ?? inp.data, inp.shape),
  );
}

/** loss = Σ w ∘ f(x) with fixed random weights, so every output element matters. */
async function lossAndGrads(backend: Backend, build: Build, inputs: Input[], weightsSeed: number, values?: Float64Array[]) {
  const xs = makeInputs(backend, inputs, values);
  const out = ag.tidy(() => {
    const y = build(xs, backend);
    const rng = new SeededRandom(weightsSeed);
    const w = ag.tensor(backend, Array.from({ length: y.size }, () => rng.uniform(-1, 1)), y.shape);
    const loss = ag.sum(ag.mul(y, w));
    ag.backward(loss);
    return loss;
  });
  const loss = await out.item();
  const grads = await Promise.all(xs.map(async (x) => (x.grad ? Float64Array.from(await x.grad.data()) : null)));
  out.dispose();
  for (const x of xs) x.dispose();
  return { loss, grads };
}

async function checkRule(name: string, build: Build, inputs: Input[], tol = { atol: 2e-4, rtol: 2e-3 }) {
  // 1. CPU rule vs finite differences of the CPU forward.
  const ref = await lossAndGrads(cpu, build, inputs, 7);
  for (let k = 0; k < inputs.length; k++) {
    if (inputs[k]!.int) continue;
    const f = (x: Float64Array) => {
      const values: Float64Array[] = inputs.map((inp) => Float64Array.from(inp.data));
      values[k] = x;
      const xs = makeInputs(cpu, inputs, values);
      return ag.tidy(() => {
        const y = ag.noGrad(() => build(xs, cpu));
        const rng = new SeededRandom(7);
        const d = (y.storage as { data: Float64Array }).data;
        let s = 0;
        for (let i = 0; i < d.length; i++) s += rng.uniform(-1, 1) * d[i]!;
        return s;
      });
    };
    const numeric = numericGradient(f, Float64Array.from(inputs[k]!.data), 1e-6);
    assertClose(ref.grads[k]!, numeric, { atol: 1e-6, rtol: 1e-5, label: `${name}: CPU gradient of input ${k} vs finite differences` });
  }
  // 2. GPU vs CPU, forward loss and every gradient.
  const got = await lossAndGrads(gpu, build, inputs, 7);
  expect(got.loss).toBeCloseTo(ref.loss, 3);
  for (let k = 0; k < inputs.length; k++) {
    if (inputs[k]!.int) continue;
    assertClose(got.grads[k]!, ref.grads[k]!, { ...tol, label: `${name}: GPU gradient of input ${k}` });
  }
}

const rng = new SeededRandom(42);
const rand = (shape: number[], lo = -1, hi = 1): Input => ({ shape, data: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(lo, hi)) });

describe('gradient rules', () => {
  for (const op of ['neg', 'exp', 'tanh', 'gelu', 'silu', 'sigmoid'] as const) {
    it(`unary ${op}`, () => checkRule(op, ([x]) => ag.unary(op, x!), [rand([3, 5])]));
  }
  it('unary log and relu away from their kinks', () =>
    Promise.all([checkRule('log', ([x]) => ag.log(x!), [rand([7], 0.5, 2)]), checkRule('relu', ([x]) => ag.relu(x!), [{ shape: [4], data: [-1.5, -0.3, 0.4, 2] }])]));
  for (const op of ['add', 'sub', 'mul', 'div'] as const) {
    it(`binary ${op} with broadcasting`, () => checkRule(op, ([a, b]) => ag.binary(op, a!, b!), [rand([2, 3, 4]), op === 'div' ? rand([3, 1], 0.5, 2) : rand([3, 1])]));
  }
  it('sum, mean and max over axes', () =>
    Promise.all([
      checkRule('sum', ([x]) => ag.sum(x!, 1), [rand([3, 5, 2])]),
      checkRule('mean', ([x]) => ag.mean(x!, [0, 2], true), [rand([3, 5, 2])]),
      checkRule('max', ([x]) => ag.max(x!, -1), [rand([4, 6])]),
    ]));
  it('softmax and log-softmax', () =>
    Promise.all([checkRule('softmax', ([x]) => ag.softmax(x!), [rand([3, 7], -3, 3)]), checkRule('logSoftmax', ([x]) => ag.logSoftmax(x!), [rand([3, 7], -3, 3)])]));
  it('matmul, batched and transposed', () =>
    Promise.all([
      checkRule('matmul', ([a, b]) => ag.matmul(a!, b!), [rand([2, 3, 5]), rand([5, 4])]),
      checkRule('matmul tB', ([a, b]) => ag.matmul(a!, b!, { transposeB: true }), [rand([3, 5]), rand([4, 5])]),
    ]));
  it('swiglu (silu(gate)·up in one op), with broadcasting', () =>
    Promise.all([
      checkRule('swiglu', ([g, u]) => ag.swiglu(g!, u!), [rand([3, 8], -4, 4), rand([3, 8])]),
      checkRule('swiglu broadcast', ([g, u]) => ag.swiglu(g!, u!), [rand([2, 3, 4], -4, 4), rand([4])]),
    ]));
  it('matmulAdd (a residual added in the matmul), transposed, and the residual reused by a later op', () =>
    Promise.all([
      checkRule('matmulAdd', ([a, b, r]) => ag.matmulAdd(a!, b!, r!), [rand([3, 5]), rand([5, 4]), rand([3, 4])]),
      checkRule('matmulAdd tB', ([a, b, r]) => ag.matmulAdd(a!, b!, r!, { transposeB: true }), [rand([6, 5]), rand([4, 5]), rand([6, 4])]),
      // The residual also feeds another op (as a block's input feeds its norm): its gradients add up.
      checkRule('matmulAdd residual reused', ([a, b, r]) => ag.mul(ag.matmulAdd(a!, b!, r!), r!), [rand([3, 5]), rand([5, 4]), rand([3, 4])]),
      // Only the residual needs a gradient through this node when a and b are constants.
      checkRule('matmulRows residual', ([x, r], backend) => ag.matmulRows(x!, ag.tensor(backend, Array.from({ length: 20 }, (_, i) => Math.sin(i)), [5, 4]), {}, r!), [rand([2, 3, 5]), rand([2, 3, 4])]),
    ]));
  it('dropout (the same Philox mask on both backends)', () =>
    Promise.all([
      checkRule('dropout', ([x]) => ag.dropout(x!, 0.3, { seed: 5, offset: 2 }), [rand([4, 9])]),
      checkRule('dropout p=0', ([x]) => ag.scale(ag.dropout(x!, 0, { seed: 5 }), 2), [rand([3])]),
    ]));
  it('layer norm and RMS norm', () =>
    Promise.all([
      checkRule('layerNorm', ([x, g, b]) => ag.layerNorm(x!, g!, b!), [rand([4, 6], -2, 2), rand([6]), rand([6])]),
      checkRule('rmsNorm', ([x, g]) => ag.rmsNorm(x!, g!), [rand([4, 6], -2, 2), rand([6])]),
    ]));
  it('embedding (ids get no gradient)', () => checkRule('embedding', ([t, ids]) => ag.embedding(t!, ids!), [rand([5, 3]), { shape: [4], data: [0, 3, 3, 1], int: true }]));
  it('causal attention', () =>
    checkRule('attention', ([q, k, v]) => ag.attention(q!, k!, v!), [rand([1, 2, 5, 16]), rand([1, 2, 5, 16]), rand([1, 2, 5, 16])], { atol: 5e-4, rtol: 5e-3 }));
  it('grouped-query attention (6 query heads over 2 kv heads, padded batch): dk, dv summed per group', () => {
    // Its own random source, so the inputs of the tests after it do not move.
    const r = new SeededRandom(13);
    const own = (shape: number[]): Input => ({ shape, data: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.uniform(-1, 1)) });
    return checkRule('attention GQA', ([q, k, v, lengths]) => ag.attention(q!, k!, v!, { lengths: lengths! }), [
      own([2, 6, 5, 16]), own([2, 2, 5, 16]), own([2, 2, 5, 16]), { shape: [2], data: [5, 3], int: true },
    ], { atol: 5e-4, rtol: 5e-3 });
  });
  it('token log-probs with entropy', () =>
    checkRule(
      'tokenLogProbs',
      ([logits, t]) => {
        const { logp, entropy } = ag.tokenLogProbs(logits!, t!, { temperature: 0.8, entropy: true });
        return ag.add(logp, ag.scale(entropy!, 0.5));
      },
      [rand([3, 9], -2, 2), { shape: [3], data: [1, 8, 0], int: true }],
    ));
  it('reshape, permute, slice and concat', () =>
    Promise.all([
      checkRule('reshape+permute', ([x]) => ag.permute(ag.reshape(x!, [2, 3, 4]), [2, 0, 1]), [rand([6, 4])]),
      checkRule('slice', ([x]) => ag.slice(x!, 1, 1, 3), [rand([2, 5])]),
      checkRule('concat', ([a, b]) => ag.concat([a!, b!], 0), [rand([2, 3]), rand([1, 3])]),
    ]));
});
