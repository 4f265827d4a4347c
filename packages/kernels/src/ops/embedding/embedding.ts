// Embedding gather (forward) and scatter-add (backward, deterministic), with float64 references
// (llm.c's encoder_forward/backward).
//
// Out-of-range ids. Ids live on the GPU, so the host cannot look at them without a round trip. The
// kernels check every id they read (a compare per element, no measurable cost), never read outside
// the table, and record the first offending position with atomics in a small per-runtime status
// buffer; the forward writes NaN rows for bad ids so nothing downstream looks plausible. After each
// launch a one-invocation kernel latches the first failing launch (kernel, position, id, count) into
// the same buffer. `await checkIdErrors(rt)` reads those 32 bytes and throws an
// IndexOutOfRangeError naming the kernel and the offending index. Cost: one extra 1-invocation
// dispatch per launch (0.2 ms per pass in timestamp profiles on lavapipe under load, against 0.4 ms
// for gathering 16 rows of 256), and, per check, one 32-byte readback that waits for the queue
// (about one submit round trip, ~0.1 ms plus whatever is still queued) — so call it where a step
// already waits for the GPU (e.g. after reading the loss), not after every launch. A runtime hook
// that ran such checks inside rt.sync() would make them automatic; the runtime has none today.
//
// Backward determinism: dTable[v] = Σ dOut[n] over the positions n with ids[n] = v, always summed
// in increasing n, so both variants give bit-identical results on every run:
// - 'scan': one invocation per (v, column) loops over all N ids. Cost V·D·N id compares: small N only.
// - 'sorted': a stable counting sort of positions by id without atomics (chunk-local ranks from a
//   shared-memory tile, per-chunk counts, a prefix over chunks and over ids, a scatter), then one
//   invocation per (sorted position, column) sums the bucket it heads into a cleared table. Cost
//   O(N·256 + V·N/256 + N·D) plus clearing V·D, and six dispatches.
// Flag 'embedding.backward' = 'scan' | 'sorted' forces one; the default picks 'scan' for tiny work.
// Tables over the storage-binding limit are processed in row ranges (embeddingRowChunks).
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';
import { ArgumentError, KernelError, shapeString } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import type { CpuTensor } from '../../reference.js';
import { expectDType, expectPositiveInteger, expectRank, expectShape } from '../validate.js';

const WORKGROUP = 256;
/** Positions per chunk of the counting sort (= its workgroup size). */
const SORT_CHUNK = 256;
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

/** WGSL: record a bad id at `pos` (position in ids) into the status buffer. */
const FLAG_BAD_ID = `fn flagBadId(pos: u32) {
  atomicAdd(&status[0], 1u);
  atomicMax(&status[1], 0xffffffffu - pos);
}`;

const idCheckProgram: KernelProgram = {
  name: 'embedding-id-check',
  variant: 'latch',
  workgroupSize: [1],
  uniforms: [
    { name: 'kernelCode', type: 'u32' },
    { name: 'bound', type: 'u32' },
  ],
  bindings: [
    { name: 'status', type: 'u32', access: 'read_write' },
    { name: 'ids', type: 'i32', access: 'read' },
  ],
  code: /* wgsl */ `
@compute @workgroup_size(1)
fn main() {
  let count = status[0];
  if (count == 0u) { return; }
  if (status[2] == 0u) {
    let pos = 0xffffffffu - status[1];
    status[2] = 1u;
    status[3] = params.kernelCode;
    status[4] = pos;
    status[5] = bitcast<u32>(ids[pos]);
    status[6] = count;
    status[7] = params.bound;
  }
  status[0] = 0u;
  status[1] = 0u;
}`,
};

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

// ---------------------------------------------------------------- programs

function vecType(width: 1 | 4): 'f32' | 'vec4<f32>' {
  return width === 4 ? 'vec4<f32>' : 'f32';
}

function vectorWidth(dim: number): 1 | 4 {
  return dim % 4 === 0 && getFlag<boolean>('embedding.vec4', true) ? 4 : 1;
}

const FLAT_INDEX = 'let i = grid_invocation(wid, nwg, lid);';
const FLAT_BUILTINS =
  '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';

