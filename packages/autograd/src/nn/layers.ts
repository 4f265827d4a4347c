// The basic layers: Linear, Embedding, RMSNorm, LayerNorm. Each is a thin Module over one or two
// differentiable ops of core/ops.ts.
import type { Backend } from '../core/backend.js';
import type { Tensor } from '../core/tensor.js';
import { add, embedding, layerNorm, matmul, matmulAdd, reshape, rmsNorm } from '../core/ops.js';
import { Module, type Init, type InitOptions } from './module.js';

/** GPT-2's initial standard deviation of weights and embeddings. */
export const INIT_STD = 0.02;

function checkPositiveInt(module: string, name: string, value: unknown): void {
  if (!Number.isInteger(value) || (value as number) < 1) throw new Error(`${module}: ${name} must be a positive integer, got ${String(value)}`);
}

function checkLastDim(module: string, x: Tensor, expected: number): void {
  if (x.shape[x.rank - 1] !== expected) {
    throw new Error(`${module}: input x has shape [${x.shape.join(', ')}], expected a last dimension of ${expected}`);
  }
}

/**
 * x [..., K] · w → [..., N] as one 2-D matmul over all leading positions (a free reshape). A batched
 * matmul with a broadcast weight would run each batch entry as its own tiny problem: for decoding
 * ([B, 1, d]) that measured ~50× slower on lavapipe than the same work as [B, d]. With a residual
 * [..., N], returns residual + x·w, the add done in the matmul (matmulAdd: no elementwise launch).
 */
export function matmulRows(x: Tensor, w: Tensor, flags: { transposeB?: boolean } = {}, residual?: Tensor): Tensor {
  const rows = (t: Tensor) => (t.rank === 2 ? t : reshape(t, [t.size / t.shape[t.rank - 1]!, t.shape[t.rank - 1]!]));
  if (residual) {
    const N = flags.transposeB ? w.shape[0]! : w.shape[1]!;
    if (residual.shape.length !== x.rank || residual.shape[x.rank - 1] !== N || x.shape.slice(0, -1).some((d, k) => d !== residual.shape[k])) {
      throw new Error(`matmulRows: residual has shape [${residual.shape.join(', ')}], expected [${[...x.shape.slice(0, -1), N].join(', ')}]`);
    }
  }
  const y2 = residual ? matmulAdd(rows(x), w, rows(residual), flags) : matmul(rows(x), w, flags);
  if (x.rank === 2) return y2;
  return reshape(y2, [...x.shape.slice(0, -1), y2.shape[1]!]);
}

export interface LinearConfig {
  inFeatures: number;
  outFeatures: number;
  /** Add a learned bias (default false, as in LLaMA-style models). */
  bias?: boolean;
  /** Initial standard deviation of the weight (default 0.02). */
  std?: number;
}

/**
 * y = x·W (+ b). The weight is stored [inFeatures, outFeatures] (JAX/Flax's "kernel" layout, the
 * transpose of PyTorch's): the forward is a plain matmul of x [..., in] by W, no transposed read.
 */
export class Linear extends Module<LinearConfig> {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  /**
   * A term added to the output, computed from the same input: y = x·W (+ b) + adapter(x). LoRA
   * (src/lora) installs one; its parameters belong to the adapter's module, not to this one, so
   * parameters(), stateDict() and copy() of the model are unchanged by it.
   */
  adapter: ((x: Tensor) => Tensor) | null = null;
  constructor(backend: Backend, config: LinearConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    checkPositiveInt('Linear', 'inFeatures', config.inFeatures);
    checkPositiveInt('Linear', 'outFeatures', config.outFeatures);
    this.weight = this.weightParam('weight', [config.inFeatures, config.outFeatures], { normal: config.std ?? INIT_STD });
    this.bias = config.bias ? this.param('bias', [config.outFeatures], 'zeros') : null;
  }
  /** y = x·W (+ b) (+ adapter(x)), plus `residual` when given (added inside the matmul). */
  forward(x: Tensor, residual?: Tensor): Tensor {
    checkLastDim('Linear', x, this.config.inFeatures);
    const xw = matmulRows(x, this.weight, {}, residual);
    const y = this.bias ? add(xw, this.bias) : xw;
    return this.adapter ? add(y, this.adapter(x)) : y;
  }
}

export interface EmbeddingConfig {
  vocabSize: number;
  dim: number;
  std?: number;
}

/** A table [vocabSize, dim]; forward gathers rows: ids i32 [...] → [..., dim]. */
export class Embedding extends Module<EmbeddingConfig> {
  readonly weight: Tensor;
  constructor(backend: Backend, config: EmbeddingConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    checkPositiveInt('Embedding', 'vocabSize', config.vocabSize);
    checkPositiveInt('Embedding', 'dim', config.dim);
    this.weight = this.param('weight', [config.vocabSize, config.dim], { normal: config.std ?? INIT_STD });
  }
  forward(ids: Tensor): Tensor {
    if (ids.dtype !== 'i32') throw new Error(`Embedding: ids must be an i32 tensor, got ${ids.dtype}`);
    return embedding(this.weight, ids);
  }
}

export interface NormConfig {
  dim: number;
  eps?: number;
}

/** y = x / rms(x) · γ over the last axis. */
export class RMSNorm extends Module<NormConfig> {
  readonly weight: Tensor;
  constructor(backend: Backend, config: NormConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    checkPositiveInt('RMSNorm', 'dim', config.dim);
    this.weight = this.param('weight', [config.dim], 'ones');
  }
  forward(x: Tensor): Tensor {
    checkLastDim('RMSNorm', x, this.config.dim);
    return rmsNorm(x, this.weight, this.config.eps ?? 1e-6);
  }
}

/** y = (x − mean) / std · γ + β over the last axis. */
export class LayerNorm extends Module<NormConfig> {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(backend: Backend, config: NormConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    checkPositiveInt('LayerNorm', 'dim', config.dim);
    this.weight = this.param('weight', [config.dim], 'ones');
    this.bias = this.param('bias', [config.dim], 'zeros');
  }
  forward(x: Tensor): Tensor {
    checkLastDim('LayerNorm', x, this.config.dim);
    return layerNorm(x, this.weight, this.bias, this.config.eps ?? 1e-5);
  }
}

export type NormKind = 'rms' | 'layer';

/** The norm a config names. */
export function makeNorm(backend: Backend, kind: NormKind, dim: number, init: Init, eps?: number): RMSNorm | LayerNorm {
  const config = eps === undefined ? { dim } : { dim, eps };
  if (kind === 'rms') return new RMSNorm(backend, config, init);
  if (kind === 'layer') return new LayerNorm(backend, config, init);
  throw new Error(`norm must be 'rms' or 'layer', got ${JSON.stringify(kind)}`);
}
