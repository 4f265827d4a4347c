// advantages: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { KernelProgram } from '../../runtime/program.js';
import { reduceArgs, reduceBuiltins, reduceFeatures, type ReduceVariant, workgroupReduce } from '../shared/workgroup-reduce.js';

export type MaskType = 'f32' | 'u32';

/** Invocations per workgroup of the one-invocation-per-row kernels (small so that few rows still spread over threads). */
export const ROW_WORKGROUP = 16;

/** Elementwise kernels: invocations per workgroup and elements per invocation (strided, so loads stay contiguous across lanes). */
export const ELEMENT_WORKGROUP = 64;

export const ELEMENT_ITEMS = 16;

export const ELEMENT_CHUNK = ELEMENT_WORKGROUP * ELEMENT_ITEMS;

/** Invocations per workgroup of loo-t (one workgroup per row). */
export const LOO_WORKGROUP = 64;

/** maskedWhiten's moments kernel: invocations per workgroup and elements per invocation. */
export const MOMENT_WORKGROUP = 64;

export const MOMENT_ITEMS = 32;

export const MOMENT_CHUNK = MOMENT_WORKGROUP * MOMENT_ITEMS;

/** Invocations of the single-workgroup reductions (whiten finalize, max). */
export const FINAL_WORKGROUP = 256;

function isValidFn(maskType: MaskType): string {
  return `fn isValid(i: u32) -> bool { return mask[i] != ${maskType === 'f32' ? '0.0' : '0u'}; }`;
}

const MOMENTS_BINDING = { name: 'moments', type: 'f32', access: 'read_write' } as const;

/** Declares the running moments of one invocation (Welford). */
const WELFORD_DECL = 'var wN = 0.0;\n  var wMean = 0.0;\n  var wM2 = 0.0;';

/** Adds x to the running moments. */
function welfordAdd(x: string): string {
  return `{ let wx = ${x}; wN += 1.0; let wd = wx - wMean; wMean += wd / wN; wM2 += wd * (wx - wMean); }`;
}

/** Writes the running moments as partial p. */
function welfordStore(p: string): string {
  return `moments[3u * (${p})] = wN;\n  moments[3u * (${p}) + 1u] = wMean;\n  moments[3u * (${p}) + 2u] = wM2;`;
}

const ROW_MAIN = /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = grid_invocation(wid, nwg, lid);
  if (row >= params.rows) { return; }`;

/** An elementwise main: `body` runs for every element index `i` < params.n of this invocation. */
function elementMain(body: string): string {
  return /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let start = (grid_workgroup(wid, nwg)) * (WG_X * ${ELEMENT_ITEMS}u);
  for (var k = 0u; k < ${ELEMENT_ITEMS}u; k++) {
    let i = start + k * WG_X + lid;
    if (i >= params.n) { break; }
    ${body}
  }
}`;
}

/** info[3b..3b+2] = (first row of b's group, next row of b's group after b or −1, group size). */
export function groupIndexProgram(): KernelProgram {
  return {
    name: 'advantages-groups',
    variant: 'list',
    workgroupSize: [ROW_WORKGROUP],
    uniforms: [{ name: 'rows', type: 'u32' }],
    bindings: [
      { name: 'groups', type: 'i32', access: 'read' },
      { name: 'info', type: 'i32', access: 'read_write' },
    ],
    code: /* wgsl */ `${ROW_MAIN}
  let g = groups[row];
  var first = -1;
  var next = -1;
  var size = 0;
  for (var j = 0u; j < params.rows; j++) {
    if (groups[j] == g) {
      if (first < 0) { first = i32(j); }
      if (j > row && next < 0) { next = i32(j); }
      size++;
    }
  }
  info[3u * row] = first;
  info[3u * row + 1u] = next;
  info[3u * row + 2u] = size;
}`,
  };
}