function gatherProgram(width: 1 | 4): KernelProgram {
  const T = vecType(width);
  return {
    name: 'embedding',
    variant: `v${width}`,
    workgroupSize: [WORKGROUP],
    uniforms: [
      { name: 'total', type: 'u32' },
      { name: 'cols', type: 'u32' },
      { name: 'vocab', type: 'u32' },
      { name: 'rowStart', type: 'u32' }, // the bound part of the table: rows [rowStart, rowStart + rowCount)
      { name: 'rowCount', type: 'u32' },
      { name: 'first', type: 'u32' }, // 1 in the launch that reports bad ids
    ],
    bindings: [
      { name: 'table', type: T, access: 'read' },
      { name: 'ids', type: 'i32', access: 'read' },
      { name: 'out', type: T, access: 'read_write' },
      { name: 'status', type: 'atomic<u32>', access: 'read_write' },
    ],
    code: /* wgsl */ `
${FLAG_BAD_ID}
@compute @workgroup_size(WG_X)
fn main(${FLAT_BUILTINS}) {
  ${FLAT_INDEX}
  if (i >= params.total) { return; }
  let row = i / params.cols;
  let col = i - row * params.cols;
  let id = ids[row];
  if (id < 0 || u32(id) >= params.vocab) {
    if (params.first == 1u) {
      var nanBits = 0x7fc00000u; // a var, not a constant: a NaN constant expression is a compile error
      out[i] = ${T}(bitcast<f32>(nanBits));
      if (col == 0u) { flagBadId(row); }
    }
    return;
  }
  let inChunk = u32(id) - params.rowStart; // wraps to a huge value below the chunk
  if (inChunk >= params.rowCount) { return; } // another launch covers this row
  out[i] = table[inChunk * params.cols + col];
}`,
  };
}

function scanBackwardProgram(width: 1 | 4): KernelProgram {
  const T = vecType(width);
  return {
    name: 'embedding-backward',
    variant: `scan:v${width}`,
    workgroupSize: [WORKGROUP],
    uniforms: [
      { name: 'total', type: 'u32' },
      { name: 'cols', type: 'u32' },
      { name: 'vocab', type: 'u32' },
      { name: 'count', type: 'u32' },
      { name: 'rowStart', type: 'u32' },
      { name: 'first', type: 'u32' },
    ],
    bindings: [
      { name: 'dOut', type: T, access: 'read' },
      { name: 'ids', type: 'i32', access: 'read' },
      { name: 'dTable', type: T, access: 'read_write' },
      { name: 'status', type: 'atomic<u32>', access: 'read_write' },
    ],
    code: /* wgsl */ `
${FLAG_BAD_ID}
@compute @workgroup_size(WG_X)
fn main(${FLAT_BUILTINS}) {
  ${FLAT_INDEX}
  if (i >= params.total) { return; }
  let row = i / params.cols;
  let col = i - row * params.cols;
  let wanted = i32(params.rowStart + row);
  var acc = ${T}(0.0);
  for (var n = 0u; n < params.count; n++) {
    if (ids[n] == wanted) { acc += dOut[n * params.cols + col]; }
  }
  dTable[i] = acc;
  if (i == 0u && params.first == 1u) {
    for (var n = 0u; n < params.count; n++) {
      let id = ids[n];
      if (id < 0 || u32(id) >= params.vocab) { flagBadId(n); }
    }
  }
}`,
  };
}

/** Sort step 1: rank of each position among equal ids in its chunk; per-chunk count of each id. */
const rankProgram: KernelProgram = {
  name: 'embedding-backward-rank',
  variant: 'sorted',
  workgroupSize: [SORT_CHUNK],
  uniforms: [
    { name: 'count', type: 'u32' },
    { name: 'vocab', type: 'u32' },
  ],
  bindings: [
    { name: 'ids', type: 'i32', access: 'read' },
    { name: 'localRank', type: 'u32', access: 'read_write' },
    { name: 'chunkCount', type: 'u32', access: 'read_write' },
    { name: 'status', type: 'atomic<u32>', access: 'read_write' },
  ],
  code: /* wgsl */ `
${FLAG_BAD_ID}
var<workgroup> tile: array<i32, WG_X>;
@compute @workgroup_size(WG_X)
fn main(${FLAT_BUILTINS}) {
  let chunk = grid_workgroup(wid, nwg);
  let pos = chunk * WG_X + lid;
  var id = -1;
  if (pos < params.count) {
    id = ids[pos];
    if (id < 0 || u32(id) >= params.vocab) { flagBadId(pos); id = -1; }
  }
  tile[lid] = id;
  workgroupBarrier();
  if (id < 0) { return; }
  // Branch-free counts of equal ids before and after this position (SIMD-friendly).
  var before = 0u;
  var after = 0u;
  for (var j = 0u; j < WG_X; j++) {
    let same = tile[j] == id;
    before += select(0u, 1u, same && j < lid);
    after += select(0u, 1u, same && j > lid);
  }
  localRank[pos] = before;
  if (after == 0u) { chunkCount[chunk * params.vocab + u32(id)] = before + 1u; }
}`,
};

