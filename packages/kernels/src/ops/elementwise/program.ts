// elementwise: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { KernelProgram, StorageType, UniformDecl } from '../../runtime/program.js';

/** Highest rank the broadcasting kernels accept (after merging dimensions, before it too). */
export const MAX_BROADCAST_RANK = 6;

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

export type UnaryOp =
  | 'neg'
  | 'exp'
  | 'log'
  | 'tanh'
  | 'gelu'
  | 'silu'
  | 'relu'
  | 'sigmoid'
  | 'abs'
  | 'sqrt'
  | 'rsqrt'
  | 'square'
  | 'clamp'
  | 'powScalar'
  | 'affine';

export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'pow'
  | 'maximum'
  | 'minimum'
  | 'swiglu'
  | 'equal'
  | 'notEqual'
  | 'greater'
  | 'greaterEqual'
  | 'less'
  | 'lessEqual';

/** Scalar parameters of the parameterised unary ops (ignored by the others). */
export interface UnaryParams {
  /** clamp: lower bound (default −inf). */
  min?: number;
  /** clamp: upper bound (default +inf). */
  max?: number;
  /** powScalar: the exponent. */
  exponent?: number;
  /** affine: y = scale·x + shift (defaults 1 and 0). */
  scale?: number;
  shift?: number;
}

export interface UnaryOpDef {
  readonly doc: string;
  /** Which UnaryParams feed P0 and P1, with their defaults; missing required ones are an error. */
  readonly params: readonly { readonly name: keyof UnaryParams; readonly fallback?: number }[];
  /** WGSL: y from x. */
  readonly forward: string;
  /** WGSL: dx from x, y, dy. */
  readonly backward: string;
  /** float64 forward. */
  readonly reference: (x: number, p: readonly number[]) => number;
  /** float64 dy/dx at x (y is the forward value). */
  readonly derivative: (x: number, y: number, p: readonly number[]) => number;
}

export interface BinaryOpDef {
  readonly doc: string;
  readonly forward: string;
  /** WGSL: da and db from a, b, y, dy; null for comparisons (no gradient: zeros). */
  readonly backward: { readonly da: string; readonly db: string } | null;
  readonly reference: (a: number, b: number) => number;
  /** float64 partial derivatives [∂y/∂a, ∂y/∂b]. */
  readonly derivative: ((a: number, b: number, y: number) => readonly [number, number]) | null;
}

// ---------------------------------------------------------------- float64 helpers (mirror the WGSL)