/** stats[4b..4b+3] = (valid count, sum of valid rewards, last valid index or −1, 0). */
export function rowStatsProgram(maskType: MaskType): KernelProgram {
  return {
    name: 'advantages-row-stats',
    variant: `mask-${maskType}`,
    workgroupSize: [ROW_WORKGROUP],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'cols', type: 'u32' },
    ],
    bindings: [
      { name: 'rewards', type: 'f32', access: 'read' },
      { name: 'mask', type: maskType, access: 'read' },
      { name: 'stats', type: 'f32', access: 'read_write' },
    ],
    code: /* wgsl */ `${isValidFn(maskType)}
${ROW_MAIN}
  let base = row * params.cols;
  var count = 0.0;
  var sum = 0.0;
  var last = -1.0;
  for (var t = 0u; t < params.cols; t++) {
    let ok = isValid(base + t);
    count += select(0.0, 1.0, ok);
    sum += select(0.0, rewards[base + t], ok);
    last = select(last, f32(t), ok);
  }
  stats[4u * row] = count;
  stats[4u * row + 1u] = sum;
  stats[4u * row + 2u] = last;
  stats[4u * row + 3u] = 0.0;
}`,
  };
}

/** Walks `row`'s group list (info from groupIndexProgram) with `body` run for every member m. */
function walkGroup(body: string): string {
  return /* wgsl */ `{
    var j = info[3u * row];
    for (var guard = 0u; guard < params.rows && j >= 0; guard++) {
      let m = u32(j);
      ${body}
      j = info[3u * m + 1u];
    }
  }`;
}

export type SequenceKind = 'grpo' | 'dr-grpo' | 'rloo' | 'mean';

/**
 * rowAdv[b] from the sequence scores (stats[4b+1]) of b's group. With `moments`, also the row's
 * partial moments for the whitening: (valid count, rowAdv, 0) — the row's tokens all hold rowAdv.
 */
export function sequenceAdvantageProgram(kind: SequenceKind, singleton: 'verl' | 'zero', moments = false): KernelProgram {
  const singletonValue = singleton === 'zero' ? '0.0' : kind === 'grpo' ? 's / (1.0 + params.epsilon)' : 's';
  let formula: string;
  if (kind === 'grpo') {
    formula = `var ss = 0.0;
    ${walkGroup('let d = stats[4u * m + 1u] - mean; ss += d * d;')}
    let deviation = sqrt(ss / (k - 1.0)); // unbiased, as torch.std
    adv = (s - mean) / (deviation + params.epsilon);`;
  } else if (kind === 'rloo') {
    formula = 'adv = (s - mean) * k / (k - 1.0); // = s − mean of the other k − 1';
  } else {
    formula = 'adv = s - mean;';
  }
  return {
    name: 'advantages-sequence',
    variant: `${kind}:${singleton}${moments ? ':moments' : ''}`,
    workgroupSize: [ROW_WORKGROUP],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'epsilon', type: 'f32' },
    ],
    bindings: [
      { name: 'stats', type: 'f32', access: 'read' },
      { name: 'info', type: 'i32', access: 'read' },
      { name: 'rowAdv', type: 'f32', access: 'read_write' },
      ...(moments ? [MOMENTS_BINDING] : []),
    ],
    code: /* wgsl */ `${ROW_MAIN}
  let s = stats[4u * row + 1u];
  let k = f32(info[3u * row + 2u]);
  var adv = 0.0;
  if (k < 1.5) {
    adv = ${singletonValue};
  } else {
    var total = 0.0;
    ${walkGroup('total += stats[4u * m + 1u];')}
    let mean = total / k;
    ${formula}
  }
  rowAdv[row] = adv;
  ${moments ? 'moments[3u * row] = stats[4u * row];\n  moments[3u * row + 1u] = adv;\n  moments[3u * row + 2u] = 0.0;' : ''}
}`,
  };
}

/**
 * out[b, t] = rowValue[b] at valid tokens, 0 elsewhere; with `whitened`, (rowValue[b] − mean)·istd
 * with (mean, istd) = stats[0..1] from whitenFinalizeProgram. Workgroups tile rows (`chunks` per
 * row of ELEMENT_CHUNK positions), so the row index is uniform: no per-element integer division,
 * which lavapipe cannot vectorise.
 */
