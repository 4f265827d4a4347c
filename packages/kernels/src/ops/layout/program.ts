// layout: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { DType } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';

export const MAX_LAYOUT_RANK = 6;

export const WORKGROUP = 256;

export const dims = [...Array(MAX_LAYOUT_RANK).keys()];

export function stridedCopyProgram(dtype: DType): KernelProgram {
  // Decompose the flat output index innermost-first into coordinates, accumulating both offsets.
  const steps = dims
    .slice()
    .reverse()
    .map((k) => `  c = rem % params.d${k}; rem = rem / params.d${k}; s += c * params.s${k}; t += c * params.t${k};`)
    .join('\n');
  return {
    name: 'strided-copy',
    variant: dtype,
    workgroupSize: [WORKGROUP],
    uniforms: [
      { name: 'n', type: 'u32' },
      { name: 'srcOffset', type: 'u32' },
      { name: 'dstOffset', type: 'u32' },
      ...dims.map((k) => ({ name: `d${k}`, type: 'u32' as const })),
      ...dims.map((k) => ({ name: `s${k}`, type: 'u32' as const })),
      ...dims.map((k) => ({ name: `t${k}`, type: 'u32' as const })),
    ],
    bindings: [
      { name: 'src', type: dtype, access: 'read' },
      { name: 'dst', type: dtype, access: 'read_write' },
    ],
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = grid_invocation(wid, nwg, lid);
  if (i >= params.n) { return; }
  var rem = i;
  var c = 0u;
  var s = params.srcOffset;
  var t = params.dstOffset;
${steps}
  dst[t] = src[s];
}`,
  };
}
