// logprob: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import { reduceArgs, reduceBuiltins, reduceFeatures, type ReduceVariant, workgroupReduce } from '../shared/workgroup-reduce.js';
import type { BindingDecl, KernelProgram } from '../../runtime/program.js';

export const FORWARD = 'tokenLogProbs';

export const BACKWARD = 'tokenLogProbsBackward';

/**
 * How rows map to invocations: 'workgroup' (one workgroup per row, its invocations striding over
 * the row and combining partial statistics with ops/shared/workgroup-reduce.ts) or 'lane' (one
 * invocation per row, walking the whole row alone: no reduction and no barrier at all).
 */
export type LogProbLayout = 'workgroup' | 'lane';

/** The specialisation of a log-prob program. */
export interface LogProbVariant {
  layout: LogProbLayout;
  /** Reduction variant of the workgroup layout (unused by 'lane'). */
  reduce: ReduceVariant;
  workgroup: number;
  /** Elements per load. */
  width: 1 | 4;
}

function variantKey(v: LogProbVariant): string {
  return `${v.layout === 'lane' ? 'lane' : v.reduce}:wg${v.workgroup}:v${v.width}`;
}

/** WGSL type of a logits element at this width. */
function elemType(width: 1 | 4): 'f32' | 'vec4<f32>' {
  return width === 4 ? 'vec4<f32>' : 'f32';
}

/** Layout-dependent pieces of WGSL shared by the forward and backward kernels. */
function layoutWgsl(v: LogProbVariant) {
  const lane = v.layout === 'lane';
  return {
    features: lane ? [] : reduceFeatures(v.reduce),
    builtins: `@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${lane ? '@builtin(local_invocation_index) lid: u32' : reduceBuiltins(v.reduce)}`,
    row: lane ? 'let row = grid_invocation(wid, nwg, lid);' : 'let row = grid_workgroup(wid, nwg);',
    /** Loop header over the row's elements owned by this invocation. */
    loop: (count: string) => (lane ? `for (var c = 0u; c < ${count}; c++)` : `for (var c = lid; c < ${count}; c += WG_X)`),
    /** Whether this invocation writes the row's outputs. */
    writer: lane ? 'true' : 'lid == 0u',
    statsArgs: lane ? '' : `, ${reduceArgs(v.reduce)}`,
  };
}

// ------------------------------------------------------------------ shared WGSL

/**
 * The online (max, sum, weighted sum) triple and its update, in logit space (see the header), and
 * rowStats() over a whole row. At width 4 the update takes the max of four logits first, so a
 * rescale costs one exp per new maximum and the four terms need no branch.
 */
function statsWgsl(v: LogProbVariant, withEntropy: boolean): string {
  const push =
    v.width === 1
      ? /* wgsl */ `
fn pushLogits(st: Stats, x: f32, invT: f32) -> Stats {
  var r = st;
  if (x > st.m) {
    let d = (st.m - x) * invT;
    let scale = exp(d);
    ${withEntropy ? 'r.w = select(0.0, scale * (st.w + st.s * d), scale > 0.0);' : ''}
    r.s = st.s * scale + 1.0;
    r.m = x;
  } else {
    let d = (x - st.m) * invT;
    let e = exp(d);
    r.s = st.s + e;
    ${withEntropy ? 'r.w = st.w + select(0.0, e * d, e > 0.0);' : ''}
  }
  return r;
}`
      : /* wgsl */ `
fn pushLogits(st: Stats, x: vec4<f32>, invT: f32) -> Stats {
  var r = st;
  let top = max(max(x.x, x.y), max(x.z, x.w));
  if (top > r.m) {
    let d = (r.m - top) * invT;
    let scale = exp(d);
    ${withEntropy ? 'r.w = select(0.0, scale * (r.w + r.s * d), scale > 0.0);' : ''}
    r.s = r.s * scale;
    r.m = top;
  }
  let d = (x - vec4<f32>(r.m)) * invT;
  let e = exp(d);
  r.s += (e.x + e.y) + (e.z + e.w);
  ${withEntropy ? 'let ed = select(vec4<f32>(0.0), e * d, e > vec4<f32>(0.0));\n  r.w += (ed.x + ed.y) + (ed.z + ed.w);' : ''}
  return r;
}`;
  const L = layoutWgsl(v);
  const header = /* wgsl */ `
const NEG_MAX: f32 = -3.402823466e+38;
struct Stats { m: f32, s: f32, w: f32 }
${push}
`;
  if (v.layout === 'lane') {
    return /* wgsl */ `${header}
// Online statistics of the row whose first element (in units of the logits binding's type) is
// "start", walked by this invocation alone.
fn rowStats(start: u32, count: u32, invT: f32) -> Stats {
  var st = Stats(NEG_MAX, 0.0, 0.0);
  ${L.loop('count')} { st = pushLogits(st, logits[start + c], invT); }
  return st;
}`;
  }
  const args = reduceArgs(v.reduce);
  return /* wgsl */ `${header}
${workgroupReduce('wgMax', 'max', v.workgroup, v.reduce)}
${workgroupReduce('wgSum', 'sum', v.workgroup, v.reduce)}

// Online statistics of the row whose first element (in units of the logits binding's type) is
// "start", over the whole workgroup: each invocation's triple is rescaled to the workgroup max,
// then summed. The result is the same in every invocation. Call in uniform control flow.
fn rowStats(start: u32, count: u32, invT: f32, ${reduceBuiltins(v.reduce).replace(/@builtin\([a-z_]+\) /g, '')}) -> Stats {
  var st = Stats(NEG_MAX, 0.0, 0.0);
  ${L.loop('count')} { st = pushLogits(st, logits[start + c], invT); }
  let m = wgMax(st.m, ${args});
  let d = (st.m - m) * invT;
  let scale = exp(d);
  let s = wgSum(st.s * scale, ${args});
  ${
    withEntropy
      ? `let w = wgSum(select(0.0, scale * (st.w + st.s * d), st.s > 0.0 && scale > 0.0), ${args});
  return Stats(m, s, w);`
      : 'return Stats(m, s, 0.0);'
  }
}`;
}

