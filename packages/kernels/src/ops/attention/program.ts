// attention: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import { ArgumentError } from '../../runtime/errors.js';
import type { KernelProgram } from '../../runtime/program.js';

export const MIN_HEAD_SIZE = 16;

export const MAX_HEAD_SIZE = 128;

/** Capacity (in vec4) of the private row arrays for head size D: the specialisation bucket. */
export function rowCapacity(D: number): number {
  const c = D / 4;
  return c <= 8 ? 8 : c <= 16 ? 16 : 32;
}

export type TileFetch = 'loads' | 'broadcast';

/** The most rows a 'broadcast' tile may have: every subgroup must have at least this many lanes. */
export const BROADCAST_TILE_MAX = 8;

/**
 * Validates a tiling (rows per invocation, tile rows, workgroup size) for a fetch mode: with
 * broadcasts the tile must fit in one subgroup and workgroups must be whole subgroups.
 */
export function checkTiling(kernel: string, rows: number, tile: number, workgroup: number, fetch: TileFetch): void {
  const ok = (x: number, lo: number, hi: number) => Number.isInteger(x) && x >= lo && x <= hi;
  if (!ok(rows, 1, 8)) throw new ArgumentError(kernel, 'config.rows', `must be an integer in 1..8, got ${rows}`);
  if (!ok(tile, 1, 16)) throw new ArgumentError(kernel, 'config.tile', `must be an integer in 1..16, got ${tile}`);
  if (!ok(workgroup, 1, 256)) throw new ArgumentError(kernel, 'config.workgroup', `must be an integer in 1..256, got ${workgroup}`);
  if (fetch === 'broadcast' && (tile > BROADCAST_TILE_MAX || workgroup % BROADCAST_TILE_MAX !== 0)) {
    throw new ArgumentError(
      kernel,
      'config',
      `with subgroup broadcasts the tile must be at most ${BROADCAST_TILE_MAX} and the workgroup a multiple of ${BROADCAST_TILE_MAX} ` +
        `(got tile ${tile}, workgroup ${workgroup}); the flag attention.subgroups=false lifts this`,
    );
  }
}

/** Extra entry-point parameters a fetch mode needs. */
export function fetchBuiltins(fetch: TileFetch): string {
  return fetch === 'broadcast' ? ', @builtin(subgroup_invocation_id) sgid: u32' : '';
}

/**
 * Declares the row addresses of a tile: `${name}${t}` per row ('loads') or `${name}L`, the row this
 * lane fetches ('broadcast'; lanes past the tile repeat its last row). `row(t)` is a WGSL u32
 * expression of the tile-row index t.
 */
export function tileRows(fetch: TileFetch, tile: number, name: string, row: (t: string) => string, indent: string): string {
  if (fetch === 'broadcast') return `${indent}let ${name}L = ${row(`min(sgid, ${tile - 1}u)`)};`;
  return repeat(tile, (t) => `${indent}let ${name}${t} = ${row(`${t}u`)};`);
}

/** Statements giving `${value}${t}` = buffer[`${addr}`(t) + offset] for every tile row t. */
export function tileFetch(fetch: TileFetch, tile: number, buffer: string, addr: string, offset: string, value: string, indent: string): string {
  const plus = offset ? ` + ${offset}` : '';
  if (fetch === 'broadcast') {
    return `${indent}let ${value}L = ${buffer}[${addr}L${plus}];\n` + repeat(tile, (t) => `${indent}let ${value}${t} = subgroupBroadcast(${value}L, ${t}u);`);
  }
  return repeat(tile, (t) => `${indent}let ${value}${t} = ${buffer}[${addr}${t}${plus}];`);
}

/** Repeats a template for 0..n−1, joining with newlines. */
export function repeat(n: number, f: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => f(i)).join('\n');
}

/** A sum expression of terms (a single term stays as is). */
export function sum(terms: readonly string[]): string {
  return terms.length === 0 ? '0.0' : terms.join(' + ');
}

/**
 * How the per-sequence window of keys and the position of the first query are found.
 * FULL: all Tk keys, queries from position 0. LENGTHS: positions[b] valid keys (padding on the
 * right), queries from 0. PAST_BUFFER / PAST_UNIFORM (decode): queries start at past_b =
 * positions[b] or the uniform `past`, and keys up to past_b + Tq are valid.
 */