export function broadcastProgram(maskType: MaskType, whitened = false): KernelProgram {
  return {
    name: 'advantages-broadcast',
    variant: `mask-${maskType}${whitened ? ':whitened' : ''}`,
    workgroupSize: [ELEMENT_WORKGROUP],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'cols', type: 'u32' },
      { name: 'chunks', type: 'u32' },
    ],
    bindings: [
      { name: 'rowValue', type: 'f32', access: 'read' },
      { name: 'mask', type: maskType, access: 'read' },
      ...(whitened ? [{ name: 'stats', type: 'f32', access: 'read' } as const] : []),
      { name: 'out', type: 'f32', access: 'read_write' },
    ],
    code: /* wgsl */ `${isValidFn(maskType)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let linear = grid_workgroup(wid, nwg);
  let row = linear / params.chunks;
  if (row >= params.rows) { return; }
  let value = ${whitened ? '(rowValue[row] - stats[0]) * stats[1]' : 'rowValue[row]'};
  let base = row * params.cols;
  let start = (linear % params.chunks) * (WG_X * ${ELEMENT_ITEMS}u);
  for (var k = 0u; k < ${ELEMENT_ITEMS}u; k++) {
    let t = start + k * WG_X + lid;
    if (t >= params.cols) { break; }
    out[base + t] = select(0.0, value, isValid(base + t));
  }
}`,
  };
}

/** out = rewards · scale, where scale[0] = 1/(max + eps) from maxReduceProgram; 0 at masked tokens. */
export function scaleProgram(maskType: MaskType): KernelProgram {
  return {
    name: 'advantages-scale',
    variant: `mask-${maskType}`,
    workgroupSize: [ELEMENT_WORKGROUP],
    uniforms: [{ name: 'n', type: 'u32' }],
    bindings: [
      { name: 'rewards', type: 'f32', access: 'read' },
      { name: 'mask', type: maskType, access: 'read' },
      { name: 'scale', type: 'f32', access: 'read' },
      { name: 'out', type: 'f32', access: 'read_write' },
    ],
    code: /* wgsl */ `${isValidFn(maskType)}
${elementMain('out[i] = select(0.0, rewards[i] * scale[0], isValid(i));')}`,
  };
}

/** One workgroup: scale[0] = 1/(max(rowMax) + eps); rowMax ≥ 0. */
export function maxReduceProgram(variant: ReduceVariant): KernelProgram {
  return {
    name: 'advantages-max',
    variant,
    workgroupSize: [FINAL_WORKGROUP],
    features: reduceFeatures(variant),
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'eps', type: 'f32' },
    ],
    bindings: [
      { name: 'rowMax', type: 'f32', access: 'read' },
      { name: 'scale', type: 'f32', access: 'read_write' },
    ],
    code: /* wgsl */ `${workgroupReduce('wgMax', 'max', FINAL_WORKGROUP, variant)}
@compute @workgroup_size(WG_X)
fn main(${reduceBuiltins(variant)}) {
  var m = 0.0;
  for (var r = lid; r < params.rows; r += WG_X) { m = max(m, rowMax[r]); }
  let total = wgMax(m, ${reduceArgs(variant)});
  if (lid == 0u) { scale[0] = 1.0 / (total + params.eps); }
}`,
  };
}

export type ScanKind = 'rtg' | 'max-rtg' | 'gae' | 'prime-code' | 'prime-paper' | 'repirl';

/**
 * One invocation per row, reverse over its tokens, skipping masked tokens (they neither add a
 * reward nor count as a discount step; outputs are 0 there).
 * - rtg:         out = G_t = r_t + γ·G_next
 * - max-rtg:     rowMax[b] = max_t |G_t|
 * - gae:         δ_t = r_t + γ·V_next − V_t, A_t = δ_t + γλ·A_next; adv = A, ret = A + V
 * - prime-code:  per source r' = r·K/(K−1) − Σ_j m_j/(K−1) (process: every valid token, m_j its
 *                mean; outcome: the last valid token, m_j = o_j); out = c_prm·s·G(r'_prm) + c_gt·G(r'_gt)
 * - prime-paper: out = c_prm·s·G(r − mean_{j≠b} m_j) + c_gt·(o_b − mean_{j≠b} o_j)
 * - repirl:      out = c_prm·s·G(r) + c_gt·G(o on the last valid token), fed to loo-t
 * s is 1/(max |rtg| + 1e-6) from the `scale` binding when `normalized`, else 1. With `moments`
 * (rtg, gae, prime-*), the row's partial moments of its output (gae: of A) for the whitening.
 */
