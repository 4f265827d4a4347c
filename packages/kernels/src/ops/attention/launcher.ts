// attention: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import { getFlag } from '../../runtime/flags.js';
import type { GpuArray } from '../../runtime/array.js';
import type { Runtime } from '../../runtime/runtime.js';
import { expectDType, expectFinite, expectRank, expectShape } from '../validate.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import {
  type AttentionBackwardConfig, attentionBackwardDkDvProgram, attentionBackwardDqProgram, attentionDecodeSplitProgram, type AttentionForwardConfig, attentionForwardProgram,
  BROADCAST_TILE_MAX, CACHE_WORKGROUP, checkTiling, MAX_HEAD_SIZE, MIN_HEAD_SIZE, type TileFetch, WindowMode, writeKvCacheProgram,
} from './program.js';

/**
 * How shared tile rows reach the lanes on this runtime: 'broadcast' when the device has subgroups
 * of at least 8 lanes, unless the flag `attention.subgroups` (boolean) is false.
 */
export function tileFetchFor(rt: Runtime): TileFetch {
  if (!getFlag('attention.subgroups', true) || !rt.hasFeature('subgroups')) return 'loads';
  const info = (rt.adapter as GPUAdapter & { info?: GPUAdapterInfo & { subgroupMinSize?: number } }).info;
  return (info?.subgroupMinSize ?? 0) >= BROADCAST_TILE_MAX ? 'broadcast' : 'loads';
}

const placeholders = new WeakMap<Runtime, GpuArray>();

