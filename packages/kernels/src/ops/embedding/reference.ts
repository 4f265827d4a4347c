// embedding: the float64 CPU references the kernels are tested against. The spec is in index.ts.
import type { CpuTensor } from '../../reference.js';

// ---------------------------------------------------------------- float64 references

function checkReferenceIds(kernel: string, ids: ArrayLike<number>, vocab: number): void {
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n]!;
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`${kernel}: ids[${n}] = ${id} is out of range [0, ${vocab})`);
  }
}

/** Float64 gather: [...idsShape, D]. Throws a RangeError on an out-of-range id. */
export function embeddingReference(table: CpuTensor, ids: ArrayLike<number>, idsShape: readonly number[] = [ids.length]): CpuTensor {
  const [vocab, dim] = table.shape as [number, number];
  checkReferenceIds('embeddingReference', ids, vocab);
  const out = new Float64Array(ids.length * dim);
  for (let n = 0; n < ids.length; n++) out.set(table.data.subarray(ids[n]! * dim, (ids[n]! + 1) * dim), n * dim);
  return { shape: [...idsShape, dim], data: out };
}

/** Float64 scatter-add: [V, D], rows summed in increasing n. */
export function embeddingBackwardReference(dOut: CpuTensor, ids: ArrayLike<number>, vocab: number): CpuTensor {
  checkReferenceIds('embeddingBackwardReference', ids, vocab);
  const dim = dOut.shape[dOut.shape.length - 1]!;
  const out = new Float64Array(vocab * dim);
  for (let n = 0; n < ids.length; n++) {
    const o = ids[n]! * dim;
    for (let d = 0; d < dim; d++) out[o + d] += dOut.data[n * dim + d]!;
  }
  return { shape: [vocab, dim], data: out };
}
