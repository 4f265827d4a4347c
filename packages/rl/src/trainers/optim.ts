// An AdamW with the learning-rate schedule an OptimizerConfig describes.
import { AdamW, constantSchedule, linearWarmup, warmupCosine, warmupLinearDecay, type LrSchedule, type Tensor } from '@repirl/autograd';
import type { OptimizerConfig } from './config.js';

/** The schedule over `totalSteps` optimizer steps (decays reach minLrRatio·lr at the last one). */
export function lrSchedule(config: OptimizerConfig, totalSteps: number): LrSchedule {
  const { lr: peak, warmupSteps } = config;
  if (config.schedule === 'constant' || totalSteps <= warmupSteps) return warmupSteps > 0 ? linearWarmup({ peak, warmupSteps }) : constantSchedule(peak);
  const decay = { peak, warmupSteps, totalSteps, minRatio: config.minLrRatio };
  return config.schedule === 'cosine' ? warmupCosine(decay) : warmupLinearDecay(decay);
}

export function makeOptimizer(params: ReadonlyMap<string, Tensor>, config: OptimizerConfig, totalSteps: number): AdamW {
  return new AdamW(params, {
    lr: lrSchedule(config, totalSteps),
    beta1: config.beta1,
    beta2: config.beta2,
    eps: config.eps,
    weightDecay: config.weightDecay,
    ...(config.maxGradNorm > 0 ? { maxGradNorm: config.maxGradNorm } : {}),
  });
}
