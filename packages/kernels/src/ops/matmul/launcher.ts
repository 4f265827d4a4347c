// matmul: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import { BYTES_PER_ELEMENT, type GpuArray } from '../../runtime/array.js';
import type { ArrayRange, Bindable, Runtime } from '../../runtime/runtime.js';
import { getFlag } from '../../runtime/flags.js';
import { ArgumentError, KernelError, shapeString } from '../../runtime/errors.js';
import { type Dim, expectDType, expectRank, expectShape } from '../validate.js';
import { type MatmulBType, type MatmulConfig, type MatmulKind, matmulProgram, type MatmulUniforms, workgroupTile } from './program.js';
import { matmulDims, type MatmulDims, type MatmulOptions } from './reference.js';

const KERNEL = 'matmul';

export interface MatmulCallOptions extends MatmulOptions {
  /** Write the result here instead of allocating: shape [M, N] or [B, M, N], f32, not an input. */
  out?: GpuArray;
  /**
   * Add the product to out's values (C = out + op(a)·op(b)) instead of overwriting them: a
   * residual or bias added in the kernel's store, no elementwise launch. Needs out.
   */
  accumulate?: boolean;
}

/** A fully resolved problem: C[s] = Σ_r op(A[s, r]) · op(B[s, r]) for s < batches, r < reduce. */
export interface MatmulProblem {
  a: GpuArray;
  b: GpuArray;
  out: GpuArray;
  M: number;
  N: number;
  K: number;
  transposeA: boolean;
  transposeB: boolean;
  batches: number;
  reduce: number;
  /** Element strides between output batches and between reduced batches (0: broadcast). */
  aBatch: number;
  bBatch: number;
  aReduce: number;
  bReduce: number;
  /** Add to C's values instead of overwriting them (every chunk and reduced batch adds). */
  accumulate?: boolean;
}

// ---------------------------------------------------------------- variant choice

/** The subgroup kernel broadcasts from lanes 0..7, so every subgroup must have at least 8 lanes. */
export function matmulSubgroupSupported(rt: Runtime): boolean {
  if (!rt.hasFeature('subgroups')) return false;
  const info = (rt.adapter as GPUAdapter & { info?: GPUAdapterInfo & { subgroupMinSize?: number } }).info;
  return (info?.subgroupMinSize ?? 0) >= 8;
}

const VARIANTS = ['auto', 'naive', 'blocked', 'subgroup'] as const;

export type MatmulVariant = (typeof VARIANTS)[number];

/** Multiply-adds (batch·M·N·K) up to which 'auto' picks the naive kernel. */
export const MATMUL_TINY_WORK = 16 * 16 * 64;

/**
 * Picks the kernel and its tile for a problem. Flags: `matmul.variant` forces a kernel
 * ('naive' | 'blocked' | 'subgroup'; default 'auto'), `matmul.vec4=false` forces scalar loads and
 * stores.
 */
