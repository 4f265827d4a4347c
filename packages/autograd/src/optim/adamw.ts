// AdamW over a set of named parameters, on the fused multi-tensor kernel (or its float64 reference
// on the CPU backend), with global-norm clipping that skips the step — and says so — when the norm is not
// finite, and learning-rate schedules. Gradient accumulation is calling backward() several times
// (each on a loss scaled by 1/k) before step(): gradients add up in .grad.

import { full } from '../core/ops.js';
import { StorageRef, Tensor } from '../core/tensor.js';
import { keep } from '../core/scope.js';
import type { LrSchedule } from './schedule.js';

export interface AdamWConfig {
  /** A constant learning rate or a schedule of the step (0-based, before the update). */
  lr: number | LrSchedule;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (default 0.01, as PyTorch). */
  weightDecay?: number;
  /** Parameters matching this get no weight decay (default: biases and norm gains, i.e. rank-1 tensors). */
  noDecay?: (name: string, param: Tensor) => boolean;
  /** Clip the global L2 norm of all gradients to this value (default: no clipping, norm still reported). */
  maxGradNorm?: number;
}

export interface StepReport {
  /** 1-based count of updates applied so far. */
  step: number;
  lr: number;
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  clipped: boolean;
  /** True when the norm was NaN or infinite: no parameter changed. */
  skipped: boolean;
}

interface Slot {
  name: string;
  param: Tensor;
  m: Tensor;
  v: Tensor;
  decay: boolean;
}

export class AdamW {
  private readonly slots: Slot[];
  private steps = 0;
  private calls = 0;

  constructor(
    params: ReadonlyMap<string, Tensor>,
    readonly config: AdamWConfig,
  ) {
    const noDecay = config.noDecay ?? ((_name: string, p: Tensor) => p.rank <= 1);
    this.slots = [...params].map(([name, param]) => {
      if (!param.requiresGrad) throw new Error(`AdamW: parameter "${name}" does not require grad (a frozen copy?)`);
      const zeros = () => keep(full(param.backend, param.shape, 0));
      return { name, param, m: zeros(), v: zeros(), decay: !noDecay(name, param) };
    });
  }

  get stepCount(): number {
    return this.steps;
  }

  /**
   * Global L2 norm of all gradients (one pass over all of them on the backend, one host read).
   * Parameters without a gradient count as zero.
   */
  async gradNorm(): Promise<number> {
    const grads = this.slots.flatMap(({ param }) => (param.grad ? [param.grad] : []));
    if (grads.length === 0) return 0;
    const backend = grads[0]!.backend;
    const squares = backend.sumOfSquares(grads.map((g) => g.storage));
    try {
      return Math.sqrt((await backend.read(squares))[0]!);
    } finally {
      backend.dispose(squares);
    }
  }

  /** Applies one update from the accumulated gradients, then clears them. */
  async step(): Promise<StepReport> {
    const lr = typeof this.config.lr === 'number' ? this.config.lr : this.config.lr(this.calls);
    this.calls++;
    const gradNorm = await this.gradNorm();
    const max = this.config.maxGradNorm;
    const skipped = !Number.isFinite(gradNorm);
    const clipped = !skipped && max !== undefined && gradNorm > max;
    if (!skipped) {
      this.steps++;
      const gradScale = clipped ? max! / (gradNorm + 1e-6) : 1;
      // Every parameter with a gradient in one multi-tensor update (few launches on the GPU).
      const live = this.slots.filter((slot) => slot.param.grad);
      live[0]?.param.backend.adamw(
        live.map(({ param, m, v, decay }) => ({ param: param.storage, grad: param.grad!.storage, m: m.storage, v: v.storage, weightDecay: decay ? (this.config.weightDecay ?? 0.01) : 0 })),
        {
          lr,
          step: this.steps,
          gradScale,
          ...(this.config.beta1 !== undefined ? { beta1: this.config.beta1 } : {}),
          ...(this.config.beta2 !== undefined ? { beta2: this.config.beta2 } : {}),
          ...(this.config.eps !== undefined ? { eps: this.config.eps } : {}),
        },
      );
    }
    this.zeroGrad();
    return { step: this.steps, lr, gradNorm, clipped, skipped };
  }

  zeroGrad(): void {
    for (const { param } of this.slots) param.zeroGrad();
  }

  /** Optimizer state as named tensors (for checkpoints): `<param>.m`, `<param>.v`, plus the step count. */
  state(): { steps: number; calls: number; tensors: Map<string, Tensor> } {
    const tensors = new Map<string, Tensor>();
    for (const { name, m, v } of this.slots) {
      tensors.set(`${name}.m`, m);
      tensors.set(`${name}.v`, v);
    }
    return { steps: this.steps, calls: this.calls, tensors };
  }

  /** Restores state() from host data (a resumed run continues exactly where it stopped). */
  loadState(state: { steps: number; calls: number; tensors: ReadonlyMap<string, ArrayLike<number>> }): void {
    for (const slot of this.slots) {
      for (const which of ['m', 'v'] as const) {
        const data = state.tensors.get(`${slot.name}.${which}`);
        if (!data) throw new Error(`AdamW.loadState: missing "${slot.name}.${which}"`);
        if (data.length !== slot.param.size) throw new Error(`AdamW.loadState: "${slot.name}.${which}" has ${data.length} values, expected ${slot.param.size}`);
        const fresh = slot.param.backend.upload(data, slot.param.shape, 'f32');
        slot[which].dispose();
        slot[which] = new Tensor(new StorageRef(slot.param.backend, fresh), slot.param.shape, 'f32', false, true);
      }
    }
    this.steps = state.steps;
    this.calls = state.calls;
  }

  dispose(): void {
    for (const { m, v } of this.slots) {
      m.dispose();
      v.dispose();
    }
  }
}