export const WindowMode = { FULL: 0, LENGTHS: 1, PAST_BUFFER: 2, PAST_UNIFORM: 3 } as const;

/**
 * `fn sequenceWindow(b) -> vec2<i32>`: (position of query row 0, number of valid keys), the latter
 * clamped to [0, Tk]. Needs uniforms mode, past, tq, tk and the i32 binding `positions`.
 */
export const SEQUENCE_WINDOW_WGSL = /* wgsl */ `
fn sequenceWindow(b: u32) -> vec2<i32> {
  // One load for every mode (each storage access costs llvmpipe compile time); the placeholder
  // bound when there is no per-sequence data holds a single element, hence the clamp.
  let stored = positions[min(b, arrayLength(&positions) - 1u)];
  var offset = 0;
  var keyCount = i32(params.tk);
  switch params.mode {
    case ${WindowMode.LENGTHS}u: { keyCount = stored; }
    case ${WindowMode.PAST_BUFFER}u: { offset = stored; keyCount = offset + i32(params.tq); }
    case ${WindowMode.PAST_UNIFORM}u: { offset = params.past; keyCount = offset + i32(params.tq); }
    default: {}
  }
  return vec2<i32>(offset, clamp(keyCount, 0, i32(params.tk)));
}`;

/** Finite stand-in for −∞ as the initial running maximum (real −∞ would give ∞ − ∞ = NaN). */
export const NEG_BIG = '-3.0e38';

/**
 * The workgroup order of the row-block kernels: the slow index is the block, so that all heads'
 * heaviest blocks (the most keys under the causal mask) start first and the light ones fill in at
 * the end (llvmpipe hands out workgroups to its threads dynamically, in order).
 */
export const BLOCK_INDEX_WGSL = /* wgsl */ `
  let flat = grid_workgroup(wid, nwg);
  let heads = params.batch * params.heads;
  if (flat >= params.blocks * heads) { return; }
  let bh = flat % heads;
  let blockRank = flat / heads;`;

/** Work split of the two backward passes (each a pipeline; tests force each through flags). */
export interface AttentionBackwardConfig {
  /** Rows (query rows in the dq pass, key rows in the dk/dv pass) per invocation. */
  rows: number;
  /** Keys (dq pass) or queries (dk/dv pass) per step of the inner loop. */
  tile: number;
  /** Invocations per workgroup. */
  workgroup: number;
}

const UNIFORMS = [
  { name: 'batch', type: 'u32' },
  { name: 'heads', type: 'u32' },
  { name: 'tq', type: 'u32' },
  { name: 'tk', type: 'u32' },
  { name: 'c', type: 'u32' },
  { name: 'blocks', type: 'u32' },
  { name: 'mode', type: 'u32' },
  { name: 'past', type: 'i32' },
  { name: 'scale', type: 'f32' },
  { name: 'group', type: 'u32' },
] as const;