export function chooseMatmulConfig(
  rt: Runtime,
  p: Pick<MatmulProblem, 'M' | 'N' | 'K' | 'transposeA' | 'transposeB'> & { batches?: number; reduce?: number; bType?: MatmulBType },
): MatmulConfig {
  const forced = getFlag<string>('matmul.variant', 'auto');
  if (!(VARIANTS as readonly string[]).includes(forced)) {
    throw new ArgumentError(KERNEL, 'matmul.variant', `flag must be one of ${VARIANTS.join(', ')}, got "${forced}"`);
  }
  const vec4 = getFlag('matmul.vec4', true);
  const subgroupOk = matmulSubgroupSupported(rt);
  let kind: MatmulKind;
  if (forced === 'auto') {
    // Up to ~16³ of work the one-output-per-invocation kernel finishes ~30 µs sooner (launch-bound);
    // from 32³ on, and at every larger size tried up to 1024³, the subgroup kernel is fastest.
    if ((p.batches ?? 1) * (p.reduce ?? 1) * p.M * p.N * p.K <= MATMUL_TINY_WORK) kind = 'naive';
    else kind = subgroupOk ? 'subgroup' : 'blocked';
  } else {
    kind = forced as MatmulKind;
    if (kind === 'subgroup' && !subgroupOk) {
      throw new KernelError(KERNEL, 'variant "subgroup" needs the subgroups feature with subgroups of at least 8 lanes, which this device lacks', 'compile');
    }
  }
  const { transposeA: tA, transposeB: tB, N, K } = p;
  const bType: MatmulBType = p.bType ?? 'f32';
  if (kind === 'naive') {
    return { kind, bType, transposeA: tA, transposeB: tB, tileM: 1, vecN: 1, unrollK: 1, chain: false, vecA: false, vecB: false, vecC: false, workgroup: [16, 16] };
  }
  // Few specialisations per kernel and transpose pair, because each pipeline costs lavapipe
  // 0.3–1 s of LLVM time on first use: an aligned one (K and N multiples of 4: vec4 loads and stores
  // wherever the layout allows) and a scalar one; the subgroup kernel has a third for a transposed B
  // with K % 4 == 0 but N not (a tied LM head over an odd vocabulary), whose vec4 loads run along k.
  // A vec4 view needs at least one whole vec4 bound, so K = 0 takes the scalar path.
  // Tiles measured on lavapipe (LP_NUM_THREADS=8, side by side in one process, 256³–1024³).
  const kAligned = vec4 && K > 0 && K % 4 === 0;
  const aligned = kAligned && N % 4 === 0;
  const base = { kind, bType, transposeA: tA, transposeB: tB, vecA: false, vecB: false, vecC: false, unrollK: 1, chain: false };
  if (kind === 'subgroup') {
    if (aligned || (kAligned && tB)) {
      // vec4 loads along k (A, and B when transposed) need k unrolled by 4; summing the 4 products
      // before the accumulator update saves lavapipe's masked register writes.
      // A 24-row tile measured best from 256³ up; at most 8 rows (decode-sized batches) an 8-row tile
      // avoids computing 16 rows of padding.
      const tileM = p.M <= 8 ? 8 : 24;
      return { ...base, tileM, vecN: 1, vecA: !tA, vecB: true, vecC: aligned, unrollK: 4, chain: true, workgroup: [32, 1] };
    }
    return { ...base, tileM: 16, vecN: 2, workgroup: [32, 1] };
  }
  // The blocked kernel loads all its rows of A itself; vec4 A loads along k (which need k unrolled)
  // measured slower than scalar ones here (register pressure), so only B along n and C are vec4.
  return { ...base, tileM: 8, vecN: 2, vecB: aligned && !tB, vecC: aligned, workgroup: [16, 4] };
}

// ---------------------------------------------------------------- dispatch

/** The largest binding a dispatch may use: the device's, or a smaller one forced by the flag `matmul.maxBindingBytes` (tests). */
function bindingLimit(rt: Runtime): number {
  const forced = getFlag<number>('matmul.maxBindingBytes', 0);
  return forced > 0 ? Math.min(forced, rt.limits.maxStorageBufferBindingSize) : rt.limits.maxStorageBufferBindingSize;
}

/** One dispatch per grid piece: grids over the per-dimension limit go in several, with workgroup offsets. */
function dispatchGrid(rt: Runtime, config: MatmulConfig, bindings: Bindable[], base: Omit<MatmulUniforms, 'xOff' | 'yOff' | 'zOff'>, groups: number[]): void {
  if (groups.some((g) => g === 0)) return;
  const program = matmulProgram(config);
  const max = rt.limits.maxComputeWorkgroupsPerDimension;
  for (let z = 0; z < groups[2]!; z += max) {
    for (let y = 0; y < groups[1]!; y += max) {
      for (let x = 0; x < groups[0]!; x += max) {
        rt.dispatch(program, {
          bindings,
          uniforms: { ...base, xOff: x, yOff: y, zOff: z },
          workgroups: [Math.min(max, groups[0]! - x), Math.min(max, groups[1]! - y), Math.min(max, groups[2]! - z)],
        });
      }
    }
  }
}

function operandBindings(config: MatmulConfig, a: Bindable, b: Bindable, out: Bindable): Bindable[] {
  const bindings: Bindable[] = [a];
  if (config.vecA) bindings.push(a);
  bindings.push(b);
  if (config.vecB) bindings.push(b);
  bindings.push(out);
  return bindings;
}

/**
 * Runs a resolved problem with the given config (exported for tests and tuning). When an operand or
 * the output is larger than one storage binding (maxStorageBufferBindingSize: 128 MiB on lavapipe,
 * less than a 152k-vocabulary LM head), the problem runs in chunks; see runChunked.
 */
