// embedding: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { KernelProgram } from '../../runtime/program.js';

export const WORKGROUP = 256;

/** Positions per chunk of the counting sort (= its workgroup size). */
export const SORT_CHUNK = 256;

/** WGSL: record a bad id at `pos` (position in ids) into the status buffer. */
const FLAG_BAD_ID = `fn flagBadId(pos: u32) {
  atomicAdd(&status[0], 1u);
  atomicMax(&status[1], 0xffffffffu - pos);
}`;

export const idCheckProgram: KernelProgram = {
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

// ---------------------------------------------------------------- programs

function vecType(width: 1 | 4): 'f32' | 'vec4<f32>' {
  return width === 4 ? 'vec4<f32>' : 'f32';
}

const FLAT_INDEX = 'let i = grid_invocation(wid, nwg, lid);';

const FLAT_BUILTINS =
  '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';

export function gatherProgram(width: 1 | 4): KernelProgram {
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

export function scanBackwardProgram(width: 1 | 4): KernelProgram {
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
export const rankProgram: KernelProgram = {
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
export const bucketCountProgram: KernelProgram = {
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
export const offsetsProgram: KernelProgram = {
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
export const scatterProgram: KernelProgram = {
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
export function bucketSumProgram(width: 1 | 4): KernelProgram {
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