// ------------------------------------------------------------------ forward

export function logProbForwardProgram(v: LogProbVariant, withEntropy: boolean): KernelProgram {
  const bindings: BindingDecl[] = [
    { name: 'logits', type: elemType(v.width), access: 'read' },
    { name: 'targets', type: 'i32', access: 'read' },
    { name: 'logp', type: 'f32', access: 'read_write' },
    { name: 'lse', type: 'f32', access: 'read_write' },
    ...(withEntropy ? [{ name: 'entropy', type: 'f32', access: 'read_write' } as const] : []),
    { name: 'status', type: 'atomic<u32>', access: 'read_write' },
  ];
  // The target's logit: element start·W + t, read through the binding's element type.
  const targetLogit =
    v.width === 1 ? 'logits[start + u32(t)]' : 'logits[start + u32(t) / 4u][u32(t) % 4u]';
  const L = layoutWgsl(v);
  return {
    name: FORWARD,
    variant: `${variantKey(v)}:${withEntropy ? 'entropy' : 'plain'}`,
    workgroupSize: [v.workgroup],
    features: L.features,
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'vocab', type: 'u32' },
      { name: 'xBase', type: 'u32' },
      { name: 'rBase', type: 'u32' },
      { name: 'row0', type: 'u32' },
      { name: 'invT', type: 'f32' },
      { name: 'negInf', type: 'f32' },
      { name: 'nan', type: 'f32' },
    ],
    bindings,
    code: /* wgsl */ `
${statsWgsl(v, withEntropy)}

@compute @workgroup_size(WG_X)
fn main(${L.builtins}) {
  ${L.row}
  if (row >= params.rows) { return; }
  let start = (params.xBase + row * params.vocab) / ${v.width}u;
  let st = rowStats(start, params.vocab / ${v.width}u, params.invT${L.statsArgs});
  if (${L.writer}) {
    let r = params.rBase + row;
    let t = targets[r];
    let bad = t < 0 || u32(t) >= params.vocab;
    if (bad) { atomicMax(&status[0], 0xffffffffu - (params.row0 + row)); }
    var outLse = params.negInf;
    var outLogp = params.negInf;
    var outEntropy = 0.0;
    if (!(st.s == 0.0)) { // s = 0: no finite logit (masked row); NaN takes this branch and propagates
      let logS = log(st.s);
      outLse = st.m * params.invT + logS;
      if (!bad) { outLogp = (${targetLogit} - st.m) * params.invT - logS; }
      outEntropy = logS - st.w / st.s;
    }
    if (bad) { outLogp = params.nan; }
    logp[r] = outLogp;
    lse[r] = outLse;
    ${withEntropy ? 'entropy[r] = outEntropy;' : ''}
  }
}`,
  };
}

