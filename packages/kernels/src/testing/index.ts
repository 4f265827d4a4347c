// Test helpers shared by every package: a seeded random source, tolerance checks of the form
// |actual − expected| ≤ atol + rtol·|expected| with readable failure reports, the awkward sizes
// every kernel is tried on, and central finite differences for gradient checks.

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
