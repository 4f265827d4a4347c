// Fused token log-prob gathering (llm.c's fused classifier, anchors B.3): from logits [N, V], target
// ids [N] and a temperature, the forward reads each row once and produces log p(target), the
// log-sum-exp and (optionally) the entropy with an online max/sum; the backward reads each row once
// more and writes d logits directly (optionally in place over the logits, llm.c style).
// Probabilities are never stored, so the extra memory is O(N), not O(N·V).
//
// Variants (all forced by flags in the tests): the layout, one workgroup per row combining partial
// statistics with ops/shared/workgroup-reduce.ts (subgroup or shared-memory reduction), or one
// invocation per row for short rows on CPU devices; vec4 or scalar loads; the workgroup size.
// Chunking: rows go in chunks whose bindings fit maxStorageBufferBindingSize (chunking.ts).
//
// Numerics. Each invocation keeps an online triple over its share of the row, in logit space
// (x, not z = x / T, so huge logits over a small temperature cannot overflow before the max is
// subtracted):  m = max x,  s = Σ e^{(x−m)/T},  w = Σ e^{(x−m)/T}·(x−m)/T.
// A new maximum rescales s and w: with d = (m_old − m_new)/T,  s ← s·e^d,  w ← e^d·(w + s·d).
// The workgroup combines triples by a max-reduce of m, rescaling each triple to the common max,
// then sum-reduces of s and w (ops/shared/workgroup-reduce.ts, subgroup or shared variant).
// Then  lse = m/T + log s,  logp = (x_t − m)/T − log s,  entropy = log s − w/s.
// −inf logits contribute e^{−inf} = 0 and are skipped in w (0·−inf would be NaN); a row of only −inf
// has s = 0 and follows the masked-row convention of reference.ts (lse = logp = −inf, entropy = 0,
// zero gradient). NaN logits propagate.
//
// Out-of-range target ids. The forward kernel checks every target against [0, V): a bad row gets
// logp = NaN (never a plausible value) and the kernel records the first bad row in a 4-byte status
// buffer (atomicMax of ~row). Reading it back would stall the GPU queue, so the launcher does not;
// `result.check()` reads it and throws an ArgumentError naming 'tokenLogProbs', 'targets', the row
// and the id. Call it where a sync is acceptable (the RL loop reads logp back anyway), or validate
// ids that come from the host up front with validateTargets(). The backward writes NaN over the
// rows of bad targets.
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import type { KernelProgram, BindingDecl } from '../../runtime/program.js';
import { ArgumentError } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import { expectDType, expectShape } from '../validate.js';
import { reduceArgs, reduceBuiltins, reduceFeatures, reduceVariant, workgroupReduce, type ReduceVariant } from '../shared/workgroup-reduce.js';
import { planRowChunks, windowRange, type RowChunk } from './chunking.js';

const FORWARD = 'tokenLogProbs';
const BACKWARD = 'tokenLogProbsBackward';

/**
 * The backward trusts the saved lse only while f32 can carry log-probabilities next to it: at
 * |lse| ≥ 1024 its rounding (half an ulp, 6e-5 at 1024) starts to show in p = exp(z − lse), so the
 * row's max and sum are recomputed in logit space instead (also for non-finite lse: overflowed z,
 * all −inf rows). Real logits never get there, so the common path reads each row once. The flag
 * 'logprob.trustLseBelow' overrides the bound (0 recomputes every row: tests use it).
 */
export const LSE_TRUST_BELOW = 1024;

/**
 * Workgroup size for rows of `vocab` entries. On a CPU implementation of WebGPU (lavapipe,
 * SwiftShader: adapter architecture "software") a workgroup runs on one thread as a loop over SIMD
 * vectors and every barrier is a full context switch, while parallelism comes from workgroups: one
 * SIMD vector (the subgroup size) per row was up to 10× faster than 64 or 256 in our measurements. On
 * GPUs, 64 invocations for short rows and 256 for long ones. The flag 'logprob.workgroup' forces one.
 */
export function logProbWorkgroupSize(rt: Runtime, vocab: number): number {
  const forced = getFlag<number>('logprob.workgroup', 0);
  if (forced > 0) {
    if ((forced & (forced - 1)) !== 0 || forced < 8) throw new Error(`flag logprob.workgroup must be a power of two ≥ 8, got ${forced}`);
    return forced;
  }
  if (isSoftwareDevice(rt)) return Math.max(8, adapterInfo(rt)?.subgroupMaxSize ?? 8);
  return vocab <= 2048 ? 64 : 256;
}

/**
 * Elements per load: 4 (vec4 loads and stores, what makes lavapipe fast) when every row starts on a
 * 16-byte boundary, i.e. V % 4 = 0; else 1. The flag 'logprob.vec4' = false forces scalar access.
 */
export function logProbWidth(vocab: number): 1 | 4 {
  return vocab % 4 === 0 && getFlag<boolean>('logprob.vec4', true) ? 4 : 1;
}

/**
 * How rows map to invocations: 'workgroup' (one workgroup per row, its invocations striding over
 * the row and combining partial statistics with ops/shared/workgroup-reduce.ts) or 'lane' (one
 * invocation per row, walking the whole row alone: no reduction and no barrier at all).
 */
