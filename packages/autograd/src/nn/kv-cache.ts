// The KV cache of a decoder: per layer, keys and values [B, Hkv, capacity, D] (Hkv = kvHeads, the
// key/value heads: fewer than the query heads with grouped-query attention, which the decode
// kernel reads in place — query head h reads kv head ⌊h / (H/Hkv)⌋), plus how many
// positions of each sequence are filled (`past`, i32 [B] on the device and mirrored on the host).
// Sequences fill it independently (right-padded batches of different lengths): writes and decode
// attention take per-sequence positions, so no left padding or position shifting is needed.
// Inference only: the cache is written in place (by the fused split-heads + RoPE kernel of rope.ts,
// so appending costs no extra dispatch) and attention over it has no gradient.
import * as K from '@repirl/kernels';
import type { GpuArray } from '@repirl/kernels';
import type { Backend, Storage } from '../core/backend.js';
import { StorageRef, Tensor } from '../core/tensor.js';
import { apply1, isGradEnabled, type Primitive } from '../core/tape.js';
import { splitHeadsIntoCache } from './rope.js';
import { GpuBackend } from '../backends/gpu.js';
import type { CpuStorage } from '../backends/cpu.js';

export interface KvCacheConfig {
  batch: number;
  layers: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads stored in the cache (grouped-query attention); must divide heads. Default: heads. */
  kvHeads?: number;
  headDim: number;
  /** Positions per sequence (prompt + generated tokens). */
  capacity: number;
}

function persistent(backend: Backend, storage: Storage, shape: readonly number[], dtype: 'f32' | 'i32'): Tensor {
  return new Tensor(new StorageRef(backend, storage), shape, dtype, false, true);
}

/** Decode attention over the cache: a primitive without a gradient rule (never recorded). */
const attentionDecodePrim: Primitive<{ scale?: number }> = {
  name: 'attentionDecode',
  forward: (backend, [q, k, v, past], a) => {
    const scale = a.scale !== undefined ? { scale: a.scale } : {};
    if (backend instanceof GpuBackend) {
      const r = K.attentionDecode(backend.rt, q!.storage as GpuArray, k!.storage as GpuArray, v!.storage as GpuArray, { past: past!.storage as GpuArray, ...scale });
      r.lse.dispose();
      return { outputs: [r.out] };
    }
    const pastData = (past!.storage as CpuStorage).data;
    const r = K.attentionDecodeReference(q!.storage as CpuStorage, k!.storage as CpuStorage, v!.storage as CpuStorage, { past: pastData, ...scale });
    return { outputs: [{ shape: [...r.out.shape], data: r.out.data, dtype: 'f32' } satisfies CpuStorage] };
  },
};

export class KvCache {
  readonly keys: Tensor[] = [];
  readonly values: Tensor[] = [];
  private pastTensor: Tensor;
  private pastHost: number[];
  /** Key/value heads per layer (config.kvHeads, default config.heads). */
  readonly kvHeads: number;