/** A 1-element i32 array bound where a kernel's `positions` binding is unused. */
export function unusedPositions(rt: Runtime): GpuArray {
  let a = placeholders.get(rt);
  if (!a || a.isDisposed) {
    a = rt.upload(new Int32Array([0]), [1], 'i32');
    placeholders.set(rt, a);
  }
  return a;
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
 * padded keys get zero gradients (dOut there is ignored). With grouped-query attention (k, v
 * [B, Hkv, T, D]) dk and dv are [B, Hkv, T, D]: the sums over each group's query heads, taken
 * inside the dk/dv kernel (index.ts).
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
  const [B, H, T, D, Hkv] = checkQkv(kernel, q, k, v, options.lengths);
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
  const dk = rt.empty([B, Hkv, T, D]);
  const dv = rt.empty([B, Hkv, T, D]);
  const rowDots = rt.empty([B, H, T]);
  const positions = options.lengths ?? unusedPositions(rt);
  const blocks = Math.ceil(T / (cfg.workgroup * cfg.rows));
  const group = groupSize(H, Hkv);
  const uniforms = {
    batch: B, heads: H, tq: T, tk: T, c: D / 4, blocks, past: 0, scale, group,
    mode: options.lengths ? WindowMode.LENGTHS : WindowMode.FULL,
  };
  rt.dispatch(attentionBackwardDqProgram(D, cfg, fetch), {
    bindings: [q, k, v, out, dOut, lse, positions, dq, rowDots], uniforms, workgroups: rt.grid(blocks * B * H),
  });
  // The dk/dv pass runs over kv heads: each sums its group's query heads in registers.
  rt.dispatch(attentionBackwardDkDvProgram(D, cfg, fetch), {
    bindings: [q, k, v, dOut, lse, rowDots, positions, dk, dv], uniforms: { ...uniforms, heads: Hkv }, workgroups: rt.grid(blocks * B * Hkv),
  });
  rowDots.dispose(); // queue order keeps it alive for the dispatch above
  return { dq, dk, dv };
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

/** Query heads per kv head; Hkv = 0 only with H = 0 (an empty batch of heads). */
function groupSize(H: number, Hkv: number): number {
  return Hkv === 0 ? 1 : H / Hkv;
}

/**
 * Checks the kv head count of `x` [B, Hkv, *, D] against the query heads H: Hkv must divide H
 * (grouped-query attention; Hkv = H is multi-head, Hkv = 1 multi-query). Returns Hkv.
 */
export function checkKvHeads(kernel: string, argument: string, x: GpuArray, H: number): number {
  const Hkv = x.shape[1]!;
  if (Hkv === 0 ? H !== 0 : H % Hkv !== 0) {
    throw new ArgumentError(
      kernel,
      argument,
      `has ${Hkv} heads (shape ${shapeString(x.shape)}), which must divide the ${H} query heads (grouped-query attention: H % Hkv = 0)`,
    );
  }
  return Hkv;
}

/**
 * Validates q [B, H, T, D] and k, v [B, Hkv, T, D] f32 with H % Hkv = 0, and lengths i32 [B];
 * returns [B, H, T, D, Hkv].
 */
export function checkQkv(kernel: string, q: GpuArray, k: GpuArray, v: GpuArray, lengths: GpuArray | undefined): [number, number, number, number, number] {
  expectDType(kernel, 'q', q, 'f32');
  expectRank(kernel, 'q', q, 4);
  const [B, H, T] = q.shape as [number, number, number, number];
  const D = checkHeadSize(kernel, 'q', q);
  expectDType(kernel, 'k', k, 'f32');
  expectShape(kernel, 'k', k, [B, k.shape[1] ?? null, T, D]); // any head count here; checkKvHeads says why one is refused
  const Hkv = checkKvHeads(kernel, 'k', k, H);
  expectDType(kernel, 'v', v, 'f32');
  expectShape(kernel, 'v', v, [B, Hkv, T, D]);
  if (lengths) {
    expectDType(kernel, 'lengths', lengths, 'i32');
    expectShape(kernel, 'lengths', lengths, [B]);
  }
  return [B, H, T, D, Hkv];
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
  const [, Hkv, Tk] = k.shape as [number, number, number, number];
  const fetch = tileFetchFor(rt);
  checkTiling(kernel, cfg.rows, cfg.keyTile, cfg.workgroup, fetch);
  const out = rt.empty([B, H, Tq, D]);
  const lse = rt.empty([B, H, Tq]);
  const blocks = Math.ceil(Tq / (cfg.workgroup * cfg.rows));
  rt.dispatch(attentionForwardProgram(D, cfg, fetch), {
    bindings: [q, k, v, window.positions ?? unusedPositions(rt), out, lse],
    uniforms: {
      batch: B, heads: H, tq: Tq, tk: Tk, c: D / 4, blocks, mode: window.mode, past: window.past ?? 0, scale, negInf: -Infinity, group: groupSize(H, Hkv),
    },
    workgroups: rt.grid(blocks * B * H),
  });
  return { out, lse };
}

/**
 * Causal multi-head attention. q: [B, H, T, D] f32, D a multiple of 4 in 16..128, any T ≥ 0; k, v:
 * [B, Hkv, T, D] with Hkv dividing H (grouped-query attention: query head h reads kv head
 * floor(h / (H / Hkv)), the Hugging Face repeat_kv grouping; Hkv = H is multi-head). With
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
 * kCache, vCache [B, Hkv, Tmax, D] (Hkv dividing H: grouped-query attention keeps Hkv heads in the
 * cache, query head h reads kv head floor(h / (H / Hkv))). Only cache positions < past + i + 1 are read for query i.
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
  expectShape(kernel, 'kCache', kCache, [B, kCache.shape[1] ?? null, null, D]);
  const Hkv = checkKvHeads(kernel, 'kCache', kCache, H);
  const Tmax = kCache.shape[2]!;
  expectDType(kernel, 'vCache', vCache, 'f32');
  expectShape(kernel, 'vCache', vCache, [B, Hkv, Tmax, D]);
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
  // One query row per sequence and head (every generation step): the split-keys kernel, unless
  // the flag attentionDecode.kernel = 'rows' forces the row kernel (tests run both).
  const which = getFlag<string>('attentionDecode.kernel', 'auto');
  if (!['auto', 'rows', 'split'].includes(which)) throw new ArgumentError(kernel, 'attentionDecode.kernel', `flag must be auto, rows or split, got "${which}"`);
  if (which === 'split' && Tq !== 1) throw new ArgumentError(kernel, 'attentionDecode.kernel', `"split" takes one query row (Tq = 1), got Tq = ${Tq}`);
  if (Tq === 1 && which !== 'rows') {
    const workgroup = getFlag<number>('attentionDecode.splitWorkgroup', 8);
    checkTiling(kernel, 1, 1, workgroup, 'loads');
    const out = rt.empty([B, H, 1, D]);
    const lse = rt.empty([B, H, 1]);
    rt.dispatch(attentionDecodeSplitProgram(D, workgroup), {
      bindings: [q, kCache, vCache, window.positions ?? unusedPositions(rt), out, lse],
      uniforms: {
        batch: B, heads: H, tq: 1, tk: Tmax, c: D / 4, blocks: 1, mode: window.mode, past: window.past ?? 0, scale, negInf: -Infinity, group: groupSize(H, Hkv),
      },
      workgroups: rt.grid(B * H),
    });
    return { out, lse };
  }
  const cfg: AttentionForwardConfig = {
    rows: getFlag('attentionDecode.rows', 1),
    keyTile: getFlag('attentionDecode.keyTile', tileFetchFor(rt) === 'broadcast' ? 8 : 4),
    workgroup: getFlag('attentionDecode.workgroup', 8),
  };
  return launchForward(kernel, rt, q, kCache, vCache, window, scale, cfg);
}

/**
 * Appends rows [B, H, Tn, D] to a KV cache [B, H, Tmax, D] in place (H is the cache's head count:
 * Hkv with grouped-query attention): cache[b, h, position_b + t] =
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
