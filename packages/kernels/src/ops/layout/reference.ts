// layout: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import { type CpuTensor, stridesOf } from '../../reference.js';

export interface View {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export function contiguousView(shape: readonly number[], offset = 0): View {
  return { shape, strides: stridesOf(shape), offset };
}

/** float64 reference of stridedCopy, in place on dst. */
export function stridedCopyReference(src: Float64Array, srcView: View, dst: Float64Array, dstView: View): void {
  const shape = srcView.shape;
  const n = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let s = srcView.offset;
    let t = dstView.offset;
    for (let k = shape.length - 1; k >= 0; k--) {
      const c = rem % shape[k]!;
      rem = Math.floor(rem / shape[k]!);
      s += c * srcView.strides[k]!;
      t += c * dstView.strides[k]!;
    }
    dst[t] = src[s]!;
  }
}

/** CPU reference for the launchers above: materialises a view of a CpuTensor. */
export function viewReference(x: CpuTensor, view: View): CpuTensor {
  const out = new Float64Array(view.shape.reduce((a, b) => a * b, 1));
  stridedCopyReference(x.data, view, out, contiguousView(view.shape));
  return { shape: [...view.shape], data: out };
}
