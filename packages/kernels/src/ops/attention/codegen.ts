// Shared pieces of the attention kernels' WGSL generators.
//
// Design notes, from measurements on lavapipe (llvmpipe: each invocation is one lane of an
// 8-wide SIMD vector, so a per-invocation float is a vector register and 16 of them exist):
//
// - Compile time grows with the number of storage-buffer load/store instructions in the shader
//   text: llvmpipe expands each into per-lane, bounds-checked code, at roughly 10–60 ms apiece on
//   this 2-core machine under load. A first version that unrolled its loops over the head size
//   (D/4 vec4 loads per K row, per V row, per tile key…) took 6 s to compile at D = 32 and
//   30–70 s at D = 128, against about 1 s for the rolled loops used now. So D is a uniform and the
//   loops over it stay rolled; only the small register tile (rows × keys) is unrolled here in
//   TypeScript. The private row arrays (q, the output accumulator…) have a capacity bucket (8, 16
//   or 32 vec4: D ≤ 32, 64, 128) as the only D-dependent specialisation, so a small D does not pay
//   for 128-wide rows. Indexed with the loop counter, which is the same in every lane, they are
//   plain vector loads and stores from the stack (L1); the tile's scores are true registers.
// - Register blocking as in a matmul: each invocation owns `rows` rows and walks the other side
//   in tiles; per d step every tile row's vec4 is fetched once and used for every owned row, so
//   rows × tile dot products cost rows + tile vec4 fetches.
// - Storage loads are the expensive instruction at run time: inside a loop llvmpipe compiles
//   each one as a loop over the 8 lanes with a mask test and a bounds check, even when every lane
//   reads the same address (the matmul family measured this with GALLIVM_DEBUG=asm). So the rows
//   a tile shares (K/V in the forward and the dq pass, Q/dO in the dk/dv pass) are fetched in the
//   'broadcast' way when the device has subgroups: lane t loads row t of the tile (one vec4 load
//   per lane instead of one per row) and subgroupBroadcast hands it to the other lanes. That made
//   forward + backward about 3× faster than the 'loads' fallback, where every lane loads every row
//   (bench "configs" cases).
// - No workgroup memory and no barriers: on lavapipe barriers are coroutine switches and cost more
//   than the loads they would save.
// - Rows are vec4 bindings, so D must be a multiple of 4 (every common head size is).
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import { getFlag } from '../../runtime/flags.js';
import { ArgumentError } from '../../runtime/errors.js';

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
 * How shared tile rows reach the lanes on this runtime: 'broadcast' when the device has subgroups
 * of at least 8 lanes, unless the flag `attention.subgroups` (boolean) is false.
 */
export function tileFetchFor(rt: Runtime): TileFetch {
  if (!getFlag('attention.subgroups', true) || !rt.hasFeature('subgroups')) return 'loads';
  const info = (rt.adapter as GPUAdapter & { info?: GPUAdapterInfo & { subgroupMinSize?: number } }).info;
  return (info?.subgroupMinSize ?? 0) >= BROADCAST_TILE_MAX ? 'broadcast' : 'loads';
}

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
