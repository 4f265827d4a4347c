// Token log-prob gathering, forward + backward (logp and d logits for an upstream gLogp), against
//  - 'unfused (softmax family)': the project's own composition, log-softmax materialised as [N, V]
//    (ops/softmax logSoftmax), a gather, and the backward (scatter of gLogp into a zeroed [N, V]
//    array, then ops/softmax logSoftmaxBackward), per row chunk since those kernels bind whole arrays;
//  - 'unfused (same specialisation)': the same composition with log-softmax kernels written here
//    with exactly our specialisations (layout, workgroup size, vec4 loads, online max/sum), so its
//    ratio isolates the fusion itself;
//  - 'tfjs-webgpu': tf.logSoftmax + gather + tf.valueAndGrad on the same Dawn device, fed in row
//    chunks that fit tfjs's bindings.
// `extra` records the peak pool bytes each side allocates beyond its inputs (ours: O(N) plus the
// [N, V] d logits; unfused: several [N, V] intermediates) and the same for ours in place.
import {
  planLogProbChunks,
  reduceArgs,
  reduceBuiltins,
  reduceFeatures,
  logProbVariant,
  logSoftmax,
  logSoftmaxBackward,
  tokenLogProbs,
  tokenLogProbsBackward,
  workgroupReduce,
  type GpuArray,
  type KernelProgram,
  type ReduceVariant,
  type Runtime,
} from '../src/index.js';
import { SeededRandom } from '../src/testing/index.js';
import type { BenchCase, BenchContext } from './harness.js';

interface BaselineVariant {
  lane: boolean;
  reduce: ReduceVariant;
  wg: number;
  width: 1 | 4;
}

/** The same specialisation choices as ours: layout and workgroup size per device, vec4 when V % 4 = 0. */
function baselineVariant(rt: Runtime, rows: number, vocab: number): BaselineVariant {
  const v = logProbVariant(rt, rows, vocab);
  return { lane: v.layout === 'lane', reduce: v.reduce, wg: v.workgroup, width: v.width };
}

/** WGSL pieces per layout: one workgroup per row (reductions) or one invocation per row (none). */
function baselineLayout(b: BaselineVariant) {
  return {
    key: `${b.lane ? 'lane' : b.reduce}:${b.wg}:${b.width}`,
    features: b.lane ? [] : reduceFeatures(b.reduce),
    builtins: `@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${b.lane ? '@builtin(local_invocation_index) lid: u32' : reduceBuiltins(b.reduce)}`,
    row: b.lane ? 'grid_invocation(wid, nwg, lid)' : 'grid_workgroup(wid, nwg)',
    loop: b.lane ? 'for (var c = 0u; c < count; c++)' : 'for (var c = lid; c < count; c += WG_X)',
    max: (e: string) => (b.lane ? e : `wgMax(${e}, ${reduceArgs(b.reduce)})`),
    sum: (e: string) => (b.lane ? e : `wgSum(${e}, ${reduceArgs(b.reduce)})`),
    reducers: (ops: ('max' | 'sum')[]) =>
      b.lane ? '' : ops.map((op) => workgroupReduce(op === 'max' ? 'wgMax' : 'wgSum', op, b.wg, b.reduce)).join('\n'),
  };
}

const hsum = (w: 1 | 4, e: string) => (w === 4 ? `dot(${e}, vec4<f32>(1.0))` : e);

function unfusedLogSoftmaxProgram(b: BaselineVariant): KernelProgram {
  const L = baselineLayout(b);
  const T = b.width === 4 ? 'vec4<f32>' : 'f32';
  const top = b.width === 4 ? 'max(max(v.x, v.y), max(v.z, v.w))' : 'v';
  return {
    name: 'unfused-log-softmax',
    variant: L.key,
    workgroupSize: [b.wg],
    features: L.features,
    uniforms: [{ name: 'rows', type: 'u32' }, { name: 'vocab', type: 'u32' }, { name: 'base', type: 'u32' }],
    bindings: [
      { name: 'x', type: T, access: 'read' },
      { name: 'y', type: T, access: 'read_write' },
    ],
    code: /* wgsl */ `
${L.reducers(['max', 'sum'])}
@compute @workgroup_size(WG_X)
fn main(${L.builtins}) {
  let row = ${L.row};
  if (row >= params.rows) { return; }
  let start = (params.base + row * params.vocab) / ${b.width}u;
  let count = params.vocab / ${b.width}u;
  var m = -3.402823466e+38;
  var s = 0.0;
  ${L.loop} {
    let v = x[start + c];
    let t = ${top};
    if (t > m) { s = s * exp(m - t); m = t; }
    s += ${hsum(b.width, `exp(v - ${T}(m))`)};
  }
  let rowMax = ${L.max('m')};
  let lse = rowMax + log(${L.sum('s * exp(m - rowMax)')});
  ${L.loop} { y[start + c] = x[start + c] - ${T}(lse); }
}`,
  };
}

