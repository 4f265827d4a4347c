// GpuArray: a pooled GPU buffer with a shape and an element type. Kernels take GpuArrays and
// return new ones; dispose() gives the buffer back to the pool.
import type { ElementType } from './program.js';
import { shapeString } from './errors.js';

export type DType = ElementType;

export const BYTES_PER_ELEMENT: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

export type HostArray = Float32Array | Int32Array | Uint32Array;

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape ${shapeString(shape)}: dimensions must be integers ≥ 0`);
    n *= d;
  }
  return n;
}

/** Bytes needed for `count` elements, rounded up to 4 (WebGPU copies and bindings need it). */
export function byteLengthOf(count: number, dtype: DType): number {
  return Math.ceil((count * BYTES_PER_ELEMENT[dtype]) / 4) * 4;
}

export interface ArrayOwner {
  releaseArray(array: GpuArray): void;
}

export class GpuArray {
  readonly size: number;
  private disposed = false;

  constructor(
    private readonly owner: ArrayOwner,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
  ) {
    this.size = sizeOf(shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Bytes of data (not of the pooled buffer, which may be larger). */
  get byteLength(): number {
    return byteLengthOf(this.size, this.dtype);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** A view with another shape over the same buffer (same element count). Not owned: do not dispose it separately. */
  reshape(shape: readonly number[]): GpuArray {
    if (sizeOf(shape) !== this.size) {
      throw new Error(`reshape: cannot view ${shapeString(this.shape)} as ${shapeString(shape)}`);
    }
    return new GpuArrayView(this, shape);
  }

  dispose(): void {
    if (this.disposed) throw new Error(`GpuArray ${shapeString(this.shape)} ${this.dtype} disposed twice`);
    this.disposed = true;
    this.owner.releaseArray(this);
  }

  toString(): string {
    return `GpuArray(${shapeString(this.shape)}, ${this.dtype})`;
  }
}

/** A reshaped view; disposing it disposes the base array. */
class GpuArrayView extends GpuArray {
  constructor(
    private readonly base: GpuArray,
    shape: readonly number[],
  ) {
    super({ releaseArray: () => base.dispose() }, base.buffer, shape, base.dtype);
  }
  override get isDisposed(): boolean {
    return this.base.isDisposed;
  }
}
