// cast: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import type { DType } from '../../runtime/array.js';
import { fromHalf, toHalf } from '../../runtime/float16.js';

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
