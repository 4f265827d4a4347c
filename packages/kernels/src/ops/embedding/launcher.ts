// embedding: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import { ArgumentError, KernelError, shapeString } from '../../runtime/errors.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import { getFlag } from '../../runtime/flags.js';
import { expectDType, expectPositiveInteger, expectRank, expectShape } from '../validate.js';
import { bucketCountProgram, bucketSumProgram, gatherProgram, idCheckProgram, offsetsProgram, rankProgram, scanBackwardProgram, scatterProgram, SORT_CHUNK, WORKGROUP } from './program.js';

/**
 * The backward uses 'scan' by default while V·D/width·N (id compares) stays under this. Measured on
 * lavapipe: V=64, D=64, N=16 scan 0.6 ms vs sorted 1.4 ms; V=1000, D=64, N=64 (1M) 1.8 vs 1.5;
 * V=1000, D=256, N=16 2.4 vs 1.7; V=32000, D=256, N=16 118 vs 3.3.
 */
const SCAN_MAX_WORK = 1 << 20;

const MAX_INDEX = 2 ** 31 - 1;

export type EmbeddingBackwardVariant = 'scan' | 'sorted';

// ---------------------------------------------------------------- out-of-range id reporting

/** Kernels that report ids, by the code the check kernel stores. */
const REPORTING_KERNELS = ['embedding', 'embedding-backward'] as const;

type ReportingKernel = (typeof REPORTING_KERNELS)[number];

/** An id outside [0, bound) reached a kernel; `position` is the flat index into the ids array. */
export class IndexOutOfRangeError extends KernelError {
  constructor(
    kernel: string,
    readonly position: number,
    readonly value: number,
    readonly bound: number,
    readonly count: number,
  ) {
    super(
      kernel,
      `ids[${position}] = ${value} is out of range [0, ${bound}) (${count} out-of-range id${count === 1 ? '' : 's'} in that launch; ` +
        'the forward wrote NaN rows for them, the backward skipped them)',
      'validation',
    );
    this.name = 'IndexOutOfRangeError';
  }
}

// Status words: [0] count and [1] (2³²−1 − first position) of the current launch, written with
// atomics; [2] latched flag, [3] kernel code, [4] position, [5] id, [6] count, [7] bound of the
// first failing launch since the last check.
const STATUS_WORDS = 8;

const statusBuffers = new WeakMap<Runtime, GpuArray>();

function statusBuffer(rt: Runtime): GpuArray {
  let status = statusBuffers.get(rt);
  if (!status || status.isDisposed) {
    status = rt.zeros([STATUS_WORDS], 'u32');
    statusBuffers.set(rt, status);
  }
  return status;
}

function latchIdErrors(rt: Runtime, kernel: ReportingKernel, ids: GpuArray, bound: number): void {
  if (ids.size === 0) return;
  rt.dispatch(idCheckProgram, {
    bindings: [statusBuffer(rt), ids],
    uniforms: { kernelCode: REPORTING_KERNELS.indexOf(kernel), bound },
    workgroups: [1],
  });
}

/**
 * Throws an IndexOutOfRangeError if an embedding kernel launched on this runtime since the last
 * check met an id outside [0, V) (the first such launch is reported), then clears the record.
 * Waits for the queued GPU work (one 32-byte readback).
 */
export async function checkIdErrors(rt: Runtime): Promise<void> {
  const status = statusBuffers.get(rt);
  if (!status || status.isDisposed) return;
  const words = (await rt.read(status)) as Uint32Array;
  if (words[2] === 0) return;
  rt.device.queue.writeBuffer(status.buffer, 0, new Uint32Array(STATUS_WORDS));
  const kernel = REPORTING_KERNELS[words[3]!] ?? 'embedding';
  throw new IndexOutOfRangeError(kernel, words[4]!, words[5]! | 0, words[7]!, words[6]!);
}

function vectorWidth(dim: number): 1 | 4 {
  return dim % 4 === 0 && getFlag<boolean>('embedding.vec4', true) ? 4 : 1;
}

// ---------------------------------------------------------------- launchers

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export interface RowChunk {
  start: number;
  count: number;
}

