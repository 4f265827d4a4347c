// Causal multi-head attention, forward, with an online softmax (flash-attention style), the
// decode variant over a KV cache, and the cache write.
//
// Each invocation owns `rows` query rows (private vec4 arrays, q pre-multiplied by the scale);
// a workgroup owns a block of workgroup·rows rows of one (batch, head). It walks the keys
// 0..(last position of the block) in tiles of `keyTile` (fetched once per lane and broadcast over
// the subgroup where possible, see codegen.ts): the rows × keys scores of a tile are computed in
// registers, the running maximum m is raised to the tile's maximum, the running denominator l
// and the output accumulator are rescaled by exp(m_old − m_new) once per tile, and the tile's
// probabilities times V are added. Only the output and lse = m + log l per row are written: no
// T×T matrix exists anywhere. Keys after a row's position (and past the sequence's length) get
// probability 0 by a select, never by exp(−∞), and the running maximum starts at −3e38 rather
// than −∞, so no ∞ − ∞ can appear; a fully masked row (position ≥ length) writes out = 0 and
// lse = −∞ (the one −∞ we produce on purpose, for the backward and the caller to recognise).
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import type { KernelProgram } from '../../runtime/program.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import { expectDType, expectFinite, expectRank, expectShape } from '../validate.js';
import {
  BLOCK_INDEX_WGSL, MAX_HEAD_SIZE, MIN_HEAD_SIZE, NEG_BIG, SEQUENCE_WINDOW_WGSL, WindowMode, checkTiling, fetchBuiltins, repeat,
  rowCapacity, sum, tileFetch, tileFetchFor, tileRows, unusedPositions, type TileFetch,
} from './codegen.js';

/** How the forward kernel splits work; every combination is a separate pipeline (tests force each). */
export interface AttentionForwardConfig {
  /** Query rows per invocation (1..8): every fetched K/V vec4 serves all of them; private memory grows with them. */
  rows: number;
  /** Keys per online-softmax step (1..16, at most 8 with subgroup broadcasts): the accumulator is rescaled once per tile. */
  keyTile: number;
  /** Invocations per workgroup (a multiple of 8 with subgroup broadcasts; llvmpipe runs 8 lanes at a time). */
  workgroup: number;
}

/**
 * The tiling used unless flags force one: `attention.rows`, `attention.keyTile`,
 * `attention.workgroup` (numbers). Measured on lavapipe at B=4, H=4, T=256, D=32 and D=128
 * (bench/attention.bench.ts, "configs" cases): with subgroup broadcasts a tile of 8 keys (one per
 * lane) and 2 rows per invocation was fastest; with per-lane loads, 4 keys.
 */
