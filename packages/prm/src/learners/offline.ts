// The training loop of the offline baselines (ORM, Math-Shepherd; docs/research/papers.md "Baselines"): a PRM
// trained on a fixed set of labelled sequences for `epochs` passes of seeded mini-batches, one
// AdamW step each (own optimizer, grad clip), recording the loss of every update.
import { backward, tidy, type Tensor } from '@repirl/autograd';
import { SectionReader, deriveSeed, makeOptimizer, packSequences, readOptimizer, type OptimizerConfig, type PackedBatch, type SequencePart } from '@repirl/rl';
import type { ProcessRewardModel } from '../models/prm.js';
import { detach } from '../losses/index.js';
import { average, miniBatchRows } from './common.js';

export interface OfflineConfig {
  seed: number;
  /** Passes over the data. */
  epochs: number;
  /** Sequences per optimizer step. */
  miniBatchSize: number;
  /** Train only the head. */
  freezeBackbone: boolean;
  optim: OptimizerConfig;
}

export type OfflineConfigInput = Partial<Omit<OfflineConfig, 'optim'>> & { optim?: Partial<OptimizerConfig> };

/** One optimizer step of an offline run. */
export interface OfflineRecord {
  epoch: number;
  /** 1-based update count. */
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
}

/** Reads the loop's keys from `r` (the caller reads its own keys and calls done()). */
export function readOfflineConfig(r: SectionReader): OfflineConfig {
  const optim = r.section('optim');
  const config: OfflineConfig = {
    seed: r.int('seed', 0, { min: 0, max: 0xffffffff }),
    epochs: r.int('epochs', 4, { min: 1 }),
    miniBatchSize: r.int('miniBatchSize', 32, { min: 1 }),
    freezeBackbone: r.bool('freezeBackbone', false),
    optim: readOptimizer(optim, { lr: 1e-3, maxGradNorm: 1, weightDecay: 0 }),
  };
  optim.done();
  return config;
}

/**
 * Trains `prm` on `examples`: per epoch a seeded shuffle into mini-batches of miniBatchSize, each
 * one optimizer step on `loss(prm, packed, part)`. Returns a record per update.
 */
export async function trainOffline<E extends SequencePart>(
  prm: ProcessRewardModel,
  examples: readonly E[],
  loss: (packed: PackedBatch, part: readonly E[]) => Tensor,
  config: OfflineConfig,
  padId: number,
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