export function scanProgram(kind: ScanKind, maskType: MaskType, normalized = false, moments = false): KernelProgram {
  const uniforms: { name: string; type: 'u32' | 'f32' }[] = [
    { name: 'rows', type: 'u32' },
    { name: 'cols', type: 'u32' },
    { name: 'gamma', type: 'f32' },
  ];
  const bindings: { name: string; type: 'f32' | 'i32' | 'u32'; access: 'read' | 'read_write' }[] = [
    { name: 'rewards', type: 'f32', access: 'read' },
    { name: 'mask', type: maskType, access: 'read' },
  ];
  const usesScale = normalized && (kind === 'prime-code' || kind === 'prime-paper' || kind === 'repirl');
  const withMoments = moments && kind !== 'max-rtg' && kind !== 'repirl';
  const scaleExpr = usesScale ? 'scale[0]' : '1.0';
  const track = (x: string) => (withMoments ? welfordAdd(x) : '');
  const loop = (step: string, masked: string) => `
  for (var k = 0u; k < params.cols; k++) {
    let i = base + params.cols - 1u - k;
    if (isValid(i)) {
      ${step}
    } else {
      ${masked}
    }
  }`;
  let body: string;
  switch (kind) {
    case 'rtg':
      bindings.push({ name: 'out', type: 'f32', access: 'read_write' });
      body = `var run = 0.0;${loop(`run = rewards[i] + params.gamma * run; out[i] = run; ${track('run')}`, 'out[i] = 0.0;')}`;
      break;
    case 'max-rtg':
      bindings.push({ name: 'rowMax', type: 'f32', access: 'read_write' });
      body = `var run = 0.0;
  var biggest = 0.0;${loop('run = rewards[i] + params.gamma * run; biggest = max(biggest, abs(run));', '')}
  rowMax[row] = biggest;`;
      break;
    case 'gae':
      uniforms.push({ name: 'lambda', type: 'f32' });
      bindings.splice(1, 0, { name: 'values', type: 'f32', access: 'read' });
      bindings.push({ name: 'adv', type: 'f32', access: 'read_write' }, { name: 'ret', type: 'f32', access: 'read_write' });
      body = `var nextValue = 0.0;
  var lastGae = 0.0;${loop(
    `let v = values[i];
      lastGae = rewards[i] + params.gamma * nextValue - v + params.gamma * params.lambda * lastGae;
      nextValue = v;
      adv[i] = lastGae;
      ret[i] = lastGae + v;
      ${track('lastGae')}`,
    'adv[i] = 0.0; ret[i] = 0.0;',
  )}`;
      break;
    case 'prime-code':
    case 'prime-paper':
      uniforms.push({ name: 'cPrm', type: 'f32' }, { name: 'cGt', type: 'f32' });
      bindings.push(
        { name: 'outcome', type: 'f32', access: 'read' },
        { name: 'stats', type: 'f32', access: 'read' },
        { name: 'info', type: 'i32', access: 'read' },
      );
      if (usesScale) bindings.push({ name: 'scale', type: 'f32', access: 'read' });
      bindings.push({ name: 'out', type: 'f32', access: 'read_write' });
      body = `let s = ${scaleExpr};
  let k = f32(info[3u * row + 2u]);
  // Σ over the group of each member's mean process reward (0 for an empty row) and outcome.
  var sumMean = 0.0;
  var sumOutcome = 0.0;
  ${walkGroup('let c = stats[4u * m]; sumMean += select(0.0, stats[4u * m + 1u] / max(c, 1.0), c > 0.0); sumOutcome += outcome[m];')}
  sumMean *= s;
  let o = outcome[row];
  let many = k > 1.5; // a group of one has no baseline
  var run = 0.0;
  ${
    kind === 'prime-code'
      ? `let factor = select(1.0, k / (k - 1.0), many);
  let baseP = select(0.0, sumMean / (k - 1.0), many);
  let outcomeTerm = params.cGt * (o * factor - select(0.0, sumOutcome / (k - 1.0), many));
  var seenLast = false;${loop(
    `var x = params.cPrm * (rewards[i] * s * factor - baseP);
      if (!seenLast) { x += outcomeTerm; seenLast = true; }
      run = x + params.gamma * run;
      out[i] = run;
      ${track('run')}`,
    'out[i] = 0.0;',
  )}`
      : `let ownMean = select(0.0, stats[4u * row + 1u] / max(stats[4u * row], 1.0), stats[4u * row] > 0.0) * s;
  let baseP = select(0.0, (sumMean - ownMean) / (k - 1.0), many);
  let outcomeTerm = params.cGt * (o - select(0.0, (sumOutcome - o) / (k - 1.0), many));${loop(
    `run = params.cPrm * (rewards[i] * s - baseP) + params.gamma * run;
      out[i] = run + outcomeTerm;
      ${track('run + outcomeTerm')}`,
    'out[i] = 0.0;',
  )}`
  }`;
      break;
    case 'repirl':
      uniforms.push({ name: 'cPrm', type: 'f32' }, { name: 'cGt', type: 'f32' });
      bindings.push({ name: 'outcome', type: 'f32', access: 'read' });
      if (usesScale) bindings.push({ name: 'scale', type: 'f32', access: 'read' });
      bindings.push({ name: 'out', type: 'f32', access: 'read_write' });
      body = `let wPrm = params.cPrm * ${scaleExpr};
  var runP = 0.0;
  var runO = 0.0;
  var pending = outcome[row]; // the outcome sits on the last valid token
  ${loop(
    `runP = rewards[i] + params.gamma * runP;
      runO = pending + params.gamma * runO;
      pending = 0.0;
      out[i] = wPrm * runP + params.cGt * runO;`,
    'out[i] = 0.0;',
  )}`;
      break;
  }
  if (withMoments) bindings.push(MOMENTS_BINDING);
  return {
    name: 'advantages-scan',
    variant: `${kind}:mask-${maskType}${usesScale ? ':scaled' : ''}${withMoments ? ':moments' : ''}`,
    workgroupSize: [ROW_WORKGROUP],
    uniforms,
    bindings,
    code: /* wgsl */ `${isValidFn(maskType)}
${ROW_MAIN}
  let base = row * params.cols;
  ${withMoments ? WELFORD_DECL : ''}
  ${body}
  ${withMoments ? welfordStore('row') : ''}
}`,
  };
}

