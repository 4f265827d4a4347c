// rng: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { KernelProgram } from '../../runtime/program.js';
import { reduceArgs, reduceBuiltins, reduceFeatures, type ReduceVariant, workgroupReduce } from '../shared/workgroup-reduce.js';

export const PHILOX_M0 = 0xd2511f53;

export const PHILOX_M1 = 0xcd9e8d57;

export const PHILOX_W0 = 0x9e3779b9;

export const PHILOX_W1 = 0xbb67ae85;

export const PHILOX_ROUNDS = 10;

/**
 * WGSL declarations: `philox4x32_10(counter, key) -> vec4<u32>`, `philoxUniform(bits) -> vec4<f32>`
 * in [0, 1), and `philoxGumbel(bits: u32) -> f32` (standard Gumbel), for any kernel that needs random numbers.
 */
export const PHILOX_WGSL = /* wgsl */ `
fn philoxMulhilo(a: u32, b: u32) -> vec2<u32> {
  let aL = a & 0xffffu;
  let aH = a >> 16u;
  let bL = b & 0xffffu;
  let bH = b >> 16u;
  let ll = aL * bL;
  let lh = aL * bH;
  let hl = aH * bL;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = aH * bH + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}
fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0u; r < ${PHILOX_ROUNDS}u; r++) {
    if (r > 0u) { k += vec2<u32>(${PHILOX_W0}u, ${PHILOX_W1}u); }
    let p0 = philoxMulhilo(${PHILOX_M0}u, c.x);
    let p1 = philoxMulhilo(${PHILOX_M1}u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}
fn philoxUniform(bits: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(bits >> vec4<u32>(8u)) * (1.0 / 16777216.0);
}
// Standard Gumbel variate −log(E), E = −log(u) ~ Exp(1), from the top 23 bits: u = (k + ½)·2⁻²³ is
// exact in float32 and never 0 or 1. For u > ½, E = −log1p(−w) with w = 1 − u (also exact) by the
// atanh series 2(t + t³/3 + … + t¹⁵/15), t = w/(2 − w) ≤ ⅓, so the upper tail keeps full relative
// precision (float32 log(u) near 1 would not: WGSL only bounds its absolute error there).
fn philoxGumbel(bits: u32) -> f32 {
  let k = f32(bits >> 9u);
  let u = (k + 0.5) * (1.0 / 8388608.0);
  var e: f32;
  if (u <= 0.5) {
    e = -log(u);
  } else {
    let w = (8388607.0 - k + 0.5) * (1.0 / 8388608.0);
    let t = w / (2.0 - w);
    let t2 = t * t;
    e = 2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0
        + t2 * (1.0 / 11.0 + t2 * (1.0 / 13.0 + t2 * (1.0 / 15.0))))))));
  }
  return -log(e);
}`;

export const WORKGROUP = 256;

export type FlatKind = 'bits' | 'uniform' | 'normal' | 'dropout';

const STREAM_UNIFORMS = [
  { name: 'seedLo', type: 'u32' },
  { name: 'seedHi', type: 'u32' },
  { name: 'offLo', type: 'u32' },
  { name: 'offHi', type: 'u32' },
] as const;

