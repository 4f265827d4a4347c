// matmul: the WGSL programs as data (KernelProgram objects and their builders). The spec is in index.ts.
import type { BindingDecl, KernelProgram } from '../../runtime/program.js';

export type MatmulKind = 'naive' | 'blocked' | 'subgroup';

/** Storage type of the B operand: f32, or f16 (a weight kept in half precision; needs shader-f16). */
export type MatmulBType = 'f32' | 'f16';

export interface MatmulConfig {
  readonly kind: MatmulKind;
  /** B's storage type (default f32); f16 values are widened to f32 as they are loaded, sums stay f32. */
  readonly bType?: MatmulBType;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  /** Rows of C per invocation (blocked) or per workgroup (subgroup; a multiple of 8). */
  readonly tileM: number;
  /** vec4 column groups of C per invocation (blocked, subgroup): 4·vecN columns. */
  readonly vecN: number;
  /** k steps per main-loop iteration: 1, 2 or 4 (vec4 loads along k need 4). */
  readonly unrollK: number;
  /** Sum the unrolled k steps in one expression before adding to the accumulator. */
  readonly chain: boolean;
  /** vec4 loads of A (along k when A is not transposed: needs K % 4 == 0 and unrollK 4). */
  readonly vecA: boolean;
  /** vec4 loads of B (along n when B is not transposed: N % 4 == 0; along k when it is: K % 4 == 0, unrollK 4). */
  readonly vecB: boolean;
  /** vec4 stores of C (N % 4 == 0). */
  readonly vecC: boolean;
  readonly workgroup: readonly [number, number];
}

export const MATMUL_UNIFORMS = [
  'M', 'N', 'K',
  // row strides of A, B and C as stored, and the element offsets of the problem inside the bound
  // ranges: a sub-problem of a larger matrix (chunks of an operand over the binding limit)
  'lda', 'ldb', 'ldc', 'aOff', 'bOff', 'cOff',
  // 1: C += the product (a later K chunk), 0: C = the product
  'accumulate',
  // element strides between consecutive output batches, and between the batches summed into one output
  'aBatch', 'bBatch', 'cBatch', 'aReduce', 'bReduce', 'reduceCount',
  // workgroup offsets, for grids split over several dispatches
  'xOff', 'yOff', 'zOff',
] as const;

export type MatmulUniforms = Record<(typeof MATMUL_UNIFORMS)[number], number>;

export function configKey(c: MatmulConfig): string {
  const b = c.bType === 'f16' ? ':b16' : '';
  if (c.kind === 'naive') return `naive:tA${+c.transposeA}:tB${+c.transposeB}${b}:wg${c.workgroup.join('x')}`;
  return (
    `${c.kind}:tA${+c.transposeA}:tB${+c.transposeB}${b}:m${c.tileM}:n${c.vecN}x4:k${c.unrollK}${c.chain ? 'c' : ''}` +
    `:v${+c.vecA}${+c.vecB}${+c.vecC}:wg${c.workgroup.join('x')}`
  );
}

/** Checks the combination rules, so a bad config fails here rather than as a WGSL error. */
export function checkConfig(c: MatmulConfig): void {
  const bad = (why: string) => {
    throw new Error(`matmul config ${configKey(c)}: ${why}`);
  };
  if (![1, 2, 4].includes(c.unrollK)) bad('unrollK must be 1, 2 or 4');
  if (c.kind === 'naive') {
    if (c.vecA || c.vecB || c.vecC) bad('the naive kernel has no vec4 loads or stores');
    return;
  }
  if (!Number.isInteger(c.tileM) || c.tileM < 1) bad('tileM must be a positive integer');
  if (!Number.isInteger(c.vecN) || c.vecN < 1) bad('vecN must be a positive integer');
  if (c.kind === 'subgroup' && (c.tileM % 8 !== 0 || c.workgroup[1] !== 1)) bad('subgroup tiles need tileM % 8 == 0 and a 1-row workgroup');
  if (c.vecA && (c.transposeA || c.unrollK !== 4)) bad('vec4 A loads run along k: A not transposed and unrollK 4');
  if (c.vecB && c.transposeB && c.unrollK !== 4) bad('vec4 loads of a transposed B run along k: unrollK 4');
}

