// AIRL-S's reward f_φ (docs/research/papers.md §2(b), the LLM adaptation): a separate LM with a scalar head, read
// at step-end tokens. f(s_k, a_k) is the head on the hidden state *at* the token that ends step k
// (after the model has read the whole step). tokenRewards puts f on each step's end token and 0
// elsewhere, so stepScores (sums over steps) returns f per step. Unlike the Math-Shepherd head
// (outcome-head.ts), f is an unbounded score, not a probability: the discriminator's logit is
// f − log π (losses/airl.ts).
//
// A BackbonePrm (backbone copy of the policy + head, backbone.ts); `freezeBackbone` trains the head only.
import { ScalarHead, gatherRows, mul, reshape, tensor, type Backend, type DecoderLM, type Init, type InitOptions, type Tensor } from '@repirl/autograd';
import { TaskCodec, type PackedBatch } from '@repirl/rl';
import { BackbonePrm, prmFromPolicy, type BackbonePrmConfig } from './backbone.js';
import { packedStepEnds } from './prm.js';

export type StepHeadPrmConfig = BackbonePrmConfig;

export interface StepHeadPrmOptions {
  freezeBackbone?: boolean;
  /** Seed of the head's initial weights. Default 0. */
  seed?: number;
  /** How response tokens map to steps (default: the byte codec). */
  codec?: TaskCodec;
}

export class StepHeadPrm extends BackbonePrm<StepHeadPrmConfig> {
  readonly kind = 'step-head';
  readonly head: ScalarHead;
  /** Decodes responses to find step ends; set it when the policy does not use the byte tokenizer. */
  codec = new TaskCodec();

  constructor(backend: Backend, config: StepHeadPrmConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    this.head = this.child('head', new ScalarHead(backend, { dModel: config.decoder.dModel }, this.init));
  }

  static fromPolicy(policy: DecoderLM, options: StepHeadPrmOptions = {}): StepHeadPrm {
    const prm = prmFromPolicy(StepHeadPrm, policy, { ...(options.freezeBackbone !== undefined ? { freezeBackbone: options.freezeBackbone } : {}) }, options.seed ?? 0);
    if (options.codec) prm.codec = options.codec;
    return prm;
  }

  /** The head at every response token, [B, T] (padding entries finite). */
  tokenScores(packed: PackedBatch): Tensor {
    return reshape(this.head.forward(this.tokenHidden(packed)), [packed.B, packed.T]);
  }

  /** Token index of each step's end, per sample of the batch. */
  stepEnds(packed: PackedBatch): number[][] {
    return packedStepEnds(packed, this.codec);
  }

  /** f(s_k, a_k) of every step of every sample, flattened sample by sample, [N], with the step ends it read. */
  stepValues(packed: PackedBatch): { f: Tensor; ends: number[][] } {
    const ends = this.stepEnds(packed);
    const flat = ends.flatMap((row, b) => row.map((t) => b * packed.T + t));
    return { f: reshape(gatherRows(reshape(this.tokenScores(packed), [packed.B * packed.T, 1]), flat), [flat.length]), ends };
  }

  /** f at step ends, 0 elsewhere, [B, T]. */
  tokenRewards(packed: PackedBatch): Tensor {
    const ends = new Float32Array(packed.B * packed.T);
    this.stepEnds(packed).forEach((row, b) => row.forEach((t) => (ends[b * packed.T + t] = 1)));
    return mul(this.tokenScores(packed), tensor(this.backend, ends, [packed.B, packed.T]));
  }
}