/** Pass 1: dq and D_i = dO_i·O_i, invocations owning query rows, keys walked in tiles. */
export function attentionBackwardDqProgram(D: number, cfg: AttentionBackwardConfig, fetch: TileFetch = 'loads'): KernelProgram {
  const { rows: R, tile: KT, workgroup: WG } = cfg;
  const cap = rowCapacity(D);
  const code = /* wgsl */ `
const ROWS: u32 = ${WG * R}u;
${SEQUENCE_WINDOW_WGSL}

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${fetchBuiltins(fetch)}) {
${BLOCK_INDEX_WGSL}
  let block = params.blocks - 1u - blockRank; // later rows see more keys: start them first
  let len = sequenceWindow(bh / params.heads).y;
  let row0 = block * ROWS;
  let lastRow = min(row0 + ROWS, params.tq) - 1u;
  let keyEnd = u32(clamp(i32(lastRow) + 1, 0, len)); // the same for the whole workgroup
  let C = params.c;
  let rowBase = bh * params.tq;
  let kvBase = (bh / params.group) * params.tq; // GQA: query head h reads kv head h / group
  // Rows r of this invocation: row0 + r·WG_X + lid (q pre-scaled, dO, the dq accumulator).
  var qs: array<array<vec4<f32>, ${cap}>, ${R}>;
  var gs: array<array<vec4<f32>, ${cap}>, ${R}>;
  var dqs: array<array<vec4<f32>, ${cap}>, ${R}>;
  var rowDot: array<f32, ${R}>;
  var rowLse: array<f32, ${R}>;
  for (var r = 0u; r < ${R}u; r++) {
    let i = min(row0 + r * WG_X + lid, params.tq - 1u);
    let live = i32(row0 + r * WG_X + lid) < len;
    let a = (rowBase + i) * C;
    var d = 0.0;
    for (var c = 0u; c < C; c++) {
      let g = dOut[a + c];
      qs[r][c] = q[a + c] * params.scale;
      gs[r][c] = g;
      dqs[r][c] = vec4<f32>();
      d += dot(g, out[a + c]);
    }
    rowDot[r] = select(0.0, d, live);
    rowLse[r] = select(0.0, lse[rowBase + i], live); // a masked row's −∞ never reaches an exp
  }
${repeat(R, (r) => `  let i${r} = row0 + ${r}u * WG_X + lid;
  let rowDot${r} = rowDot[${r}];
  let lse${r} = rowLse[${r}];`)}
${fetch === 'loads' ? `  var kTile: array<array<vec4<f32>, ${cap}>, ${KT}>; // the tile's K rows, read again for dq` : ''}
  for (var j0 = 0u; j0 < keyEnd; j0 += ${KT}u) {
${tileRows(fetch, KT, 'ka', (t) => `(kvBase + min(j0 + ${t}, keyEnd - 1u)) * C`, '    ')}
${repeat(R, (r) => repeat(KT, (t) => `    var s${r}_${t} = 0.0;
    var dp${r}_${t} = 0.0;`))}
    for (var c = 0u; c < C; c++) {
${tileFetch(fetch, KT, 'k', 'ka', 'c', 'k', '      ')}
${tileFetch(fetch, KT, 'v', 'ka', 'c', 'v', '      ')}
${fetch === 'loads' ? repeat(KT, (t) => `      kTile[${t}][c] = k${t};`) : ''}
${repeat(R, (r) => `      let q${r} = qs[${r}][c];
      let g${r} = gs[${r}][c];
${repeat(KT, (t) => `      s${r}_${t} += dot(q${r}, k${t});
      dp${r}_${t} += dot(g${r}, v${t});`)}`)}
    }
${repeat(R, (r) => repeat(KT, (t) => `    let ds${r}_${t} = select(0.0, exp(min(s${r}_${t} - lse${r}, 0.0)), j0 + ${t}u <= i${r}) * (dp${r}_${t} - rowDot${r});`))}
    for (var c = 0u; c < C; c++) {
${fetch === 'loads' ? repeat(KT, (t) => `      let k${t} = kTile[${t}][c];`) : tileFetch(fetch, KT, 'k', 'ka', 'c', 'k', '      ')}
${repeat(R, (r) => `      dqs[${r}][c] += ${sum(Array.from({ length: KT }, (_, t) => `ds${r}_${t} * k${t}`))};`)}
    }
  }
  for (var r = 0u; r < ${R}u; r++) {
    let i = row0 + r * WG_X + lid;
    if (i < params.tq) {
      let a = (rowBase + i) * C;
      let f = select(0.0, params.scale, i32(i) < len);
      for (var c = 0u; c < C; c++) { dq[a + c] = dqs[r][c] * f; }
      rowDots[rowBase + i] = rowDot[r];
    }
  }
}`;
  return {
    name: 'attention-backward-dq',
    variant: `cap${cap}:r${R}:t${KT}:wg${WG}:${fetch}`,
    workgroupSize: [WG],
    features: fetch === 'broadcast' ? ['subgroups'] : [],
    uniforms: UNIFORMS,
    bindings: [
      { name: 'q', type: 'vec4<f32>', access: 'read' },
      { name: 'k', type: 'vec4<f32>', access: 'read' },
      { name: 'v', type: 'vec4<f32>', access: 'read' },
      { name: 'out', type: 'vec4<f32>', access: 'read' },
      { name: 'dOut', type: 'vec4<f32>', access: 'read' },
      { name: 'lse', type: 'f32', access: 'read' },
      { name: 'positions', type: 'i32', access: 'read' },
      { name: 'dq', type: 'vec4<f32>', access: 'read_write' },
      { name: 'rowDots', type: 'f32', access: 'read_write' },
    ],
    code,
  };
}

/** Pass 2: dk and dv, invocations owning key rows, queries walked in tiles. */
export function attentionBackwardDkDvProgram(D: number, cfg: AttentionBackwardConfig, fetch: TileFetch = 'loads'): KernelProgram {
  const { rows: R, tile: QT, workgroup: WG } = cfg;
  const cap = rowCapacity(D);
  const code = /* wgsl */ `
