// Test helpers shared by every package: a seeded random source, tolerance checks of the form
// |actual − expected| ≤ atol + rtol·|expected| with readable failure reports, the awkward sizes
// every kernel is tried on, central finite differences for gradient checks, and the fixture every
// kernel test file starts from (kernelFixture: the runtime, read-backs, comparisons against a
// reference).
import { getRuntime, type Runtime } from '../runtime/runtime.js';
import type { GpuArray, HostArray } from '../runtime/array.js';
import type { FlagValue } from '../runtime/flags.js';
import type { ReduceVariant } from '../ops/shared/workgroup-reduce.js';
import type { CpuTensor } from '../reference.js';

export { SeededRandom } from '../random.js';

/** Sizes that are not multiples of typical tile, workgroup or subgroup sizes, plus 1. */
export const AWKWARD_SIZES = [1, 3, 7, 13, 31, 33, 63, 65, 127, 129, 255, 257] as const;

export interface Tolerance {
  atol?: number;
  rtol?: number;
}

export interface CloseReport {
  ok: boolean;
  mismatches: number;
  maxAbsError: number;
  message: string;
}

/**
 * Compares element by element with |a − e| ≤ atol + rtol·|e|. Non-finite values must match
 * exactly (NaN with NaN, +inf with +inf), so a NaN where the reference is finite always fails.
 */
export function compareClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance = {}): CloseReport {
  const atol = tol.atol ?? 1e-5;
  const rtol = tol.rtol ?? 1e-4;
  if (actual.length !== expected.length) {
    return { ok: false, mismatches: Math.max(actual.length, expected.length), maxAbsError: Infinity, message: `length ${actual.length} ≠ expected ${expected.length}` };
  }
  let mismatches = 0;
  let maxAbsError = 0;
  const lines: string[] = [];
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    let ok: boolean;
    if (!Number.isFinite(e) || !Number.isFinite(a)) ok = Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)) || a === e;
    else {
      const err = Math.abs(a - e);
      maxAbsError = Math.max(maxAbsError, err);
      ok = err <= atol + rtol * Math.abs(e);
    }
    if (!ok) {
      mismatches++;
      if (lines.length < 8) lines.push(`  [${i}] got ${a}, expected ${e} (|diff| ${Math.abs(a - e).toExponential(2)}, allowed ${(atol + rtol * Math.abs(e)).toExponential(2)})`);
    }
  }
  const message = mismatches === 0 ? 'ok' : `${mismatches} of ${actual.length} elements differ (atol ${atol}, rtol ${rtol}):\n${lines.join('\n')}`;
  return { ok: mismatches === 0, mismatches, maxAbsError, message };
}

/** Throws with a readable report unless compareClose passes. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance & { label?: string } = {}): void {
  const report = compareClose(actual, expected, tol);
  if (!report.ok) throw new Error(`${tol.label ? tol.label + ': ' : ''}${report.message}`);
}

/**
 * Central finite differences of a scalar function f at x: df/dx_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h.
 * f is evaluated in float64, so h around 1e-6 gives ~1e-9 accuracy for smooth functions.
 */
export function numericGradient(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
  const grad = new Float64Array(x.length);
  const probe = Float64Array.from(x);
  for (let i = 0; i < x.length; i++) {
    const orig = probe[i]!;
    probe[i] = orig + h;
    const plus = f(probe);
    probe[i] = orig - h;
    const minus = f(probe);
    probe[i] = orig;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

/** Sum of w_i · y_i: turns a vector output into the scalar a finite-difference check needs. */
export function dot(weights: ArrayLike<number>, values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += weights[i]! * values[i]!;
  return s;
}

/** What a kernel test file needs from its fixture: the runtime and the read-and-compare steps. */
export interface KernelFixture {
  /** The process-wide runtime (available once the file's beforeAll hooks have run). */
  readonly rt: Runtime;
  /** Reads an array back to the host as float64. */
  read(array: GpuArray): Promise<Float64Array>;
  /**
   * Reads `actual` and asserts assertClose(values, expected, tol) against the reference (a host
   * tensor or plain values); returns the values read. The same check as
   * `assertClose(await rt.read(actual), expected, tol)`, in one step.
   */
  expectClose(actual: GpuArray, expected: CpuTensor | ArrayLike<number>, tol?: Tolerance & { label?: string }): Promise<HostArray>;
  /** The workgroup-reduce variants this device runs: 'shared' always, 'subgroup' with the subgroups feature. */
  reduceVariants(): ReduceVariant[];
  /** Whether this device can run a flag setting (a 'subgroup' reduce.variant needs the subgroups feature). */
  supports(flags: Readonly<Record<string, FlagValue>>): boolean;
}

/**
 * The shared setup of a kernel test file. Pass vitest's beforeAll (this module does not depend on
 * a test runner); the runtime is fetched there:
 *
 *   const k = kernelFixture(beforeAll);
 *   it('matches the reference', async () => {
 *     const y = matmul(k.rt, a, b);
 *     await k.expectClose(y, matmulReference(aRef, bRef), { atol: 1e-5, rtol: 1e-4, label: 'matmul' });
 *   });
 */
export function kernelFixture(beforeAll: (setup: () => Promise<void>) => void): KernelFixture {
  let runtime: Runtime | null = null;
  beforeAll(async () => {
    runtime = await getRuntime();
  });
  const rt = (): Runtime => {
    if (!runtime) throw new Error('kernelFixture: the runtime is only available inside tests (after beforeAll)');
    return runtime;
  };
  return {
    get rt() {
      return rt();
    },
    read: async (array) => Float64Array.from(await rt().read(array)),
    async expectClose(actual, expected, tol = {}) {
      const values = await rt().read(actual);
      assertClose(values, 'data' in expected ? expected.data : expected, tol);
      return values;
    },
    reduceVariants: () => (rt().hasFeature('subgroups') ? ['shared', 'subgroup'] : ['shared']),
    supports: (flags) => flags['reduce.variant'] !== 'subgroup' || rt().hasFeature('subgroups'),
  };
}
