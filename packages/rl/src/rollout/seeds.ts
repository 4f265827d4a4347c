// Randomness derived from (seed, what, step, …), never from hidden state.
//
// A resumed run must draw exactly what an uninterrupted one draws (docs/research/anchors.md C.3: verl#3126, the
// seed did not control rollout sampling). So no stream is ever advanced across steps: every
// random choice takes a fresh seed from deriveSeed(runSeed, purpose, step, …) and the only
// state a trainer keeps (a prompt cursor, a buffer of groups) is saved in its checkpoints.
import { createRng, hashText } from '../tasks/rng.js';

/**
 * A 32-bit seed from a base seed and a path of parts, e.g. deriveSeed(7, 'rollout', 12, 0). The
 * parts are hashed as text (FNV-1a, then murmur3's finaliser to spread the bits), so different
 * paths give unrelated seeds and the same path always gives the same one.
 */
export function deriveSeed(base: number, ...parts: readonly (string | number)[]): number {
  if (!Number.isSafeInteger(base) || base < 0) throw new Error(`deriveSeed: base seed must be a non-negative integer, got ${base}`);
  return hashText([base, ...parts].join('/'));
}

/** A permutation of 0 … n−1 (Fisher–Yates) from a seed. */
export function permutation(n: number, seed: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = createRng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * An endless stream over `size` items: epoch e visits every item once, in the order
 * permutation(size, deriveSeed(seed, purpose, e)). Position p of the stream is item
 * order_e[p mod size] with e = floor(p / size), so any stretch of the stream is a pure function of
 * its start position — the cursor is the only state, and a checkpoint stores it.
 */
export class ShuffledStream {
  private cached: { epoch: number; order: number[] } | null = null;

  constructor(
    readonly size: number,
    readonly seed: number,
    readonly purpose: string,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`ShuffledStream(${purpose}): needs at least one item, got ${size}`);
  }

  /** The item index at stream position `position`. */
  at(position: number): number {
    if (!Number.isSafeInteger(position) || position < 0) throw new Error(`ShuffledStream(${this.purpose}): position must be a non-negative integer, got ${position}`);
    const epoch = Math.floor(position / this.size);
    if (this.cached?.epoch !== epoch) this.cached = { epoch, order: permutation(this.size, deriveSeed(this.seed, this.purpose, epoch)) };
    return this.cached.order[position % this.size]!;
  }

  /** Item indices at positions start … start + count − 1. */
  slice(start: number, count: number): number[] {
    return Array.from({ length: count }, (_, i) => this.at(start + i));
  }
}
