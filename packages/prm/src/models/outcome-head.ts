// A scalar logit head on a copy of the policy's backbone, for the baselines (docs/research/papers.md "Baselines"):
//   ORM           read: 'last'       one logit s = w·h + b at the last response token, BCE on the
//                                    final answer's correctness;
//   Math-Shepherd read: 'step-ends'  one logit per step at the step's end token (stepEndTokens),
//                                    BCE on Monte-Carlo step labels. (The released Math-Shepherd PRM
//                                    reads P('+') from a {'+', '−'} softmax: the same σ(s) with
//                                    s = logit₊ − logit₋.)
// `logits()` gives the differentiable logits the losses train. `tokenRewards()` puts the
// *probability* σ(s) ∈ (0, 1) on each read token and 0 elsewhere, so stepScores() (sums within
// steps) returns P(step correct) per step — the score Math-Shepherd aggregates with min — and, for
// the ORM, the sum over the response is P(correct).
//
// `scoreRead` (issue 15, a fair ORM) moves where tokenRewards() reads the head without touching
// training (logits() keeps `read`): 'every-step' reads it at every step's end token, so an ORM
// trained at the last token scores step k with σ(s) at the end of step k = its estimate of
// P(correct | the response's prefix up to step k) — the ORM scored as a PRM, as the implicit-PRM
// paper does for its ORM baselines. 'last' reads only the last token; undefined (the default)
// reads where `read` says. The held-out evaluation sets 'every-step' for ORMs (eval/evaluate.ts).
import { ScalarHead, concat, full, gatherRows, reshape, sigmoid, type Backend, type DecoderLM, type Init, type InitOptions, type Tensor } from '@repirl/autograd';
import { TaskCodec, type PackedBatch } from '@repirl/rl';
import { BackbonePrm, prmFromPolicy, type BackbonePrmConfig } from './backbone.js';
import { packedStepEnds } from './prm.js';

export type OutcomeHeadRead = 'last' | 'step-ends';
export const OUTCOME_HEAD_READS: readonly OutcomeHeadRead[] = ['last', 'step-ends'];

/** Where tokenRewards() reads the head (see the file comment); undefined = where `read` says. */
export type OutcomeHeadScoreRead = 'last' | 'every-step';
export const OUTCOME_HEAD_SCORE_READS: readonly OutcomeHeadScoreRead[] = ['last', 'every-step'];

export interface OutcomeHeadPrmConfig extends BackbonePrmConfig {
  /** 'last' (ORM) or 'step-ends' (Math-Shepherd). */
  read: OutcomeHeadRead;
}

export interface OutcomeHeadPrmOptions {
  read: OutcomeHeadRead;
  freezeBackbone?: boolean;
  /** Seed of the head's initial weights. Default 0. */
  seed?: number;
}

export class OutcomeHeadPrm extends BackbonePrm<OutcomeHeadPrmConfig> {
  readonly kind = 'outcome-head';
  readonly head: ScalarHead;
  /** Decodes responses to find step ends ('step-ends'); set it when the policy does not use the byte tokenizer. */
  codec = new TaskCodec();
  /**
   * Where tokenRewards() reads the head: 'every-step' (each step's end token: P(correct | prefix)
   * for an ORM), 'last' (the last token), or undefined (the default: where config.read says).
   * Training reads through logits() and is not affected.
   */
  scoreRead: OutcomeHeadScoreRead | undefined = undefined;

  constructor(backend: Backend, config: OutcomeHeadPrmConfig, init?: InitOptions | Init) {
    super(backend, config, init);
    if (!OUTCOME_HEAD_READS.includes(config.read)) throw new Error(`OutcomeHeadPrm: read must be one of ${OUTCOME_HEAD_READS.join(', ')}, got ${JSON.stringify(config.read)}`);
    this.head = this.child('head', new ScalarHead(backend, { dModel: config.decoder.dModel }, this.init));
  }

  static fromPolicy(policy: DecoderLM, options: OutcomeHeadPrmOptions): OutcomeHeadPrm {
    return prmFromPolicy(OutcomeHeadPrm, policy, { read: options.read, freezeBackbone: options.freezeBackbone ?? false }, options.seed ?? 0);
  }

  /** Response token indices the head reads, per row: the last token, or each step's end token. */
  readPositions(packed: PackedBatch): number[][] {
    if (this.config.read === 'step-ends') return packedStepEnds(packed, this.codec);
    return packed.responseLengths.map((n) => (n === 0 ? [] : [n - 1]));
  }

  /** Response token indices tokenRewards() reads, per row (`scoreRead`, else readPositions). */
  scorePositions(packed: PackedBatch): number[][] {
    const read = this.scoreRead;
    if (read === undefined) return this.readPositions(packed);
    if (!OUTCOME_HEAD_SCORE_READS.includes(read)) throw new Error(`OutcomeHeadPrm: scoreRead must be one of ${OUTCOME_HEAD_SCORE_READS.join(', ')} or undefined, got ${JSON.stringify(read)}`);
    if (read === 'every-step') return packedStepEnds(packed, this.codec);
    return packed.responseLengths.map((n) => (n === 0 ? [] : [n - 1]));
  }

  /** The logits at the read positions, row by row, flattened to [N] (differentiable). */
  logits(packed: PackedBatch, positions: readonly (readonly number[])[] = this.readPositions(packed)): Tensor {
    return this.head.forward(this.tokenHidden(packed), [positions.flatMap((ts, b) => ts.map((t) => b * packed.T + t))]);
  }

  /** σ(logit) on each token scorePositions() names, 0 elsewhere, [B, T]. */
  tokenRewards(packed: PackedBatch): Tensor {
    const positions = this.scorePositions(packed);
    const n = positions.reduce((a, ts) => a + ts.length, 0);
    if (n === 0) return full(this.backend, [packed.B, packed.T], 0); // only empty responses
    // A scatter as a gather: rows 0…n−1 are the probabilities, row n a zero every other token reads.
    const table = concat([reshape(sigmoid(this.logits(packed, positions)), [n, 1]), full(this.backend, [1, 1], 0)], 0);
    const index = new Array<number>(packed.B * packed.T).fill(n);
    let k = 0;
    positions.forEach((ts, b) => ts.forEach((t) => (index[b * packed.T + t] = k++)));
    return reshape(gatherRows(table, index), [packed.B, packed.T]);
  }
}