const COMP = ['x', 'y', 'z', 'w'] as const;

const u = (n: number) => `${n}u`;

const half = (c: MatmulConfig) => c.bType === 'f16';

function bindingsOf(c: MatmulConfig): BindingDecl[] {
  const list: BindingDecl[] = [{ name: 'a', type: 'f32', access: 'read' }];
  if (c.vecA) list.push({ name: 'a4', type: 'vec4<f32>', access: 'read' });
  list.push({ name: 'b', type: half(c) ? 'f16' : 'f32', access: 'read' });
  if (c.vecB) list.push({ name: 'b4', type: half(c) ? 'vec4<f16>' : 'vec4<f32>', access: 'read' });
  list.push(c.vecC ? { name: 'c4', type: 'vec4<f32>', access: 'read_write' } : { name: 'c', type: 'f32', access: 'read_write' });
  return list;
}

function program(c: MatmulConfig, code: string): KernelProgram {
  return {
    name: 'matmul',
    variant: configKey(c),
    workgroupSize: [c.workgroup[0], c.workgroup[1], 1],
    features: [...(c.kind === 'subgroup' ? (['subgroups'] as const) : []), ...(half(c) ? (['shader-f16'] as const) : [])],
    uniforms: MATMUL_UNIFORMS.map((name) => ({ name, type: 'u32' as const })),
    bindings: bindingsOf(c),
    code,
  };
}

/** Scalar A(row, k) and B(k, col) reads (as f32), for the given transposes and row strides. */
const aAt = (tA: boolean, row: string, k: string) => (tA ? `a[aBase + (${k}) * lda + ${row}]` : `a[aBase + ${row} * lda + ${k}]`);

function bAt(c: MatmulConfig, k: string, col: string): string {
  const load = c.transposeB ? `b[bBase + ${col} * ldb + ${k}]` : `b[bBase + (${k}) * ldb + ${col}]`;
  return half(c) ? `f32(${load})` : load;
}

/** A vec4 load of B (widened to vec4<f32> when B is f16). */
const bVec = (c: MatmulConfig, index: string) => (half(c) ? `vec4<f32>(b4[${index}])` : `b4[${index}]`);

/** Shapes, strides and offsets as locals (the generated loops read these names). */
const PARAMS =
  'let M = params.M; let N = params.N; let K = params.K;\n  let lda = params.lda; let ldb = params.ldb; let ldc = params.ldc;';

function naiveProgram(c: MatmulConfig): KernelProgram {
  return program(
    c,
    /* wgsl */ `
@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  ${PARAMS}
  let col = (wid.x + params.xOff) * WG_X + lid.x;
  let row = (wid.y + params.yOff) * WG_Y + lid.y;
  let batch = wid.z + params.zOff;
  if (row >= M || col >= N) { return; }
  var acc = 0.0;
  for (var r = 0u; r < params.reduceCount; r++) {
    let aBase = params.aOff + batch * params.aBatch + r * params.aReduce;
    let bBase = params.bOff + batch * params.bBatch + r * params.bReduce;
    for (var k = 0u; k < K; k++) { acc += ${aAt(c.transposeA, 'row', 'k')} * ${bAt(c, 'k', 'col')}; }
  }
  let ci = params.cOff + batch * params.cBatch + row * ldc + col;
  if (params.accumulate != 0u) { acc += c[ci]; }
  c[ci] = acc;
}`,
  );
}

