// A tiny seeded PRNG for task generation and noisy solutions. Tasks must give the same problems
// for the same seed on every machine, so they never touch Math.random.

/** Anything that yields uniform numbers in [0, 1); `SeededRandom` from @repirl/kernels/testing fits. */
export interface Rng {
  next(): number;
}

/** Mulberry32: 32 bits of state, fast, and good enough for sampling small synthetic problems. */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`createRng: seed must be an integer in [0, 2^32), got ${seed}`);
  }
  let state = seed >>> 0;
  return {
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** Uniform integer in [lo, hi], both inclusive. */
export function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1));
}

/** One element chosen uniformly. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng.next() * items.length)]!;
}
