// softmax: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { KernelProgram } from '../../runtime/program.js';
import { reduceArgs, reduceBuiltins, reduceFeatures, type ReduceVariant, workgroupReduce } from '../shared/workgroup-reduce.js';

export type SoftmaxKind = 'softmax' | 'logSoftmax';

export type SoftmaxPath = 'workgroup' | 'thread';

const programs = new Map<string, KernelProgram>();

/** Elements per load: 4 (vec4 loads, register blocking) when rows are multiples of 4, else 1. */
export type SoftmaxWidth = 1 | 4;

function common(width: SoftmaxWidth): string {
  const V = width === 4 ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
alias V = ${V};
var<private> NEG_INF_BITS: u32 = 0xff800000u;
fn neg_inf() -> f32 { return bitcast<f32>(NEG_INF_BITS); }
const LOWEST: f32 = -3.402823466e+38;
fn hsum(v: V) -> f32 { return ${width === 4 ? 'dot(v, V(1.0))' : 'v'}; }`;
}

/**
 * Online update of (m, s) with one loaded value v (f32 or vec4). Scalar: one exp per element,
 * s ← d > 0 ? s·e^(−d) + 1 : s + e^(−|d|) with d = v − m. vec4: the new maximum over the four
 * lanes, then s ← s·e^(m − m') + Σ e^(v − m') (1.25 exps per element).
 */
function onlineUpdate(width: SoftmaxWidth): string {
  return width === 1
    ? /* wgsl */ `
    let d = v - m;
    let e = exp(-abs(d));
    s = select(s + e, s * e + 1.0, d > 0.0);
    m = max(m, v);`
    : /* wgsl */ `
    let mn = max(m, max(max(v.x, v.y), max(v.z, v.w)));
    s = s * exp(m - mn) + hsum(exp(v - V(mn)));
    m = mn;`;
}

function forwardWrite(kind: SoftmaxKind): { prepare: string; write: string } {
  return kind === 'softmax'
    ? { prepare: 'let inv = select(1.0 / total, 0.0, total == 0.0);', write: 'y[at] = exp(x[at] - V(top)) * inv;' }
    : { prepare: 'let log_total = log(total); let masked = total == 0.0;', write: 'y[at] = select((x[at] - V(top)) - V(log_total), V(neg_inf()), masked);' };
}

/** Row loops: the workgroup path strides by the workgroup, the thread path walks the row alone. */
function rowLoop(path: SoftmaxPath, body: string): string {
  return path === 'workgroup'
    ? `for (var c = lid; c < params.len; c += WG_X) { let at = base + c; ${body} }`
    : `for (var c = 0u; c < params.len; c++) { let at = base + c; ${body} }`;
}

function rowHeader(path: SoftmaxPath, variant: ReduceVariant): string {
  return path === 'workgroup'
    ? /* wgsl */ `@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${reduceBuiltins(variant)}) {
  let row = grid_workgroup(wid, nwg);`
    : /* wgsl */ `@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = grid_invocation(wid, nwg, lid);`;
}

function programKeyOf(parts: (string | number)[]): string {
  return parts.join(':');
}

/** Uniforms: rows, and len = the row length in loads (cols / width). */
export function softmaxForwardProgram(kind: SoftmaxKind, path: SoftmaxPath, variant: ReduceVariant, workgroup: number, width: SoftmaxWidth = 1): KernelProgram {
  const key = programKeyOf(['fwd', kind, path, variant, workgroup, width]);
  const hit = programs.get(key);
  if (hit) return hit;
  const { prepare, write } = forwardWrite(kind);
  const wg = path === 'workgroup';
  const code = /* wgsl */ `${common(width)}
${wg ? workgroupReduce('wg_max', 'max', workgroup, variant) : ''}
${wg ? workgroupReduce('wg_sum', 'sum', workgroup, variant) : ''}
${rowHeader(path, variant)}
  if (row >= params.rows) { return; }
  let base = row * params.len;
  var m = LOWEST;
  var s = 0.0;
  ${rowLoop(path, `let v = x[at];${onlineUpdate(width)}`)}
  ${wg ? `let top = wg_max(m, ${reduceArgs(variant)});\n  let total = wg_sum(s * exp(m - top), ${reduceArgs(variant)});` : 'let top = m;\n  let total = s;'}
  ${prepare}
  ${rowLoop(path, write)}
}`;
  const vtype = width === 4 ? 'vec4<f32>' : 'f32';
  const program: KernelProgram = {
    name: kind,
    variant: `${path}:${wg ? variant : 'serial'}:${workgroup}:w${width}`,
    workgroupSize: [workgroup],
    features: wg ? reduceFeatures(variant) : [],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'len', type: 'u32' },
    ],
    bindings: [
      { name: 'x', type: vtype, access: 'read' },
      { name: 'y', type: vtype, access: 'read_write' },
    ],
    code,
  };
  programs.set(key, program);
  return program;
}

/**
 * Backward programs. Per row they accumulate two sums over (y, dy), then write dx:
 * softmax: a = Σ y·dy (b unused); log-softmax: a = Σ dy, b = Σ exp(y).
 */
export function softmaxBackwardProgram(kind: SoftmaxKind, path: SoftmaxPath, variant: ReduceVariant, workgroup: number, width: SoftmaxWidth = 1): KernelProgram {
  const key = programKeyOf(['bwd', kind, path, variant, workgroup, width]);
  const hit = programs.get(key);
  if (hit) return hit;
  const soft = kind === 'softmax';
  const wg = path === 'workgroup';
  const accumulate = soft ? 'a += hsum(y[at] * dy[at]);' : 'a += hsum(dy[at]); b += hsum(exp(y[at]));';
  const write = soft ? 'dx[at] = y[at] * (dy[at] - V(sa));' : 'dx[at] = select(dy[at] - exp(y[at]) * sa, V(0.0), sb == 0.0);';
  const args = reduceArgs(variant);
  const reduceBoth = wg
    ? soft
      ? `let sa = wg_sum_a(a, ${args});`
      : `let sa = wg_sum_a(a, ${args});\n  let sb = wg_sum_b(b, ${args});`
    : 'let sa = a;\n  let sb = b;';
  const code = /* wgsl */ `${common(width)}
${wg ? workgroupReduce('wg_sum_a', 'sum', workgroup, variant) : ''}
${wg && !soft ? workgroupReduce('wg_sum_b', 'sum', workgroup, variant) : ''}
${rowHeader(path, variant)}
  if (row >= params.rows) { return; }
  let base = row * params.len;
  var a = 0.0;
  var b = 0.0;
  ${rowLoop(path, accumulate)}
  ${reduceBoth}
  ${rowLoop(path, write)}
}`;
  const vtype = width === 4 ? 'vec4<f32>' : 'f32';
  const program: KernelProgram = {
    name: `${kind}-backward`,
    variant: `${path}:${wg ? variant : 'serial'}:${workgroup}:w${width}`,
    workgroupSize: [workgroup],
    features: wg ? reduceFeatures(variant) : [],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'len', type: 'u32' },
    ],
    bindings: [
      { name: 'y', type: vtype, access: 'read' },
      { name: 'dy', type: vtype, access: 'read' },
      { name: 'dx', type: vtype, access: 'read_write' },
    ],
    code,
  };
  programs.set(key, program);
  return program;
}