/**
 * Row ranges of a [V, D] f32 table that each fit one storage binding of this device and start at
 * an aligned byte offset. One range unless the table is larger than maxStorageBufferBindingSize
 * (GPT-2's [50257, 768] table is 154 MB against lavapipe's 128 MiB); flag 'embedding.chunkRows'
 * caps the rows per range (tests use it to exercise chunking on small tables).
 */
export function embeddingRowChunks(rt: Runtime, kernel: string, vocab: number, dim: number): RowChunk[] {
  const rowBytes = dim * 4;
  const align = rt.limits.minStorageBufferOffsetAlignment;
  const step = align / gcd(rowBytes, align); // rows per aligned offset step
  let maxRows = Math.floor(rt.limits.maxStorageBufferBindingSize / rowBytes);
  const forced = getFlag<number>('embedding.chunkRows', 0);
  if (forced > 0) maxRows = Math.min(maxRows, Math.max(step, forced));
  if (vocab <= maxRows) return [{ start: 0, count: vocab }];
  const rows = Math.floor(maxRows / step) * step;
  if (rows === 0) {
    throw new ArgumentError(kernel, 'table', `a row of ${dim} f32 does not fit one storage binding (${rt.limits.maxStorageBufferBindingSize} bytes) at an aligned offset`);
  }
  const chunks: RowChunk[] = [];
  for (let start = 0; start < vocab; start += rows) chunks.push({ start, count: Math.min(rows, vocab - start) });
  return chunks;
}

function rowRange(array: GpuArray, chunk: RowChunk, dim: number) {
  return { array, byteOffset: chunk.start * dim * 4, byteLength: chunk.count * dim * 4 };
}

function checkIds(kernel: string, ids: GpuArray): void {
  expectDType(kernel, 'ids', ids, 'i32');
  if (ids.size > MAX_INDEX) throw new ArgumentError(kernel, 'ids', `has ${ids.size} elements; at most ${MAX_INDEX} are supported`);
}

/** out[..., :] = table[ids[...], :] for table [V, D] and i32 ids of any shape; out is [...ids.shape, D]. */
export function embedding(rt: Runtime, table: GpuArray, ids: GpuArray): GpuArray {
  const kernel = 'embedding';
  expectDType(kernel, 'table', table, 'f32');
  expectRank(kernel, 'table', table, 2);
  checkIds(kernel, ids);
  const [vocab, dim] = table.shape as [number, number];
  if (dim < 1) throw new ArgumentError(kernel, 'table', `expected shape [V, D] with D ≥ 1, got ${shapeString(table.shape)}`);
  const width = vectorWidth(dim);
  const cols = dim / width;
  const out = rt.empty([...ids.shape, dim]);
  const total = ids.size * cols;
  // Tables over the binding limit are bound in row ranges; each launch fills the rows of its ids.
  for (const [k, chunk] of embeddingRowChunks(rt, kernel, vocab, dim).entries()) {
    rt.dispatch(gatherProgram(width), {
      bindings: [rowRange(table, chunk, dim), ids, out, statusBuffer(rt)],
      uniforms: { total, cols, vocab, rowStart: chunk.start, rowCount: chunk.count, first: k === 0 ? 1 : 0 },
      workgroups: rt.grid(Math.ceil(total / WORKGROUP)),
    });
  }
  latchIdErrors(rt, kernel, ids, vocab);
  return out;
}

export interface EmbeddingBackwardOptions {
  /** Force a variant (default: flag 'embedding.backward', else 'scan' for V·D·N ≤ 2^20 (D in vec4 units when D % 4 = 0) and 'sorted' above). */
  variant?: EmbeddingBackwardVariant;
}

function backwardVariant(work: number, options: EmbeddingBackwardOptions): EmbeddingBackwardVariant {
  const forced = options.variant ?? getFlag<string>('embedding.backward', 'auto');
  if (forced === 'scan' || forced === 'sorted') return forced;
  if (forced !== 'auto') throw new ArgumentError('embedding-backward', 'variant', `must be 'scan', 'sorted' or 'auto', got "${forced}"`);
  return work <= SCAN_MAX_WORK ? 'scan' : 'sorted';
}

