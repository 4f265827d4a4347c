// Seeded randomness for task generation and noisy solutions. Tasks must give the same problems
// for the same seed on every machine, so they never touch Math.random: they draw from the
// project's one PRNG, SeededRandom of @repirl/kernels (mulberry32).
import { SeededRandom, type UniformSource } from '@repirl/kernels';

/** Anything that yields uniform numbers in [0, 1); `SeededRandom` from @repirl/kernels fits. */
export type Rng = UniformSource;

/** The project's seeded PRNG, with the seed checked. */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`createRng: seed must be an integer in [0, 2^32), got ${seed}`);
  }
  return new SeededRandom(seed);
}

/** randInt(rng, lo, hi): uniform integer in [lo, hi], both inclusive; pick(rng, items): one element chosen uniformly. */
export { uniformInt as randInt, pickOne as pick } from '@repirl/kernels';
