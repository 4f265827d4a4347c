// adamw: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import { expectFinite } from '../validate.js';
import { ArgumentError } from '../../runtime/errors.js';

export interface AdamWOptions {
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay coefficient (default 0.01, as in PyTorch). */
  weightDecay?: number;
  /** 1-based step number t used in the bias corrections. */
  step: number;
  /** Multiplier applied to the gradient first (e.g. min(1, maxNorm / globalNorm) for clipping); default 1. */
  gradScale?: number;
}

interface Resolved {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
  gradScale: number;
}

export function resolve(kernel: string, o: AdamWOptions): Resolved {
  const r: Resolved = {
    lr: o.lr,
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.999,
    eps: o.eps ?? 1e-8,
    weightDecay: o.weightDecay ?? 0.01,
    step: o.step,
    gradScale: o.gradScale ?? 1,
  };
  for (const name of ['lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'gradScale'] as const) expectFinite(kernel, name, r[name]);
  if (r.lr < 0) throw new ArgumentError(kernel, 'lr', `must be ≥ 0, got ${r.lr}`);
  for (const name of ['beta1', 'beta2'] as const) {
    if (r[name] < 0 || r[name] >= 1) throw new ArgumentError(kernel, name, `must be in [0, 1), got ${r[name]}`);
  }
  if (r.eps < 0) throw new ArgumentError(kernel, 'eps', `must be ≥ 0, got ${r.eps}`);
  if (r.weightDecay < 0) throw new ArgumentError(kernel, 'weightDecay', `must be ≥ 0, got ${r.weightDecay}`);
  if (!Number.isInteger(r.step) || r.step < 1) throw new ArgumentError(kernel, 'step', `must be an integer ≥ 1 (1 for the first update), got ${r.step}`);
  return r;
}

/** The step's scalar coefficients, in float64 (shared by the kernel and the reference). */
export function coefficients(r: Resolved) {
  const bias1 = 1 - r.beta1 ** r.step;
  const bias2 = 1 - r.beta2 ** r.step;
  return { decay: 1 - r.lr * r.weightDecay, stepSize: r.lr / bias1, bias2Sqrt: Math.sqrt(bias2) };
}

/** Float64 AdamW step, in place on param, m and v (same formula as the kernel and PyTorch). */
export function adamwReference(param: Float64Array, grad: ArrayLike<number>, m: Float64Array, v: Float64Array, options: AdamWOptions): void {
  const r = resolve('adamwReference', options);
  const c = coefficients(r);
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]! * r.gradScale;
    m[i] = r.beta1 * m[i]! + (1 - r.beta1) * g;
    v[i] = r.beta2 * v[i]! + (1 - r.beta2) * g * g;
    const denom = Math.sqrt(v[i]!) / c.bias2Sqrt + r.eps;
    param[i] = param[i]! * c.decay - (c.stepSize * m[i]!) / denom;
  }
}

/** Float64 Σ over the arrays of Σᵢ xᵢ² (the squared global L2 norm of a set of gradients). */
export function sumOfSquaresReference(arrays: readonly ArrayLike<number>[]): number {
  let total = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) total += a[i]! * a[i]!;
  return total;
}
