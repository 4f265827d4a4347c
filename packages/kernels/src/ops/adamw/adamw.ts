// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization"), updating param, m and v
// in place, with the same arithmetic as PyTorch's torch.optim.AdamW (single-tensor path):
//   p ← p·(1 − lr·wd)
//   g ← grad·gradScale                       (gradScale carries global-norm clipping)
//   m ← β₁·m + (1 − β₁)·g ;  v ← β₂·v + (1 − β₂)·g²
//   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
// The bias corrections are computed on the host in float64 and passed as uniforms, so one pipeline
// serves every step. Elementwise, vec4 loads when the size is a multiple of 4 (flag 'adamw.vec4').
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import { expectDType, expectFinite } from '../validate.js';

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

const WORKGROUP = 256;

interface Resolved {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
  gradScale: number;
}

function resolve(kernel: string, o: AdamWOptions): Resolved {
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
function coefficients(r: Resolved) {
  const bias1 = 1 - r.beta1 ** r.step;
  const bias2 = 1 - r.beta2 ** r.step;
  return { decay: 1 - r.lr * r.weightDecay, stepSize: r.lr / bias1, bias2Sqrt: Math.sqrt(bias2) };
}

function adamwProgram(width: 1 | 4): KernelProgram {
  const T = width === 4 ? 'vec4<f32>' : 'f32';
  return {
    name: 'adamw',
    variant: `v${width}`,
    workgroupSize: [WORKGROUP],
    uniforms: [
      { name: 'n', type: 'u32' },
      { name: 'decay', type: 'f32' },
      { name: 'beta1', type: 'f32' },
      { name: 'beta2', type: 'f32' },
      { name: 'oneMinusBeta1', type: 'f32' },
      { name: 'oneMinusBeta2', type: 'f32' },
      { name: 'stepSize', type: 'f32' },
      { name: 'bias2Sqrt', type: 'f32' },
      { name: 'eps', type: 'f32' },
      { name: 'gradScale', type: 'f32' },
    ],
    bindings: [
      { name: 'param', type: T, access: 'read_write' },
      { name: 'grad', type: T, access: 'read' },
      { name: 'm', type: T, access: 'read_write' },
      { name: 'v', type: T, access: 'read_write' },
    ],
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = grid_invocation(wid, nwg, lid);
  if (i >= params.n) { return; }
  let g = grad[i] * params.gradScale;
  let m1 = params.beta1 * m[i] + params.oneMinusBeta1 * g;
  let v1 = params.beta2 * v[i] + params.oneMinusBeta2 * g * g;
  m[i] = m1;
  v[i] = v1;
  let denom = sqrt(v1) / params.bias2Sqrt + ${T}(params.eps);
  param[i] = param[i] * params.decay - params.stepSize * m1 / denom;
}`,
  };
}

/** One AdamW step, in place on param, m and v (all the same shape as grad, f32). */
export function adamwUpdate(rt: Runtime, param: GpuArray, grad: GpuArray, m: GpuArray, v: GpuArray, options: AdamWOptions): void {
  const kernel = 'adamw';
  for (const [name, a] of [['param', param], ['grad', grad], ['m', m], ['v', v]] as const) {
    expectDType(kernel, name, a, 'f32');
    if (a.size !== param.size || a.shape.length !== param.shape.length || a.shape.some((d, k) => d !== param.shape[k])) {
      throw new ArgumentError(kernel, name, `expected shape ${shapeString(param.shape)} (the shape of param), got ${shapeString(a.shape)}`);
    }
  }
  if (new Set([param.buffer, grad.buffer, m.buffer, v.buffer]).size !== 4) {
    throw new ArgumentError(kernel, 'param', 'param, grad, m and v must be four different buffers');
  }
  const r = resolve(kernel, options);
  const c = coefficients(r);
  const width = param.size % 4 === 0 && getFlag<boolean>('adamw.vec4', true) ? 4 : 1;
  // Parameters over the storage-binding limit (GPT-2's 38.6M-element token table is 154 MB against
  // lavapipe's 128 MiB) are updated in aligned element ranges.
  const align = rt.limits.minStorageBufferOffsetAlignment / 4; // elements per aligned offset step
  let chunk = Math.floor(rt.limits.maxStorageBufferBindingSize / 4 / align) * align;
  const forced = getFlag<number>('adamw.chunkElements', 0);
  if (forced > 0) chunk = Math.max(align, Math.floor(forced / align) * align);
  for (let start = 0; start < param.size; start += chunk) {
    const count = Math.min(chunk, param.size - start);
    const range = (a: GpuArray) => ({ array: a, byteOffset: start * 4, byteLength: count * 4 });
    const n = count / width;
    rt.dispatch(adamwProgram(width), {
      bindings: [range(param), range(grad), range(m), range(v)],
      uniforms: {
        n,
        decay: c.decay,
        beta1: r.beta1,
        beta2: r.beta2,
        oneMinusBeta1: 1 - r.beta1,
        oneMinusBeta2: 1 - r.beta2,
        stepSize: c.stepSize,
        bias2Sqrt: c.bias2Sqrt,
        eps: r.eps,
        gradScale: r.gradScale,
      },
      workgroups: rt.grid(Math.ceil(n / WORKGROUP)),
    });
  }
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
