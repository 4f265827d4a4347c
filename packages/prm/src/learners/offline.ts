// The training loop of the offline baselines (ORM, Math-Shepherd; docs/research/papers.md "Baselines"): a PRM
// trained on a fixed set of labelled sequences for `epochs` passes of seeded mini-batches, one
// AdamW step each (own optimizer, grad clip), recording the loss of every update.
import { backward, tidy, type Tensor } from '@repirl/autograd';
import { deriveSeed, makeOptimizer, optimizerSchema, packSequences, s, seedSchema, type DeepPartial, type Infer, type PackedBatch, type SequencePart } from '@repirl/rl';
import type { ProcessRewardModel } from '../models/prm.js';
import { detach } from '../losses/index.js';
import { average, miniBatchRows } from './common.js';

/** The keys of the offline training loop every offline learner has. */
export const offlineLoopFields = {
  seed: seedSchema(),
  epochs: s.integer('passes over the rollout set', { default: 4, min: 1, max: 1000 }),
  miniBatchSize: s.integer('sequences per PRM optimizer step', { default: 32, min: 1 }),
  optim: optimizerSchema("the PRM's optimizer", { lr: 1e-3, maxGradNorm: 1, weightDecay: 0 }),
};
export type OfflineConfig = Infer<ReturnType<typeof s.object<typeof offlineLoopFields>>>;
export type OfflineConfigInput = DeepPartial<OfflineConfig>;

/** Train only the head (the PRMs with a head on a copy of the policy). */
export const freezeBackboneSchema = () => s.boolean('train only the head', { default: false });

/** One optimizer step of an offline run. */
export interface OfflineRecord {
  epoch: number;
  /** 1-based update count. */
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
}

/**
 * Trains `prm` on `examples`: per epoch a seeded shuffle into mini-batches of miniBatchSize, each
 * one optimizer step on `loss(prm, packed, part)`; `afterEpoch` (e.g. a validation pass) runs at
 * the end of each epoch. Returns a record per update.
 */
export async function trainOffline<E extends SequencePart>(
  prm: ProcessRewardModel,
  examples: readonly E[],
  loss: (packed: PackedBatch, part: readonly E[]) => Tensor,
  config: OfflineConfig,
  padId: number,
  afterEpoch?: (epoch: number) => Promise<void>,
): Promise<OfflineRecord[]> {
  if (examples.length === 0) throw new Error('trainOffline: no training examples');
  const perEpoch = Math.ceil(examples.length / config.miniBatchSize);
  const optimizer = makeOptimizer(prm.trainableParameters(), config.optim, config.epochs * perEpoch);
  const records: OfflineRecord[] = [];
  try {
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      for (const rows of miniBatchRows(examples.length, perEpoch, deriveSeed(config.seed, 'offline-minibatch', epoch))) {
        const part = rows.map((i) => examples[i]!);
        const packed = packSequences(part, padId);
        const value = tidy(() => {
          const l = loss(packed, part);
          backward(l);
          return detach(l);
        });
        const lossValue = await value.item();
        value.dispose();
        const report = await optimizer.step();
        records.push({ epoch, step: records.length + 1, loss: lossValue, gradNorm: report.gradNorm, lr: report.lr });
      }
      await afterEpoch?.(epoch);
    }
  } finally {
    optimizer.dispose();
  }
  return records;
}

/** Mean loss of each epoch (what a loss-goes-down check compares). */
export function epochLosses(records: readonly OfflineRecord[]): number[] {
  const epochs = records.reduce((m, r) => Math.max(m, r.epoch), -1) + 1;
  return Array.from({ length: epochs }, (_, e) => average(records.filter((r) => r.epoch === e).map((r) => r.loss)));
}
