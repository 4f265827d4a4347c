// Causal attention backward (FlashAttention-2 style): the scores are recomputed from q, k and the
// saved log-sum-exp, P_ij = exp(scale·q_i·k_j − lse_i), never stored. With D_i = rowsum(dO_i ∘ O_i):
//   dS = P ∘ (dP − D_i) with dP = dO·Vᵀ,   dQ = scale·dS·K,   dK = scale·dSᵀ·Q,   dV = Pᵀ·dO.
// Two passes and no atomics:
//  1. 'attention-backward-dq': invocations own query rows (q, dO and the dq accumulator in
//     registers) and walk keys j ≤ i; each row also computes D_i = dO_i·O_i and writes it out.
//  2. 'attention-backward-dkdv': invocations own key rows (k, v, dk, dv in registers) and walk the
//     queries i ≥ j, reading D_i from pass 1.
// The rows a workgroup walks over (K/V in pass 1, Q/dO in pass 2) are at addresses shared by the
// whole workgroup: uniform loads, no workgroup memory, no barriers (see codegen.ts).
// Masking follows the forward: query rows at positions ≥ lengths[b] and keys ≥ lengths[b] get
// zero gradients; their lse (−∞) is never used in an exp, so nothing can become NaN.
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';
import { getFlag } from '../../runtime/flags.js';
import { expectDType, expectFinite, expectShape } from '../validate.js';
import {
  BLOCK_INDEX_WGSL, SEQUENCE_WINDOW_WGSL, WindowMode, checkTiling, fetchBuiltins, repeat, rowCapacity, sum, tileFetch, tileFetchFor, tileRows,
  unusedPositions, type TileFetch,
} from './codegen.js';
import { checkQkv } from './forward.js';

/** Work split of the two backward passes (each a pipeline; tests force each through flags). */
export interface AttentionBackwardConfig {
  /** Rows (query rows in the dq pass, key rows in the dk/dv pass) per invocation. */
  rows: number;
  /** Keys (dq pass) or queries (dk/dv pass) per step of the inner loop. */
  tile: number;
  /** Invocations per workgroup. */
  workgroup: number;
}

/**
 * The tiling used unless the flags `attentionBackward.rows`, `attentionBackward.tile`,
 * `attentionBackward.workgroup` force one. Measured like the forward's (bench "configs" cases):
 * tiles of 8 with subgroup broadcasts (4 with per-lane loads); 4 rows per invocation up to
 * D = 64, 2 above (at D = 128 four rows' k, v, dk, dv arrays no longer fit the L1 cache).
 */
export function attentionBackwardConfig(fetch: TileFetch, D: number): AttentionBackwardConfig {
  return {
    rows: getFlag('attentionBackward.rows', D <= 64 ? 4 : 2),
    tile: getFlag('attentionBackward.tile', fetch === 'broadcast' ? 8 : 4),
    workgroup: getFlag('attentionBackward.workgroup', 8),
  };
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
${tileRows(fetch, KT, 'ka', (t) => `(rowBase + min(j0 + ${t}, keyEnd - 1u)) * C`, '    ')}
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
  let rowBase = bh * params.tq;
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
  // Queries from the block's first key to the end of the sequence (the same for the workgroup).
  for (var i0 = row0; i0 < len; i0 += ${QT}u) {
${tileRows(fetch, QT, 'qi', (t) => `rowBase + min(i0 + ${t}, len - 1u)`, '    ')}
${tileFetch(fetch, QT, 'lse', 'qi', '', 'lse', '    ')}
${tileFetch(fetch, QT, 'rowDots', 'qi', '', 'rowDot', '    ')}
${tileRows(fetch, QT, 'qa', (t) => `rowBase * C + min(i0 + ${t}, len - 1u) * C`, '    ')}
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

export interface AttentionBackwardOptions {
  /** The same lengths (i32 [B]) the forward was given. */
  lengths?: GpuArray;
  /** The same scale the forward used; default 1/√D. */
  scale?: number;
}

export interface AttentionBackwardResult {
  dq: GpuArray;
  dk: GpuArray;
  dv: GpuArray;
}

/**
 * Gradients of causal attention with respect to q, k and v, given the forward's inputs, its
 * output `out` [B, H, T, D] and log-sum-exp `lse` [B, H, T], and the output gradient `dOut`.
 * Recomputes the probabilities tile by tile; no [B, H, T, T] buffer. Fully masked rows and
 * padded keys get zero gradients (dOut there is ignored).
 */
export function attentionBackward(
  rt: Runtime,
  q: GpuArray,
  k: GpuArray,
  v: GpuArray,
  out: GpuArray,
  lse: GpuArray,
  dOut: GpuArray,
  options: AttentionBackwardOptions = {},
): AttentionBackwardResult {
  const kernel = 'attentionBackward';
  const [B, H, T, D] = checkQkv(kernel, q, k, v, options.lengths);
  for (const [name, x] of [['out', out], ['dOut', dOut]] as const) {
    expectDType(kernel, name, x, 'f32');
    expectShape(kernel, name, x, [B, H, T, D]);
  }
  expectDType(kernel, 'lse', lse, 'f32');
  expectShape(kernel, 'lse', lse, [B, H, T]);
  const scale = options.scale ?? 1 / Math.sqrt(D);
  expectFinite(kernel, 'scale', scale);
  const fetch = tileFetchFor(rt);
  const cfg = attentionBackwardConfig(fetch, D);
  checkTiling(kernel, cfg.rows, cfg.tile, cfg.workgroup, fetch);
  const dq = rt.empty([B, H, T, D]);
  const dk = rt.empty([B, H, T, D]);
  const dv = rt.empty([B, H, T, D]);
  const rowDots = rt.empty([B, H, T]);
  const positions = options.lengths ?? unusedPositions(rt);
  const blocks = Math.ceil(T / (cfg.workgroup * cfg.rows));
  const uniforms = {
    batch: B, heads: H, tq: T, tk: T, c: D / 4, blocks, past: 0, scale,
    mode: options.lengths ? WindowMode.LENGTHS : WindowMode.FULL,
  };
  const workgroups = rt.grid(blocks * B * H);
  rt.dispatch(attentionBackwardDqProgram(D, cfg, fetch), { bindings: [q, k, v, out, dOut, lse, positions, dq, rowDots], uniforms, workgroups });
  rt.dispatch(attentionBackwardDkDvProgram(D, cfg, fetch), { bindings: [q, k, v, dOut, lse, rowDots, positions, dk, dv], uniforms, workgroups });
  rowDots.dispose(); // queue order keeps it alive for the dispatch above
  return { dq, dk, dv };
}
