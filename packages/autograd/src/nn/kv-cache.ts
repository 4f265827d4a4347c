// The KV cache of a decoder: per layer, keys and values [B, H, capacity, D], plus how many
// positions of each sequence are filled (`past`, i32 [B] on the device and mirrored on the host).
// Sequences fill it independently (right-padded batches of different lengths): writes and decode
// attention take per-sequence positions, so no left padding or position shifting is needed.
// Inference only: the cache is written in place (by the fused split-heads + RoPE kernel of rope.ts,
// so appending costs no extra dispatch) and attention over it has no gradient.
import * as K from '@repirl/kernels';
import type { GpuArray } from '@repirl/kernels';
import type { Backend, Storage } from '../core/backend.js';
import { StorageRef, Tensor } from '../core/tensor.js';
import { apply1, type Primitive } from '../core/tape.js';
import { splitHeadsIntoCache } from './rope.js';
import { GpuBackend } from '../backends/gpu.js';
import type { CpuStorage } from '../backends/cpu.js';

export interface KvCacheConfig {
  batch: number;
  layers: number;
  heads: number;
  headDim: number;
  /** Positions per sequence (prompt + generated tokens). */
  capacity: number;
}

function persistent(backend: Backend, storage: Storage, shape: readonly number[], dtype: 'f32' | 'i32'): Tensor {
  return new Tensor(new StorageRef(backend, storage), shape, dtype, false, true);
}

/** Decode attention over the cache: a primitive without a gradient rule (never recorded). */
const attentionDecodePrim: Primitive<undefined> = {
  name: 'attentionDecode',
  forward: (backend, [q, k, v, past]) => {
    if (backend instanceof GpuBackend) {
      const r = K.attentionDecode(backend.rt, q!.storage as GpuArray, k!.storage as GpuArray, v!.storage as GpuArray, { past: past!.storage as GpuArray });
      r.lse.dispose();
      return { outputs: [r.out] };
    }
    const pastData = (past!.storage as CpuStorage).data;
    const r = K.attentionDecodeReference(q!.storage as CpuStorage, k!.storage as CpuStorage, v!.storage as CpuStorage, { past: pastData });
    return { outputs: [{ shape: [...r.out.shape], data: r.out.data, dtype: 'f32' } satisfies CpuStorage] };
  },
};

export class KvCache {
  readonly keys: Tensor[] = [];
  readonly values: Tensor[] = [];
  private pastTensor: Tensor;
  private pastHost: number[];

  constructor(
    readonly backend: Backend,
    readonly config: KvCacheConfig,
  ) {
    const { batch, layers, heads, headDim, capacity } = config;
    for (const [name, v] of Object.entries(config)) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`KvCache: ${name} must be a positive integer, got ${String(v)}`);
    }
    const shape = [batch, heads, capacity, headDim];
    for (let l = 0; l < layers; l++) {
      this.keys.push(persistent(backend, backend.fill(shape, 0), shape, 'f32'));
      this.values.push(persistent(backend, backend.fill(shape, 0), shape, 'f32'));
    }
    this.pastHost = new Array<number>(batch).fill(0);
    this.pastTensor = persistent(backend, backend.upload(this.pastHost, [batch], 'i32'), [batch], 'i32');
  }

  /** Filled positions per sequence, i32 [B] (the RoPE offsets and attention window of the next block). */
  get past(): Tensor {
    return this.pastTensor;
  }
  /** Host copy of past. */
  get positions(): readonly number[] {
    return this.pastHost;
  }

  /** Declares how many positions of each sequence hold valid keys and values (after a forward). */
  setPast(past: readonly number[]): void {
    const { batch, capacity } = this.config;
    if (past.length !== batch) throw new Error(`KvCache.setPast: expected ${batch} positions, got ${past.length}`);
    past.forEach((p, b) => {
      if (!Number.isInteger(p) || p < 0 || p > capacity) throw new Error(`KvCache.setPast: past[${b}] = ${p} is outside [0, ${capacity}]`);
    });
    this.pastTensor.dispose();
    this.pastHost = [...past];
    this.pastTensor = persistent(this.backend, this.backend.upload(past, [batch], 'i32'), [batch], 'i32');
  }

  /**
   * Splits the fused projection qkv [B, Tn, 3·H·D] of `layer` into heads with RoPE at positions
   * past_b + t, writes k and v into the cache there, and attends the queries over the cache (query t
   * of sequence b sees positions 0..past_b + t). Returns [B, H, Tn, D].
   */
  attend(layer: number, qkv: Tensor, cos: Tensor, sin: Tensor): Tensor {
    const kc = this.keys[layer];
    if (!kc) throw new Error(`KvCache.attend: layer ${layer} is outside [0, ${this.config.layers})`);
    const Tn = qkv.shape[1]!;
    const furthest = this.pastHost.reduce((m, p) => Math.max(m, p), -Infinity);
    if (furthest + Tn > this.config.capacity) throw new Error(`KvCache.attend: ${Tn} new positions after past = ${furthest} exceed the capacity ${this.config.capacity}`);
    const q = splitHeadsIntoCache(qkv, this.pastTensor, cos, sin, this.config.heads, kc, this.values[layer]!);
    return apply1(attentionDecodePrim, [q, kc, this.values[layer]!, this.pastTensor], undefined);
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values, this.pastTensor]) t.dispose();
  }
}
