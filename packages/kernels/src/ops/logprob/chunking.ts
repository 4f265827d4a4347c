// Row chunking under the binding-size limit. A [N, V] f32 logits tensor can be far larger than
// maxStorageBufferBindingSize (128 MiB on lavapipe; a 1024 × 152,064 f32 tensor is 594 MiB), so the
// kernels run over chunks of rows, binding for each chunk a window of every array. A window starts
// at the aligned byte offset at or below the chunk's first element (offsets must be multiples of
// minStorageBufferOffsetAlignment) and the kernel gets the remaining element offset `base` as a
// uniform. This works for every V, odd ones included, without constraining the chunk row count.
import type { ArrayRange } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import { ArgumentError } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';

export interface BindingLimits {
  maxStorageBufferBindingSize: number;
  minStorageBufferOffsetAlignment: number;
}

/** A window of 4-byte elements: bind [byteOffset, byteOffset + byteLength); element `first` sits at index `base`. */
export interface ElementWindow {
  byteOffset: number;
  byteLength: number;
  base: number;
}

export function elementWindow(first: number, count: number, alignment: number): ElementWindow {
  const startBytes = first * 4;
  const byteOffset = Math.floor(startBytes / alignment) * alignment;
  const base = (startBytes - byteOffset) / 4;
  return { byteOffset, byteLength: (base + count) * 4, base };
}

export function windowRange(array: GpuArray, w: ElementWindow): ArrayRange {
  return { array, byteOffset: w.byteOffset, byteLength: w.byteLength };
}

export interface RowChunk {
  /** First row of the chunk. */
  row0: number;
  rows: number;
  /** Window over the [N, V] arrays (logits, dLogits). */
  matrix: ElementWindow;
  /** Window over the [N] arrays (targets, logp, lse, …). */
  vector: ElementWindow;
}

/**
 * The largest number of rows of V f32 values one chunk may hold so that every window fits in one
 * binding (including the up to alignment − 4 bytes a window starts before its first element).
 */
export function maxChunkRows(kernel: string, vocab: number, limits: BindingLimits): number {
  const room = limits.maxStorageBufferBindingSize - limits.minStorageBufferOffsetAlignment;
  const rows = Math.floor(room / (4 * vocab));
  if (rows < 1) {
    throw new ArgumentError(
      kernel,
      'logits',
      `one row of V = ${vocab} f32 values (${4 * vocab} bytes) does not fit in one binding ` +
        `(maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize} bytes); split the vocabulary`,
    );
  }
  return Math.min(rows, Math.floor(room / 4));
}

/**
 * The chunks covering rows [0, n) of an [n, vocab] matrix. `forcedRows` (the chunkRows option, or
 * the flag 'logprob.chunkRows' when the option is absent; 0 = automatic) caps the chunk size so
 * tests can exercise the chunked path on small inputs.
 */
export function planRowChunks(kernel: string, n: number, vocab: number, limits: BindingLimits, forcedRows?: number): RowChunk[] {
  const forced = forcedRows ?? getFlag<number>('logprob.chunkRows', 0);
  if (!Number.isInteger(forced) || forced < 0) throw new ArgumentError(kernel, 'chunkRows', `must be a positive integer, got ${forced}`);
  let rows = maxChunkRows(kernel, vocab, limits);
  if (forced > 0) rows = Math.min(rows, forced);
  const align = limits.minStorageBufferOffsetAlignment;
  const chunks: RowChunk[] = [];
  for (let row0 = 0; row0 < n; row0 += rows) {
    const count = Math.min(rows, n - row0);
    chunks.push({
      row0,
      rows: count,
      matrix: elementWindow(row0 * vocab, count * vocab, align),
      vector: elementWindow(row0, count, align),
    });
  }
  return chunks;
}
