import { beforeAll, describe, expect, it } from 'vitest';
import {
  reduceArgs,
  reduceBuiltins,
  reduceFeatures,
  reduceVariant,
  withFlags,
  workgroupReduce,
  type KernelProgram,
} from '../src/index.js';
import { assertClose, kernelFixture, SeededRandom } from '../src/testing/index.js';

const fx = kernelFixture(beforeAll);

// One workgroup per row; each invocation strides over the row, then the workgroup reduces.
function rowReduceProgram(variant: 'subgroup' | 'shared', size: number): KernelProgram {
  return {
    name: 'test-row-reduce',
    variant: `${variant}:${size}`,
    workgroupSize: [size],
    features: reduceFeatures(variant),
    uniforms: [{ name: 'cols', type: 'u32' }],
    bindings: [
      { name: 'x', type: 'f32', access: 'read' },
      { name: 'out', type: 'f32', access: 'read_write' },
    ],
    code: `${workgroupReduce('wgSum', 'sum', size, variant)}
${workgroupReduce('wgMax', 'max', size, variant)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ${reduceBuiltins(variant)}) {
  let row = wid.x;
  var s = 0.0;
  var m = -3.402823466e+38;
  for (var c = lid; c < params.cols; c += WG_X) { let v = x[row * params.cols + c]; s += v; m = max(m, v); }
  let total = wgSum(s, ${reduceArgs(variant)});
  let biggest = wgMax(m, ${reduceArgs(variant)});
  // Every invocation must hold the result: invocation WG_X-1 writes it.
  if (lid == WG_X - 1u) { out[row * 2u] = total; out[row * 2u + 1u] = biggest; }
}`,
  };
}

describe('workgroupReduce', () => {
  const variants = ['shared', 'subgroup'] as const;
  for (const variant of variants) {
    for (const size of [32, 64, 256]) {
      it(`${variant} variant, workgroup ${size}: sums and maxima of awkward rows`, async () => {
        if (!fx.supports({ 'reduce.variant': variant })) return;
        const rng = new SeededRandom(size);
        for (const cols of [1, 7, 33, 255, 1000]) {
          const rows = 5;
          const data = rng.floats(rows * cols, -10, 10);
          const x = fx.rt.upload(data, [rows, cols]);
          const out = fx.rt.empty([rows, 2]);
          fx.rt.dispatch(rowReduceProgram(variant, size), { bindings: [x, out], uniforms: { cols }, workgroups: [rows] });
          const got = await fx.rt.read(out);
          const want: number[] = [];
          for (let r = 0; r < rows; r++) {
            const row = [...data.subarray(r * cols, (r + 1) * cols)];
            want.push(row.reduce((a, b) => a + b, 0), Math.max(...row));
          }
          assertClose(got, want, { atol: 1e-4, rtol: 1e-5, label: `cols=${cols}` });
          x.dispose();
          out.dispose();
        }
      });
    }
  }

  it('keeps −inf: the max of a workgroup of −inf values is −inf in both variants', async () => {
    for (const variant of variants) {
      if (!fx.supports({ 'reduce.variant': variant })) continue;
      const size = 64;
      const program: KernelProgram = {
        ...rowReduceProgram(variant, size),
        variant: `${variant}:${size}:direct`,
        code: `${workgroupReduce('wgMax', 'max', size, variant)}
@compute @workgroup_size(WG_X)
fn main(@builtin(workgroup_id) wid: vec3<u32>, ${reduceBuiltins(variant)}) {
  let biggest = wgMax(x[wid.x * WG_X + lid], ${reduceArgs(variant)});
  if (lid == 0u) { out[wid.x * 2u] = biggest; out[wid.x * 2u + 1u] = biggest; }
}`,
      };
      const data = new Float32Array(2 * size).fill(-Infinity);
      data[size + 5] = -7; // row 1 has one finite value
      const x = fx.rt.upload(data, [2, size]);
      const out = fx.rt.empty([2, 2]);
      fx.rt.dispatch(program, { bindings: [x, out], uniforms: { cols: size }, workgroups: [2] });
      expect([...(await fx.rt.read(out))]).toEqual([-Infinity, -Infinity, -7, -7]);
      x.dispose();
      out.dispose();
    }
  });

  it('picks subgroups when present and obeys the reduce.variant flag', async () => {
    expect(reduceVariant(fx.rt)).toBe(fx.rt.hasFeature('subgroups') ? 'subgroup' : 'shared');
    await withFlags({ 'reduce.variant': 'shared' }, () => expect(reduceVariant(fx.rt)).toBe('shared'));
  });
});