// ------------------------------------------------------------------ backward

export type EntropyGradientMode = 'none' | 'given' | 'recompute';

/**
 * Backward program. entropyMode: 'none' (no entropy gradient), 'given' (the forward's entropy is
 * bound), 'recompute' (entropy recomputed from the row: one extra read of each row).
 */
export function logProbBackwardProgram(v: LogProbVariant, entropyMode: EntropyGradientMode, inPlace: boolean): KernelProgram {
  const withEntropy = entropyMode !== 'none';
  const out = inPlace ? 'logits' : 'dLogits';
  const T = elemType(v.width);
  const bindings: BindingDecl[] = [
    { name: 'logits', type: T, access: inPlace ? 'read_write' : 'read' },
    { name: 'targets', type: 'i32', access: 'read' },
    { name: 'lse', type: 'f32', access: 'read' },
    { name: 'gLogp', type: 'f32', access: 'read' },
    ...(withEntropy ? [{ name: 'gEntropy', type: 'f32', access: 'read' } as const] : []),
    ...(entropyMode === 'given' ? [{ name: 'entropy', type: 'f32', access: 'read' } as const] : []),
    ...(inPlace ? [] : [{ name: 'dLogits', type: T, access: 'read_write' } as const]),
  ];
  const alwaysRecompute = entropyMode === 'recompute';
  // Element indices of a load, to find the target among them.
  const index = v.width === 1 ? 'i32(c)' : 'vec4<i32>(i32(c * 4u)) + vec4<i32>(0, 1, 2, 3)';
  const L = layoutWgsl(v);
  const lane = v.layout === 'lane';
  return {
    name: BACKWARD,
    variant: `${variantKey(v)}:${entropyMode}:${inPlace ? 'inplace' : 'out'}`,
    workgroupSize: [v.workgroup],
    features: L.features,
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'vocab', type: 'u32' },
      { name: 'xBase', type: 'u32' },
      { name: 'rBase', type: 'u32' },
      { name: 'row0', type: 'u32' },
      { name: 'invT', type: 'f32' },
      { name: 'nan', type: 'f32' },
      { name: 'trustBelow', type: 'f32' },
    ],
    bindings,
    code: /* wgsl */ `
${statsWgsl(v, alwaysRecompute)}
${lane ? '' : 'var<workgroup> rowLse: f32;'}

@compute @workgroup_size(WG_X)
fn main(${L.builtins}) {
  ${L.row}
  if (row >= params.rows) { return; }
  let r = params.rBase + row;
  let start = (params.xBase + row * params.vocab) / ${v.width}u;
  let count = params.vocab / ${v.width}u;
  ${
    lane
      ? 'let savedLse = lse[r];'
      : `if (lid == 0u) { rowLse = lse[r]; }
  let savedLse = workgroupUniformLoad(&rowLse); // uniform, so the branch below may reduce`
  }
  let t = targets[r];
  let bad = t < 0 || u32(t) >= params.vocab;
  let gl = gLogp[r];
  ${withEntropy ? 'let ge = gEntropy[r];' : ''}
  // log p_j = (x_j − shift)/T − offset: (0, lse) normally; (row max, log Σ) when recomputed.
  var shift = 0.0;
  var offset = savedLse;
  var rowEntropy = ${entropyMode === 'given' ? 'entropy[r]' : '0.0'};
  var masked = false;
  if (${alwaysRecompute ? 'true' : '!(abs(savedLse) < params.trustBelow)'}) {
    let st = rowStats(start, count, params.invT${L.statsArgs});
    masked = st.s == 0.0;
    shift = st.m;
    offset = log(st.s);
    ${alwaysRecompute ? 'rowEntropy = offset - st.w / st.s;' : ''}
  }
  ${L.loop('count')} {
    let lp = (logits[start + c] - ${T}(shift)) * params.invT - ${T}(offset);
    let p = exp(lp);
    var g = select(${T}(0.0), ${T}(gl), ${index} == ${v.width === 1 ? 't' : 'vec4<i32>(t)'}) - gl * p;
    ${withEntropy ? `g -= ge * select(${T}(0.0), p * (lp + ${T}(rowEntropy)), p > ${T}(0.0));` : ''}
    var d = g * params.invT;
    if (masked) { d = ${T}(0.0); }
    if (bad) { d = ${T}(params.nan); }
    ${out}[start + c] = d;
  }
}`,
  };
}
