// WGSL generator for reducing one f32 per invocation across a whole workgroup (sum or max), used
// by every row kernel (softmax, norms, log-prob gathering, attention). Two variants, both tested:
//
// - 'subgroup': subgroupAdd/subgroupMax inside each subgroup, one barrier, then every invocation
//   sums column `sgid` of the per-subgroup partials and a second subgroup reduction combines the
//   columns. It never assumes how invocations map to subgroups (the WGSL spec does not say), only
//   that subgroups are full, which holds when the workgroup size is a multiple of the subgroup size.
// - 'shared': a classic shared-memory tree, log2(workgroup size) barriers. The fallback when the
//   device lacks subgroups; barriers are expensive on lavapipe, so the subgroup path is preferred.
//
// Both return the result to every invocation. Call them in uniform control flow only.
import { getFlag } from '../../runtime/flags.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { Feature } from '../../runtime/program.js';

export type ReduceVariant = 'subgroup' | 'shared';
export type ReduceOp = 'sum' | 'max';

/**
 * The variant row kernels should use on this runtime: 'subgroup' when the device has subgroups,
 * unless the flag `reduce.variant` forces one ('subgroup' | 'shared').
 */
export function reduceVariant(rt: Runtime): ReduceVariant {
  const forced = getFlag<string>('reduce.variant', 'auto');
  if (forced === 'shared') return 'shared';
  if (forced === 'subgroup') {
    if (!rt.hasFeature('subgroups')) throw new Error('flag reduce.variant=subgroup, but this device has no subgroups');
    return 'subgroup';
  }
  return rt.hasFeature('subgroups') ? 'subgroup' : 'shared';
}

export function reduceFeatures(variant: ReduceVariant): Feature[] {
  return variant === 'subgroup' ? ['subgroups'] : [];
}

/**
 * Entry-point parameters the reduction needs, to paste into `fn main(...)`:
 * `lid` (local_invocation_index), and for the subgroup variant `sgid`/`sgsize`.
 */
export function reduceBuiltins(variant: ReduceVariant): string {
  const base = '@builtin(local_invocation_index) lid: u32';
  return variant === 'subgroup'
    ? `${base}, @builtin(subgroup_invocation_id) sgid: u32, @builtin(subgroup_size) sgsize: u32`
    : base;
}

/** Arguments to pass to a generated reduce function from main: matches reduceBuiltins. */
export function reduceArgs(variant: ReduceVariant): string {
  return variant === 'subgroup' ? 'lid, sgid, sgsize' : 'lid';
}

/**
 * Declares `fn <name>(value: f32, <builtins>) -> f32` reducing over a workgroup of `size`
 * invocations (a power of two). The returned value is the same in every invocation.
 */
export function workgroupReduce(name: string, op: ReduceOp, size: number, variant: ReduceVariant): string {
  if (size < 1 || (size & (size - 1)) !== 0) throw new Error(`workgroupReduce: size ${size} must be a power of two`);
  const combine = (a: string, b: string) => (op === 'sum' ? `${a} + ${b}` : `max(${a}, ${b})`);
  const scratch = `${name}_scratch`;
  if (variant === 'subgroup') {
    const sub = op === 'sum' ? 'subgroupAdd' : 'subgroupMax';
    // A sum counts each subgroup's partial once (the other lanes write 0); max is idempotent, so
    // every lane writes its partial and no identity is needed, which keeps an all −inf row at −inf.
    const store = op === 'sum' ? `select(0.0, partial, sgid == 0u)` : 'partial';
    return /* wgsl */ `
var<workgroup> ${scratch}: array<f32, ${size}>;
fn ${name}(value: f32, lid: u32, sgid: u32, sgsize: u32) -> f32 {
  let partial = ${sub}(value);
  workgroupBarrier(); // the previous call may still be reading the scratch
  ${scratch}[lid] = ${store};
  workgroupBarrier();
  var acc = ${scratch}[sgid];
  for (var i = sgid + sgsize; i < ${size}u; i += sgsize) { acc = ${combine('acc', `${scratch}[i]`)}; }
  return ${sub}(acc);
}`;
  }
  return /* wgsl */ `
var<workgroup> ${scratch}: array<f32, ${size}>;
fn ${name}(value: f32, lid: u32) -> f32 {
  workgroupBarrier(); // the previous call may still be reading the scratch
  ${scratch}[lid] = value;
  workgroupBarrier();
  for (var stride = ${size / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) { ${scratch}[lid] = ${combine(`${scratch}[lid]`, `${scratch}[lid + stride]`)}; }
    workgroupBarrier();
  }
  return ${scratch}[0];
}`;
}