/**
 * dTable [V, D] with dTable[v] = Σ_{n: ids[n] = v} dOut[n] (scatter-add), deterministic: every row is
 * summed in increasing n. dOut is [...ids.shape, D].
 */
export function embeddingBackward(rt: Runtime, dOut: GpuArray, ids: GpuArray, vocab: number, options: EmbeddingBackwardOptions = {}): GpuArray {
  const kernel = 'embedding-backward';
  expectPositiveInteger(kernel, 'vocab', vocab);
  if (vocab > MAX_INDEX) throw new ArgumentError(kernel, 'vocab', `must be ≤ ${MAX_INDEX}, got ${vocab}`);
  checkIds(kernel, ids);
  expectDType(kernel, 'dOut', dOut, 'f32');
  if (dOut.rank !== ids.rank + 1) {
    throw new ArgumentError(kernel, 'dOut', `expected shape [${[...ids.shape, '*'].join(', ')}] (ids shape + [D]), got ${shapeString(dOut.shape)}`);
  }
  expectShape(kernel, 'dOut', dOut, [...ids.shape, null]);
  const dim = dOut.shape[dOut.rank - 1]!;
  if (dim < 1) throw new ArgumentError(kernel, 'dOut', `the last dimension D must be ≥ 1, got ${shapeString(dOut.shape)}`);
  const width = vectorWidth(dim);
  const cols = dim / width;
  const count = ids.size;
  if (count === 0) return rt.zeros([vocab, dim]); // nothing to add (and nothing to bind)
  const status = statusBuffer(rt);
  const rowChunks = embeddingRowChunks(rt, kernel, vocab, dim);
  let dTable: GpuArray;
  if (backwardVariant(vocab * cols * count, options) === 'scan') {
    dTable = rt.empty([vocab, dim]);
    for (const [k, chunk] of rowChunks.entries()) {
      const total = chunk.count * cols;
      rt.dispatch(scanBackwardProgram(width), {
        bindings: [dOut, ids, rowRange(dTable, chunk, dim), status],
        uniforms: { total, cols, vocab, count, rowStart: chunk.start, first: k === 0 ? 1 : 0 },
        workgroups: rt.grid(Math.ceil(total / WORKGROUP)),
      });
    }
  } else {
    dTable = rt.zeros([vocab, dim]);
    const chunks = Math.ceil(count / SORT_CHUNK);
    const localRank = rt.empty([count], 'u32');
    const chunkCount = rt.zeros([chunks * vocab], 'u32');
    const counts = rt.empty([vocab], 'u32');
    const offsets = rt.empty([vocab + 1], 'u32');
    const order = rt.empty([count], 'u32');
    rt.dispatch(rankProgram, { bindings: [ids, localRank, chunkCount, status], uniforms: { count, vocab }, workgroups: rt.grid(chunks) });
    rt.dispatch(bucketCountProgram, {
      bindings: [chunkCount, counts],
      uniforms: { chunks, vocab },
      workgroups: rt.grid(Math.ceil(vocab / WORKGROUP)),
    });
    rt.dispatch(offsetsProgram, { bindings: [counts, offsets], uniforms: { vocab }, workgroups: [1] });
    rt.dispatch(scatterProgram, {
      bindings: [ids, localRank, chunkCount, offsets, order],
      uniforms: { count, vocab },
      workgroups: rt.grid(chunks),
    });
    for (const chunk of rowChunks) {
      rt.dispatch(bucketSumProgram(width), {
        bindings: [dOut, ids, order, offsets, counts, rowRange(dTable, chunk, dim)],
        uniforms: { total: count * cols, cols, vocab, rowStart: chunk.start, rowCount: chunk.count },
        workgroups: rt.grid(Math.ceil((count * cols) / WORKGROUP)),
      });
    }
    for (const a of [localRank, chunkCount, counts, offsets, order]) a.dispose();
  }
  latchIdErrors(rt, kernel, ids, vocab);
  return dTable;
}