function unfusedLogSoftmaxBackwardProgram(b: BaselineVariant): KernelProgram {
  const L = baselineLayout(b);
  const T = b.width === 4 ? 'vec4<f32>' : 'f32';
  return {
    name: 'unfused-log-softmax-backward',
    variant: L.key,
    workgroupSize: [b.wg],
    features: L.features,
    uniforms: [{ name: 'rows', type: 'u32' }, { name: 'vocab', type: 'u32' }, { name: 'base', type: 'u32' }],
    bindings: [
      { name: 'y', type: T, access: 'read' },
      { name: 'dy', type: T, access: 'read' },
      { name: 'dx', type: T, access: 'read_write' },
    ],
    code: /* wgsl */ `
${L.reducers(['sum'])}
@compute @workgroup_size(WG_X)
fn main(${L.builtins}) {
  let row = ${L.row};
  if (row >= params.rows) { return; }
  let start = (params.base + row * params.vocab) / ${b.width}u;
  let count = params.vocab / ${b.width}u;
  var s = 0.0;
  ${L.loop} { s += ${hsum(b.width, 'dy[start + c]')}; }
  let total = ${L.sum('s')};
  ${L.loop} { dx[start + c] = dy[start + c] - exp(y[start + c]) * total; }
}`,
  };
}

