// Host tensors for the float64 CPU references that sit beside every kernel. The references are
// part of the public API: tests compare kernels against them, and the autograd package's CPU
// backend runs whole models on them.

export interface CpuTensor {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export function cpuTensor(data: ArrayLike<number>, shape: readonly number[] = [data.length]): CpuTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`cpuTensor: ${data.length} values do not fill shape [${shape.join(', ')}]`);
  return { shape: [...shape], data: Float64Array.from(data) };
}

export function cpuZeros(shape: readonly number[]): CpuTensor {
  return { shape: [...shape], data: new Float64Array(shape.reduce((a, b) => a * b, 1)) };
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}
