// Heads over a backbone's hidden states [B, T, d], readable at every token ([B, T]) or at chosen
// positions ([N], e.g. the last token of each reasoning step). Choosing positions is a
// differentiable gather that reuses the embedding primitive: the rows of hidden viewed as a table
// [B·T, d], looked up by flat index b·T + t (its gradient is the embedding's scatter-add).
import type { Backend } from '../core/backend.js';
import type { Tensor } from '../core/tensor.js';
import { embedding, relu, reshape, tanh, tensor } from '../core/ops.js';
import { Module, type Init, type InitOptions } from './module.js';
import { Linear } from './layers.js';

/**
 * Rows of x [B, T, d] at the given positions: positions[b] lists token indices of sequence b.
 * Returns [N, d] with N = Σ_b positions[b].length, sequence by sequence, in the order given.
 */
export function gatherPositions(x: Tensor, positions: readonly (readonly number[])[]): Tensor {
  if (x.rank !== 3) throw new Error(`gatherPositions: x must be [B, T, d], got [${x.shape.join(', ')}]`);
  const [B, T, d] = x.shape as [number, number, number];
  if (positions.length !== B) throw new Error(`gatherPositions: positions has ${positions.length} lists for a batch of ${B}`);
  const flat: number[] = [];
  positions.forEach((list, b) =>
    list.forEach((t) => {
      if (!Number.isInteger(t) || t < 0 || t >= T) throw new Error(`gatherPositions: positions[${b}] contains ${t}, outside [0, ${T})`);
      flat.push(b * T + t);
    }),
  );
  return gatherRows(reshape(x, [B * T, d]), flat);
}

/** Rows of a matrix [R, d] at host indices → [N, d] (differentiable in the matrix). */
export function gatherRows(rows: Tensor, indices: readonly number[]): Tensor {
  return embedding(rows, tensor(rows.backend, indices, [indices.length], { dtype: 'i32' }));
}

/** Applies a head mapping [..., d] → [..., 1] at every token ([B, T]) or at positions ([N]). */
function readOut(hidden: Tensor, positions: readonly (readonly number[])[] | undefined, head: (x: Tensor) => Tensor): Tensor {
  if (hidden.rank !== 3) throw new Error(`head: hidden must be [B, T, d], got [${hidden.shape.join(', ')}]`);
  if (positions) {
    const rows = gatherPositions(hidden, positions);
    return reshape(head(rows), [rows.shape[0]!]);
  }
  const [B, T] = hidden.shape as [number, number];
  return reshape(head(hidden), [B, T]);
}

export interface ScalarHeadConfig {
  dModel: number;
  bias?: boolean;
}

/** A Linear d → 1: one scalar per token (a value head, AIRL-S's step-level f). */
export class ScalarHead extends Module<ScalarHeadConfig> {
  readonly linear: Linear;
  constructor(backend: Backend, config: ScalarHeadConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    this.linear = this.child('linear', new Linear(backend, { inFeatures: config.dModel, outFeatures: 1, bias: config.bias ?? true }, this.init));
  }
  /** hidden [B, T, d] → [B, T]; with positions → [N]. */
  forward(hidden: Tensor, positions?: readonly (readonly number[])[]): Tensor {
    return readOut(hidden, positions, (x) => this.linear.forward(x));
  }
}

export interface MlpHeadConfig {
  dModel: number;
  /** Width of the two hidden layers. */
  hidden: number;
  /** Squash the output into (−1, 1) (rePIRL's per-token PRM reward). Default false. */
  tanh?: boolean;
}

/** d → h → h → 1 with ReLU between (biases everywhere), optionally tanh on the output: rePIRL's PRM head. */
export class MlpHead extends Module<MlpHeadConfig> {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly out: Linear;
  constructor(backend: Backend, config: MlpHeadConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    const { dModel, hidden } = config;
    this.fc1 = this.child('fc1', new Linear(backend, { inFeatures: dModel, outFeatures: hidden, bias: true }, this.init));
    this.fc2 = this.child('fc2', new Linear(backend, { inFeatures: hidden, outFeatures: hidden, bias: true }, this.init));
    this.out = this.child('out', new Linear(backend, { inFeatures: hidden, outFeatures: 1, bias: true }, this.init));
  }
  /** hidden [B, T, d] → [B, T]; with positions → [N]. */
  forward(hidden: Tensor, positions?: readonly (readonly number[])[]): Tensor {
    return readOut(hidden, positions, (x) => {
      const y = this.out.forward(relu(this.fc2.forward(relu(this.fc1.forward(x)))));
      return this.config.tanh ? tanh(y) : y;
    });
  }
}