export type LogProbLayout = 'workgroup' | 'lane';

/**
 * 'lane' only on CPU implementations (lavapipe), for short rows (V ≤ 4096) and enough of them to keep
 * every thread busy: the SIMD lanes of one workgroup then work on different rows and no barrier is
 * ever taken (2× faster than 'workgroup' at N = 8192, V = 260; no gain for V = 32768, where the
 * exp throughput bounds both). 'workgroup' on GPUs (coalesced loads across the workgroup). The flag
 * 'logprob.layout' forces one.
 */
export function logProbLayout(rt: Runtime, rows: number, vocab: number): LogProbLayout {
  const forced = getFlag<string>('logprob.layout', 'auto');
  if (forced === 'workgroup' || forced === 'lane') return forced;
  if (forced !== 'auto') throw new Error(`flag logprob.layout must be 'workgroup', 'lane' or 'auto', got '${forced}'`);
  return isSoftwareDevice(rt) && rows >= LANE_LAYOUT_MIN_ROWS && vocab <= 4096 ? 'lane' : 'workgroup';
}

/** Rows from which the lane layout pays on a CPU device (enough workgroups of 8 rows for every thread). */
export const LANE_LAYOUT_MIN_ROWS = 256;

function adapterInfo(rt: Runtime): (GPUAdapterInfo & { subgroupMaxSize?: number }) | undefined {
  return (rt.adapter as GPUAdapter & { info?: GPUAdapterInfo & { subgroupMaxSize?: number } }).info;
}

function isSoftwareDevice(rt: Runtime): boolean {
  return adapterInfo(rt)?.architecture === 'software';
}

/** The specialisation of a log-prob program. */
export interface LogProbVariant {
  layout: LogProbLayout;
  /** Reduction variant of the workgroup layout (unused by 'lane'). */
  reduce: ReduceVariant;
  workgroup: number;
  /** Elements per load. */
  width: 1 | 4;
}