/**
 * rePIRL's per-timestep leave-one-out: out[b,t] = h[b,t] − Σ_{j≠b, valid(j,t)} h[j,t] / max(1, #such j)
 * at valid tokens, 0 elsewhere. One workgroup per row, its invocations striding over positions, so
 * the group walk is uniform across the workgroup and the reads of a sibling row are contiguous
 * across lanes. With `moments`, each invocation writes the partial moments of its outputs
 * (partial index row·LOO_WORKGROUP + lid).
 */
export function looTimestepProgram(maskType: MaskType, moments = false): KernelProgram {
  return {
    name: 'advantages-loo-t',
    variant: `mask-${maskType}${moments ? ':moments' : ''}`,
    workgroupSize: [LOO_WORKGROUP],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'cols', type: 'u32' },
    ],
    bindings: [
      { name: 'h', type: 'f32', access: 'read' },
      { name: 'mask', type: maskType, access: 'read' },
      { name: 'info', type: 'i32', access: 'read' },
      { name: 'out', type: 'f32', access: 'read_write' },
      ...(moments ? [MOMENTS_BINDING] : []),
    ],
    code: /* wgsl */ `${isValidFn(maskType)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = grid_workgroup(wid, nwg);
  if (row >= params.rows) { return; }
  ${moments ? WELFORD_DECL : ''}
  for (var t = lid; t < params.cols; t += WG_X) {
    let i = row * params.cols + t;
    if (!isValid(i)) { out[i] = 0.0; continue; }
    var sum = 0.0;
    var count = 0.0;
    ${walkGroup('let e = m * params.cols + t; if (m != row && isValid(e)) { sum += h[e]; count += 1.0; }')}
    let a = h[i] - sum / max(count, 1.0);
    out[i] = a;
    ${moments ? welfordAdd('a') : ''}
  }
  ${moments ? welfordStore('row * WG_X + lid') : ''}
}`,
  };
}

/**
 * maskedWhiten stage 1: invocation q of workgroup w covers MOMENT_ITEMS elements (strided by the
 * workgroup size) and writes their partial moments (count, mean, M2) as partial w·WG + q.
 */
export function whitenMomentsProgram(maskType: MaskType): KernelProgram {
  return {
    name: 'advantages-whiten-moments',
    variant: `mask-${maskType}`,
    workgroupSize: [MOMENT_WORKGROUP],
    uniforms: [{ name: 'n', type: 'u32' }],
    bindings: [
      { name: 'values', type: 'f32', access: 'read' },
      { name: 'mask', type: maskType, access: 'read' },
      MOMENTS_BINDING,
    ],
    code: /* wgsl */ `${isValidFn(maskType)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let w = grid_workgroup(wid, nwg);
  let start = w * (WG_X * ${MOMENT_ITEMS}u);
  ${WELFORD_DECL}
  for (var k = 0u; k < ${MOMENT_ITEMS}u; k++) {
    let i = start + k * WG_X + lid;
    if (i >= params.n) { break; }
    if (isValid(i)) ${welfordAdd('values[i]')}
  }
  ${welfordStore('w * WG_X + lid')}
}`,
  };
}

