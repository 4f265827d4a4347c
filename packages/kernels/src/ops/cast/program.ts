// cast: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { DType } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';

export const WORKGROUP = 256;

export function castProgram(from: DType, to: DType): KernelProgram {
  const needsF16 = from === 'f16' || to === 'f16';
  return {
    name: 'cast',
    variant: `${from}->${to}`,
    workgroupSize: [WORKGROUP],
    features: needsF16 ? ['shader-f16'] : [],
    uniforms: [{ name: 'n', type: 'u32' }],
    bindings: [
      { name: 'x', type: from, access: 'read' },
      { name: 'y', type: to, access: 'read_write' },
    ],
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = grid_invocation(wid, nwg, lid);
  if (i < params.n) { y[i] = ${to}(x[i]); }
}`,
  };
}
