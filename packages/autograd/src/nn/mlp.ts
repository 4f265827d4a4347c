// The feed-forward halves of a transformer block: GPT-2's MLP (Linear → GELU → Linear) and
// LLaMA's SwiGLU (down(silu(gate(x)) ∘ up(x))).
import type { Backend } from '../core/backend.js';
import type { Tensor } from '../core/tensor.js';
import { gelu, swiglu } from '../core/ops.js';
import { Module, type Init, type InitOptions } from './module.js';
import { INIT_STD, Linear } from './layers.js';

export interface MlpConfig {
  dModel: number;
  dFF: number;
  bias?: boolean;
  /** Initial std of the projection back to dModel (a residual projection). */
  projStd?: number;
}

/** fc (d → dFF), GELU (tanh approximation, as the kernel computes it), proj (dFF → d). */
export class Mlp extends Module<MlpConfig> {
  readonly fc: Linear;
  readonly proj: Linear;
  constructor(backend: Backend, config: MlpConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    const bias = config.bias ?? false;
    this.fc = this.child('fc', new Linear(backend, { inFeatures: config.dModel, outFeatures: config.dFF, bias }, this.init));
    this.proj = this.child('proj', new Linear(backend, { inFeatures: config.dFF, outFeatures: config.dModel, bias, std: config.projStd ?? INIT_STD }, this.init));
  }
  /** The block's output, plus `residual` when given (added inside the last projection's matmul). */
  forward(x: Tensor, residual?: Tensor): Tensor {
    return this.proj.forward(gelu(this.fc.forward(x)), residual);
  }
}

/** gate and up (d → dFF), down (dFF → d): down(silu(gate(x)) ∘ up(x)). */
export class SwiGlu extends Module<MlpConfig> {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;
  constructor(backend: Backend, config: MlpConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    const bias = config.bias ?? false;
    const { dModel, dFF } = config;
    this.gate = this.child('gate', new Linear(backend, { inFeatures: dModel, outFeatures: dFF, bias }, this.init));
    this.up = this.child('up', new Linear(backend, { inFeatures: dModel, outFeatures: dFF, bias }, this.init));
    this.down = this.child('down', new Linear(backend, { inFeatures: dFF, outFeatures: dModel, bias, std: config.projStd ?? INIT_STD }, this.init));
  }
  /** The block's output, plus `residual` when given (added inside the down projection's matmul). */
  forward(x: Tensor, residual?: Tensor): Tensor {
    return this.down.forward(swiglu(this.gate.forward(x), this.up.forward(x)), residual);
  }
}
