// Supervised fine-tuning on (prompt, response) pairs: the masked LM loss on the response tokens
// only, token-mean over the whole batch with the global token count (so splitting a batch into
// micro-batches gives the same gradient), AdamW with global-norm clipping and an LR schedule.
//
// Examples come from a task's expert solutions, its noisy solutions (a controlled error rate, for
// an imperfect starting policy), or trajectories loaded from JSONL. The batch of step s is
// positions s·B … s·B + B − 1 of an endless stream of per-epoch shuffles derived from the seed,
// so the data order is a function of (seed, step) and a resumed run sees the same batches.
import { backward, mul, noGrad, scale, sum, tensor, tidy, type AdamW, type DecoderLM, type Tensor } from '@repirl/autograd';
import type { Trajectory } from '../data/records.js';
import { packSequences, responseLogProbs, type PackedBatch, type SequencePart } from '../rollout/pack.js';
import { ShuffledStream, deriveSeed } from '../rollout/seeds.js';
import { createRng } from '../tasks/rng.js';
import type { Problem, Task } from '../tasks/task.js';
import { Trainer, type TrainerCommonOptions } from './base.js';
import { resolveSftConfig, type SftConfig, type SftConfigInput } from './config.js';
import { makeOptimizer } from './optim.js';
import { bytesPerSequence, fittingRows, withBatchHint } from './faults.js';
import type { TrainingCheckpoint } from './checkpoint.js';

/** One SFT pair: the response is a solution in the docs/DESIGN.md §4 format (steps, then "#### answer"). */
export interface SftExample {
  prompt: string;
  response: string;
  id?: string;
}

/**
 * Examples from problems: each problem's expert solution (its `solution`, else task.solve), or with
 * `errorRate` > 0 a noisy solution from task.noisySolution, seeded per problem from `seed`.
 */
export function sftExamplesFromProblems(problems: readonly Problem[], options: { task?: Task; errorRate?: number; seed?: number } = {}): SftExample[] {
  const errorRate = options.errorRate ?? 0;
  return problems.map((problem, i) => {
    let response: string;
    if (errorRate > 0) {
      if (!options.task) throw new Error('sftExamplesFromProblems: noisy solutions (errorRate > 0) need the task that made the problems');
      response = options.task.noisySolution(problem, createRng(deriveSeed(options.seed ?? 0, 'noisy', i)), errorRate).text;
    } else if (problem.solution !== undefined) {
      response = problem.solution;
    } else if (options.task) {
      response = options.task.solve(problem);
    } else {
      throw new Error(`sftExamplesFromProblems: problem ${JSON.stringify(problem.id)} has no solution and no task was given to solve it`);
    }
    return { prompt: problem.prompt, response, id: problem.id };
  });
}

/** Examples from trajectories (e.g. loadTrajectories); `onlyCorrect` drops those marked correct: false. */
export function sftExamplesFromTrajectories(trajectories: readonly Trajectory[], options: { onlyCorrect?: boolean } = {}): SftExample[] {
  return trajectories.filter((t) => !options.onlyCorrect || t.correct !== false).map((t) => ({ prompt: t.prompt, response: t.response, id: t.id }));
}

export interface SftTrainerOptions extends TrainerCommonOptions {
  config?: SftConfigInput | SftConfig;
  examples: readonly SftExample[];
}

export class SftTrainer extends Trainer {
  protected readonly trainerName = 'sft' as const;
  readonly config: SftConfig;
  private readonly parts: SequencePart[];
  private readonly stream: ShuffledStream;
  private readonly optimizer: AdamW;
  private readonly autoMaxNewTokens: number;

  constructor(options: SftTrainerOptions) {
    super(options);
    this.config = resolveSftConfig(options.config ?? {});
    if (options.examples.length === 0) throw new Error('SftTrainer: no examples to train on');
    const { maxSeqLen } = this.policy.config;
    this.parts = options.examples.map((ex, i) => {
      const part = { promptIds: this.codec.encodePrompt(ex.prompt), responseIds: this.codec.encodeResponse(ex.response) };
      const length = part.promptIds.length + part.responseIds.length;
      if (length > maxSeqLen) {
        throw new Error(`SftTrainer: example ${ex.id ?? i} is ${length} tokens (prompt + response), more than the policy's maxSeqLen ${maxSeqLen}`);
      }
      return part;
    });
    this.stream = new ShuffledStream(this.parts.length, this.config.seed, 'sft-examples');
    this.optimizer = makeOptimizer(this.trainableParameters(this.config.lora, this.config.seed), this.config.optim, this.config.steps);
    this.autoMaxNewTokens = this.parts.reduce((m, p) => Math.max(m, p.responseIds.length), 0) + 8;
  }