/** out[r] = y[r, t[r]] (gather) or dy[r, t[r]] = g[r] (its backward, a scatter into zeros). */
function gatherProgram(direction: 'gather' | 'scatter'): KernelProgram {
  return {
    name: `unfused-${direction}`,
    variant: '',
    workgroupSize: [64],
    uniforms: [{ name: 'rows', type: 'u32' }, { name: 'vocab', type: 'u32' }, { name: 'base', type: 'u32' }, { name: 'rBase', type: 'u32' }],
    bindings: [
      { name: 'matrix', type: 'f32', access: direction === 'gather' ? 'read' : 'read_write' },
      { name: 'targets', type: 'i32', access: 'read' },
      { name: 'vec', type: 'f32', access: direction === 'gather' ? 'read_write' : 'read' },
    ],
    code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= params.rows) { return; }
  let at = params.base + row * params.vocab + u32(targets[params.rBase + row]);
  ${direction === 'gather' ? 'vec[params.rBase + row] = matrix[at];' : 'matrix[at] = vec[params.rBase + row];'}
}`,
  };
}

/** logp = gather(logSoftmax(x)); dx = logSoftmaxBackward(scatter(gLogp)). Returns [logp, dx]. */
export function unfusedForwardBackward(rt: Runtime, x: GpuArray, targets: GpuArray, gLogp: GpuArray): GpuArray[] {
  const [n, v] = x.shape as [number, number];
  const chunks = planLogProbChunks('unfused', n, v, rt.limits);
  const variant = baselineVariant(rt, chunks[0]?.rows ?? 0, v);
  const groups = (rows: number) => rt.grid(variant.lane ? Math.ceil(rows / variant.wg) : rows);
  const y = rt.empty([n, v]);
  const logp = rt.empty([n]);
  const dy = rt.zeros([n, v]);
  const dx = rt.empty([n, v]);
  const range = (a: GpuArray, w: { byteOffset: number; byteLength: number }) => ({ array: a, byteOffset: w.byteOffset, byteLength: w.byteLength });
  for (const c of chunks) {
    const u = { rows: c.rows, vocab: v, base: c.matrix.base };
    rt.dispatch(unfusedLogSoftmaxProgram(variant), { bindings: [range(x, c.matrix), range(y, c.matrix)], uniforms: u, workgroups: groups(c.rows) });
    const g = { bindings: [range(y, c.matrix), range(targets, c.vector), range(logp, c.vector)], uniforms: { ...u, rBase: c.vector.base }, workgroups: [Math.ceil(c.rows / 64)] as [number] };
    rt.dispatch(gatherProgram('gather'), g);
  }
  for (const c of chunks) {
    const u = { rows: c.rows, vocab: v, base: c.matrix.base };
    rt.dispatch(gatherProgram('scatter'), {
      bindings: [range(dy, c.matrix), range(targets, c.vector), range(gLogp, c.vector)],
      uniforms: { ...u, rBase: c.vector.base },
      workgroups: [Math.ceil(c.rows / 64)],
    });
    rt.dispatch(unfusedLogSoftmaxBackwardProgram(variant), {
      bindings: [range(y, c.matrix), range(dy, c.matrix), range(dx, c.matrix)],
      uniforms: u,
      workgroups: groups(c.rows),
    });
  }
  y.dispose();
  dy.dispose();
  return [logp, dx];
}

/** Row chunks of the inputs as separate arrays, for kernels that bind whole arrays (the softmax family's). */
interface InputChunk {
  x: GpuArray;
  targets: GpuArray;
  gLogp: GpuArray;
}

export function uploadChunks(rt: Runtime, logits: Float32Array, targets: Int32Array, g: Float32Array, n: number, v: number): InputChunk[] {
  const rows = Math.max(1, Math.min(n, Math.floor(rt.limits.maxStorageBufferBindingSize / (4 * v))));
  const chunks: InputChunk[] = [];
  for (let r0 = 0; r0 < n; r0 += rows) {
    const r1 = Math.min(n, r0 + rows);
    chunks.push({
      x: rt.upload(logits.subarray(r0 * v, r1 * v), [r1 - r0, v]),
      targets: rt.upload(targets.subarray(r0, r1), [r1 - r0], 'i32'),
      gLogp: rt.upload(g.subarray(r0, r1), [r1 - r0]),
    });
  }
  return chunks;
}

/**
 * The project's own unfused composition: the softmax family's logSoftmax and logSoftmaxBackward
 * (ops/softmax) with a gather and a scatter, per row chunk (those kernels bind whole arrays).
 */
export function softmaxFamilyForwardBackward(rt: Runtime, chunks: InputChunk[]): GpuArray[] {
  const outputs: GpuArray[] = [];
  for (const c of chunks) {
    const [n, v] = c.x.shape as [number, number];
    const u = { rows: n, vocab: v, base: 0, rBase: 0 };
    const y = logSoftmax(rt, c.x);
    const logp = rt.empty([n]);
    rt.dispatch(gatherProgram('gather'), { bindings: [y, c.targets, logp], uniforms: u, workgroups: [Math.ceil(n / 64)] });
    const dy = rt.zeros([n, v]);
    rt.dispatch(gatherProgram('scatter'), { bindings: [dy, c.targets, c.gLogp], uniforms: u, workgroups: [Math.ceil(n / 64)] });
    const dx = logSoftmaxBackward(rt, y, dy);
    y.dispose();
    dy.dispose();
    outputs.push(logp, dx);
  }
  return outputs;
}

// ---------------------------------------------------------------- cases

/** Peak pool bytes allocated by one run of fn beyond what was live before it (outputs included). */
async function peakExtraBytes(rt: Runtime, fn: () => GpuArray[]): Promise<number> {
  await rt.sync();
  const before = rt.memory().liveBytes;
  rt.pool.resetPeak();
  const outputs = fn();
  await rt.sync();
  const peak = rt.memory().peakBytes - before;
  for (const a of outputs) a.dispose();
  await rt.sync();
  return peak;
}

function mib(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 100) / 100;
}

export default async function logprobSuite(ctx: BenchContext): Promise<BenchCase[]> {
  const { rt } = ctx;
  const shapes: [number, number][] = ctx.quick ? [[256, 32768], [1024, 260]] : [[2048, 32768], [8192, 260]];
  const cases: BenchCase[] = [];
  for (const [n, v] of shapes) {
    const rng = new SeededRandom(n + v);
    const logitsHost = new Float32Array(n * v);
    for (let i = 0; i < logitsHost.length; i++) logitsHost[i] = (rng.next() - 0.5) * 16;
    const targetsHost = rng.ints(n, 0, v - 1);
    const gHost = Float32Array.from({ length: n }, () => rng.normal());
    const x = rt.upload(logitsHost, [n, v]);
    const targets = rt.upload(targetsHost, [n], 'i32');
    const gLogp = rt.upload(gHost, [n]);

    const ours = (): GpuArray[] => {
      const fwd = tokenLogProbs(rt, x, targets);
      const dx = tokenLogProbsBackward(rt, x, targets, fwd.lse, gLogp);
      return [fwd.logp, fwd.lse, fwd.targetStatus, dx];
    };
    const oursInPlace = (scratch: GpuArray): GpuArray[] => {
      const fwd = tokenLogProbs(rt, scratch, targets);
      tokenLogProbsBackward(rt, scratch, targets, fwd.lse, gLogp, { inPlace: true });
      return [fwd.logp, fwd.lse, fwd.targetStatus];
    };
    const unfused = () => unfusedForwardBackward(rt, x, targets, gLogp);
    let familyChunks: InputChunk[] = [];

    const oursPeak = await peakExtraBytes(rt, ours);
    const unfusedPeak = await peakExtraBytes(rt, unfused);
    const scratch = rt.upload(logitsHost, [n, v]);
    const inPlacePeak = await peakExtraBytes(rt, () => oursInPlace(scratch));
    scratch.dispose();
    const inputChunks = uploadChunks(rt, logitsHost, targetsHost, gHost, n, v);
    const familyPeak = await peakExtraBytes(rt, () => softmaxFamilyForwardBackward(rt, inputChunks));
    for (const c of inputChunks) for (const a of [c.x, c.targets, c.gLogp]) a.dispose();
    const outputBytes = await peakExtraBytes(rt, () => [rt.empty([n, v])]); // one [N, V] f32 array in its pool size class

    // tfjs: row chunks whose [rows, V] f32 tensors fit one binding of this device.
    const tfRows = Math.max(1, Math.min(n, Math.floor(rt.limits.maxStorageBufferBindingSize / (4 * v))));
    type Tf = Awaited<ReturnType<BenchContext['tfWebgpu']>>;
    let tf: Tf | null = null;
    type Tensor1D = import('@tensorflow/tfjs-core').Tensor1D;
    let tfInputs: { x: import('@tensorflow/tfjs-core').Tensor2D; idx: Tensor1D; tgt: Tensor1D; g: Tensor1D }[] = [];

    const run = async (fn: () => GpuArray[]) => {
      for (const a of fn()) a.dispose();
      await rt.sync();
    };
    cases.push({
      name: `logprob fwd+bwd N=${n} V=${v}`,
      params: { N: n, V: v, temperature: 1, entropy: false },
      work: n * v,
      unit: 'Melem/s',
      ours: () => run(ours),
      peers: {
        'unfused (softmax family)': {
          before: () => {
            familyChunks = uploadChunks(rt, logitsHost, targetsHost, gHost, n, v);
          },
          run: () => run(() => softmaxFamilyForwardBackward(rt, familyChunks)),
          after: () => {
            for (const c of familyChunks) for (const a of [c.x, c.targets, c.gLogp]) a.dispose();
            familyChunks = [];
          },
        },
        'unfused (same specialisation)': () => run(unfused),
        'tfjs-webgpu': {
          before: async () => {
            tf = await ctx.tfWebgpu();
            const t = tf;
            tfInputs = [];
            for (let r0 = 0; r0 < n; r0 += tfRows) {
              const rows = Math.min(tfRows, n - r0);
              const flat = Int32Array.from({ length: rows }, (_, i) => i * v + targetsHost[r0 + i]!);
              tfInputs.push({
                x: t.tensor2d(logitsHost.subarray(r0 * v, (r0 + rows) * v), [rows, v]),
                idx: t.tensor1d(flat, 'int32'),
                tgt: t.tensor1d(targetsHost.subarray(r0, r0 + rows), 'int32'),
                g: t.tensor1d(gHost.subarray(r0, r0 + rows)),
              });
            }
          },
          run: async () => {
            // tfjs-core in Node carries no gradient registry, so the backward is written out with
            // tfjs ops: d logits = g·(onehot(target) − exp(logSoftmax)).
            const t = tf!;
            const reads: Promise<unknown>[] = [];
            for (const { x: xc, idx, tgt, g } of tfInputs) {
              const [logp, dx] = t.tidy(() => {
                const ls = t.logSoftmax(xc);
                const lp = t.gather(t.reshape(ls, [-1]), idx);
                const d = t.mul(t.sub(t.oneHot(tgt, v), t.exp(ls)), t.expandDims(g, 1));
                return [lp, d];
              });
              const probe = t.slice(dx!, [0, 0], [1, 1]);
              reads.push(Promise.all([logp!.data(), probe.data()]).then(() => t.dispose([logp!, dx!, probe])));
            }
            await Promise.all(reads);
          },
          after: () => {
            for (const inp of tfInputs) tf?.dispose([inp.x, inp.idx, inp.tgt, inp.g]);
            tfInputs = [];
          },
        },
      },
      extra: () => ({
        peak_extra_mib_ours: mib(oursPeak),
        peak_extra_mib_ours_in_place: mib(inPlacePeak),
        peak_extra_mib_unfused: mib(unfusedPeak),
        peak_extra_mib_unfused_softmax_family: mib(familyPeak),
        dlogits_mib: mib(outputBytes),
        peak_extra_bytes_ours_beyond_dlogits: oursPeak - outputBytes,
      }),
      dispose: () => {
        x.dispose();
        targets.dispose();
        gLogp.dispose();
      },
    });
  }
  return cases;
}