/** The register-blocked kernel body, with or without subgroup sharing of the A rows. */
function tiledProgram(c: MatmulConfig): KernelProgram {
  const { transposeA: tA, transposeB: tB, tileM: TM, vecN: VN } = c;
  const TN = 4 * VN;
  const shared = c.kind === 'subgroup';
  const setup: string[] = [];
  if (shared) {
    // Every lane of the workgroup covers the same TM rows; lane l loads rows l % 8 + 8i.
    setup.push(`let row0 = (wid.y + params.yOff) * ${u(TM)};`);
    for (let i = 0; i < TM / 8; i++) setup.push(`let lr${i} = min(row0 + sgid % 8u + ${u(8 * i)}, M - 1u);`);
  } else {
    setup.push(`let row0 = ((wid.y + params.yOff) * WG_Y + lid.y) * ${u(TM)};`);
    for (let i = 0; i < TM; i++) setup.push(`let r${i} = min(row0 + ${u(i)}, M - 1u);`);
  }
  setup.push(`let col0 = ((wid.x + params.xOff) * WG_X + lid.x) * ${u(TN)};`);
  // Out-of-range rows and columns are clamped for loading and skipped when storing.
  const vecAlongN = c.vecB && !tB;
  if (vecAlongN) for (let q = 0; q < VN; q++) setup.push(`let g${q} = min(col0 + ${u(4 * q)}, N - 4u) / 4u;`);
  for (let j = 0; j < TN; j++) setup.push(`let cn${j} = min(col0 + ${u(j)}, N - 1u);`);
  for (let i = 0; i < TM; i++) for (let q = 0; q < VN; q++) setup.push(`var acc${i}_${q} = vec4<f32>(0.0);`);

  /** One step of `ku` k values starting at k; `vec` allows the vec4 loads (main loop only). */
  const step = (ku: number, vec: boolean): string[] => {
    const s: string[] = [];
    const useVecA = vec && c.vecA;
    const useVecB = vec && c.vecB;
    // A: aVal(i, t) is the value of row i at k + t.
    let aVal: (i: number, t: number) => string;
    const kk = (t: number) => (t === 0 ? 'k' : `k + ${u(t)}`);
    if (shared) {
      for (let g = 0; g < TM / 8; g++) {
        if (useVecA) s.push(`let la${g} = a4[(aBase + lr${g} * lda + k) / 4u];`);
        else for (let t = 0; t < ku; t++) s.push(`let la${g}_${t} = ${aAt(tA, `lr${g}`, kk(t))};`);
      }
      for (let i = 0; i < TM; i++) {
        for (let t = 0; t < ku; t++) {
          const src = useVecA ? `la${i >> 3}.${COMP[t]}` : `la${i >> 3}_${t}`;
          s.push(`let a${i}_${t} = subgroupBroadcast(${src}, ${u(i % 8)});`);
        }
      }
      aVal = (i, t) => `a${i}_${t}`;
    } else if (useVecA) {
      for (let i = 0; i < TM; i++) s.push(`let av${i} = a4[(aBase + r${i} * lda + k) / 4u];`);
      aVal = (i, t) => `av${i}.${COMP[t]}`;
    } else {
      for (let i = 0; i < TM; i++) for (let t = 0; t < ku; t++) s.push(`let a${i}_${t} = ${aAt(tA, `r${i}`, kk(t))};`);
      aVal = (i, t) => `a${i}_${t}`;
    }
    // B: bv{t}_{q} is the vec4 of columns 4q..4q+3 at k + t.
    if (useVecB && !tB) {
      for (let t = 0; t < ku; t++) for (let q = 0; q < VN; q++) s.push(`let bv${t}_${q} = ${bVec(c, `(bBase + (${kk(t)}) * ldb) / 4u + g${q}`)};`);
    } else if (useVecB && tB) {
      for (let j = 0; j < TN; j++) s.push(`let bk${j} = ${bVec(c, `(bBase + cn${j} * ldb + k) / 4u`)};`);
      for (let t = 0; t < ku; t++) {
        for (let q = 0; q < VN; q++) {
          const parts = [0, 1, 2, 3].map((e) => `bk${4 * q + e}.${COMP[t]}`).join(', ');
          s.push(`let bv${t}_${q} = vec4<f32>(${parts});`);
        }
      }
    } else {
      for (let t = 0; t < ku; t++) {
        for (let q = 0; q < VN; q++) {
          const parts = [0, 1, 2, 3].map((e) => bAt(c, kk(t), `cn${4 * q + e}`)).join(', ');
          s.push(`let bv${t}_${q} = vec4<f32>(${parts});`);
        }
      }
    }
    for (let i = 0; i < TM; i++) {
      for (let q = 0; q < VN; q++) {
        if (c.chain && ku > 1) {
          s.push(`acc${i}_${q} += ${[...Array(ku).keys()].map((t) => `${aVal(i, t)} * bv${t}_${q}`).join(' + ')};`);
        } else {
          for (let t = 0; t < ku; t++) s.push(`acc${i}_${q} += ${aVal(i, t)} * bv${t}_${q};`);
        }
      }
    }
    return s;
  };

  const KU = c.unrollK;
  const loops: string[] = [];
  // vec4 loads along k are only chosen when K % 4 == 0, so those variants need no remainder loop.
  const kAligned = c.vecA || (c.vecB && tB);
  if (KU > 1 && kAligned) {
    loops.push(`for (; k < K; k += ${u(KU)}) {\n      ${step(KU, true).join('\n      ')}\n    }`);
  } else if (KU > 1) {
    loops.push(`let kMain = K - K % ${u(KU)};`);
    loops.push(`for (; k < kMain; k += ${u(KU)}) {\n      ${step(KU, true).join('\n      ')}\n    }`);
    loops.push(`for (; k < K; k++) {\n      ${step(1, false).join('\n      ')}\n    }`);
  } else {
    loops.push(`for (; k < K; k++) {\n      ${step(1, true).join('\n      ')}\n    }`);
  }

  // Stores: a loop over this tile's rows that writes row 0's accumulators and then shifts the rest
  // up one row. Its trip count is not a constant, so the compiler keeps it a loop: on lavapipe every
  // store expands into a per-lane sequence with bounds checks, and unrolled stores made up most of
  // the shader and of its compile time.
  const inner: string[] = [];
  for (let q = 0; q < VN; q++) {
    if (c.vecC) {
      // N % 4 == 0: a group is either wholly inside the row or wholly outside it.
      const at = `(cRow + col0) / 4u + ${u(q)}`;
      inner.push(`if (col0 + ${u(4 * q)} < N) { c4[${at}] = acc0_${q} + select(vec4<f32>(0.0), c4[${at}], add); }`);
    } else {
      for (let e = 0; e < 4; e++) {
        const at = `cRow + col0 + ${u(4 * q + e)}`;
        inner.push(`if (col0 + ${u(4 * q + e)} < N) { c[${at}] = acc0_${q}.${COMP[e]} + select(0.0, c[${at}], add); }`);
      }
    }
  }
  const shift: string[] = [];
  for (let i = 0; i + 1 < TM; i++) for (let q = 0; q < VN; q++) shift.push(`acc${i}_${q} = acc${i + 1}_${q};`);
  const stores = [
    `let rows = select(0u, min(${u(TM)}, M - row0), row0 < M);`,
    `  let add = params.accumulate != 0u;`,
    `  for (var i = 0u; i < rows; i++) {`,
    `    let cRow = cBase + (row0 + i) * ldc;`,
    `    ${inner.join('\n    ')}`,
    `    ${shift.join(' ')}`,
    `  }`,
  ];

  const builtins = shared ? ', @builtin(subgroup_invocation_id) sgid: u32' : '';
  return program(
    c,
    /* wgsl */ `
@compute @workgroup_size(WG_X, WG_Y, WG_Z)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${builtins}) {
  ${PARAMS}
  let batch = wid.z + params.zOff;
  ${setup.join('\n  ')}
  for (var r = 0u; r < params.reduceCount; r++) {
    let aBase = params.aOff + batch * params.aBatch + r * params.aReduce;
    let bBase = params.bOff + batch * params.bBatch + r * params.bReduce;
    var k = 0u;
    ${loops.join('\n    ')}
  }
  let cBase = params.cOff + batch * params.cBatch;
  ${stores.join('\n  ')}
}`,
  );
}

export function matmulProgram(config: MatmulConfig): KernelProgram {
  checkConfig(config);
  return config.kind === 'naive' ? naiveProgram(config) : tiledProgram(config);
}

/** Output elements (columns, rows) one workgroup covers. */
export function workgroupTile(c: MatmulConfig): { cols: number; rows: number } {
  if (c.kind === 'naive') return { cols: c.workgroup[0], rows: c.workgroup[1] };
  const rows = c.kind === 'subgroup' ? c.tileM : c.tileM * c.workgroup[1];
  return { cols: 4 * c.vecN * c.workgroup[0], rows };
}
