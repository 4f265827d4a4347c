// Tensor: a shape, a dtype and a reference-counted storage on one backend (GPU or the float64 CPU
// reference), plus, when it was computed by a recorded op, the tape node that made it.
// Views (reshape) share storage; the storage is freed when its last tensor is disposed.
import type { Backend, DType, Storage } from './backend.js';
import { currentScope } from './scope.js';
import type { TapeNode } from './tape.js';

/**
 * Storage shared by a tensor and its views; freed by the backend when the last one lets go. A
 * view (another shape over the same memory) holds a reference to its base instead of memory.
 */
export class StorageRef {
  private refs = 1;
  constructor(
    readonly backend: Backend,
    readonly storage: Storage,
    private readonly base?: StorageRef,
  ) {
    base?.retain();
  }
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs > 0) return;
    if (this.base) this.base.release();
    else this.backend.dispose(this.storage);
  }
}

let nextId = 0;

export class Tensor {
  readonly id = nextId++;
  /** Gradient accumulated by backward() (leaf tensors that require grad only). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, while the tape is alive. */
  node: TapeNode | null = null;
  private disposed = false;

  constructor(
    readonly ref: StorageRef,
    readonly shape: readonly number[],
    readonly dtype: DType,
    public requiresGrad = false,
    /** Tensors a scope must not dispose (parameters, optimizer state). */
    readonly persistent = false,
  ) {
    if (!persistent) currentScope()?.track(this);
  }

  get backend(): Backend {
    return this.ref.backend;
  }
  get storage(): Storage {
    if (this.disposed) throw new Error(`tensor #${this.id} [${this.shape.join(', ')}] was disposed`);
    return this.ref.storage;
  }
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get rank(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Host copy of the data (float64 on the CPU backend, float32/int32 on the GPU). */
  async data(): Promise<Float64Array | Float32Array | Int32Array | Uint32Array> {
    return this.backend.read(this.storage);
  }

  /** Host copy as a plain number array. */
  async toArray(): Promise<number[]> {
    return Array.from(await this.data());
  }

  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs a one-element tensor, got shape [${this.shape.join(', ')}]`);
    return (await this.data())[0]!;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.node = null;
    this.ref.release();
    if (this.grad && !this.persistent) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** Frees the accumulated gradient (after an optimizer step). */
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }

  toString(): string {
    return `Tensor([${this.shape.join(', ')}], ${this.dtype}, ${this.backend.name}${this.requiresGrad ? ', requires grad' : ''})`;
  }
}
