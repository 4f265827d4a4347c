import { beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { SeededRandom, assertClose } from '@repirl/kernels/testing';
import * as ag from '../src/index.js';
import { AdamW, CpuBackend, GpuBackend, warmupCosine, type Backend, type Tensor } from '../src/index.js';

let gpu: GpuBackend;
const cpu = new CpuBackend();
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});

// A small least-squares problem: y = x·W* + noise, fit W (and b) from zero.
const rng = new SeededRandom(5);
const N = 32;
const IN = 6;
const OUT = 3;
const X = Array.from({ length: N * IN }, () => rng.uniform(-1, 1));
const Wstar = Array.from({ length: IN * OUT }, () => rng.uniform(-2, 2));
const Y = Array.from({ length: N * OUT }, (_, i) => {
  const r = Math.floor(i / OUT);
  const c = i % OUT;
  let s = 0;
  for (let k = 0; k < IN; k++) s += X[r * IN + k]! * Wstar[k * OUT + c]!;
  return s + 0.01 * rng.normal();
});

function model(backend: Backend) {
  return new Map<string, Tensor>([
    ['w', ag.parameter(backend, new Array(IN * OUT).fill(0), [IN, OUT])],
    ['b', ag.parameter(backend, new Array(OUT).fill(0), [OUT])],
  ]);
}

function lossOf(backend: Backend, params: Map<string, Tensor>, rows: [number, number] = [0, N], scale = 1): Tensor {
  const [from, to] = rows;
  const x = ag.tensor(backend, X.slice(from * IN, to * IN), [to - from, IN]);
  const y = ag.tensor(backend, Y.slice(from * OUT, to * OUT), [to - from, OUT]);
  const pred = ag.add(ag.matmul(x, params.get('w')!), params.get('b')!);
  const err = ag.sub(pred, y);
  return ag.scale(ag.mean(ag.mul(err, err)), scale);
}

async function train(backend: Backend, steps: number, config: ConstructorParameters<typeof AdamW>[1]) {
  const params = model(backend);
  const opt = new AdamW(params, config);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const loss = ag.tidy(() => {
      const l = lossOf(backend, params);
      ag.backward(l);
      return l;
    });
    losses.push(await loss.item());
    loss.dispose();
    await opt.step();
  }
  return { params, opt, losses };
}

describe('AdamW', () => {
  it('fits a least-squares problem, identically on the GPU and the float64 CPU backend', async () => {
    const config = { lr: warmupCosine({ peak: 0.1, warmupSteps: 5, totalSteps: 60 }), weightDecay: 0 };
    const g = await train(gpu, 60, config);
    const c = await train(cpu, 60, config);
    expect(g.losses[59]!).toBeLessThan(g.losses[0]! * 0.05);
    assertClose(g.losses, c.losses, { atol: 1e-4, rtol: 1e-3, label: 'loss curves' });
    assertClose(await g.params.get('w')!.data(), await c.params.get('w')!.data(), { atol: 1e-4, rtol: 1e-3 });
  });

  it('clips the global norm, and skips a step whose norm is not finite without changing anything', async () => {
    const params = model(gpu);
    const opt = new AdamW(params, { lr: 0.1, maxGradNorm: 0.01 });
    const l1 = ag.tidy(() => {
      const l = lossOf(gpu, params);
      ag.backward(l);
      return l;
    });
    l1.dispose();
    const norm = await opt.gradNorm();
    const report = await opt.step();
    expect(report.gradNorm).toBeCloseTo(norm, 5);
    expect(report.clipped).toBe(true);
    expect(report.skipped).toBe(false);
    const before = await params.get('w')!.data();
    // A NaN gradient: log of a negative number.
    ag.tidy(() => ag.backward(ag.sum(ag.mul(params.get('w')!, ag.log(ag.full(gpu, [IN, OUT], -1))))));
    const skipped = await opt.step();
    expect(skipped.skipped).toBe(true);
    expect(Number.isNaN(skipped.gradNorm)).toBe(true);
    expect(skipped.step).toBe(1);
    assertClose(await params.get('w')!.data(), before, { atol: 0, rtol: 0 });
  });

  it('accumulates gradients: two half-batches (loss ×½ each) give the full-batch gradient', async () => {
    const full = model(gpu);
    const split = model(gpu);
    ag.tidy(() => ag.backward(lossOf(gpu, full)));
    ag.tidy(() => ag.backward(lossOf(gpu, split, [0, N / 2], 0.5)));
    ag.tidy(() => ag.backward(lossOf(gpu, split, [N / 2, N], 0.5)));
    for (const name of ['w', 'b']) {
      assertClose(await split.get(name)!.grad!.data(), await full.get(name)!.grad!.data(), { atol: 1e-6, rtol: 1e-5, label: name });
    }
  });

  it('resumes from its saved state exactly', async () => {
    const config = { lr: 0.05 };
    const straight = await train(gpu, 10, config);
    const first = await train(gpu, 5, config);
    const state = first.opt.state();
    const saved = {
      steps: state.steps,
      calls: state.calls,
      tensors: new Map(await Promise.all([...state.tensors].map(async ([k, t]) => [k, await t.data()] as const))),
      params: new Map(await Promise.all([...first.params].map(async ([k, t]) => [k, await t.data()] as const))),
    };
    const params = new Map([...saved.params].map(([k, d]) => [k, ag.parameter(gpu, d, first.params.get(k)!.shape)]));
    const opt = new AdamW(params, config);
    opt.loadState(saved);
    for (let s = 0; s < 5; s++) {
      ag.tidy(() => ag.backward(lossOf(gpu, params)));
      await opt.step();
    }
    assertClose(await params.get('w')!.data(), await straight.params.get('w')!.data(), { atol: 1e-6, rtol: 1e-5 });
  });

  it('refuses frozen parameters', () => {
    const frozen = new Map([['w', ag.tensor(gpu, [1, 2], [2])]]);
    expect(() => new AdamW(frozen, { lr: 1 })).toThrow(/parameter "w" does not require grad/);
  });
});
