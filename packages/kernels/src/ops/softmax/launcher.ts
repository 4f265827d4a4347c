// softmax: the typed launchers: validate the arguments, then dispatch the programs. The spec is in index.ts.
import { reduceVariant, type ReduceVariant } from '../shared/workgroup-reduce.js';
import type { Runtime } from '../../runtime/runtime.js';
import { getFlag } from '../../runtime/flags.js';
import type { GpuArray } from '../../runtime/array.js';
import { ArgumentError, shapeString } from '../../runtime/errors.js';
import { expectDType, expectShape } from '../validate.js';
import { softmaxBackwardProgram, softmaxForwardProgram, type SoftmaxKind, type SoftmaxPath, type SoftmaxWidth } from './program.js';

const THREAD_WORKGROUP = 64;

/** On GPUs, rows up to this length use the thread path (one invocation per row). */
const THREAD_PATH_MAX_COLS = 32;

/** On software devices, the thread path needs this many rows (8 SIMD vectors per thread at 8 threads). */
const THREAD_PATH_MIN_ROWS_SOFTWARE = 512;

// ---------------------------------------------------------------- launchers

interface Launch {
  path: SoftmaxPath;
  variant: ReduceVariant;
  workgroup: number;
  width: SoftmaxWidth;
  workgroups: [number, number, number];
}

function adapterInfo(rt: Runtime): { architecture?: string; subgroupMaxSize?: number } | undefined {
  return (rt.adapter as GPUAdapter & { info?: { architecture?: string; subgroupMaxSize?: number } }).info;
}

/** A CPU implementation (lavapipe): barriers cost per invocation, so workgroups stay one SIMD vector wide. */
function isSoftwareDevice(rt: Runtime): boolean {
  return adapterInfo(rt)?.architecture === 'software';
}

/**
 * The launch for a [rows, cols] problem. Flags: `softmax.path` (workgroup | thread),
 * `softmax.workgroup` (a power of two), `softmax.vec4` (false: scalar loads).
 *
 * Measured on lavapipe (LP_NUM_THREADS=8): a workgroup's barriers cost in proportion to its size
 * (one row per 256-invocation workgroup: 345 ms for 65536 short rows, against 24 ms with 8), so on
 * a software device the workgroup is one SIMD vector (the subgroup size) and rows of up to 4096
 * columns go to the thread path when there are enough rows to keep every thread busy. GPUs get
 * 64 invocations per row (256 from 4096 columns) and the thread path only for rows of ≤ 32.
 */
function plan(rt: Runtime, rows: number, cols: number): Launch {
  const forced = getFlag<string>('softmax.path', 'auto');
  if (forced !== 'auto' && forced !== 'workgroup' && forced !== 'thread') {
    throw new Error(`flag softmax.path must be auto, workgroup or thread, got "${forced}"`);
  }
  const software = isSoftwareDevice(rt);
  const threadPath = software ? rows >= THREAD_PATH_MIN_ROWS_SOFTWARE && cols <= 4096 : cols <= THREAD_PATH_MAX_COLS;
  const path: SoftmaxPath = forced !== 'auto' ? forced : threadPath ? 'thread' : 'workgroup';
  const width: SoftmaxWidth = cols % 4 === 0 && getFlag<boolean>('softmax.vec4', true) ? 4 : 1;
  if (path === 'thread') {
    return { path, variant: 'shared', workgroup: THREAD_WORKGROUP, width, workgroups: rt.grid(Math.ceil(rows / THREAD_WORKGROUP)) };
  }
  let workgroup = getFlag<number>('softmax.workgroup', 0);
  if (workgroup !== 0) {
    if (!Number.isInteger(workgroup) || workgroup < 1 || (workgroup & (workgroup - 1)) !== 0) {
      throw new Error(`flag softmax.workgroup must be a power of two, got ${workgroup}`);
    }
  } else if (software) {
    const sg = adapterInfo(rt)?.subgroupMaxSize ?? 8;
    workgroup = Math.max(8, (sg & (sg - 1)) === 0 ? sg : 8);
  } else {
    workgroup = cols >= 4096 ? 256 : 64;
  }
  return { path, variant: reduceVariant(rt), workgroup, width, workgroups: rt.grid(rows) };
}

function rowsOf(kernel: string, x: GpuArray): { rows: number; cols: number } {
  if (x.rank < 1) throw new ArgumentError(kernel, 'x', `needs at least one axis (rows over the last), got shape ${shapeString(x.shape)}`);
  const cols = x.shape[x.rank - 1]!;
  return { rows: cols === 0 ? 0 : x.size / cols, cols };
}

function forward(rt: Runtime, kind: SoftmaxKind, x: GpuArray): GpuArray {
  expectDType(kind, 'x', x, 'f32');
  const { rows, cols } = rowsOf(kind, x);
  const y = rt.empty(x.shape);
  if (rows === 0 || cols === 0) return y;
  const p = plan(rt, rows, cols);
  rt.dispatch(softmaxForwardProgram(kind, p.path, p.variant, p.workgroup, p.width), {
    bindings: [x, y],
    uniforms: { rows, len: cols / p.width },
    workgroups: p.workgroups,
  });
  return y;
}

function backward(rt: Runtime, kind: SoftmaxKind, y: GpuArray, dy: GpuArray): GpuArray {
  const kernel = `${kind}-backward`;
  expectDType(kernel, 'y', y, 'f32');
  expectDType(kernel, 'dy', dy, 'f32');
  expectShape(kernel, 'dy', dy, y.shape);
  const { rows, cols } = rowsOf(kernel, y);
  const dx = rt.empty(y.shape);
  if (rows === 0 || cols === 0) return dx;
  const p = plan(rt, rows, cols);
  rt.dispatch(softmaxBackwardProgram(kind, p.path, p.variant, p.workgroup, p.width), {
    bindings: [y, dy, dx],
    uniforms: { rows, len: cols / p.width },
    workgroups: p.workgroups,
  });
  return dx;
}

/** softmax over the last axis; a fully masked row (all −inf) gives zeros. */
export function softmax(rt: Runtime, x: GpuArray): GpuArray {
  return forward(rt, 'softmax', x);
}

/** log-softmax over the last axis; a fully masked row (all −inf) gives −inf everywhere. */
export function logSoftmax(rt: Runtime, x: GpuArray): GpuArray {
  return forward(rt, 'logSoftmax', x);
}

/** dx = y·(dy − Σ y·dy) per row, from the forward output y. */
export function softmaxBackward(rt: Runtime, y: GpuArray, dy: GpuArray): GpuArray {
  return backward(rt, 'softmax', y, dy);
}

/** dx = dy − exp(y)·Σ dy per row, from the forward output y; zeros on fully masked rows. */
export function logSoftmaxBackward(rt: Runtime, y: GpuArray, dy: GpuArray): GpuArray {
  return backward(rt, 'logSoftmax', y, dy);
}