  constructor(
    readonly backend: Backend,
    readonly config: KvCacheConfig,
  ) {
    const { batch, layers, heads, headDim, capacity } = config;
    for (const [name, v] of Object.entries(config)) {
      if (v === undefined && name === 'kvHeads') continue;
      if (!Number.isInteger(v) || v < 1) throw new Error(`KvCache: ${name} must be a positive integer, got ${String(v)}`);
    }
    this.kvHeads = config.kvHeads ?? heads;
    if (heads % this.kvHeads !== 0) throw new Error(`KvCache: kvHeads (${this.kvHeads}) must divide heads (${heads})`);
    const shape = [batch, this.kvHeads, capacity, headDim];
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
   * Splits the fused projection qkv [B, Tn, (H + 2·Hkv)·D] of `layer` into heads with RoPE at positions
   * past_b + t, writes k and v into the cache there, and attends the queries over the cache (query t
   * of sequence b sees positions 0..past_b + t). Returns [B, H, Tn, D].
   */
  attend(layer: number, qkv: Tensor, cos: Tensor, sin: Tensor): Tensor {
    const kc = this.layerKeys('attend', layer);
    this.checkRoom('attend', qkv.shape[1]!);
    const q = splitHeadsIntoCache(qkv, this.pastTensor, cos, sin, this.config.heads, kc, this.values[layer]!);
    return apply1(attentionDecodePrim, [q, kc, this.values[layer]!, this.pastTensor], {});
  }

  /**
   * Grouped-query (or any) attention over the cache from heads already split and position-encoded:
   * q [B, H, Tn, D], k and v [B, Hkv, Tn, D] (token t of sequence b at position past_b + t). Writes
   * k and v into the cache of `layer` at past_b + t (Hkv heads: no copy per query head), then
   * attends the queries over it (query t of sequence b sees positions 0..past_b + t). Returns
   * [B, H, Tn, D]. Like attend, inference only. `scale` (default 1/√D): the score scale, e.g. of
   * the true head size when heads are zero-padded to one the kernel takes.
   */
  attendHeads(layer: number, q: Tensor, k: Tensor, v: Tensor, options: { scale?: number } = {}): Tensor {
    const { batch: B, heads: H, headDim: D } = this.config;
    if (q.rank !== 4 || q.shape[0] !== B || q.shape[1] !== H || q.shape[3] !== D) throw new Error(`KvCache.attendHeads: q must be [${B}, ${H}, Tn, ${D}], got [${q.shape.join(', ')}]`);
    this.writeRows('attendHeads', layer, k, v, q.shape[2]!);
    return apply1(attentionDecodePrim, [q, this.keys[layer]!, this.values[layer]!, this.pastTensor], options.scale !== undefined ? { scale: options.scale } : {});
  }

  /**
   * Writes keys and values k, v [B, Hkv, Tn, D] (heads split, position-encoded) into the cache of
   * `layer` at past_b + t, without attending: how a cache is filled from keys and values computed
   * elsewhere (e.g. a prefix tree's stored segments). Rows past the capacity are dropped. The
   * caller declares the filled positions with setPast afterwards.
   */
  write(layer: number, k: Tensor, v: Tensor): void {
    this.writeRows('write', layer, k, v, k.shape[2]!);
  }

  private writeRows(method: string, layer: number, k: Tensor, v: Tensor, Tn: number): void {
    const kc = this.layerKeys(method, layer);
    const vc = this.values[layer]!;
    const { batch: B, headDim: D } = this.config;
    for (const [name, t] of [['k', k], ['v', v]] as const) {
      if (t.rank !== 4 || t.shape[0] !== B || t.shape[1] !== this.kvHeads || t.shape[2] !== Tn || t.shape[3] !== D) {
        throw new Error(`KvCache.${method}: ${name} must be [${B}, ${this.kvHeads}, ${Tn}, ${D}], got [${t.shape.join(', ')}]`);
      }
      if (isGradEnabled() && t.requiresGrad) throw new Error(`KvCache.${method}: writing a KV cache has no gradient; run generation under noGrad()`);
    }
    this.checkRoom(method, Tn);
    for (const [cache, rows] of [[kc, k], [vc, v]] as const) {
      if (this.backend instanceof GpuBackend) K.writeKvCache(this.backend.rt, cache.storage as GpuArray, rows.storage as GpuArray, this.pastTensor.storage as GpuArray);
      else {
        const c = cache.storage as CpuStorage;
        c.data.set(K.writeKvCacheReference(c, rows.storage as CpuStorage, this.pastHost).data);
      }
    }
  }

  private layerKeys(method: string, layer: number): Tensor {
    const kc = this.keys[layer];
    if (!kc) throw new Error(`KvCache.${method}: layer ${layer} is outside [0, ${this.config.layers})`);
    return kc;
  }

  private checkRoom(method: string, Tn: number): void {
    const furthest = this.pastHost.reduce((m, p) => Math.max(m, p), -Infinity);
    if (furthest + Tn > this.config.capacity) throw new Error(`KvCache.${method}: ${Tn} new positions after past = ${furthest} exceed the capacity ${this.config.capacity}`);
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values, this.pastTensor]) t.dispose();
  }
}
