// Seeded randomness for task generation and noisy solutions. Tasks must give the same problems
// for the same seed on every machine, so they never touch Math.random.
import { SeededRandom } from '@repirl/kernels';

/** Anything that yields uniform numbers in [0, 1); `SeededRandom` from @repirl/kernels fits. */
export interface Rng {
  next(): number;
}

/** The project's seeded PRNG (mulberry32), with the seed checked. */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`createRng: seed must be an integer in [0, 2^32), got ${seed}`);
  }
  return new SeededRandom(seed);
}

/** Uniform integer in [lo, hi], both inclusive. */
export function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1));
}

/** One element chosen uniformly. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng.next() * items.length)]!;
}
