// Learning-rate schedules: pure functions from the 0-based optimizer step to the learning rate.
//
// Conventions (those of Hugging Face's get_*_schedule_with_warmup, so settings copied from papers
// and verl configs mean the same thing here):
//   - warmup rises linearly from 0 at step 0 to `peak` at step warmupSteps: lr = peak·step/warmupSteps;
//   - the decay runs from `peak` at step warmupSteps down to the floor at step totalSteps;
//   - after totalSteps the rate stays at the floor (Hugging Face's cosine would rise again).
// The floor is given either as minLr or as minRatio (floor = minRatio·peak); the default is 0.

export type LrSchedule = (step: number) => number;

export interface WarmupOptions {
  /** The learning rate reached at the end of warmup. */
  peak: number;
  /** Steps of linear warmup; 0 starts at `peak`. */
  warmupSteps: number;
}

export interface DecayOptions extends WarmupOptions {
  /** The step at which the decay reaches its floor. Must be greater than warmupSteps. */
  totalSteps: number;
  /** The floor, as a learning rate in [0, peak]. Give this or minRatio, not both. */
  minLr?: number;
  /** The floor, as a fraction of peak in [0, 1]. */
  minRatio?: number;
}

export function constantSchedule(lr: number): LrSchedule {
  checkRate('constantSchedule', 'lr', lr);
  return (step) => {
    checkStep('constantSchedule', step);
    return lr;
  };
}

/** Linear warmup to `peak`, then constant. */
export function linearWarmup(options: WarmupOptions): LrSchedule {
  const { peak, warmupSteps } = checkWarmup('linearWarmup', options);
  return (step) => {
    checkStep('linearWarmup', step);
    return step < warmupSteps ? (peak * step) / warmupSteps : peak;
  };
}

/** Linear warmup, then half a cosine from `peak` down to the floor at totalSteps. */
export function warmupCosine(options: DecayOptions): LrSchedule {
  const { peak, warmupSteps, totalSteps, floor } = checkDecay('warmupCosine', options);
  return (step) => {
    checkStep('warmupCosine', step);
    if (step < warmupSteps) return (peak * step) / warmupSteps;
    if (step >= totalSteps) return floor;
    const progress = (step - warmupSteps) / (totalSteps - warmupSteps);
    // Written as a drop from peak so that the first decay step gives exactly peak, never above it.
    return peak - (peak - floor) * 0.5 * (1 - Math.cos(Math.PI * progress));
  };
}

/** Linear warmup, then a straight line from `peak` down to the floor at totalSteps. */
export function warmupLinearDecay(options: DecayOptions): LrSchedule {
  const { peak, warmupSteps, totalSteps, floor } = checkDecay('warmupLinearDecay', options);
  return (step) => {
    checkStep('warmupLinearDecay', step);
    if (step < warmupSteps) return (peak * step) / warmupSteps;
    if (step >= totalSteps) return floor;
    const progress = (step - warmupSteps) / (totalSteps - warmupSteps);
    return peak + (floor - peak) * progress;
  };
}

function checkRate(fn: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new Error(`${fn}: ${name} must be a finite number ≥ 0, got ${String(value)}`);
  }
}

function checkSteps(fn: string, name: string, value: unknown): asserts value is number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new Error(`${fn}: ${name} must be an integer ≥ 0, got ${String(value)}`);
}

function checkWarmup(fn: string, options: WarmupOptions): WarmupOptions {
  if (typeof options !== 'object' || options === null) throw new Error(`${fn}: expected an options object { peak, warmupSteps, … }`);
  checkRate(fn, 'peak', options.peak);
  checkSteps(fn, 'warmupSteps', options.warmupSteps);
  return options;
}

function checkDecay(fn: string, options: DecayOptions): { peak: number; warmupSteps: number; totalSteps: number; floor: number } {
  const { peak, warmupSteps } = checkWarmup(fn, options);
  const { totalSteps, minLr, minRatio } = options;
  checkSteps(fn, 'totalSteps', totalSteps);
  if (totalSteps <= warmupSteps) {
    throw new Error(`${fn}: totalSteps (${totalSteps}) must be greater than warmupSteps (${warmupSteps}); for warmup without decay use linearWarmup`);
  }
  if (minLr !== undefined && minRatio !== undefined) throw new Error(`${fn}: give minLr or minRatio, not both`);
  let floor = 0;
  if (minLr !== undefined) {
    checkRate(fn, 'minLr', minLr);
    if (minLr > peak) throw new Error(`${fn}: minLr (${minLr}) must not exceed peak (${peak})`);
    floor = minLr;
  } else if (minRatio !== undefined) {
    if (typeof minRatio !== 'number' || !(minRatio >= 0 && minRatio <= 1)) throw new Error(`${fn}: minRatio must be a number in [0, 1], got ${String(minRatio)}`);
    floor = minRatio * peak;
  }
  return { peak, warmupSteps, totalSteps, floor };
}

function checkStep(fn: string, step: unknown): asserts step is number {
  if (typeof step !== 'number' || !Number.isFinite(step) || step < 0) {
    throw new Error(`${fn}: step must be a finite number ≥ 0 (the 0-based optimizer step), got ${String(step)}`);
  }
}