export function runMatmul(rt: Runtime, p: MatmulProblem, config: MatmulConfig): void {
  const limit = bindingLimit(rt);
  if (p.a.byteLength > limit || p.b.byteLength > limit || p.out.byteLength > limit) {
    runChunked(rt, p, config, limit);
    return;
  }
  const tile = workgroupTile(config);
  const groups = [Math.ceil(p.N / tile.cols), Math.ceil(p.M / tile.rows), p.batches];
  dispatchGrid(rt, config, operandBindings(config, p.a, p.b, p.out), {
    M: p.M,
    N: p.N,
    K: p.K,
    lda: p.transposeA ? p.M : p.K,
    ldb: p.transposeB ? p.K : p.N,
    ldc: p.N,
    aOff: 0,
    bOff: 0,
    cOff: 0,
    accumulate: p.accumulate ? 1 : 0,
    aBatch: p.aBatch,
    bBatch: p.bBatch,
    cBatch: p.M * p.N,
    aReduce: p.aReduce,
    bReduce: p.bReduce,
    reduceCount: p.reduce,
  }, groups);
}

/** Elements from the first to the last one of `outer` rows of `inner` consecutive elements, `ld` apart. */
const span = (outer: number, ld: number, inner: number) => (outer === 0 || inner === 0 ? 0 : (outer - 1) * ld + inner);

/**
 * The chunk sizes of a problem over the binding limit. Each operand is split only along its outer
 * (row) dimension as stored, so that a chunk is one contiguous window: A [M, K] by rows of M
 * (transposed, [K, M], by rows of K), B [K, N] by K (transposed, [N, K], by N), C [M, N] by M. A
 * window may start up to `alignment` bytes before its first element. Sizes are multiples of 4, so
 * every chunk keeps the vec4 alignment of the whole problem.
 */
export function matmulChunkSizes(
  p: Pick<MatmulProblem, 'M' | 'N' | 'K' | 'transposeA' | 'transposeB'> & { bBytes: number },
  limit: number,
  alignment: number,
): { mc: number; nc: number; kc: number } {
  const room = limit - alignment - 16; // a window starts up to alignment bytes early and is rounded up to whole vec4s
  const rows = (operand: string, ld: number, inner: number, bytes: number, full: number): number => {
    const fit = Math.floor((Math.floor(room / bytes) - inner) / ld) + 1;
    if (fit >= full) return full;
    const chunk = Math.floor(fit / 4) * 4;
    if (chunk < 4) {
      throw new ArgumentError(KERNEL, operand, `4 rows of ${inner} elements (${4 * inner * bytes} bytes) do not fit one storage binding (${limit} bytes)`);
    }
    return chunk;
  };
  const { M, N, K, transposeA: tA, transposeB: tB } = p;
  let mc = rows('out', N, N, 4, M);
  let nc = N;
  let kc = K;
  if (tA) kc = Math.min(kc, rows('a', M, M, 4, K));
  else mc = Math.min(mc, rows('a', K, K, 4, M));
  if (tB) nc = rows('b', K, K, p.bBytes, N);
  else kc = Math.min(kc, rows('b', N, N, p.bBytes, K));
  return { mc, nc, kc };
}

/** Binds the window of `count` elements from element `first` (a 256-byte-aligned start) and returns the first element's index in it. */
function window(array: GpuArray, first: number, count: number, alignment: number): { range: ArrayRange; base: number } {
  const bytes = BYTES_PER_ELEMENT[array.dtype];
  const startBytes = first * bytes;
  const byteOffset = Math.floor(startBytes / alignment) * alignment;
  const base = (startBytes - byteOffset) / bytes;
  // Whole vec4s where the array has them (a vec4 view of the window sees floor(length / 16) of them).
  const byteLength = Math.min(Math.ceil(((base + count) * bytes) / 16) * 16, array.byteLength - byteOffset);
  return { range: { array, byteOffset, byteLength }, base };
}

/**
 * A problem over the binding limit, one sub-problem per (output batch, reduced batch, K chunk, M
 * chunk, N chunk): each binds only the windows of A, B and C it touches and gives the kernel the
 * full matrices' row strides and its offsets inside the windows. K chunks after the first, and
 * reduced batches after the first, add to C (accumulate) instead of overwriting it.
 */