const ROWS: u32 = ${WG * R}u;
${SEQUENCE_WINDOW_WGSL}

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${fetchBuiltins(fetch)}) {
${BLOCK_INDEX_WGSL}
  let block = blockRank; // earlier keys are seen by more queries: start them first
  let len = u32(sequenceWindow(bh / params.heads).y);
  let row0 = block * ROWS;
  let C = params.c;
  let rowBase = bh * params.tq; // bh is a kv head here (params.heads = Hkv)
  // Key rows r of this invocation: row0 + r·WG_X + lid (k pre-scaled, v, the dk and dv accumulators).
  var ks: array<array<vec4<f32>, ${cap}>, ${R}>;
  var vs: array<array<vec4<f32>, ${cap}>, ${R}>;
  var dks: array<array<vec4<f32>, ${cap}>, ${R}>;
  var dvs: array<array<vec4<f32>, ${cap}>, ${R}>;
  for (var r = 0u; r < ${R}u; r++) {
    let a = (rowBase + min(row0 + r * WG_X + lid, params.tq - 1u)) * C;
    for (var c = 0u; c < C; c++) {
      ks[r][c] = k[a + c] * params.scale;
      vs[r][c] = v[a + c];
      dks[r][c] = vec4<f32>();
      dvs[r][c] = vec4<f32>();
    }
  }
${repeat(R, (r) => `  let j${r} = row0 + ${r}u * WG_X + lid;`)}
${fetch === 'loads' ? `  var qTile: array<array<vec4<f32>, ${cap}>, ${QT}>; // the tile's q and dO rows, read again below
  var gTile: array<array<vec4<f32>, ${cap}>, ${QT}>;` : ''}
  // GQA: the group's query heads bh·group + member (consecutive heads share kv head bh) in turn, their
  // contributions summed in the same registers; group = 1 is plain multi-head attention.
  for (var member = 0u; member < params.group; member++) {
  let qBase = (bh * params.group + member) * params.tq;
  // Queries from the block's first key to the end of the sequence (the same for the workgroup).
  for (var i0 = row0; i0 < len; i0 += ${QT}u) {
${tileRows(fetch, QT, 'qi', (t) => `qBase + min(i0 + ${t}, len - 1u)`, '    ')}
${tileFetch(fetch, QT, 'lse', 'qi', '', 'lse', '    ')}
${tileFetch(fetch, QT, 'rowDots', 'qi', '', 'rowDot', '    ')}
${tileRows(fetch, QT, 'qa', (t) => `qBase * C + min(i0 + ${t}, len - 1u) * C`, '    ')}
${repeat(R, (r) => repeat(QT, (t) => `    var s${r}_${t} = 0.0;
    var dp${r}_${t} = 0.0;`))}
    for (var c = 0u; c < C; c++) {
${tileFetch(fetch, QT, 'q', 'qa', 'c', 'q', '      ')}
${tileFetch(fetch, QT, 'dOut', 'qa', 'c', 'g', '      ')}
${fetch === 'loads' ? repeat(QT, (t) => `      qTile[${t}][c] = q${t};
      gTile[${t}][c] = g${t};`) : ''}
${repeat(R, (r) => `      let k${r} = ks[${r}][c];
      let v${r} = vs[${r}][c];
${repeat(QT, (t) => `      s${r}_${t} += dot(q${t}, k${r});
      dp${r}_${t} += dot(g${t}, v${r});`)}`)}
    }
${repeat(R, (r) => repeat(QT, (t) => `    let p${r}_${t} = select(0.0, exp(min(s${r}_${t} - lse${t}, 0.0)), i0 + ${t}u >= j${r} && i0 + ${t}u < len);
    let ds${r}_${t} = p${r}_${t} * (dp${r}_${t} - rowDot${t});`))}
    for (var c = 0u; c < C; c++) {
${fetch === 'loads' ? repeat(QT, (t) => `      let q${t} = qTile[${t}][c];
      let g${t} = gTile[${t}][c];`) : `${tileFetch(fetch, QT, 'q', 'qa', 'c', 'q', '      ')}
${tileFetch(fetch, QT, 'dOut', 'qa', 'c', 'g', '      ')}`}
${repeat(R, (r) => `      dvs[${r}][c] += ${sum(Array.from({ length: QT }, (_, t) => `p${r}_${t} * g${t}`))};
      dks[${r}][c] += ${sum(Array.from({ length: QT }, (_, t) => `ds${r}_${t} * q${t}`))};`)}
    }
  }
  }
  for (var r = 0u; r < ${R}u; r++) {
    let j = row0 + r * WG_X + lid;
    if (j < params.tq) {
      let a = (rowBase + j) * C;
      let f = select(0.0, 1.0, j < len);
      let fk = f * params.scale;
      for (var c = 0u; c < C; c++) {
        dk[a + c] = dks[r][c] * fk;
        dv[a + c] = dvs[r][c] * f;
      }
    }
  }
}`;
  return {
    name: 'attention-backward-dkdv',
    variant: `cap${cap}:r${R}:t${QT}:wg${WG}:${fetch}`,
    workgroupSize: [WG],
    features: fetch === 'broadcast' ? ['subgroups'] : [],
    uniforms: UNIFORMS,
    bindings: [
      { name: 'q', type: 'vec4<f32>', access: 'read' },
      { name: 'k', type: 'vec4<f32>', access: 'read' },
      { name: 'v', type: 'vec4<f32>', access: 'read' },
      { name: 'dOut', type: 'vec4<f32>', access: 'read' },
      { name: 'lse', type: 'f32', access: 'read' },
      { name: 'rowDots', type: 'f32', access: 'read' },
      { name: 'positions', type: 'i32', access: 'read' },
      { name: 'dk', type: 'vec4<f32>', access: 'read_write' },
      { name: 'dv', type: 'vec4<f32>', access: 'read_write' },
    ],
    code,
  };
}

/** How the forward kernel splits work; every combination is a separate pipeline (tests force each). */
export interface AttentionForwardConfig {
  /** Query rows per invocation (1..8): every fetched K/V vec4 serves all of them; private memory grows with them. */
  rows: number;
  /** Keys per online-softmax step (1..16, at most 8 with subgroup broadcasts): the accumulator is rescaled once per tile. */
  keyTile: number;
  /** Invocations per workgroup (a multiple of 8 with subgroup broadcasts; llvmpipe runs 8 lanes at a time). */
  workgroup: number;
}

export function attentionForwardProgram(D: number, cfg: AttentionForwardConfig, fetch: TileFetch = 'loads'): KernelProgram {
  const { rows: R, keyTile: KT, workgroup: WG } = cfg;
  const cap = rowCapacity(D);
  const code = /* wgsl */ `