/**
 * Whitening stage 2 (one workgroup) over `parts` partials (count, mean, M2):
 * n = Σ n_p, mean = Σ n_p·mean_p / n, M2 = Σ (M2_p + n_p·(mean_p − mean)²); var = M2/(n − 1)
 * (unbiased) or M2/n, 0 when that denominator is ≤ 0; stats = (mean, (var + eps)^−½).
 */
export function whitenFinalizeProgram(variant: ReduceVariant): KernelProgram {
  const args = reduceArgs(variant);
  return {
    name: 'advantages-whiten-finalize',
    variant,
    workgroupSize: [FINAL_WORKGROUP],
    features: reduceFeatures(variant),
    uniforms: [
      { name: 'parts', type: 'u32' },
      { name: 'unbiased', type: 'u32' },
      { name: 'eps', type: 'f32' },
    ],
    bindings: [
      { name: 'moments', type: 'f32', access: 'read' },
      { name: 'stats', type: 'f32', access: 'read_write' },
    ],
    code: /* wgsl */ `${workgroupReduce('wgSum', 'sum', FINAL_WORKGROUP, variant)}
@compute @workgroup_size(WG_X)
fn main(${reduceBuiltins(variant)}) {
  var count = 0.0;
  var weighted = 0.0;
  for (var p = lid; p < params.parts; p += WG_X) {
    count += moments[3u * p];
    weighted += moments[3u * p] * moments[3u * p + 1u];
  }
  let n = wgSum(count, ${args});
  let mean = wgSum(weighted, ${args}) / max(n, 1.0);
  var m2 = 0.0;
  for (var p = lid; p < params.parts; p += WG_X) {
    let d = moments[3u * p + 1u] - mean;
    m2 += moments[3u * p + 2u] + moments[3u * p] * d * d;
  }
  let total = wgSum(m2, ${args});
  let denom = select(n, n - 1.0, params.unbiased != 0u);
  let variance = select(0.0, total / denom, denom > 0.0);
  if (lid == 0u) {
    stats[0] = mean;
    stats[1] = inverseSqrt(variance + params.eps);
  }
}`,
  };
}

/** Whitening stage 3: out = (v − mean)·istd (+ mean when shiftMean is off) at valid tokens, 0 elsewhere. */
export function whitenApplyProgram(maskType: MaskType): KernelProgram {
  return {
    name: 'advantages-whiten-apply',
    variant: `mask-${maskType}`,
    workgroupSize: [ELEMENT_WORKGROUP],
    uniforms: [
      { name: 'n', type: 'u32' },
      { name: 'keepMean', type: 'f32' },
    ],
    bindings: [
      { name: 'values', type: 'f32', access: 'read' },
      { name: 'mask', type: maskType, access: 'read' },
      { name: 'stats', type: 'f32', access: 'read' },
      { name: 'out', type: 'f32', access: 'read_write' },
    ],
    code: /* wgsl */ `${isValidFn(maskType)}
${elementMain('out[i] = select(0.0, (values[i] - stats[0]) * stats[1] + params.keepMean * stats[0], isValid(i));')}`,
  };
}

/** out[b, t] = scores[b] on the last valid token of row b, 0 elsewhere. */
export function placeOutcomeProgram(maskType: MaskType): KernelProgram {
  return {
    name: 'advantages-place-outcome',
    variant: `mask-${maskType}`,
    workgroupSize: [ROW_WORKGROUP],
    uniforms: [
      { name: 'rows', type: 'u32' },
      { name: 'cols', type: 'u32' },
    ],
    bindings: [
      { name: 'scores', type: 'f32', access: 'read' },
      { name: 'mask', type: maskType, access: 'read' },
      { name: 'out', type: 'f32', access: 'read_write' },
    ],
    code: /* wgsl */ `${isValidFn(maskType)}
${ROW_MAIN}
  let base = row * params.cols;
  var pending = scores[row];
  for (var k = 0u; k < params.cols; k++) {
    let i = base + params.cols - 1u - k;
    let here = isValid(i);
    out[i] = select(0.0, pending, here);
    if (here) { pending = 0.0; }
  }
}`,
  };
}