export function attentionForwardConfig(fetch: TileFetch): AttentionForwardConfig {
  return {
    rows: getFlag('attention.rows', 2),
    keyTile: getFlag('attention.keyTile', fetch === 'broadcast' ? 8 : 4),
    workgroup: getFlag('attention.workgroup', 16),
  };
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
  let kRow0 = bh * params.tk;
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

export interface AttentionOptions {
  /** i32 [B]: valid length of each sequence (padding on the right), clamped to [0, T]. Default: T. */
  lengths?: GpuArray;
  /** Score scale; default 1/√D. */
  scale?: number;
}

export interface AttentionResult {
  /** [B, H, T, D]; zero on fully masked rows. */
  out: GpuArray;
  /** [B, H, T]: log Σ_j exp(scale·q_i·k_j) over the keys row i sees; −∞ on fully masked rows. */
  lse: GpuArray;
}

/** Checks head size D against the supported range; names the argument whose last axis it is. */
export function checkHeadSize(kernel: string, argument: string, x: GpuArray): number {
  const D = x.shape[3]!;
  if (!Number.isInteger(D) || D < MIN_HEAD_SIZE || D > MAX_HEAD_SIZE || D % 4 !== 0) {
    throw new ArgumentError(
      kernel,
      argument,
      `head size D = ${D} (shape ${shapeString(x.shape)}) is not supported: D must be a multiple of 4 in ${MIN_HEAD_SIZE}..${MAX_HEAD_SIZE}`,
    );
  }
  return D;
}

/** Validates q, k, v [B, H, T, D] f32 (same shape) and lengths i32 [B]; returns the dims. */
export function checkQkv(kernel: string, q: GpuArray, k: GpuArray, v: GpuArray, lengths: GpuArray | undefined): [number, number, number, number] {
  expectDType(kernel, 'q', q, 'f32');
  expectRank(kernel, 'q', q, 4);
  const [B, H, T] = q.shape as [number, number, number, number];
  const D = checkHeadSize(kernel, 'q', q);
  for (const [name, x] of [['k', k], ['v', v]] as const) {
    expectDType(kernel, name, x, 'f32');
    expectShape(kernel, name, x, [B, H, T, D]);
  }
  if (lengths) {
    expectDType(kernel, 'lengths', lengths, 'i32');
    expectShape(kernel, 'lengths', lengths, [B]);
  }
  return [B, H, T, D];
}

function checkScale(kernel: string, scale: number | undefined, D: number): number {
  const s = scale ?? 1 / Math.sqrt(D);
  expectFinite(kernel, 'scale', s);
  return s;
}

function launchForward(
  kernel: string,
  rt: Runtime,
  q: GpuArray,
  k: GpuArray,
  v: GpuArray,
  window: { mode: number; positions?: GpuArray; past?: number },
  scale: number,
  cfg: AttentionForwardConfig,
): AttentionResult {
  const [B, H, Tq, D] = q.shape as [number, number, number, number];
  const Tk = k.shape[2]!;
  const fetch = tileFetchFor(rt);
  checkTiling(kernel, cfg.rows, cfg.keyTile, cfg.workgroup, fetch);
  const out = rt.empty([B, H, Tq, D]);
  const lse = rt.empty([B, H, Tq]);
  const blocks = Math.ceil(Tq / (cfg.workgroup * cfg.rows));
  rt.dispatch(attentionForwardProgram(D, cfg, fetch), {
    bindings: [q, k, v, window.positions ?? unusedPositions(rt), out, lse],
    uniforms: { batch: B, heads: H, tq: Tq, tk: Tk, c: D / 4, blocks, mode: window.mode, past: window.past ?? 0, scale, negInf: -Infinity },
    workgroups: rt.grid(blocks * B * H),
  });
  return { out, lse };
}

/**
 * Causal multi-head attention. q, k, v: [B, H, T, D] f32, D a multiple of 4 in 16..128, any T ≥ 0. With
 * `lengths`, keys at positions ≥ lengths[b] are masked and query rows at positions ≥ lengths[b]
 * are fully masked: out = 0 and lse = −∞ there (never NaN). Returns the output and the per-row
 * log-sum-exp, which is all attentionBackward needs besides the inputs.
 */
export function attention(rt: Runtime, q: GpuArray, k: GpuArray, v: GpuArray, options: AttentionOptions = {}): AttentionResult {
  const [, , , D] = checkQkv('attention', q, k, v, options.lengths);
  const scale = checkScale('attention', options.scale, D);
  const window = options.lengths ? { mode: WindowMode.LENGTHS, positions: options.lengths } : { mode: WindowMode.FULL };
  return launchForward('attention', rt, q, k, v, window, scale, attentionForwardConfig(tileFetchFor(rt)));
}

export interface AttentionDecodeOptions {
  /**
   * Positions already in the cache before this block of queries: one number for the whole batch,
   * or an i32 [B] array (one per sequence). Query i of the block sits at position past + i and
   * sees cache positions 0..past + i; the caller has written the block's own keys and values at
   * past..past + Tq − 1 (writeKvCache) before calling. A number must satisfy past + Tq ≤ Tmax;
   * with an array, queries whose position falls at or past Tmax are fully masked (out 0, lse −∞).
   */
  past: number | GpuArray;
  /** Score scale; default 1/√D. */
  scale?: number;
}

/**
 * Decode-time attention for sampling: a few new queries q [B, H, Tq, D] (Tq ≥ 1) over the KV cache
 * kCache, vCache [B, H, Tmax, D]. Only cache positions < past + i + 1 are read for query i.
 * Same kernel as the forward, with queries offset by `past`, and a tiling for few rows: one row
 * per invocation and workgroups of 8 (one llvmpipe SIMD vector), so a single query does not drag
 * a big idle workgroup through the whole cache (flags `attentionDecode.rows`, `.keyTile`,
 * `.workgroup`). Long caches with Tq = 1 would gain from a split over the keys (flash-decoding);
 * not done yet.
 */
export function attentionDecode(rt: Runtime, q: GpuArray, kCache: GpuArray, vCache: GpuArray, options: AttentionDecodeOptions): AttentionResult {
  const kernel = 'attentionDecode';
  expectDType(kernel, 'q', q, 'f32');
  expectRank(kernel, 'q', q, 4);
  const [B, H, Tq] = q.shape as [number, number, number, number];
  const D = checkHeadSize(kernel, 'q', q);
  expectDType(kernel, 'kCache', kCache, 'f32');
  expectShape(kernel, 'kCache', kCache, [B, H, null, D]);
  const Tmax = kCache.shape[2]!;
  expectDType(kernel, 'vCache', vCache, 'f32');
  expectShape(kernel, 'vCache', vCache, [B, H, Tmax, D]);
  const scale = checkScale(kernel, options.scale, D);
  let window: { mode: number; positions?: GpuArray; past?: number };
  if (typeof options.past === 'number') {
    const past = options.past;
    if (!Number.isInteger(past) || past < 0 || past + Tq > Tmax) {
      throw new ArgumentError(kernel, 'past', `must be an integer with 0 ≤ past and past + Tq (${Tq}) ≤ Tmax (${Tmax}), got ${past}`);
    }
    window = { mode: WindowMode.PAST_UNIFORM, past };
  } else {
    expectDType(kernel, 'past', options.past, 'i32');
    expectShape(kernel, 'past', options.past, [B]);
    window = { mode: WindowMode.PAST_BUFFER, positions: options.past };
  }
  const cfg: AttentionForwardConfig = {
    rows: getFlag('attentionDecode.rows', 1),
    keyTile: getFlag('attentionDecode.keyTile', tileFetchFor(rt) === 'broadcast' ? 8 : 4),
    workgroup: getFlag('attentionDecode.workgroup', 8),
  };
  return launchForward(kernel, rt, q, kCache, vCache, window, scale, cfg);
}

// ---------------------------------------------------------------- KV cache write

const CACHE_WORKGROUP = 256;

function writeKvCacheProgram(): KernelProgram {
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

/**
 * Appends rows [B, H, Tn, D] to a KV cache [B, H, Tmax, D] in place: cache[b, h, position_b + t] =
 * rows[b, h, t]. `position` is one number for the batch (then position + Tn ≤ Tmax is checked) or
 * an i32 [B] array of per-sequence positions (rows that would land past Tmax are dropped). Use it
 * for keys and values before attentionDecode, with `past` equal to `position`.
 */
export function writeKvCache(rt: Runtime, cache: GpuArray, rows: GpuArray, position: number | GpuArray): void {
  const kernel = 'writeKvCache';
  expectDType(kernel, 'cache', cache, 'f32');
  expectRank(kernel, 'cache', cache, 4);
  const [B, H, Tmax, D] = cache.shape as [number, number, number, number];
  expectDType(kernel, 'rows', rows, 'f32');
  expectShape(kernel, 'rows', rows, [B, H, null, D]);
  const Tn = rows.shape[2]!;
  let perSequence = 0;
  let positions = unusedPositions(rt);
  let uniformPosition = 0;
  if (typeof position === 'number') {
    if (!Number.isInteger(position) || position < 0 || position + Tn > Tmax) {
      throw new ArgumentError(kernel, 'position', `must be an integer with 0 ≤ position and position + Tn (${Tn}) ≤ Tmax (${Tmax}), got ${position}`);
    }
    uniformPosition = position;
  } else {
    expectDType(kernel, 'position', position, 'i32');
    expectShape(kernel, 'position', position, [B]);
    perSequence = 1;
    positions = position;
  }
  rt.dispatch(writeKvCacheProgram(), {
    bindings: [rows, positions, cache],
    uniforms: { n: rows.size, heads: H, rows: Tn, capacity: Tmax, d: D, perSequence, position: uniformPosition },
    workgroups: rt.grid(Math.ceil(rows.size / CACHE_WORKGROUP)),
  });
}
