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

/**
 * A 32-bit hash of text: FNV-1a over its UTF-16 code units from `offset`, then murmur3's finaliser
 * so that short texts spread over the high bits too. Seeds (rollout/seeds.ts) and problem keys
 * (splits.ts) use it; it spreads inputs evenly and is not meant to resist an adversary.
 */
export function hashText(text: string, offset = 0x811c9dc5): number {
  let h = offset >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
