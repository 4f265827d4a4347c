// reduce: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { KernelProgram } from '../../runtime/program.js';
import { reduceArgs, reduceBuiltins, reduceFeatures, type ReduceVariant, workgroupReduce } from '../shared/workgroup-reduce.js';

export type ReducePath = 'row' | 'column';

// ---------------------------------------------------------------- kernels

export type KernelOp = 'sum' | 'max';

const programs = new Map<string, KernelProgram>();

/**
 * How a pass loads: 'scalar'; 'rows4' (the reduced axis is innermost: vec4 loads along it, folded
 * into a scalar accumulator); 'cols4' (column path with inner % 4 = 0: each invocation owns four
 * neighbouring outputs, loading, accumulating and storing vec4). Lengths are then in vec4 units.
 */
export type ReduceWidth = 'scalar' | 'rows4' | 'cols4';

/**
 * One pass over [outer, len, inner] viewed as [outer, chunks, chunk, inner] → [outer, chunks, inner].
 * Uniforms (in load units): outputs = outer·chunks·inner, len, inner, chunk, chunks, and scale
 * (multiplies sums; 1/len for a mean's last pass).
 */
export function reduceProgram(op: KernelOp, path: ReducePath, variant: ReduceVariant, workgroup: number, width: ReduceWidth = 'scalar'): KernelProgram {
  if (path === 'row' && width === 'cols4') throw new Error('reduceProgram: the row path has no cols4 form');
  const key = `${op}:${path}:${variant}:${workgroup}:${width}`;
  const hit = programs.get(key);
  if (hit) return hit;
  const X = width === 'scalar' ? 'f32' : 'vec4<f32>';
  const ACC = width === 'cols4' ? 'vec4<f32>' : 'f32';
  const combine = (a: string, b: string) => (op === 'sum' ? `${a} + ${b}` : `max(${a}, ${b})`);
  const horizontal = (v: string) => (op === 'sum' ? `dot(${v}, vec4<f32>(1.0))` : `max(max(${v}.x, ${v}.y), max(${v}.z, ${v}.w))`);
  const fold = (acc: string, v: string) => combine(acc, width === 'rows4' ? horizontal(v) : v);
  const identity = op === 'sum' ? `${ACC}(0.0)` : `${ACC}(neg_inf())`;
  const finish = (v: string) => (op === 'sum' ? `${v} * params.scale` : v);
  const locate = /* wgsl */ `
  let i = o % params.inner;
  let oc = o / params.inner;
  let c = oc % params.chunks;
  let start = c * params.chunk;
  let end = min(params.len, start + params.chunk);
  let base = (oc / params.chunks) * params.len * params.inner + i;`;
  const header = /* wgsl */ `
var<private> NEG_INF_BITS: u32 = 0xff800000u;
fn neg_inf() -> f32 { return bitcast<f32>(NEG_INF_BITS); }`;
  let code: string;
  if (path === 'row') {
    code = /* wgsl */ `${header}
${workgroupReduce('wg_combine', op, workgroup, variant)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${reduceBuiltins(variant)}) {
  let o = grid_workgroup(wid, nwg);
  if (o >= params.outputs) { return; }
  ${locate}
  var acc = ${identity};
  for (var r = start + lid; r < end; r += WG_X) { acc = ${fold('acc', 'x[base + r * params.inner]')}; }
  let total = wg_combine(acc, ${reduceArgs(variant)});
  if (lid == 0u) { y[o] = ${finish('total')}; }
}`;
  } else {
    code = /* wgsl */ `${header}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let o = grid_invocation(wid, nwg, lid);
  if (o >= params.outputs) { return; }
  ${locate}
  var acc = ${identity};
  for (var r = start; r < end; r++) { acc = ${fold('acc', 'x[base + r * params.inner]')}; }
  y[o] = ${finish('acc')};
}`;
  }
  const program: KernelProgram = {
    name: `reduce-${op}`,
    variant: `${path}:${path === 'row' ? variant : 'loop'}:${workgroup}:${width}`,
    workgroupSize: [workgroup],
    features: path === 'row' ? reduceFeatures(variant) : [],
    uniforms: [
      ...['outputs', 'len', 'inner', 'chunk', 'chunks'].map((name) => ({ name, type: 'u32' as const })),
      { name: 'scale', type: 'f32' as const },
    ],
    bindings: [
      { name: 'x', type: X, access: 'read' },
      { name: 'y', type: ACC, access: 'read_write' },
    ],
    code,
  };
  programs.set(key, program);
  return program;
}
