// The one generator behind every elementwise kernel: N inputs, M outputs, each output a WGSL
// expression of the inputs (taken from the op table). Two layouts:
//
// - 'contiguous': every operand has the output's shape, so element i of each is element i. The
//   kernel loads `vec4<f32>` when the element count is a multiple of 4 (register blocking: lavapipe
//   runs 4 lanes' worth of work per load) and f32 otherwise; each invocation handles `perInvocation`
//   elements strided by the workgroup size, so neighbouring invocations touch neighbouring words.
// - 'broadcast': the output index is decomposed into coordinates of a rank-r shape (r ≤ 6, after
//   merging dimensions) and each input is read through its own strides (0 on repeated dims).
//   Shapes and strides are uniforms: one pipeline per op × rank, never per shape. When the
//   innermost dimension is a multiple of 4 it runs on vec4s too (one decomposition per 4 outputs;
//   a [4096, 1024] + [1024] add went from 55 ms to 14 ms on lavapipe).
//
// Both use a flattened 1-D grid (`rt.grid` folds it into 2-D above 65535 workgroups).
import type { Runtime } from '../../runtime/runtime.js';
import type { GpuArray } from '../../runtime/array.js';
import type { KernelProgram, StorageType, UniformDecl } from '../../runtime/program.js';
import { getFlag } from '../../runtime/flags.js';
import { EW_WGSL_LIBRARY } from './ops.js';
import { MAX_BROADCAST_RANK, broadcastStrides, coalesce, sameShape } from './broadcast.js';

export const ELEMENTWISE_WORKGROUP = 256;

export interface MapInput {
  /** Name the expressions use (x, a, b, dy, cond …). */
  readonly name: string;
  readonly dtype: 'f32' | 'i32' | 'u32';
  /** 'bool': loaded as `value != 0` (the condition of where); otherwise converted to T. */
  readonly as?: 'value' | 'bool';
}

export interface MapOutput {
  readonly name: string;
  /** WGSL expression over the inputs, P0…, and the names bound in `lets`. */
  readonly expr: string;
}

export interface MapSpec {
  /** Kernel name in errors and profiles (the op name, e.g. "add", "gelu-backward"). */
  readonly kernel: string;
  readonly inputs: readonly MapInput[];
  readonly outputs: readonly MapOutput[];
  /** Number of f32 scalar parameters P0, P1 … (uniforms p0, p1 …). */
  readonly params: number;
  /** WGSL statements run before the outputs, e.g. `let y = exp(x);`. */
  readonly lets?: string;
}

export type MapLayout =
  | { readonly kind: 'contiguous'; readonly vec4: boolean }
  /**
   * Strided reads of every input through a rank-r shape (after merging dimensions). With `vec4`
   * (one flag per input; the innermost dimension a multiple of 4) each invocation computes four
   * neighbouring outputs: inputs flagged true are read as vec4 (stride 1 along the innermost
   * dimension), the others once and splatted (stride 0 there, e.g. a [rows, 1] operand).
   */
  | { readonly kind: 'broadcast'; readonly rank: number; readonly vec4?: readonly boolean[] };

/**
 * Elements (or vec4s) per invocation, from a sweep on lavapipe (LP_NUM_THREADS=8, 4M-element add:
 * 2 → 7.6 ms, 4 → 5.5 ms, 8 → 3.3 ms, 16 → 4.0 ms; the strided broadcast path, which divides per
 * element, liked 16); the flag elementwise.perInvocation overrides. The count is a uniform, not a
 * constant: a constant trip count gets the loop unrolled, which made cold pipeline compiles 2–4×
 * slower for no speed.
 */
const PER_INVOCATION = { vec4: 8, scalar: 8, broadcast: 16 } as const;

function perInvocation(layout: MapLayout): number {
  const forced = getFlag<number>('elementwise.perInvocation', 0);
  if (forced > 0) return forced;
  if (layout.kind === 'broadcast') return layout.vec4 ? PER_INVOCATION.vec4 : PER_INVOCATION.broadcast;
  return layout.vec4 ? PER_INVOCATION.vec4 : PER_INVOCATION.scalar;
}

function layoutKey(layout: MapLayout): string {
  if (layout.kind === 'contiguous') return layout.vec4 ? 'vec4' : 'scalar';
  return `bcast${layout.rank}${layout.vec4 ? `v${layout.vec4.map((v) => (v ? 1 : 0)).join('')}` : ''}`;
}