  get resolvedConfig(): SftConfig {
    return this.config;
  }

  protected override validationMaxNewTokens(): number {
    const given = this.config.validation.maxNewTokens;
    const longestPrompt = this.validationProblems.reduce((m, p) => Math.max(m, this.codec.encodePrompt(p.prompt).length), 1);
    return given > 0 ? given : Math.min(this.autoMaxNewTokens, this.policy.config.maxSeqLen - longestPrompt);
  }

  protected async trainStep(): Promise<Record<string, number>> {
    const { batchSize, microBatchSize } = this.config;
    const batch = this.stream.slice(this.step * batchSize, batchSize).map((i) => this.parts[i]!);
    const tokens = batch.reduce((n, p) => n + p.responseIds.length, 0);
    const micro = microBatchSize > 0 ? microBatchSize : batchSize;
    this.loraStep(this.config.seed, this.step);
    let loss = 0;
    for (let start = 0; start < batch.length; start += micro) {
      const packed = packSequences(batch.slice(start, start + micro), this.codec.padId);
      const part = await withBatchHint(async () => tidy(() => {
        const l = nllSum(this.policy, packed, tokens);
        backward(l);
        return noGrad(() => scale(l, 1));
      }), (err) => {
        const fits = fittingRows(packed.B, err, { bytesPerRow: bytesPerSequence(this.policy, packed.L, packed.T), divides: batchSize });
        return `a micro-batch of ${packed.B} sequences × ${packed.L} tokens is too large for this device; ` +
          `set microBatchSize to ${fits} or less (now ${microBatchSize > 0 ? microBatchSize : `0: the whole batch of ${batchSize}`})`;
      });
      loss += await part.item();
      part.dispose();
    }
    const report = await this.optimizer.step();
    return {
      'train/loss': loss,
      'train/lr': report.lr,
      'train/grad_norm': report.gradNorm,
      'train/grad_clipped': report.clipped ? 1 : 0,
      'train/skipped': report.skipped ? 1 : 0, // the trainer stops after maxSkippedSteps of these in a row
      'train/tokens': tokens,
    };
  }

  /** Validation also reports 'val/nll': the per-token NLL of the problems' reference solutions, when they have them. */
  protected override async extraValidationMetrics(problems: readonly Problem[]): Promise<Record<string, number>> {
    const withSolution = problems.filter((p) => p.solution !== undefined);
    if (withSolution.length === 0) return {};
    const parts = withSolution.map((p) => ({ promptIds: this.codec.encodePrompt(p.prompt), responseIds: this.codec.encodeResponse(p.solution!) }));
    const tokens = parts.reduce((n, p) => n + p.responseIds.length, 0);
    const chunk = this.config.validation.batchSize > 0 ? this.config.validation.batchSize : this.config.batchSize;
    let nll = 0;
    for (let start = 0; start < parts.length; start += chunk) {
      const packed = packSequences(parts.slice(start, start + chunk), this.codec.padId);
      const part = noGrad(() => tidy(() => nllSum(this.policy, packed, tokens)));
      nll += await part.item();
      part.dispose();
    }
    return { 'val/nll': nll };
  }

  protected checkpointContent(): TrainingCheckpoint {
    // The data order is a function of (seed, step): no state beyond the step and the optimizer.
    return { models: this.policyModels(), optimizers: { policy: this.optimizer }, state: {} };
  }

  protected restoreState(): void {}

  dispose(): void {
    this.optimizer.dispose();
  }
}

/** −Σ log p(response tokens) / normaliser for one packed micro-batch (a scalar with gradient). */
function nllSum(policy: DecoderLM, packed: PackedBatch, normaliser: number): Tensor {
  const { logp } = responseLogProbs(policy, packed);
  const mask = tensor(policy.backend, packed.mask, [packed.B, packed.T]);
  return scale(sum(mul(logp, mask)), -1 / normaliser);
}
