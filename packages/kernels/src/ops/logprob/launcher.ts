// logprob: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import type { GpuArray } from '../../runtime/array.js';
import type { ArrayRange, Runtime } from '../../runtime/runtime.js';
import { ArgumentError } from '../../runtime/errors.js';
import { getFlag } from '../../runtime/flags.js';
import { reduceVariant } from '../shared/workgroup-reduce.js';
import { expectDType, expectShape } from '../validate.js';
import { BACKWARD, type EntropyGradientMode, FORWARD, logProbBackwardProgram, logProbForwardProgram, type LogProbLayout, type LogProbVariant } from './program.js';

export interface BindingLimits {
  maxStorageBufferBindingSize: number;
  minStorageBufferOffsetAlignment: number;
}

/** A window of 4-byte elements: bind [byteOffset, byteOffset + byteLength); element `first` sits at index `base`. */
export interface ElementWindow {
  byteOffset: number;
  byteLength: number;
  base: number;
}

export function elementWindow(first: number, count: number, alignment: number): ElementWindow {
  const startBytes = first * 4;
  const byteOffset = Math.floor(startBytes / alignment) * alignment;
  const base = (startBytes - byteOffset) / 4;
  return { byteOffset, byteLength: (base + count) * 4, base };
}

export function windowRange(array: GpuArray, w: ElementWindow): ArrayRange {
  return { array, byteOffset: w.byteOffset, byteLength: w.byteLength };
}

export interface RowChunk {
  /** First row of the chunk. */
  row0: number;
  rows: number;
  /** Window over the [N, V] arrays (logits, dLogits). */
  matrix: ElementWindow;
  /** Window over the [N] arrays (targets, logp, lse, …). */
  vector: ElementWindow;
}

/**
 * The largest number of rows of V f32 values one chunk may hold so that every window fits in one
 * binding (including the up to alignment − 4 bytes a window starts before its first element).
 */
export function maxChunkRows(kernel: string, vocab: number, limits: BindingLimits): number {
  const room = limits.maxStorageBufferBindingSize - limits.minStorageBufferOffsetAlignment;
  const rows = Math.floor(room / (4 * vocab));
  if (rows < 1) {
    throw new ArgumentError(
      kernel,
      'logits',
      `one row of V = ${vocab} f32 values (${4 * vocab} bytes) does not fit in one binding ` +
        `(maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize} bytes); split the vocabulary`,
    );
  }
  return Math.min(rows, Math.floor(room / 4));
}

/**
 * The chunks covering rows [0, n) of an [n, vocab] matrix. `forcedRows` (the chunkRows option, or
 * the flag 'logprob.chunkRows' when the option is absent; 0 = automatic) caps the chunk size so
 * tests can exercise the chunked path on small inputs.
 */
export function planRowChunks(kernel: string, n: number, vocab: number, limits: BindingLimits, forcedRows?: number): RowChunk[] {
  const forced = forcedRows ?? getFlag<number>('logprob.chunkRows', 0);
  if (!Number.isInteger(forced) || forced < 0) throw new ArgumentError(kernel, 'chunkRows', `must be a positive integer, got ${forced}`);
  let rows = maxChunkRows(kernel, vocab, limits);
  if (forced > 0) rows = Math.min(rows, forced);
  const align = limits.minStorageBufferOffsetAlignment;
  const chunks: RowChunk[] = [];
  for (let row0 = 0; row0 < n; row0 += rows) {
    const count = Math.min(rows, n - row0);
    chunks.push({
      row0,
      rows: count,
      matrix: elementWindow(row0 * vocab, count * vocab, align),
      vector: elementWindow(row0, count, align),
    });
  }
  return chunks;
}

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

export function logProbVariant(rt: Runtime, rows: number, vocab: number): LogProbVariant {
  const layout = logProbLayout(rt, rows, vocab);
  return { layout, reduce: reduceVariant(rt), workgroup: logProbWorkgroupSize(rt, vocab), width: logProbWidth(vocab) };
}

/** Workgroups for a chunk of `rows` rows. */
function workgroupsFor(rt: Runtime, v: LogProbVariant, rows: number): [number, number, number] {
  return rt.grid(v.layout === 'lane' ? Math.ceil(rows / v.workgroup) : rows);
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