function runChunked(rt: Runtime, p: MatmulProblem, config: MatmulConfig, limit: number): void {
  const align = rt.limits.minStorageBufferOffsetAlignment;
  const { M, N, K, transposeA: tA, transposeB: tB } = p;
  const { mc, nc, kc } = matmulChunkSizes({ M, N, K, transposeA: tA, transposeB: tB, bBytes: BYTES_PER_ELEMENT[p.b.dtype] }, limit, align);
  const lda = tA ? M : K;
  const ldb = tB ? K : N;
  const tile = workgroupTile(config);
  for (let s = 0; s < p.batches; s++) {
    for (let r = 0; r < p.reduce; r++) {
      // K = 0 still runs one (empty) K chunk: it writes the zeros.
      for (let k0 = 0; k0 < K || k0 === 0; k0 += Math.max(kc, 1)) {
        const k = Math.min(kc, K - k0);
        for (let m0 = 0; m0 < M; m0 += mc) {
          const m = Math.min(mc, M - m0);
          for (let n0 = 0; n0 < N; n0 += nc) {
            const n = Math.min(nc, N - n0);
            const aFirst = s * p.aBatch + r * p.aReduce + (tA ? k0 * M + m0 : m0 * K + k0);
            const bFirst = s * p.bBatch + r * p.bReduce + (tB ? n0 * K + k0 : k0 * N + n0);
            const a = window(p.a, aFirst, tA ? span(k, lda, m) : span(m, lda, k), align);
            const b = window(p.b, bFirst, tB ? span(n, ldb, k) : span(k, ldb, n), align);
            const c = window(p.out, s * M * N + m0 * N + n0, span(m, N, n), align);
            dispatchGrid(rt, config, operandBindings(config, a.range, b.range, c.range), {
              M: m,
              N: n,
              K: k,
              lda,
              ldb,
              ldc: N,
              aOff: a.base,
              bOff: b.base,
              cOff: c.base,
              accumulate: p.accumulate || r > 0 || k0 > 0 ? 1 : 0,
              aBatch: 0,
              bBatch: 0,
              cBatch: 0,
              aReduce: 0,
              bReduce: 0,
              reduceCount: 1,
            }, [Math.ceil(n / tile.cols), Math.ceil(m / tile.rows), 1]);
          }
        }
        if (K === 0) break;
      }
    }
  }
}

// ---------------------------------------------------------------- validation

function expectOperand(name: string, x: GpuArray, ...dtypes: ('f32' | 'f16')[]): void {
  expectDType(KERNEL, name, x, ...dtypes);
  expectRank(KERNEL, name, x, 2, 3);
}

/** Validates a and b against each other and returns the problem's dimensions. b may be f16 (a weight kept in half precision). */
function resolveDims(a: GpuArray, b: GpuArray, opts: MatmulOptions): MatmulDims {
  expectOperand('a', a, 'f32');
  expectOperand('b', b, 'f32', 'f16');
  const d = matmulDims(a.shape, b.shape, opts);
  const bInner = opts.transposeB ? b.shape[b.rank - 1]! : b.shape[b.rank - 2]!;
  const aBatch = a.rank === 3 ? a.shape[0]! : 1;
  const bBatch = b.rank === 3 ? b.shape[0]! : 1;
  const batchOk = aBatch === bBatch || aBatch === 1 || bBatch === 1;
  if (bInner !== d.K || !batchOk) {
    const batchDim: Dim[] = b.rank === 3 ? [batchOk ? null : aBatch] : [];
    const want: Dim[] = [...batchDim, ...(opts.transposeB ? [null, d.K] : [d.K, null])];
    const shown = `[${want.map((w) => (w === null ? '*' : String(w))).join(', ')}]`;
    const layout = opts.transposeB ? 'transposed b is [.., N, K]' : 'b is [.., K, N]';
    const why =
      bInner !== d.K
        ? `inner dimensions disagree: op(a) is [${d.M}, ${d.K}] (a ${shapeString(a.shape)}${opts.transposeA ? ', transposed' : ''}), so op(b) needs ${d.K} rows`
        : `batch sizes disagree: a has ${aBatch}, b has ${bBatch} (they must match, or one must be 1)`;
    throw new ArgumentError(KERNEL, 'b', `expected shape ${shown} (${layout}), got ${shapeString(b.shape)}: ${why}`);
  }
  return d;
}

function checkOut(out: GpuArray, shape: readonly number[], inputs: readonly GpuArray[]): void {
  expectDType(KERNEL, 'out', out, 'f32');
  expectShape(KERNEL, 'out', out, shape);
  if (inputs.some((x) => x.buffer === out.buffer)) {
    throw new ArgumentError(KERNEL, 'out', 'must not share a buffer with an input (the kernel reads the inputs while it writes out)');
  }
}

// ---------------------------------------------------------------- public launchers