/** Sort step 2: per id, turn per-chunk counts into a prefix over chunks; total count per id. */
const bucketCountProgram: KernelProgram = {
  name: 'embedding-backward-bucket-count',
  variant: 'sorted',
  workgroupSize: [WORKGROUP],
  uniforms: [
    { name: 'chunks', type: 'u32' },
    { name: 'vocab', type: 'u32' },
  ],
  bindings: [
    { name: 'chunkCount', type: 'u32', access: 'read_write' },
    { name: 'counts', type: 'u32', access: 'read_write' },
  ],
  code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(${FLAT_BUILTINS}) {
  ${FLAT_INDEX}
  if (i >= params.vocab) { return; }
  var running = 0u;
  for (var c = 0u; c < params.chunks; c++) {
    let k = c * params.vocab + i;
    let t = chunkCount[k];
    chunkCount[k] = running;
    running += t;
  }
  counts[i] = running;
}`,
};

/** Sort step 3: exclusive prefix sum of the counts over ids (one workgroup). */
const offsetsProgram: KernelProgram = {
  name: 'embedding-backward-offsets',
  variant: 'sorted',
  workgroupSize: [WORKGROUP],
  uniforms: [{ name: 'vocab', type: 'u32' }],
  bindings: [
    { name: 'counts', type: 'u32', access: 'read' },
    { name: 'offsets', type: 'u32', access: 'read_write' },
  ],
  code: /* wgsl */ `
var<workgroup> sums: array<u32, WG_X>;
@compute @workgroup_size(WG_X)
fn main(@builtin(local_invocation_index) lid: u32) {
  let per = (params.vocab + WG_X - 1u) / WG_X;
  let start = min(params.vocab, lid * per);
  let end = min(params.vocab, start + per);
  var own = 0u;
  for (var k = start; k < end; k++) { own += counts[k]; }
  sums[lid] = own;
  workgroupBarrier();
  for (var stride = 1u; stride < WG_X; stride = stride << 1u) {
    var t = 0u;
    if (lid >= stride) { t = sums[lid - stride]; }
    workgroupBarrier();
    sums[lid] += t;
    workgroupBarrier();
  }
  var prefix = sums[lid] - own;
  for (var k = start; k < end; k++) { offsets[k] = prefix; prefix += counts[k]; }
  if (lid == WG_X - 1u) { offsets[params.vocab] = sums[lid]; } // number of valid positions
}`,
};

/** Sort step 4: place every valid position at offsets[id] + chunk prefix + local rank. */
const scatterProgram: KernelProgram = {
  name: 'embedding-backward-scatter',
  variant: 'sorted',
  workgroupSize: [SORT_CHUNK],
  uniforms: [
    { name: 'count', type: 'u32' },
    { name: 'vocab', type: 'u32' },
  ],
  bindings: [
    { name: 'ids', type: 'i32', access: 'read' },
    { name: 'localRank', type: 'u32', access: 'read' },
    { name: 'chunkPrefix', type: 'u32', access: 'read' },
    { name: 'offsets', type: 'u32', access: 'read' },
    { name: 'order', type: 'u32', access: 'read_write' },
  ],
  code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(${FLAT_BUILTINS}) {
  let chunk = grid_workgroup(wid, nwg);
  let pos = chunk * WG_X + lid;
  if (pos >= params.count) { return; }
  let id = ids[pos];
  if (id < 0 || u32(id) >= params.vocab) { return; }
  let v = u32(id);
  order[offsets[v] + chunkPrefix[chunk * params.vocab + v] + localRank[pos]] = pos;
}`,
};

/**
 * Sort step 5: one invocation per (sorted position j, column); the first position of each bucket
 * sums the bucket (increasing n) into dTable[id]. Rows without ids stay as cleared (zero), so the
 * work is O(N·D) instead of O(V·D).
 */
function bucketSumProgram(width: 1 | 4): KernelProgram {
  const T = vecType(width);
  return {
    name: 'embedding-backward-sum',
    variant: `v${width}`,
    workgroupSize: [WORKGROUP],
    uniforms: [
      { name: 'total', type: 'u32' },
      { name: 'cols', type: 'u32' },
      { name: 'vocab', type: 'u32' },
      { name: 'rowStart', type: 'u32' },
      { name: 'rowCount', type: 'u32' },
    ],
    bindings: [
      { name: 'dOut', type: T, access: 'read' },
      { name: 'ids', type: 'i32', access: 'read' },
      { name: 'order', type: 'u32', access: 'read' },
      { name: 'offsets', type: 'u32', access: 'read' },
      { name: 'counts', type: 'u32', access: 'read' },
      { name: 'dTable', type: T, access: 'read_write' },
    ],
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(${FLAT_BUILTINS}) {
  ${FLAT_INDEX}
  if (i >= params.total) { return; }
  let j = i / params.cols;
  let col = i - j * params.cols;
  if (j >= offsets[params.vocab]) { return; } // past the valid positions
  let v = u32(ids[order[j]]);
  if (offsets[v] != j) { return; } // not the head of its bucket
  let inChunk = v - params.rowStart;
  if (inChunk >= params.rowCount) { return; } // another launch covers this row
  let end = j + counts[v];
  var acc = ${T}(0.0);
  for (var k = j; k < end; k++) { acc += dOut[order[k] * params.cols + col]; }
  dTable[inChunk * params.cols + col] = acc;
}`,
  };
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
