// cast: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import type { Runtime } from '../../runtime/runtime.js';
import type { DType, GpuArray } from '../../runtime/array.js';
import { expectDType } from '../validate.js';
import { ArgumentError } from '../../runtime/errors.js';
import { castProgram, WORKGROUP } from './program.js';

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
