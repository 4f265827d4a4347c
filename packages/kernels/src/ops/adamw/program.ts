// adamw: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { KernelProgram } from '../../runtime/program.js';

export const WORKGROUP = 256;

export function adamwProgram(width: 1 | 4): KernelProgram {
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