/**
 * C = op(a) · op(b) in float32, where op(x) is x or xᵀ (transposeA / transposeB); with
 * accumulate, C = out + op(a) · op(b).
 * a: [M, K] or [B, M, K] ([.., K, M] when transposeA); b: [K, N] or [B, K, N] ([.., N, K] when
 * transposeB). A batch of 1 (or a rank-2 operand) broadcasts over the other's batch.
 * Returns [M, N], or [B, M, N] when either operand is rank 3.
 */
export function matmul(rt: Runtime, a: GpuArray, b: GpuArray, options: MatmulCallOptions = {}): GpuArray {
  const d = resolveDims(a, b, options);
  if (options.accumulate && !options.out) throw new ArgumentError(KERNEL, 'accumulate', 'needs out (the values the product is added to)');
  const out = options.out ?? rt.empty(d.outShape);
  if (options.out) checkOut(options.out, d.outShape, [a, b]);
  const p: MatmulProblem = {
    a,
    b,
    out,
    M: d.M,
    N: d.N,
    K: d.K,
    transposeA: !!options.transposeA,
    transposeB: !!options.transposeB,
    batches: d.batch,
    reduce: 1,
    aBatch: d.aBatched ? d.M * d.K : 0,
    bBatch: d.bBatched ? d.K * d.N : 0,
    aReduce: 0,
    bReduce: 0,
    accumulate: !!options.accumulate,
  };
  runMatmul(rt, p, chooseMatmulConfig(rt, { ...p, bType: b.dtype === 'f16' ? 'f16' : 'f32' }));
  return out;
}

/**
 * Gradients of C = op(a) · op(b): dA = dC · op(b)ᵀ and dB = op(a)ᵀ · dC, laid out like a and b
 * (so a transposed input gets a transposed gradient). An operand broadcast over the batch gets the
 * sum over the batch, computed inside the kernel (no per-batch temporaries).
 */
export function matmulBackward(rt: Runtime, a: GpuArray, b: GpuArray, dC: GpuArray, options: MatmulOptions = {}): { dA: GpuArray; dB: GpuArray } {
  const d = resolveDims(a, b, options);
  if (b.dtype === 'f16') {
    throw new ArgumentError(KERNEL, 'b', 'is f16 (a frozen half-precision weight); its gradient is not computed: get dA from matmul(dC, b) with transposeB flipped');
  }
  expectDType(KERNEL, 'dC', dC, 'f32');
  expectShape(KERNEL, 'dC', dC, d.outShape);
  const tA = !!options.transposeA;
  const tB = !!options.transposeB;
  const { M, N, K } = d;
  // Per output batch (operand batched) or summed over the batch (operand broadcast).
  const split = (batched: boolean, strides: { x: number; y: number }) =>
    batched
      ? { batches: d.batch, reduce: 1, aBatch: strides.x, bBatch: strides.y, aReduce: 0, bReduce: 0 }
      : { batches: 1, reduce: d.batch, aBatch: 0, bBatch: 0, aReduce: strides.x, bReduce: strides.y };
  const dCStride = M * N;
  const aStride = d.aBatched ? M * K : 0;
  const bStride = d.bBatched ? K * N : 0;

  const dA = rt.empty(a.shape);
  if (!tA) {
    // dA [M, K] = dC [M, N] · op(b)ᵀ
    runProblem(rt, { a: dC, b, out: dA, M, N: K, K: N, transposeA: false, transposeB: !tB, ...split(d.aBatched, { x: dCStride, y: bStride }) });
  } else {
    // dA [K, M] = op(b) [K, N] · dCᵀ
    runProblem(rt, { a: b, b: dC, out: dA, M: K, N: M, K: N, transposeA: tB, transposeB: true, ...split(d.aBatched, { x: bStride, y: dCStride }) });
  }
  const dB = rt.empty(b.shape);
  if (!tB) {
    // dB [K, N] = op(a)ᵀ [K, M] · dC [M, N]
    runProblem(rt, { a, b: dC, out: dB, M: K, N, K: M, transposeA: !tA, transposeB: false, ...split(d.bBatched, { x: aStride, y: dCStride }) });
  } else {
    // dB [N, K] = dCᵀ [N, M] · op(a) [M, K]
    runProblem(rt, { a: dC, b: a, out: dB, M: N, N: K, K: M, transposeA: true, transposeB: tA, ...split(d.bBatched, { x: dCStride, y: aStride }) });
  }
  return { dA, dB };
}

function runProblem(rt: Runtime, p: MatmulProblem): void {
  runMatmul(rt, p, chooseMatmulConfig(rt, p));
}
