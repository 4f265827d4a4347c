// Prompt filtering by accuracy band, with oversampling and a carry-over buffer (PRIME's online
// filter, verl/DAPO dynamic sampling).
//
// A group whose K samples are all right or all wrong has zero advantage under every group
// baseline: it costs a backward pass and teaches nothing. So each step samples more prompts than
// it needs (oversample × the missing number), keeps the groups whose accuracy lies in [low, high]
// (both inclusive), and repeats up to maxRounds times until it has enough. Kept groups beyond what
// the step uses go to a buffer and are used first by the next step, so sampling is not wasted.
// Carried groups were sampled by the previous policy: their log-probs are that policy's, which is
// exactly what the PPO ratio's "old" policy must be, so using them one step later is ordinary
// off-policy importance sampling — with the clip range bounding it. The buffer holds at most
// maxBuffer groups (the freshest are kept).
import type { DecoderLM } from '@repirl/autograd';
import type { Problem } from '../tasks/task.js';
import { rollout, splitGroups, type RolloutOptions, type RolloutSample } from './rollout.js';
import { deriveSeed } from './seeds.js';

export interface AccuracyBand {
  /** Keep groups with accuracy ≥ low … */
  low: number;
  /** … and ≤ high. */
  high: number;
}

export interface FilteredRolloutOptions extends Omit<RolloutOptions, 'seed' | 'groupOffset'> {
  /** Groups (prompts) the step needs. */
  groups: number;
  /** Next `count` prompts of the prompt stream (called once per round). */
  nextPrompts: (count: number) => Problem[];
  /** Base seed of this step; round r samples with deriveSeed(seed, 'round', r). */
  seed: number;
  /** Keep only groups in this accuracy band; omit to keep every group (no filtering, one round). */
  band?: AccuracyBand;
  /** Prompts sampled per missing group (≥ 1). Default 1. */
  oversample?: number;
  /** Sampling rounds per step at most. Default 1. */
  maxRounds?: number;
  /** Groups carried over from the previous step (used first). */
  buffer?: readonly RolloutSample[][];
  /** Most groups carried to the next step. Default 0 (no buffer). */
  maxBuffer?: number;
}

export interface FilteredRollout {
  /** At most `groups` groups, each the K samples of one prompt; fewer when the rounds ran out. */
  groups: RolloutSample[][];
  /** Kept groups not used now, for the next step. */
  buffer: RolloutSample[][];
  stats: {
    /** Sampling rounds run. */
    rounds: number;
    /** Prompts sampled this step. */
    sampledGroups: number;
    /** Sampled groups inside the band. */
    keptGroups: number;
    /** Groups taken from the previous step's buffer. */
    carriedGroups: number;
    /** Groups that the step wanted but did not get. */
    shortGroups: number;
    /** Every group sampled this step (kept or not), for reward statistics of the raw policy. */
    sampled: RolloutSample[];
  };
}

/** True when the group's accuracy lies inside the band. */
export function inBand(group: readonly RolloutSample[], band: AccuracyBand): boolean {
  const accuracy = group.reduce((n, s) => n + (s.score > 0 ? 1 : 0), 0) / group.length;
  // A little slack so that e.g. 1/5 = 0.2 counts as inside [0.2, 0.8] despite rounding.
  return accuracy >= band.low - 1e-9 && accuracy <= band.high + 1e-9;
}

export async function filteredRollout(policy: DecoderLM, options: FilteredRolloutOptions): Promise<FilteredRollout> {
  const need = options.groups;
  const oversample = options.oversample ?? 1;
  const maxRounds = options.band ? (options.maxRounds ?? 1) : 1;
  const maxBuffer = options.maxBuffer ?? 0;
  if (!Number.isInteger(need) || need < 1) throw new Error(`filteredRollout: groups must be a positive integer, got ${need}`);
  if (!(oversample >= 1)) throw new Error(`filteredRollout: oversample must be ≥ 1, got ${oversample}`);
  if (!Number.isInteger(maxRounds) || maxRounds < 1) throw new Error(`filteredRollout: maxRounds must be a positive integer, got ${maxRounds}`);

  const carried = (options.buffer ?? []).slice();
  const kept: RolloutSample[][] = [...carried];
  const sampled: RolloutSample[] = [];
  let rounds = 0;
  let sampledGroups = 0;
  let keptGroups = 0;
  // Group ids only have to be unique within the step's batch; carried groups keep theirs, so new
  // groups start above every id in use.
  let nextGroup = carried.flat().reduce((m, s) => Math.max(m, s.group), -1) + 1;
  while (kept.length < need && rounds < maxRounds) {
    const count = Math.ceil((need - kept.length) * (options.band ? oversample : 1));
    const problems = options.nextPrompts(count);
    const batch = await rollout(policy, problems, { ...options, seed: deriveSeed(options.seed, 'round', rounds), groupOffset: nextGroup });
    nextGroup += problems.length;
    rounds++;
    sampledGroups += problems.length;
    for (const s of batch.samples) sampled.push(s);
    for (const group of splitGroups(batch.samples)) {
      if (options.band && !inBand(group, options.band)) continue;
      kept.push(group);
      keptGroups++;
    }
  }
  const groups = kept.slice(0, need);
  const leftover = kept.slice(need);
  return {
    groups,
    buffer: maxBuffer > 0 ? leftover.slice(Math.max(0, leftover.length - maxBuffer)) : [],
    stats: {
      rounds,
      sampledGroups,
      keptGroups,
      carriedGroups: Math.min(carried.length, need),
      shortGroups: need - groups.length,
      sampled,
    },
  };
}
