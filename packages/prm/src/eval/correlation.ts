// Correlations, e.g. between a PRM's mean score and the policy's true accuracy over training: a
// PRM that keeps rising while accuracy falls is being reward-hacked.
import { correlation } from '@repirl/rl';
import { averageRanks, checkFinite } from './ranks.js';

function checkPair(fn: string, x: readonly number[], y: readonly number[]): void {
  if (x.length !== y.length) throw new Error(`${fn}: x has ${x.length} values but y has ${y.length}; they must be parallel`);
  if (x.length < 2) throw new Error(`${fn}: needs at least 2 pairs, got ${x.length}`);
  checkFinite(fn, 'x', x);
  checkFinite(fn, 'y', y);
}

/**
 * Pearson's r = Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² · Σ(y−ȳ)²), in [−1, 1].
 * NaN when x or y is constant (the correlation is undefined); throws on malformed input.
 */
export function pearson(x: readonly number[], y: readonly number[]): number {
  checkPair('pearson', x, y);
  return correlation(x, y);
}

/** Spearman's ρ: Pearson's r of the average ranks (ties share their mean rank). NaN when constant. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  checkPair('spearman', x, y);
  return correlation(averageRanks(x), averageRanks(y));
}
