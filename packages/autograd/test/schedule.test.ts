import { describe, expect, it } from 'vitest';
import { assertClose } from '@repirl/kernels/testing';
import { constantSchedule, linearWarmup, warmupCosine, warmupLinearDecay, type LrSchedule } from '../src/optim/schedule.js';

const at = (schedule: LrSchedule, steps: number[]) => steps.map((s) => schedule(s));
const exact = { atol: 1e-15, rtol: 1e-12 };

describe('learning-rate schedules', () => {
  it('constant', () => {
    expect(at(constantSchedule(0.01), [0, 1, 1e6])).toEqual([0.01, 0.01, 0.01]);
  });

  it('linear warmup: 0 at step 0, peak from warmupSteps on', () => {
    expect(at(linearWarmup({ peak: 3, warmupSteps: 3 }), [0, 1, 2, 3, 4, 100])).toEqual([0, 1, 2, 3, 3, 3]);
    expect(at(linearWarmup({ peak: 3, warmupSteps: 0 }), [0, 5])).toEqual([3, 3]);
  });

  it('warmup + cosine: hand-computed values at start, warmup end, quarter, middle, end and beyond', () => {
    // peak 1e-3, 10 warmup steps, 100 decay steps (10 → 110), floor 1e-4.
    // Step 35 is a quarter into the decay: 1e-4 + 9e-4 · ½(1 + cos(π/4)) = 1e-4 + 9e-4 · 0.853553390593 = 8.68198051534e-4.
    // Step 60 is half way: 1e-4 + 9e-4 · ½ = 5.5e-4.
    const expected = [0, 5e-4, 1e-3, 8.68198051534e-4, 5.5e-4, 1e-4, 1e-4, 1e-4];
    const steps = [0, 5, 10, 35, 60, 110, 111, 10_000];
    assertClose(at(warmupCosine({ peak: 1e-3, warmupSteps: 10, totalSteps: 110, minLr: 1e-4 }), steps), expected, { ...exact, label: 'minLr' });
    assertClose(at(warmupCosine({ peak: 1e-3, warmupSteps: 10, totalSteps: 110, minRatio: 0.1 }), steps), expected, { ...exact, label: 'minRatio' });
    // No warmup, floor 0: 1, ½(1 + cos(π/4)), ½, 0.
    assertClose(at(warmupCosine({ peak: 1, warmupSteps: 0, totalSteps: 4 }), [0, 1, 2, 4, 9]), [1, 0.853553390593, 0.5, 0, 0], exact);
  });

  it('warmup + cosine never rises after warmup and stays within [floor, peak]', () => {
    const lr = warmupCosine({ peak: 2e-5, warmupSteps: 7, totalSteps: 53, minRatio: 0.2 });
    for (let step = 7; step < 80; step++) {
      expect(lr(step + 1)).toBeLessThanOrEqual(lr(step));
      expect(lr(step)).toBeGreaterThanOrEqual(4e-6 - 1e-20);
      expect(lr(step)).toBeLessThanOrEqual(2e-5);
    }
  });

  it('warmup + linear decay: hand-computed values', () => {
    // peak 2 after 4 steps, then down by 0.2 a step to 0 at step 14.
    assertClose(at(warmupLinearDecay({ peak: 2, warmupSteps: 4, totalSteps: 14 }), [0, 2, 4, 9, 13, 14, 20]), [0, 1, 2, 1, 0.2, 0, 0], exact);
    // Floor 1 (minRatio 0.5): half way is 1.5.
    expect(at(warmupLinearDecay({ peak: 2, warmupSteps: 4, totalSteps: 14, minRatio: 0.5 }), [4, 9, 14, 15])).toEqual([2, 1.5, 1, 1]);
  });

  it('rejects bad parameters and steps with the parameter named', () => {
    const base = { peak: 1e-3, warmupSteps: 10, totalSteps: 100 };
    expect(() => constantSchedule(-1)).toThrow('constantSchedule: lr must be a finite number ≥ 0, got -1');
    expect(() => linearWarmup({ peak: NaN, warmupSteps: 1 })).toThrow('linearWarmup: peak must be a finite number ≥ 0, got NaN');
    expect(() => warmupCosine({ ...base, warmupSteps: 2.5 })).toThrow('warmupCosine: warmupSteps must be an integer ≥ 0, got 2.5');
    expect(() => warmupCosine({ ...base, totalSteps: 10 })).toThrow('warmupCosine: totalSteps (10) must be greater than warmupSteps (10); for warmup without decay use linearWarmup');
    expect(() => warmupCosine({ ...base, minLr: 1e-4, minRatio: 0.1 })).toThrow('warmupCosine: give minLr or minRatio, not both');
    expect(() => warmupLinearDecay({ ...base, minLr: 1e-2 })).toThrow('warmupLinearDecay: minLr (0.01) must not exceed peak (0.001)');
    expect(() => warmupLinearDecay({ ...base, minRatio: 1.5 })).toThrow('warmupLinearDecay: minRatio must be a number in [0, 1], got 1.5');
    expect(() => warmupCosine(undefined as never)).toThrow('warmupCosine: expected an options object');
    expect(() => warmupCosine(base)(-1)).toThrow('warmupCosine: step must be a finite number ≥ 0 (the 0-based optimizer step), got -1');
    expect(() => linearWarmup({ peak: 1, warmupSteps: 2 })(NaN)).toThrow('linearWarmup: step must be a finite number ≥ 0');
  });
});
