// From step scores to one response score, for best-of-N and response-level AUROC.
//
//   min      min_k s_k           (a chain is as good as its weakest step)
//   product  Π_k s_k             needs probabilities: every s_k in [0, 1], else it throws
//   product-sigmoid  Π_k σ(s_k)  the product for raw rewards (logits, rePIRL's tanh sums, log-ratios),
//                                computed as exp(Σ_k log σ(s_k)) for stability
//   last     s_last              (the answer step's score)
//   mean     (1/K) Σ_k s_k
//   sum      Σ_k s_k
//
// A response with no steps cannot be aggregated: that throws (bestOfN ranks such candidates last).
import { checkFinite } from './ranks.js';

export const aggregationModes = ['min', 'product', 'product-sigmoid', 'last', 'mean', 'sum'] as const;
export type Aggregation = (typeof aggregationModes)[number];

/** log σ(x) = −log(1 + e^{−x}), written to avoid overflow for large |x|. */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function aggregateSteps(stepScores: readonly number[], mode: Aggregation): number {
  if (!(aggregationModes as readonly string[]).includes(mode)) {
    throw new Error(`aggregateSteps: unknown mode "${String(mode)}"; use one of ${aggregationModes.join(', ')}`);
  }
  if (stepScores.length === 0) throw new Error(`aggregateSteps: no step scores to aggregate (mode "${mode}")`);
  checkFinite('aggregateSteps', 'stepScores', stepScores);
  switch (mode) {
    case 'min':
      return Math.min(...stepScores);
    case 'product':
      stepScores.forEach((s, k) => {
        if (s < 0 || s > 1) {
          throw new Error(
            `aggregateSteps: mode "product" needs probabilities in [0, 1] but step ${k} scores ${s}; use "product-sigmoid" for raw rewards`,
          );
        }
      });
      return stepScores.reduce((a, b) => a * b, 1);
    case 'product-sigmoid':
      return Math.exp(stepScores.reduce((a, s) => a + logSigmoid(s), 0));
    case 'last':
      return stepScores.at(-1)!;
    case 'mean':
      return stepScores.reduce((a, b) => a + b, 0) / stepScores.length;
    case 'sum':
      return stepScores.reduce((a, b) => a + b, 0);
  }
}
