// cast: converts between f32 and f16 (and between f32 and i32, truncating toward zero). f16 needs
// the shader-f16 feature; without it the runtime refuses f16 arrays with a clear error.
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray, DType } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';
import { ArgumentError } from '../../runtime/errors.js';
import { fromHalf, toHalf } from '../../runtime/float16.js';
import { expectDType } from '../validate.js';

const WORKGROUP = 256;

function castProgram(from: DType, to: DType): KernelProgram {
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

/** y = dtype(x), elementwise. f16 ↔ f32 round to nearest; f32 → i32 truncates toward zero. */
export function cast(rt: Runtime, x: GpuArray, dtype: DType): GpuArray {
  expectDType('cast', 'x', x, 'f32', 'f16', 'i32', 'u32');
  if (x.dtype === dtype) throw new ArgumentError('cast', 'dtype', `x is already ${dtype}; use runtime.copy for a copy`);
  const y = rt.empty(x.shape, dtype);
  rt.dispatch(castProgram(x.dtype, dtype), {
    bindings: [x, y],
    uniforms: { n: x.size },
    workgroups: rt.grid(Math.ceil(x.size / WORKGROUP)),
  });
  return y;
}

/** CPU reference: the value each element takes in the target dtype. */
export function castReference(values: ArrayLike<number>, dtype: DType): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (dtype === 'f16') out[i] = fromHalf(toHalf(v));
    else if (dtype === 'i32') out[i] = Math.trunc(v);
    else if (dtype === 'u32') out[i] = Math.max(0, Math.trunc(v));
    else out[i] = Math.fround(v);
  }
  return out;
}