/** FNV-1a of the spec, so the pipeline-cache key changes whenever the generated WGSL does. */
function specHash(spec: MapSpec): string {
  const text = JSON.stringify([spec.inputs, spec.outputs, spec.params, spec.lets ?? '']);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

const programCache = new Map<string, KernelProgram>();

/** The program for a spec and layout (cached: building the WGSL string is not free per dispatch). */
export function mapProgram(spec: MapSpec, layout: MapLayout): KernelProgram {
  const key = `${spec.kernel}|${layoutKey(layout)}|${specHash(spec)}`;
  let program = programCache.get(key);
  if (!program) {
    program = buildMapProgram(spec, layout);
    programCache.set(key, program);
  }
  return program;
}

function buildMapProgram(spec: MapSpec, layout: MapLayout): KernelProgram {
  const vec4 = layout.kind === 'contiguous' ? layout.vec4 : layout.vec4 !== undefined;
  const T = vec4 ? 'vec4<f32>' : 'f32';
  const BT = vec4 ? 'vec4<bool>' : 'bool';
  // Per input: read as vec4, or as a scalar splatted to T (broadcast vec4 layout, stride 0 inputs).
  const vecInput = spec.inputs.map((_, j) => (layout.kind === 'contiguous' ? layout.vec4 : (layout.vec4?.[j] ?? false)));
  const storage = (dtype: MapInput['dtype'], wide: boolean): StorageType => (wide ? (`vec4<${dtype}>` as StorageType) : dtype);
  const uniforms: UniformDecl[] = [
    { name: 'n', type: 'u32' },
    { name: 'per', type: 'u32' },
  ];
  for (let p = 0; p < spec.params; p++) uniforms.push({ name: `p${p}`, type: 'f32' });
  const rank = layout.kind === 'broadcast' ? layout.rank : 0;
  if (layout.kind === 'broadcast') {
    if (rank < 1 || rank > MAX_BROADCAST_RANK) throw new Error(`mapProgram: rank ${rank} outside 1..${MAX_BROADCAST_RANK}`);
    for (let k = 1; k < rank; k++) uniforms.push({ name: `d${k}`, type: 'u32' });
    spec.inputs.forEach((_, j) => {
      for (let k = 0; k < rank; k++) uniforms.push({ name: `s${j}_${k}`, type: 'u32' });
    });
  }
  const load = (input: MapInput, j: number, index: string): string => {
    const raw = `${input.name}_in[${index}]`;
    const splat = vec4 && !vecInput[j];
    if (input.as === 'bool') {
      const test = input.dtype === 'f32' ? `${raw} != ${splat ? 'f32' : T}(0.0)` : `${raw} != ${input.dtype}(0)`;
      return splat ? `${BT}(${test})` : test;
    }
    return input.dtype === 'f32' && !splat ? raw : `${T}(${raw})`;
  };
  // Index of each input at output index i: decompose i innermost-first into coordinates.
  let indexing = '';
  const inputIndex: string[] = spec.inputs.map(() => 'i');
  if (layout.kind === 'broadcast') {
    const all = spec.inputs.map((_, j) => j);
    const lines: string[] = ['var rem = i;'];
    for (const j of all) lines.push(`var o${j} = 0u;`);
    for (let k = rank - 1; k >= 0; k--) {
      const coord = k === 0 ? 'rem' : `rem % params.d${k}`;
      lines.push(`{ let c = ${coord};${k > 0 ? ` rem = rem / params.d${k};` : ''} ${all.map((j) => `o${j} += c * params.s${j}_${k};`).join(' ')} }`);
    }
    indexing = lines.join('\n      ');
    for (const j of all) inputIndex[j] = `o${j}`;
  }
  const loads = spec.inputs.map((input, j) => `let ${input.name} = ${load(input, j, inputIndex[j]!)};`).join('\n      ');
  const params = Array.from({ length: spec.params }, (_, p) => `let P${p} = ${T}(params.p${p});`).join('\n  ');
  const stores = spec.outputs.map((o) => `${o.name}_out[i] = ${o.expr};`).join('\n      ');
  return {
    name: spec.kernel,
    variant: `${layoutKey(layout)}:${specHash(spec)}`,
    workgroupSize: [ELEMENTWISE_WORKGROUP],
    uniforms,
    bindings: [
      ...spec.inputs.map((input, j) => ({ name: `${input.name}_in`, type: storage(input.dtype, vecInput[j]!), access: 'read' as const })),
      ...spec.outputs.map((o) => ({ name: `${o.name}_out`, type: storage('f32', vec4), access: 'read_write' as const })),
    ],
    code: /* wgsl */ `
alias T = ${T};
alias BT = ${BT};
${EW_WGSL_LIBRARY}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  ${params}
  let base = grid_workgroup(wid, nwg) * (WG_X * params.per) + lid;
  for (var k = 0u; k < params.per; k++) {
    let i = base + k * WG_X;
    if (i < params.n) {
      ${indexing}
      ${loads}
      ${spec.lets ?? ''}
      ${stores}
    }
  }
}`,
  };
}

export interface MapOperand {
  readonly array: GpuArray;
  /** Broadcast strides over the (coalesced) output shape; omitted for the contiguous layout. */
  readonly strides?: readonly number[];
}

/**
 * Runs a map kernel. `shape` is the coalesced output shape (ignored by the contiguous layout,
 * which needs only the element count n). Every output must hold n elements.
 */
export function runMap(
  rt: Runtime,
  spec: MapSpec,
  layout: MapLayout,
  n: number,
  inputs: readonly MapOperand[],
  outputs: readonly GpuArray[],
  params: readonly number[] = [],
  shape: readonly number[] = [],
): void {
  if (n === 0) return;
  const perInv = perInvocation(layout);
  const program = mapProgram(spec, layout);
  const items = (layout.kind === 'contiguous' && layout.vec4) || (layout.kind === 'broadcast' && layout.vec4) ? n / 4 : n;
  const uniforms: Record<string, number> = { n: items, per: perInv };
  params.forEach((p, i) => (uniforms[`p${i}`] = p));
  if (layout.kind === 'broadcast') {
    shape.forEach((d, k) => {
      if (k > 0) uniforms[`d${k}`] = d;
    });
    inputs.forEach((input, j) => input.strides!.forEach((s, k) => (uniforms[`s${j}_${k}`] = s)));
  }
  rt.dispatch(program, {
    bindings: [...inputs.map((i) => i.array), ...outputs],
    uniforms,
    workgroups: rt.grid(Math.ceil(items / (ELEMENTWISE_WORKGROUP * perInv))),
  });
}

/** Which kernel layout the flag `elementwise.layout` asks for: auto | scalar | broadcast. */
export type LayoutChoice = 'auto' | 'scalar' | 'broadcast';

export function layoutFlag(): LayoutChoice {
  const v = getFlag<string>('elementwise.layout', 'auto');
  if (v !== 'auto' && v !== 'scalar' && v !== 'broadcast') {
    throw new Error(`flag elementwise.layout must be auto, scalar or broadcast, got "${v}"`);
  }
  return v;
}

/**
 * Runs a map kernel over operands of any broadcast-compatible shapes into outputs of `outShape`
 * (already validated by the caller). Picks the layout: vec4 when every operand has the output's
 * shape, all are f32 and the count is a multiple of 4; scalar contiguous when shapes match
 * otherwise; broadcast (after merging dimensions) when any operand repeats. The flag
 * `elementwise.layout` forces 'scalar' (no vec4) or 'broadcast' (strided indexing even when no
 * operand repeats), so every path is tested on the same cases.
 */
export function runBroadcastMap(
  rt: Runtime,
  spec: MapSpec,
  operands: readonly { array: GpuArray; shape: readonly number[] }[],
  outShape: readonly number[],
  outputs: readonly GpuArray[],
  params: readonly number[] = [],
): void {
  const n = outShape.reduce((a, b) => a * b, 1);
  if (n === 0) return;
  const choice = layoutFlag();
  const allFull = operands.every((o) => o.array.size === n && sameShape(o.shape, outShape));
  const allF32 = spec.inputs.every((i) => i.dtype === 'f32');
  if (allFull && choice !== 'broadcast') {
    const vec4 = choice === 'auto' && allF32 && n % 4 === 0;
    runMap(rt, spec, { kind: 'contiguous', vec4 }, n, operands.map((o) => ({ array: o.array })), outputs, params);
    return;
  }
  const merged = coalesce(outShape, operands.map((o) => broadcastStrides(o.shape, outShape)));
  if (merged.shape.length === 0) {
    // Every dimension is 1: a single element, read at index 0 of every operand.
    merged.shape.push(1);
    merged.strides.forEach((s) => s.push(0));
  }
  const rank = merged.shape.length;
  const inner = merged.shape[rank - 1]!;
  // vec4 along the innermost dimension: every input walks it with stride 1 (read as vec4, and then
  // its outer strides must keep 16-byte alignment) or stride 0 (read once, splatted).
  const vecOk =
    choice === 'auto' &&
    allF32 &&
    inner % 4 === 0 &&
    merged.strides.every((s) => s[rank - 1] === 0 || (s[rank - 1] === 1 && s.every((v, k) => k === rank - 1 || v % 4 === 0)));
  if (vecOk) {
    const vec4 = merged.strides.map((s) => s[rank - 1] === 1);
    const shape = merged.shape.map((d, k) => (k === rank - 1 ? d / 4 : d));
    const strides = merged.strides.map((s, j) => (vec4[j] ? s.map((v, k) => (k === rank - 1 ? 1 : v / 4)) : s));
    runMap(rt, spec, { kind: 'broadcast', rank, vec4 }, n, operands.map((o, j) => ({ array: o.array, strides: strides[j]! })), outputs, params, shape);
    return;
  }
  runMap(
    rt,
    spec,
    { kind: 'broadcast', rank },
    n,
    operands.map((o, j) => ({ array: o.array, strides: merged.strides[j]! })),
    outputs,
    params,
    merged.shape,
  );
}