function sigmoid64(x: number): number {
  const e = Math.exp(-Math.abs(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/** 1 − σ(x), without cancellation. */
function sigmoidComplement64(x: number): number {
  return sigmoid64(-x);
}

const GELU_C = Math.sqrt(2 / Math.PI);

const GELU_A = 0.044715;

const F32_MAX = 3.4028234663852886e38;

function gelu64(input: number): number {
  const x = Math.max(input, -F32_MAX); // −inf → the limit −0, not −inf·0
  const u = GELU_C * (x + GELU_A * x * x * x);
  return x * sigmoid64(2 * u);
}

function geluDerivative64(x: number): number {
  const u = GELU_C * (x + GELU_A * x * x * x);
  const s = sigmoid64(2 * u);
  const sc = sigmoidComplement64(2 * u);
  const xc = Math.min(Math.max(x, -1e4), 1e4);
  return s + s * sc * 2 * GELU_C * xc * (1 + 3 * GELU_A * xc * xc);
}

/** C/PyTorch pow for doubles, except that the sign of a zero base is ignored (as in the kernel). */
export function pow64(a: number, b: number): number {
  if (b === 0) return 1;
  return Math.pow(a === 0 ? 0 : a, b);
}

/** ∂(a^b)/∂a = b·a^(b−1), taken as 0 for b = 0 (a^0 is constant, even at a = 0). */
function powGradBase64(a: number, b: number): number {
  return b === 0 ? 0 : b * pow64(a, b - 1);
}

function powGradExponent64(a: number, b: number, y: number): number {
  if (a === 0 && b >= 0) return 0;
  return y * Math.log(a);
}

function log64(x: number): number {
  return Math.log(x); // log(0) = −inf, log(x < 0) = NaN
}

// ---------------------------------------------------------------- WGSL helper library

/** Helpers shared by every elementwise kernel; written over `T` (f32 or vec4<f32>). */
export const EW_WGSL_LIBRARY = /* wgsl */ `
// Non-finite constants cannot be WGSL const-expressions; read them from private variables.
var<private> EW_NEG_INF_BITS: u32 = 0xff800000u;
var<private> EW_POS_INF_BITS: u32 = 0x7f800000u;
var<private> EW_NAN_BITS: u32 = 0x7fc00000u;
fn ew_neg_inf() -> T { return T(bitcast<f32>(EW_NEG_INF_BITS)); }
fn ew_pos_inf() -> T { return T(bitcast<f32>(EW_POS_INF_BITS)); }
fn ew_nan() -> T { return T(bitcast<f32>(EW_NAN_BITS)); }
fn ew_sigmoid(x: T) -> T {
  let e = exp(-abs(x));
  let r = T(1.0) / (T(1.0) + e);
  return select(e * r, r, x >= T(0.0));
}
// 1 − σ(x) = σ(−x), computed directly so it keeps its relative precision.
fn ew_sigmoid_c(x: T) -> T { return ew_sigmoid(-x); }
fn ew_tanh(x: T) -> T {
  let ax = abs(x);
  let e = exp(T(-2.0) * ax);
  let big = (T(1.0) - e) / (T(1.0) + e);
  let x2 = x * x;
  // tanh x = x − x³/3 + 2x⁵/15 − 17x⁷/315 + 62x⁹/2835 − …, error < 1e-11 for |x| < 0.125
  let small = x * (T(1.0) + x2 * (T(-0.33333333333) + x2 * (T(0.13333333333) + x2 * (T(-0.053968253968) + x2 * T(0.021869488536)))));
  return select(select(-big, big, x >= T(0.0)), small, ax < T(0.125));
}
// sech²(x) = 1 − tanh²(x) = 4e/(1 + e)² with e = exp(−2|x|): no cancellation for large |x|.
fn ew_sech2(x: T) -> T {
  let e = exp(T(-2.0) * abs(x));
  let d = T(1.0) + e;
  return T(4.0) * e / (d * d);
}
const EW_GELU_C: f32 = 0.7978845608028654;
const EW_GELU_A: f32 = 0.044715;
const EW_F32_MAX: f32 = 3.40282346638528859812e+38;
fn ew_gelu(input: T) -> T {
  let x = max(input, T(-EW_F32_MAX)); // −inf → the limit −0, not −inf·0 = NaN
  let u = T(EW_GELU_C) * (x + T(EW_GELU_A) * x * x * x);
  return x * ew_sigmoid(T(2.0) * u);
}
fn ew_silu(input: T) -> T {
  let x = max(input, T(-EW_F32_MAX));
  return x * ew_sigmoid(x);
}
// σ(x)·(1 + x·σ(−x)); x is clamped where σ(x)·σ(−x) is already exactly 0, so ±inf give 0 and 1, not NaN.
fn ew_silu_grad(x: T) -> T {
  let xc = clamp(x, T(-1e4), T(1e4));
  return ew_sigmoid(x) * (T(1.0) + xc * ew_sigmoid_c(x));
}
fn ew_gelu_grad(x: T) -> T {
  let u = T(EW_GELU_C) * (x + T(EW_GELU_A) * x * x * x);
  let s = ew_sigmoid(T(2.0) * u);
  let sc = ew_sigmoid_c(T(2.0) * u);
  // s·sc is exactly 0 long before |x| reaches 1e4, so clamping keeps x³ finite without changing the value.
  let xc = clamp(x, T(-1e4), T(1e4));
  return s + s * sc * (T(2.0 * EW_GELU_C) * xc * (T(1.0) + T(3.0 * EW_GELU_A) * xc * xc));
}
fn ew_log(x: T) -> T {
  return select(select(log(x), ew_neg_inf(), x == T(0.0)), ew_nan(), x < T(0.0));
}
fn ew_sqrt(x: T) -> T { return select(sqrt(x), ew_nan(), x < T(0.0)); }
fn ew_rsqrt(x: T) -> T {
  return select(select(inverseSqrt(x), ew_pos_inf(), x == T(0.0)), ew_nan(), x < T(0.0));
}
fn ew_pow(a: T, b: T) -> T {
  let magnitude = exp2(b * log2(abs(a)));
  let integral = floor(b) == b;
  let odd = integral & (abs(b - T(2.0) * floor(b * T(0.5))) == T(1.0));
  var r = select(magnitude, -magnitude, (a < T(0.0)) & odd);
  r = select(r, ew_nan(), (a < T(0.0)) & !integral & (a != ew_neg_inf())); // C: pow(−inf, 0.5) = +inf
  r = select(r, select(select(ew_pos_inf(), T(1.0), b == T(0.0)), T(0.0), b > T(0.0)), a == T(0.0));
  return select(r, T(1.0), b == T(0.0));
}
fn ew_pow_grad_base(a: T, b: T) -> T {
  return select(b * ew_pow(a, b - T(1.0)), T(0.0), b == T(0.0));
}
fn ew_pow_grad_exponent(a: T, b: T, y: T) -> T {
  return select(y * ew_log(a), T(0.0), (a == T(0.0)) & (b >= T(0.0)));
}
fn ew_b2f(c: BT) -> T { return select(T(0.0), T(1.0), c); }
`;

// ---------------------------------------------------------------- the tables

const NEG_INF = -Infinity;

export const UNARY_OPS: Readonly<Record<UnaryOp, UnaryOpDef>> = {
  neg: {
    doc: 'y = −x',
    params: [],
    forward: '-x',
    backward: '-dy',
    reference: (x) => -x,
    derivative: () => -1,
  },
  exp: {
    doc: 'y = eˣ (overflows to +inf above ~88.7)',
    params: [],
    forward: 'exp(x)',
    backward: 'dy * y',
    reference: (x) => Math.exp(x),
    derivative: (_x, y) => y,
  },
  log: {
    doc: 'y = ln x; ln 0 = −inf, ln(x < 0) = NaN',
    params: [],
    forward: 'ew_log(x)',
    backward: 'dy / x',
    reference: log64,
    derivative: (x) => 1 / x,
  },
  tanh: {
    doc: 'y = tanh x, derivative sech²x computed without cancellation',
    params: [],
    forward: 'ew_tanh(x)',
    backward: 'dy * ew_sech2(x)',
    reference: (x) => Math.tanh(x),
    derivative: (x) => {
      const c = Math.cosh(x);
      return 1 / (c * c);
    },
  },
  gelu: {
    doc: "GPT-2's tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))",
    params: [],
    forward: 'ew_gelu(x)',
    backward: 'dy * ew_gelu_grad(x)',
    reference: gelu64,
    derivative: (x) => geluDerivative64(x),
  },
  silu: {
    doc: 'y = x·σ(x) (swish)',
    params: [],
    forward: 'ew_silu(x)',
    backward: 'dy * ew_silu_grad(x)',
    reference: (input) => {
      const x = Math.max(input, -F32_MAX); // −inf → the limit −0, not −inf·0
      return x * sigmoid64(x);
    },
    derivative: (x) => {
      const xc = Math.min(Math.max(x, -1e4), 1e4);
      return sigmoid64(x) * (1 + xc * sigmoidComplement64(x));
    },
  },
  relu: {
    doc: "y = max(x, 0); relu'(0) = 0",
    params: [],
    forward: 'max(x, T(0.0))',
    backward: 'select(T(0.0), dy, x > T(0.0))',
    reference: (x) => (x > 0 ? x : 0),
    derivative: (x) => (x > 0 ? 1 : 0),
  },
  sigmoid: {
    doc: 'y = 1/(1 + e⁻ˣ), stable in both tails; derivative σ(x)·σ(−x)',
    params: [],
    forward: 'ew_sigmoid(x)',
    backward: 'dy * ew_sigmoid(x) * ew_sigmoid_c(x)',
    reference: sigmoid64,
    derivative: (x) => sigmoid64(x) * sigmoidComplement64(x),
  },
  abs: {
    doc: "y = |x|; abs'(0) = 0",
    params: [],
    forward: 'abs(x)',
    backward: 'dy * sign(x)',
    reference: (x) => Math.abs(x),
    derivative: (x) => Math.sign(x),
  },
  sqrt: {
    doc: 'y = √x; √(x < 0) = NaN',
    params: [],
    forward: 'ew_sqrt(x)',
    backward: 'dy * T(0.5) / y',
    reference: (x) => Math.sqrt(x),
    derivative: (_x, y) => 0.5 / y,
  },
  rsqrt: {
    doc: 'y = 1/√x; rsqrt(±0) = +inf, rsqrt(x < 0) = NaN',
    params: [],
    forward: 'ew_rsqrt(x)',
    backward: 'dy * T(-0.5) * y * y * y',
    reference: (x) => (x === 0 ? Infinity : 1 / Math.sqrt(x)),
    derivative: (_x, y) => -0.5 * y * y * y,
  },
  square: {
    doc: 'y = x²',
    params: [],
    forward: 'x * x',
    backward: 'dy * T(2.0) * x',
    reference: (x) => x * x,
    derivative: (x) => 2 * x,
  },
  clamp: {
    doc: 'y = min(max(x, min), max); the gradient passes where min ≤ x ≤ max',
    params: [
      { name: 'min', fallback: NEG_INF },
      { name: 'max', fallback: Infinity },
    ],
    forward: 'min(max(x, P0), P1)',
    backward: 'select(T(0.0), dy, (x >= P0) & (x <= P1))',
    reference: (x, [lo, hi]) => Math.min(Math.max(x, lo!), hi!),
    derivative: (x, _y, [lo, hi]) => (x >= lo! && x <= hi! ? 1 : 0),
  },
  powScalar: {
    doc: 'y = x^exponent (C pow rules for negative bases and zero)',
    params: [{ name: 'exponent' }],
    forward: 'ew_pow(x, P0)',
    backward: 'dy * ew_pow_grad_base(x, P0)',
    reference: (x, [p]) => pow64(x, p!),
    derivative: (x, _y, [p]) => powGradBase64(x, p!),
  },
  affine: {
    doc: 'y = scale·x + shift (the parameters are constants: no gradient for them)',
    params: [
      { name: 'scale', fallback: 1 },
      { name: 'shift', fallback: 0 },
    ],
    forward: 'P0 * x + P1',
    backward: 'dy * P0',
    reference: (x, [a, b]) => a! * x + b!,
    derivative: (_x, _y, [a]) => a!,
  },
};

const comparison = (doc: string, wgsl: string, fn: (a: number, b: number) => boolean): BinaryOpDef => ({
  doc: `${doc}: 1.0 where true, 0.0 where false (no gradient)`,
  forward: `ew_b2f(${wgsl})`,
  backward: null,
  reference: (a, b) => (fn(a, b) ? 1 : 0),
  derivative: null,
});

export const BINARY_OPS: Readonly<Record<BinaryOp, BinaryOpDef>> = {
  add: {
    doc: 'y = a + b',
    forward: 'a + b',
    backward: { da: 'dy', db: 'dy' },
    reference: (a, b) => a + b,
    derivative: () => [1, 1],
  },
  sub: {
    doc: 'y = a − b',
    forward: 'a - b',
    backward: { da: 'dy', db: '-dy' },
    reference: (a, b) => a - b,
    derivative: () => [1, -1],
  },
  mul: {
    doc: 'y = a·b',
    forward: 'a * b',
    backward: { da: 'dy * b', db: 'dy * a' },
    reference: (a, b) => a * b,
    derivative: (a, b) => [b, a],
  },
  div: {
    doc: 'y = a/b; ∂y/∂b = −(a/b)/b (never forms b², which overflows first)',
    forward: 'a / b',
    backward: { da: 'dy / b', db: '-dy * (a / b) / b' },
    reference: (a, b) => a / b,
    derivative: (a, b) => [1 / b, -(a / b) / b],
  },
  pow: {
    doc: 'y = a^b elementwise (C pow rules); ∂y/∂a = b·a^(b−1), ∂y/∂b = y·ln a (0 where a = 0, b ≥ 0)',
    forward: 'ew_pow(a, b)',
    backward: { da: 'dy * ew_pow_grad_base(a, b)', db: 'dy * ew_pow_grad_exponent(a, b, y)' },
    reference: pow64,
    derivative: (a, b, y) => [powGradBase64(a, b), powGradExponent64(a, b, y)],
  },
  maximum: {
    doc: 'y = max(a, b); on ties each side gets half the gradient',
    forward: 'max(a, b)',
    backward: {
      da: 'dy * select(select(T(0.0), T(0.5), a == b), T(1.0), a > b)',
      db: 'dy * select(select(T(0.0), T(0.5), a == b), T(1.0), b > a)',
    },
    reference: (a, b) => Math.max(a, b),
    derivative: (a, b) => (a === b ? [0.5, 0.5] : a > b ? [1, 0] : [0, 1]),
  },
  minimum: {
    doc: 'y = min(a, b); on ties each side gets half the gradient',
    forward: 'min(a, b)',
    backward: {
      da: 'dy * select(select(T(0.0), T(0.5), a == b), T(1.0), a < b)',
      db: 'dy * select(select(T(0.0), T(0.5), a == b), T(1.0), b < a)',
    },
    reference: (a, b) => Math.min(a, b),
    derivative: (a, b) => (a === b ? [0.5, 0.5] : a < b ? [1, 0] : [0, 1]),
  },
  swiglu: {
    doc: 'y = silu(a)·b (SwiGLU: a the gate, b the up projection); one launch instead of silu then mul, forward and backward',
    forward: 'ew_silu(a) * b',
    backward: { da: 'dy * b * ew_silu_grad(a)', db: 'dy * ew_silu(a)' },
    reference: (a, b) => UNARY_OPS.silu.reference(a, []) * b,
    derivative: (a, b) => {
      const silu = UNARY_OPS.silu.reference(a, []);
      return [b * UNARY_OPS.silu.derivative(a, silu, []), silu];
    },
  },
  equal: comparison('a == b', 'a == b', (a, b) => a === b),
  notEqual: comparison('a != b', 'a != b', (a, b) => a !== b),
  greater: comparison('a > b', 'a > b', (a, b) => a > b),
  greaterEqual: comparison('a >= b', 'a >= b', (a, b) => a >= b),
  less: comparison('a < b', 'a < b', (a, b) => a < b),
  lessEqual: comparison('a <= b', 'a <= b', (a, b) => a <= b),
};

export const UNARY_OP_NAMES = Object.keys(UNARY_OPS) as UnaryOp[];

export const BINARY_OP_NAMES = Object.keys(BINARY_OPS) as BinaryOp[];