const ROWS: u32 = ${WG * R}u;
${SEQUENCE_WINDOW_WGSL}

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${fetchBuiltins(fetch)}) {
${BLOCK_INDEX_WGSL}
  let block = params.blocks - 1u - blockRank; // later rows see more keys: start them first
  let window = sequenceWindow(bh / params.heads);
  let row0 = block * ROWS;
  let lastRow = min(row0 + ROWS, params.tq) - 1u;
  // Keys any row of this block may see; the same for the whole workgroup, so K/V loads are uniform.
  let keyEnd = u32(clamp(window.x + i32(lastRow) + 1, 0, window.y));
  let C = params.c; // D / 4
  let qRow0 = bh * params.tq;
  let kRow0 = (bh / params.group) * params.tk; // GQA: query head h reads kv head h / group
  // Row r of this invocation is row0 + r·WG_X + lid. Loops over r stay rolled where they touch
  // storage (one load instruction for all rows); the score tile below is unrolled over r and t.
  var qs: array<array<vec4<f32>, ${cap}>, ${R}>;
  var acc: array<array<vec4<f32>, ${cap}>, ${R}>;
  for (var r = 0u; r < ${R}u; r++) {
    let qa = (qRow0 + min(row0 + r * WG_X + lid, params.tq - 1u)) * C;
    for (var c = 0u; c < C; c++) {
      qs[r][c] = q[qa + c] * params.scale;
      acc[r][c] = vec4<f32>();
    }
  }
${repeat(R, (r) => `  let pos${r} = window.x + i32(row0 + ${r}u * WG_X + lid);
  var m${r} = ${NEG_BIG};
  var l${r} = 0.0;`)}
  for (var j0 = 0u; j0 < keyEnd; j0 += ${KT}u) {
${tileRows(fetch, KT, 'ka', (t) => `(kRow0 + min(j0 + ${t}, keyEnd - 1u)) * C`, '    ')}
${repeat(R, (r) => repeat(KT, (t) => `    var s${r}_${t} = 0.0;`))}
    for (var c = 0u; c < C; c++) {
${tileFetch(fetch, KT, 'k', 'ka', 'c', 'k', '      ')}
${repeat(R, (r) => `      let q${r} = qs[${r}][c];
${repeat(KT, (t) => `      s${r}_${t} += dot(q${r}, k${t});`)}`)}
    }
${repeat(R, (r) => `${repeat(KT, (t) => `    let ok${r}_${t} = i32(j0 + ${t}u) <= pos${r};`)}
    let tileMax${r} = max(m${r}, ${Array.from({ length: KT }, (_, t) => `select(${NEG_BIG}, s${r}_${t}, ok${r}_${t})`).reduce((x, y) => `max(${x}, ${y})`)});
    let rescale${r} = exp(max(m${r} - tileMax${r}, -88.0));
${repeat(KT, (t) => `    let p${r}_${t} = select(0.0, exp(min(s${r}_${t} - tileMax${r}, 0.0)), ok${r}_${t});`)}
    l${r} = l${r} * rescale${r} + ${sum(Array.from({ length: KT }, (_, t) => `p${r}_${t}`))};
    m${r} = tileMax${r};`)}
    for (var c = 0u; c < C; c++) {
${tileFetch(fetch, KT, 'v', 'ka', 'c', 'v', '      ')}
${repeat(R, (r) => `      acc[${r}][c] = acc[${r}][c] * rescale${r} + ${sum(Array.from({ length: KT }, (_, t) => `p${r}_${t} * v${t}`))};`)}
    }
  }
  let ms = array<f32, ${R}>(${Array.from({ length: R }, (_, r) => `m${r}`).join(', ')});
  let ls = array<f32, ${R}>(${Array.from({ length: R }, (_, r) => `l${r}`).join(', ')});
  for (var r = 0u; r < ${R}u; r++) {
    let i = row0 + r * WG_X + lid;
    if (i < params.tq) {
      let live = window.x + i32(i) < window.y;
      let inv = select(0.0, 1.0 / ls[r], live);
      let oa = (qRow0 + i) * C;
      for (var c = 0u; c < C; c++) { out[oa + c] = acc[r][c] * inv; }
      lse[qRow0 + i] = select(params.negInf, ms[r] + log(ls[r]), live);
    }
  }
}`;
  return {
    name: 'attention',
    variant: `cap${cap}:r${R}:kt${KT}:wg${WG}:${fetch}`,
    workgroupSize: [WG],
    features: fetch === 'broadcast' ? ['subgroups'] : [],
    uniforms: [
      { name: 'batch', type: 'u32' },
      { name: 'heads', type: 'u32' },
      { name: 'tq', type: 'u32' },
      { name: 'tk', type: 'u32' },
      { name: 'c', type: 'u32' },
      { name: 'blocks', type: 'u32' },
      { name: 'mode', type: 'u32' },
      { name: 'past', type: 'i32' },
      { name: 'scale', type: 'f32' },
      { name: 'negInf', type: 'f32' },
      { name: 'group', type: 'u32' },
    ],
    bindings: [
      { name: 'q', type: 'vec4<f32>', access: 'read' },
      { name: 'k', type: 'vec4<f32>', access: 'read' },
      { name: 'v', type: 'vec4<f32>', access: 'read' },
      { name: 'positions', type: 'i32', access: 'read' },
      { name: 'out', type: 'vec4<f32>', access: 'read_write' },
      { name: 'lse', type: 'f32', access: 'read_write' },
    ],
    code,
  };
}

/**
 * Single-token decode (Tq = 1): one workgroup per (sequence, head), its WG_X lanes splitting the
 * keys (lane l takes keys l, l + WG_X, …) with an online softmax each, then merged in shared
 * memory (max, rescaled sums and accumulators) into the row's output and log-sum-exp. The row
 * kernel above gives a single query row to one lane, which then walks every key alone while the
 * other lanes of its workgroup idle. Same bindings, uniforms and window rules as the row kernel.
 */
export function attentionDecodeSplitProgram(D: number, workgroup: number): KernelProgram {
  const cap = rowCapacity(D);
  const code = /* wgsl */ `