export function logProbVariant(rt: Runtime, rows: number, vocab: number): LogProbVariant {
  const layout = logProbLayout(rt, rows, vocab);
  return { layout, reduce: reduceVariant(rt), workgroup: logProbWorkgroupSize(rt, vocab), width: logProbWidth(vocab) };
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

/** Workgroups for a chunk of `rows` rows. */
function workgroupsFor(rt: Runtime, v: LogProbVariant, rows: number): [number, number, number] {
  return rt.grid(v.layout === 'lane' ? Math.ceil(rows / v.workgroup) : rows);
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

export interface TokenLogProbsOptions {
  /** Softmax temperature T > 0: the distribution is softmax(logits / T). Default 1. */
  temperature?: number;
  /** Also compute the entropy of each row's distribution. Default false. */
  entropy?: boolean;
  /** Rows per chunk (at most); default: as many as fit in one binding. Forces the chunked path in tests. */
  chunkRows?: number;
}

export interface TokenLogProbs {
  /** log p(target) per row, [N]; NaN for rows with an out-of-range target id. */
  logp: GpuArray;
  /** log Σ_j exp(logits_j / T) per row, [N]; pass it to tokenLogProbsBackward. */
  lse: GpuArray;
  /** Entropy per row, [N], when requested. */
  entropy?: GpuArray;
  /** u32 [1]: 0, or ~row of the first row whose target id is outside [0, V). */
  targetStatus: GpuArray;
  /** Reads targetStatus (a GPU sync) and throws an ArgumentError naming the first bad row and id. */
  check(): Promise<void>;
  /** Disposes every array of the result. */
  dispose(): void;
}

function checkTemperature(kernel: string, temperature: number): number {
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw new ArgumentError(kernel, 'temperature', `must be a finite number > 0, got ${temperature}`);
  }
  return 1 / temperature;
}

function checkLogitsAndTargets(kernel: string, logits: GpuArray, targets: GpuArray): [number, number] {
  expectDType(kernel, 'logits', logits, 'f32');
  expectShape(kernel, 'logits', logits, [null, null]);
  const [n, v] = logits.shape as [number, number];
  if (v < 1 && n > 0) throw new ArgumentError(kernel, 'logits', `expected shape [N, V] with V ≥ 1, got [${n}, ${v}]`);
  expectDType(kernel, 'targets', targets, 'i32');
  expectShape(kernel, 'targets', targets, [n]);
  return [n, v];
}

/**
 * log p(target), the log-sum-exp and optionally the entropy of softmax(logits / T) for each row of
 * logits [N, V] f32 with target ids [N] i32, fused in one pass over each row.
 */
export function tokenLogProbs(rt: Runtime, logits: GpuArray, targets: GpuArray, options: TokenLogProbsOptions = {}): TokenLogProbs {
  const [n, v] = checkLogitsAndTargets(FORWARD, logits, targets);
  const invT = checkTemperature(FORWARD, options.temperature ?? 1);
  const withEntropy = options.entropy ?? false;
  const chunks = planRowChunks(FORWARD, n, v, rt.limits, options.chunkRows);
  const logp = rt.empty([n]);
  const lse = rt.empty([n]);
  const entropy = withEntropy ? rt.empty([n]) : undefined;
  const targetStatus = rt.zeros([1], 'u32');
  const variant = logProbVariant(rt, chunks[0]?.rows ?? 0, v);
  const program = logProbForwardProgram(variant, withEntropy);
  for (const chunk of chunks) {
    const vec = (a: GpuArray) => windowRange(a, chunk.vector);
    rt.dispatch(program, {
      bindings: [
        windowRange(logits, chunk.matrix),
        vec(targets),
        vec(logp),
        vec(lse),
        ...(entropy ? [vec(entropy)] : []),
        targetStatus,
      ],
      uniforms: chunkUniforms(chunk, v, { invT, negInf: -Infinity, nan: NaN }),
      workgroups: workgroupsFor(rt, variant, chunk.rows),
    });
  }
  return {
    logp,
    lse,
    ...(entropy ? { entropy } : {}),
    targetStatus,
    check: () => checkTargetStatus(rt, targetStatus, targets, v),
    dispose: () => {
      for (const a of [logp, lse, entropy, targetStatus]) if (a && !a.isDisposed) a.dispose();
    },
  };
}

function chunkUniforms(chunk: RowChunk, vocab: number, extra: Record<string, number>): Record<string, number> {
  return { rows: chunk.rows, vocab, xBase: chunk.matrix.base, rBase: chunk.vector.base, row0: chunk.row0, ...extra };
}

async function checkTargetStatus(rt: Runtime, status: GpuArray, targets: GpuArray, vocab: number): Promise<void> {
  const word = (await rt.read(status))[0]!;
  if (word === 0) return;
  const row = 0xffffffff - word;
  // The id itself is only known while the targets are alive.
  const id = targets.isDisposed ? 'a target id' : `target id ${(await rt.read({ array: targets, byteOffset: row * 4, byteLength: 4 }))[0]},`;
  throw new ArgumentError(FORWARD, 'targets', `row ${row} has ${id} outside the vocabulary [0, ${vocab})`);
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

export interface TokenLogProbsBackwardOptions {
  /** The temperature of the forward. Default 1. */
  temperature?: number;
  /** Upstream gradient of the entropy, [N]. */
  gEntropy?: GpuArray;
  /**
   * The forward's entropy output, [N]. With gEntropy it saves the backward a second read of each
   * row; without it the entropy is recomputed in the kernel.
   */
  entropy?: GpuArray;
  /** Write d logits over the logits (llm.c style) instead of a new [N, V] array; returns logits. */
  inPlace?: boolean;
  chunkRows?: number;
}

/**
 * d logits [N, V] of Σ gLogp·logp (+ Σ gEntropy·entropy), given the forward's lse:
 * (gLogp·(1[j = target] − p_j) − gEntropy·p_j·(log p_j + entropy)) / T, computed without storing p.
 */
export function tokenLogProbsBackward(
  rt: Runtime,
  logits: GpuArray,
  targets: GpuArray,
  lse: GpuArray,
  gLogp: GpuArray,
  options: TokenLogProbsBackwardOptions = {},
): GpuArray {
  const [n, v] = checkLogitsAndTargets(BACKWARD, logits, targets);
  const invT = checkTemperature(BACKWARD, options.temperature ?? 1);
  const vectors: [string, GpuArray | undefined][] = [
    ['lse', lse],
    ['gLogp', gLogp],
    ['options.gEntropy', options.gEntropy],
    ['options.entropy', options.entropy],
  ];
  for (const [name, a] of vectors) {
    if (!a) continue;
    expectDType(BACKWARD, name, a, 'f32');
    expectShape(BACKWARD, name, a, [n]);
  }
  const entropyMode: EntropyGradientMode = !options.gEntropy ? 'none' : options.entropy ? 'given' : 'recompute';
  const inPlace = options.inPlace ?? false;
  const chunks = planRowChunks(BACKWARD, n, v, rt.limits, options.chunkRows);
  const dLogits = inPlace ? logits : rt.empty([n, v]);
  const variant = logProbVariant(rt, chunks[0]?.rows ?? 0, v);
  const program = logProbBackwardProgram(variant, entropyMode, inPlace);
  for (const chunk of chunks) {
    const vec = (a: GpuArray) => windowRange(a, chunk.vector);
    rt.dispatch(program, {
      bindings: [
        windowRange(logits, chunk.matrix),
        vec(targets),
        vec(lse),
        vec(gLogp),
        ...(entropyMode !== 'none' ? [vec(options.gEntropy!)] : []),
        ...(entropyMode === 'given' ? [vec(options.entropy!)] : []),
        ...(inPlace ? [] : [windowRange(dLogits, chunk.matrix)]),
      ],
      uniforms: chunkUniforms(chunk, v, { invT, nan: NaN, trustBelow: getFlag<number>('logprob.trustLseBelow', LSE_TRUST_BELOW) }),
      workgroups: workgroupsFor(rt, variant, chunk.rows),
    });
  }
  return dLogits;
}
