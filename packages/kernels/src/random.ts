// The one seeded PRNG for host-side randomness in repirl (task generation, weight initialisation,
// tests): mulberry32, with Box–Muller normals. The same seed gives the same stream on every
// machine. autograd's weight-init Rng and rl's task rng are this class; GPU-side randomness is the
// Philox kernel in ops/rng.

/** Anything that yields uniform numbers in [0, 1); SeededRandom is one. */
export interface UniformSource {
  next(): number;
}

/** Uniform integer in [lo, hi], both inclusive, from one draw of `source`. */
export function uniformInt(source: UniformSource, lo: number, hi: number): number {
  return lo + Math.floor(source.next() * (hi - lo + 1));
}

/** One element of `items` chosen uniformly, from one draw of `source`. */
export function pickOne<T>(source: UniformSource, items: readonly T[]): T {
  return items[Math.floor(source.next() * items.length)]!;
}

/** Deterministic PRNG (mulberry32); the same seed gives the same stream on every machine. */
export class SeededRandom implements UniformSource {
  /** The 32-bit mulberry32 state; subclasses with a seeding scheme of their own set it. */
  protected state: number;
  /** `seed`: an integer in [0, 2³²) (higher bits are dropped); 0 starts from a fixed non-zero state. */
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  uniform(lo = -1, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }
  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return uniformInt(this, lo, hi);
  }
  /** Normal by Box–Muller, from two draws. */
  normal(mean = 0, std = 1): number {
    const u = 1 - this.next(); // (0, 1]: log is finite
    const v = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  pick<T>(items: readonly T[]): T {
    return pickOne(this, items);
  }
  /** Float32Array of n uniform values in [lo, hi). */
  floats(n: number, lo = -1, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniform(lo, hi);
    return out;
  }
  ints(n: number, lo: number, hi: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(lo, hi);
    return out;
  }
}