${SEQUENCE_WINDOW_WGSL}

var<workgroup> laneMax: array<f32, WG_X>;
var<workgroup> laneSum: array<f32, WG_X>;
var<workgroup> laneAcc: array<vec4<f32>, ${workgroup * cap}>;

@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let bh = grid_workgroup(wid, nwg);
  if (bh >= params.batch * params.heads) { return; }
  let window = sequenceWindow(bh / params.heads);
  // The query sits at position window.x and sees keys 0..window.x (within the window's bound).
  let keyEnd = u32(clamp(window.x + 1, 0, window.y));
  let C = params.c; // D / 4
  let qa = bh * C; // tq = 1
  let kRow0 = (bh / params.group) * params.tk; // GQA: query head h reads kv head h / group
  var qs: array<vec4<f32>, ${cap}>;
  var acc: array<vec4<f32>, ${cap}>;
  for (var c = 0u; c < C; c++) {
    qs[c] = q[qa + c] * params.scale;
    acc[c] = vec4<f32>();
  }
  var m = ${NEG_BIG};
  var l = 0.0;
  for (var j = lid; j < keyEnd; j += WG_X) {
    let ka = (kRow0 + j) * C;
    var s = 0.0;
    for (var c = 0u; c < C; c++) { s += dot(qs[c], k[ka + c]); }
    let mNew = max(m, s);
    let rescale = exp(max(m - mNew, -88.0));
    let p = exp(min(s - mNew, 0.0));
    l = l * rescale + p;
    for (var c = 0u; c < C; c++) { acc[c] = acc[c] * rescale + p * v[ka + c]; }
    m = mNew;
  }
  laneMax[lid] = m;
  laneSum[lid] = l;
  for (var c = 0u; c < C; c++) { laneAcc[lid * ${cap}u + c] = acc[c]; }
  workgroupBarrier();
  var rowMax = ${NEG_BIG};
  for (var i = 0u; i < WG_X; i++) { rowMax = max(rowMax, laneMax[i]); }
  var rowSum = 0.0;
  for (var i = 0u; i < WG_X; i++) { rowSum += laneSum[i] * exp(max(laneMax[i] - rowMax, -88.0)); }
  let live = window.x < window.y;
  let inv = select(0.0, 1.0 / rowSum, live);
  for (var c = lid; c < C; c += WG_X) {
    var o = vec4<f32>();
    for (var i = 0u; i < WG_X; i++) { o += laneAcc[i * ${cap}u + c] * exp(max(laneMax[i] - rowMax, -88.0)); }
    out[qa + c] = o * inv;
  }
  if (lid == 0u) { lse[bh] = select(params.negInf, rowMax + log(rowSum), live); }
}`;
  const rows = attentionForwardProgram(D, { rows: 1, keyTile: 1, workgroup }, 'loads');
  return { name: 'attention', variant: `decode-split:cap${cap}:wg${workgroup}`, workgroupSize: [workgroup], uniforms: rows.uniforms, bindings: rows.bindings, code };
}

// ---------------------------------------------------------------- KV cache write

export const CACHE_WORKGROUP = 256;

export function writeKvCacheProgram(): KernelProgram {
  return {
    name: 'writeKvCache',
    variant: 'f32',
    workgroupSize: [CACHE_WORKGROUP],
    uniforms: [
      { name: 'n', type: 'u32' },
      { name: 'heads', type: 'u32' },
      { name: 'rows', type: 'u32' },
      { name: 'capacity', type: 'u32' },
      { name: 'd', type: 'u32' },
      { name: 'perSequence', type: 'u32' },
      { name: 'position', type: 'i32' },
    ],
    bindings: [
      { name: 'src', type: 'f32', access: 'read' },
      { name: 'positions', type: 'i32', access: 'read' },
      { name: 'cache', type: 'f32', access: 'read_write' },
    ],
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let idx = grid_invocation(wid, nwg, lid);
  if (idx >= params.n) { return; }
  let e = idx % params.d;
  let t = (idx / params.d) % params.rows;
  let bh = idx / (params.d * params.rows);
  var pos = params.position;
  if (params.perSequence == 1u) { pos = positions[bh / params.heads]; }
  let at = pos + i32(t);
  if (at < 0 || at >= i32(params.capacity)) { return; } // past the capacity: dropped
  cache[(bh * params.capacity + u32(at)) * params.d + e] = src[idx];
}`,
  };
}
