// The outcome reward model baseline (docs/research/papers.md "Baselines"): a scalar logit head on a copy of the
// policy's backbone, read at the last response token, trained offline on a fixed set of policy
// rollouts with BCE on final-answer correctness (losses/baselines.ts ormBceLoss):
//   L = −mean_b[ y_b log σ(s_b) + (1 − y_b) log(1 − σ(s_b)) ].
// Its tokenRewards put σ(s) on the last token, so the summed step scores give P(correct).
import type { DecoderLM } from '@repirl/autograd';
import { TaskCodec, resolveConfig, s, type DeepPartial, type Infer, type RolloutSample, type SequencePart } from '@repirl/rl';
import { ormBceLoss } from '../losses/index.js';
import { OutcomeHeadPrm } from '../models/outcome-head.js';
import { freezeBackboneSchema, offlineLoopFields, trainOffline, type OfflineRecord } from './offline.js';

/** A sequence with its outcome label. */
export interface OutcomeSample extends SequencePart {
  correct: boolean;
}

/** Rollouts as ORM training data (their verifier verdicts are the labels). */
export const outcomeSamples = (rollouts: readonly RolloutSample[]): OutcomeSample[] =>
  rollouts.map((s) => ({ promptIds: s.promptIds, responseIds: s.responseIds, correct: s.verdict.correct }));

export const ormConfigSchema = s.object('the outcome reward model: a logit head read at the last response token, BCE on final-answer correctness', {
  ...offlineLoopFields,
  freezeBackbone: freezeBackboneSchema(),
});
export type OrmConfig = Infer<typeof ormConfigSchema>;
export type OrmConfigInput = DeepPartial<OrmConfig>;

/** Checks an ORM config (errors name the key). */
export function resolveOrmConfig(input: OrmConfigInput | Record<string, unknown> = {}): OrmConfig {
  return resolveConfig<OrmConfig>(ormConfigSchema, { file: { value: input, name: 'the ORM config' } });
}

export interface OrmTrainOptions {
  /** The backbone starts as a copy of this policy. */
  policy: DecoderLM;
  samples: readonly OutcomeSample[];
  config?: OrmConfigInput;
  codec?: TaskCodec;
}

export interface OfflineResult<P> {
  prm: P;
  /** One record per optimizer step. */
  metrics: OfflineRecord[];
}

export async function trainOrm(options: OrmTrainOptions): Promise<OfflineResult<OutcomeHeadPrm> & { config: OrmConfig }> {
  const config = resolveOrmConfig(options.config ?? {});
  const codec = options.codec ?? new TaskCodec();
  const prm = OutcomeHeadPrm.fromPolicy(options.policy, { read: 'last', freezeBackbone: config.freezeBackbone, seed: config.seed });
  prm.codec = codec;
  const metrics = await trainOffline(prm, options.samples, (packed, part) => ormBceLoss({ scores: prm.logits(packed), labels: part.map((s) => (s.correct ? 1 : 0)) }).loss, config, codec.padId);
  return { prm, metrics, config };
}
