// The reward-hacking monitor of test-time training (docs/ttt.md#the-reward-hacking-monitor): at
// each validation point the mean PRM score of the policy's greedy responses s and their true
// accuracy a (greedy pass@1, read with the answers only here) are recorded; the point is flagged
// when, over the last `window` points, the PRM score rose while the accuracy fell:
//
//   Δs = slope_s · (t_last − t_first) > rise     and     Δa = slope_a · (t_last − t_first) ≤ −drop
//
// with slope_x the least-squares slope of x against the step over those points (with two points,
// Δx is the plain difference x_last − x_first). Fewer than `window` points: no verdict.
import { s, type Infer } from '@repirl/rl';

export const hackingMonitorSchema = s.object('the reward-hacking monitor: flags a validation point when, over the last `window` points, the PRM score rose while the true accuracy fell (docs/ttt.md)', {
  window: s.integer('validation points the rule fits (the current one and the window − 1 before it)', { default: 3, min: 2, max: 1000 }),
  drop: s.number('fitted fall of greedy accuracy over the window (a fraction: 0.05 = 5 points) at or beyond which the accuracy counts as falling', {
    default: 0.05, min: 0, max: 1, minExclusive: true,
  }),
  rise: s.number('fitted rise of the mean PRM score over the window that must be exceeded for the score to count as rising', { default: 0, min: 0 }),
});
export type HackingMonitorConfig = Infer<typeof hackingMonitorSchema>;

/** One validation point: the step, the mean PRM score of the greedy responses and their accuracy. */
export interface MonitorPoint {
  step: number;
  prmScore: number;
  accuracy: number;
}

export interface HackingVerdict {
  /** The PRM score rose (Δs > rise) while the accuracy fell (Δa ≤ −drop) over the window. */
  flagged: boolean;
  /** Δs and Δa: the least-squares changes over the window's steps. */
  prmChange: number;
  accuracyChange: number;
}

/** slope · (t_last − t_first) of the least-squares line of ys against ts. */
export function fittedChange(ts: readonly number[], ys: readonly number[]): number {
  const n = ts.length;
  if (n < 2 || ys.length !== n) throw new Error(`fittedChange: needs at least two points of (step, value), got ${n} steps and ${ys.length} values`);
  const mt = ts.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (ts[i]! - mt) * (ys[i]! - my);
    sxx += (ts[i]! - mt) ** 2;
  }
  if (sxx === 0) throw new Error('fittedChange: every point has the same step');
  return (sxy / sxx) * (ts[n - 1]! - ts[0]!);
}

/** The verdict on the last `window` points of `points` (in step order), or null while there are fewer. */
export function hackingVerdict(points: readonly MonitorPoint[], config: HackingMonitorConfig): HackingVerdict | null {
  if (points.length < config.window) return null;
  const last = points.slice(-config.window);
  const ts = last.map((p) => p.step);
  const prmChange = fittedChange(ts, last.map((p) => p.prmScore));
  const accuracyChange = fittedChange(ts, last.map((p) => p.accuracy));
  // (1e-9: accuracies are multiples of 1/N, so a fall of exactly `drop` must not be lost to rounding.)
  return { flagged: prmChange > config.rise && accuracyChange <= -config.drop + 1e-9, prmChange, accuracyChange };
}

/** The steps of every flagged point of a whole series (each judged on its own window). */
export function hackingSteps(points: readonly MonitorPoint[], config: HackingMonitorConfig): number[] {
  const out: number[] = [];
  for (let i = config.window; i <= points.length; i++) if (hackingVerdict(points.slice(0, i), config)?.flagged) out.push(points[i - 1]!.step);
  return out;
}