/** One invocation per Philox block: four consecutive outputs of the flat stream. */
export function flatProgram(kind: FlatKind): KernelProgram {
  const outType = kind === 'bits' ? 'u32' : 'f32';
  const values: Record<FlatKind, string> = {
    bits: 'let vals = bits;',
    uniform: 'let vals = philoxUniform(bits);',
    normal: `
  // Box–Muller on (lane 0, lane 1) and (lane 2, lane 3): u1 in (0, 1] so the log is finite.
  let u = philoxUniform(bits);
  let r01 = sqrt(-2.0 * log(u.x + (1.0 / 16777216.0)));
  let r23 = sqrt(-2.0 * log(u.z + (1.0 / 16777216.0)));
  let t01 = 6.283185307179586 * u.y;
  let t23 = 6.283185307179586 * u.w;
  let vals = params.mean + params.stddev * vec4<f32>(r01 * cos(t01), r01 * sin(t01), r23 * cos(t23), r23 * sin(t23));`,
    dropout: `
  let keep = philoxUniform(bits) >= vec4<f32>(params.p);`,
  };
  const store =
    kind === 'dropout'
      ? `y[e] = select(0.0, x[e] * params.scale, keep[k]); mask[e] = select(0.0, 1.0, keep[k]);`
      : `out[e] = vals[k];`;
  const extraUniforms =
    kind === 'normal'
      ? [
          { name: 'mean', type: 'f32' as const },
          { name: 'stddev', type: 'f32' as const },
        ]
      : kind === 'dropout'
        ? [
            { name: 'p', type: 'f32' as const },
            { name: 'scale', type: 'f32' as const },
          ]
        : [];
  return {
    name: kind === 'dropout' ? 'dropout' : `random-${kind}`,
    variant: 'philox4x32-10',
    workgroupSize: [WORKGROUP],
    // n: elements bound in this launch; blockBase: stream block of its first element.
    uniforms: [{ name: 'n', type: 'u32' }, { name: 'blockBase', type: 'u32' }, ...STREAM_UNIFORMS, ...extraUniforms],
    bindings:
      kind === 'dropout'
        ? [
            { name: 'x', type: 'f32', access: 'read' },
            { name: 'y', type: 'f32', access: 'read_write' },
            { name: 'mask', type: 'f32', access: 'read_write' },
          ]
        : [{ name: 'out', type: outType, access: 'read_write' }],
    code: /* wgsl */ `
${PHILOX_WGSL}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let local = grid_invocation(wid, nwg, lid);
  let first = local * 4u;
  if (first >= params.n) { return; }
  let block = params.blockBase + local;
  let bits = philox4x32_10(vec4<u32>(block, 0u, params.offLo, params.offHi), vec2<u32>(params.seedLo, params.seedHi));
  ${values[kind]}
  for (var k = 0u; k < 4u; k++) {
    let e = first + k;
    if (e < params.n) { ${store} }
  }
}`,
  };
}

export const dropoutBackwardProgram: KernelProgram = {
  name: 'dropout-backward',
  variant: 'mask',
  workgroupSize: [WORKGROUP],
  uniforms: [
    { name: 'n', type: 'u32' },
    { name: 'scale', type: 'f32' },
  ],
  bindings: [
    { name: 'dy', type: 'f32', access: 'read' },
    { name: 'mask', type: 'f32', access: 'read' },
    { name: 'dx', type: 'f32', access: 'read_write' },
  ],
  code: /* wgsl */ `
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = grid_invocation(wid, nwg, lid);
  if (i < params.n) { dx[i] = dy[i] * mask[i] * params.scale; }
}`,
};

export function sampleProgram(greedy: boolean, size: number, variant: ReduceVariant): KernelProgram {
  const score = greedy
    ? 'let score = logit;'
    : 'let score = logit + params.temperature * philoxGumbel(bits[lane]);';
  return {
    name: 'sample-categorical',
    variant: `${greedy ? 'greedy' : 'gumbel'}:${variant}:w${size}`,
    workgroupSize: [size],
    features: reduceFeatures(variant),
    uniforms: [{ name: 'rows', type: 'u32' }, { name: 'vocab', type: 'u32' }, ...STREAM_UNIFORMS, { name: 'temperature', type: 'f32' }],
    bindings: [
      { name: 'logits', type: 'f32', access: 'read' },
      { name: 'ids', type: 'i32', access: 'read_write' },
    ],
    code: /* wgsl */ `
${PHILOX_WGSL}
${workgroupReduce('wgMax', 'max', size, variant)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ${reduceBuiltins(variant)}) {
  let row = grid_workgroup(wid, nwg); // uniform over the workgroup
  if (row >= params.rows) { return; }
  let base = row * params.vocab;
  let key = vec2<u32>(params.seedLo, params.seedHi);
  var negInf = 0xff800000u;
  var best = bitcast<f32>(negInf);
  var bestIndex = params.vocab; // none yet
  let blocks = (params.vocab + 3u) / 4u;
  // Each invocation visits its columns in increasing order and keeps the first maximum (strict >).
  for (var q = lid; q < blocks; q += WG_X) {
    ${greedy ? '' : 'let bits = philox4x32_10(vec4<u32>(q, row, params.offLo, params.offHi), key);'}
    for (var lane = 0u; lane < 4u; lane++) {
      let v = q * 4u + lane;
      if (v < params.vocab) {
        let logit = logits[base + v];
        ${score}
        if (score > best) { best = score; bestIndex = v; } // NaN scores never win
      }
    }
  }
  let top = wgMax(best, ${reduceArgs(variant)});
  // The smallest index reaching the maximum wins; indices < 2^24 are exact in float32.
  let candidate = select(16777216.0, f32(bestIndex), bestIndex < params.vocab && best == top);
  let smallest = -wgMax(-candidate, ${reduceArgs(variant)});
  if (lid == 0u) { ids[row] = select(-1, i32(smallest), smallest < 16777216.0); }
}`,
  };
}
