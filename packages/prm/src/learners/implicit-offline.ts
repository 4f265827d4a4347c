// The offline implicit PRM ("Free Process Rewards without Process Labels", docs/research/papers.md §3(b), §3(d)):
// π_φ and the frozen π_ref start as copies of the policy (models/implicit.ts) and π_φ is trained
// on a fixed set of rollouts with outcome labels only, by either loss of losses/implicit.ts:
//   'ce'   −mean[ y log σ(r(y)) + (1 − y) log(1 − σ(r(y))) ],  r(y) = β Σ_t log π_φ/π_ref (y_t)
//   'dpo'  −mean log σ(r(y_w) − r(y_l)) over (correct, wrong) pairs of the same prompt
// Its token rewards β log π_φ/π_ref are the process rewards; step scores are their sums per step.
// The loop is the offline baselines' (learners/offline.ts: epochs × seeded mini-batches, AdamW).
//
// Defaults: ImplicitPRM's run_ce.sh trains an 8B model with β = 0.05, lr 5e-7, batch 64, 1 epoch;
// we keep β = 0.05 and the loop's tiny-model scale (lr 1e-3 constant, mini-batches of 32, 4 epochs
// over the small rollout sets of this project). DPO pairs: every (correct, wrong) pair of a prompt
// up to `pairsPerPrompt`, drawn with the seed; prompts with only right or only wrong samples give none.
import type { DecoderLM } from '@repirl/autograd';
import { TaskCodec, deriveSeed, packSequences, permutation, resolveConfig, s, type DeepPartial, type Infer, type SequencePart } from '@repirl/rl';
import { implicitPrmCeLoss, implicitPrmDpoLoss } from '../losses/index.js';
import { ImplicitPrm } from '../models/implicit.js';
import { offlineLoopFields, trainOffline } from './offline.js';
import type { OfflineResult, OutcomeSample } from './orm.js';

export const IMPLICIT_OFFLINE_LOSSES = ['ce', 'dpo'] as const;
export type ImplicitOfflineLoss = (typeof IMPLICIT_OFFLINE_LOSSES)[number];

/** The implicit PRM has no head (its whole LM π_φ trains), so it has no freezeBackbone key. */
export const implicitOfflineConfigSchema = s.object('the offline implicit PRM β·log(π_φ/π_ref): cross-entropy on outcome labels, or DPO on (correct, wrong) pairs', {
  ...offlineLoopFields,
  loss: s.enum('cross-entropy on outcome labels, or DPO on (correct, wrong) pairs of a prompt', IMPLICIT_OFFLINE_LOSSES, { default: 'ce' }),
  beta: s.number('β of r = β·log π_φ/π_ref', { default: 0.05, min: 0, max: 100, minExclusive: true }),
  pairsPerPrompt: s.integer("'dpo': pairs per prompt at most (0: all)", { default: 4, min: 0 }),
});
export type ImplicitOfflineConfig = Infer<typeof implicitOfflineConfigSchema>;
export type ImplicitOfflineConfigInput = DeepPartial<ImplicitOfflineConfig>;

/** Checks an offline implicit PRM config (errors name the key). */
export function resolveImplicitOfflineConfig(input: ImplicitOfflineConfigInput | Record<string, unknown> = {}): ImplicitOfflineConfig {
  return resolveConfig<ImplicitOfflineConfig>(implicitOfflineConfigSchema, { file: { value: input, name: 'the offline implicit PRM config' } });
}

/** A (correct, wrong) pair of one prompt; the chosen response doubles as the SequencePart the loop packs. */
interface Pair extends SequencePart {
  rejected: SequencePart;
}

/** (correct, wrong) pairs within each prompt, at most `perPrompt` (0 = all) drawn by `seed`. */
export function dpoPairs(samples: readonly OutcomeSample[], perPrompt: number, seed: number): Pair[] {
  const byPrompt = new Map<string, OutcomeSample[]>();
  for (const s of samples) {
    const key = s.promptIds.join(',');
    byPrompt.set(key, [...(byPrompt.get(key) ?? []), s]);
  }
  const pairs: Pair[] = [];
  [...byPrompt.values()].forEach((group, g) => {
    const all = group.filter((s) => s.correct).flatMap((w) => group.filter((s) => !s.correct).map((l) => ({ w, l })));
    const chosen = perPrompt > 0 && all.length > perPrompt ? permutation(all.length, deriveSeed(seed, 'dpo-pairs', g)).slice(0, perPrompt).map((i) => all[i]!) : all;
    for (const { w, l } of chosen) pairs.push({ promptIds: w.promptIds, responseIds: w.responseIds, rejected: { promptIds: l.promptIds, responseIds: l.responseIds } });
  });
  return pairs;
}

export interface ImplicitOfflineTrainOptions {
  /** π_φ and π_ref start as copies of this policy (unless `prm` is given). */
  policy: DecoderLM;
  /** Labelled rollouts (outcomeSamples(rollouts) makes them from a rollout batch). */
  samples: readonly OutcomeSample[];
  config?: ImplicitOfflineConfigInput;
  codec?: TaskCodec;
  /** An implicit PRM to train further instead of a fresh copy of the policy. */
  prm?: ImplicitPrm;
}

/** Trains the offline implicit PRM (see the file comment); returns it, one record per optimizer step, and the config. */
export async function trainImplicitPrm(options: ImplicitOfflineTrainOptions): Promise<OfflineResult<ImplicitPrm> & { config: ImplicitOfflineConfig }> {
  const config = resolveImplicitOfflineConfig(options.config ?? {});
  const codec = options.codec ?? new TaskCodec();
  const prm = options.prm ?? ImplicitPrm.fromPolicy(options.policy, { beta: config.beta });
  const beta = prm.beta;
  try {
    if (config.loss === 'ce') {
      const metrics = await trainOffline(prm, options.samples, (packed, part) => implicitPrmCeLoss({ ...prm.logRatioInputs(packed), labels: part.map((s) => (s.correct ? 1 : 0)) }, { beta }).loss, config, codec.padId);
      return { prm, metrics, config };
    }
    const pairs = dpoPairs(options.samples, config.pairsPerPrompt, config.seed);
    if (pairs.length === 0) throw new Error('trainImplicitPrm: no (correct, wrong) pair of the same prompt in the samples: DPO needs prompts with both');
    const metrics = await trainOffline(prm, pairs, (packed, part) => {
      const rejected = packSequences(part.map((p) => p.rejected), codec.padId);
      return implicitPrmDpoLoss({ chosen: prm.logRatioInputs(packed), rejected: prm.logRatioInputs(rejected) }, { beta }).loss;
    }, config, codec.padId);
    return { prm, metrics, config };
  } catch (error) {
    if (!options.prm) prm.dispose();
    throw error;
  }
}
