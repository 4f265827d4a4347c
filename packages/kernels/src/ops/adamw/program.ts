// adamw: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { KernelProgram, StorageType } from '../../runtime/program.js';

export const WORKGROUP = 256;

/**
 * One AdamW step over `slots` tensors (element ranges) at once: slot j's 4 bindings are
 * p<j>, g<j>, m<j>, v<j>; its invocations are [start<j>, start<j> + n<j>) of the flat grid (each
 * slot starts at a workgroup boundary), and decay<j> carries its own weight decay.
 */
export function adamwProgram(width: 1 | 4, slots: number): KernelProgram {
  const T: StorageType = width === 4 ? 'vec4<f32>' : 'f32';
  const slot = (j: number) => `
  if (i < params.start${j + 1}) {
    let k = i - params.start${j};
    if (k >= params.n${j}) { return; }
    let g = g${j}[k] * params.gradScale;
    let mNew = params.beta1 * m${j}[k] + params.oneMinusBeta1 * g;
    let vNew = params.beta2 * v${j}[k] + params.oneMinusBeta2 * g * g;
    m${j}[k] = mNew;
    v${j}[k] = vNew;
    let denom = sqrt(vNew) / params.bias2Sqrt + ${T}(params.eps);
    p${j}[k] = p${j}[k] * params.decay${j} - params.stepSize * mNew / denom;
    return;
  }`;
  const ids = Array.from({ length: slots }, (_, j) => j);
  return {
    name: 'adamw',
    variant: `v${width}x${slots}`,
    workgroupSize: [WORKGROUP],
    uniforms: [
      ...ids.flatMap((j) => [
        { name: `n${j}`, type: 'u32' as const },
        { name: `start${j}`, type: 'u32' as const },
        { name: `decay${j}`, type: 'f32' as const },
      ]),
      { name: `start${slots}`, type: 'u32' },
      { name: 'beta1', type: 'f32' },
      { name: 'beta2', type: 'f32' },
      { name: 'oneMinusBeta1', type: 'f32' },
      { name: 'oneMinusBeta2', type: 'f32' },
      { name: 'stepSize', type: 'f32' },
      { name: 'bias2Sqrt', type: 'f32' },
      { name: 'eps', type: 'f32' },
      { name: 'gradScale', type: 'f32' },
    ],
    bindings: ids.flatMap((j) => [
      { name: `p${j}`, type: T, access: 'read_write' as const },
      { name: `g${j}`, type: T, access: 'read' as const },
      { name: `m${j}`, type: T, access: 'read_write' as const },
      { name: `v${j}`, type: T, access: 'read_write' as const },
    ]),
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = grid_invocation(wid, nwg, lid);${ids.map(slot).join('')}
}`,
  };
}

/** Invocations (and elements per invocation) of a sum-of-squares workgroup. */
export const SUMSQ_WORKGROUP = 64;
export const SUMSQ_PER_INVOCATION = 64;

/**
 * Partial sums of squares (or, with square false, plain sums) of `slots` arrays (element ranges) in one pass: slot j's workgroups are
 * [start<j>, start<j+1>) of the flat grid, each summing SUMSQ_WORKGROUP · SUMSQ_PER_INVOCATION
 * consecutive elements of x<j> (lanes strided, so loads stay contiguous across the workgroup) and
 * writing one partial to out[outBase + its workgroup index] (slot 0 starts at workgroup 0). Each lane accumulates in f32, then
 * the workgroup combines the lanes as a tree in shared memory.
 */
export function sumSquaresProgram(width: 1 | 4, slots: number, square: boolean): KernelProgram {
  const T: StorageType = width === 4 ? 'vec4<f32>' : 'f32';
  const ids = Array.from({ length: slots }, (_, j) => j);
  const span = SUMSQ_WORKGROUP * SUMSQ_PER_INVOCATION;
  const slot = (j: number) => `
  if (w < params.start${j + 1}) {
    let base = (w - params.start${j}) * ${span}u;
    let end = min(base + ${span}u, params.n${j});
    for (var k = base + lid; k < end; k += WG_X) {
      let x = x${j}[k];
      acc += ${square ? (width === 4 ? 'dot(x, x)' : 'x * x') : width === 4 ? 'dot(x, vec4<f32>(1.0))' : 'x'};
    }
  }`;
  return {
    name: 'sum-squares',
    variant: `${square ? 'squares' : 'sum'}:v${width}x${slots}`,
    workgroupSize: [SUMSQ_WORKGROUP],
    uniforms: [...ids.flatMap((j) => [{ name: `n${j}`, type: 'u32' as const }, { name: `start${j}`, type: 'u32' as const }]), { name: `start${slots}`, type: 'u32' }, { name: 'outBase', type: 'u32' }],
    bindings: [...ids.map((j) => ({ name: `x${j}`, type: T, access: 'read' as const })), { name: 'out', type: 'f32', access: 'read_write' }],
    code: /* wgsl */ `
var<workgroup> partial: array<f32, WG_X>;

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = grid_workgroup(wid, nwg);
  var acc = 0.0;${ids.map(slot).join(' else')}
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = WG_X / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[params.outBase + w] = partial[0]; }
}`,
  };
}
