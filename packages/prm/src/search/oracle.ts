// The oracle PRM: a ProcessRewardModel that reads a generated task's exact step labels, the upper
// bound a learned PRM is compared with at test time. Each step's score is 1 when the task labels it
// (globally) correct — right given the problem, every earlier step right too — and 0 otherwise: the
// token reward at each step's end token (stepEndTokens under the codec's step rule) is the label,
// every other token's reward 0, so scoreSamples gives step scores of exactly 1 or 0. Only for tasks
// with exact labels (problems from a file have none), and only for the problems it was given: a
// prompt it does not know is refused.
import { tensor, type Backend, type Tensor } from '@repirl/autograd';
import type { PackedBatch, Problem, Task, TaskCodec } from '@repirl/rl';
import { stepEndTokens, type ProcessRewardModel } from '../models/prm.js';

export class OraclePrm implements ProcessRewardModel {
  readonly kind = 'oracle';
  private readonly byPrompt: Map<string, Problem>;

  constructor(
    readonly backend: Backend,
    private readonly task: Pick<Task, 'name' | 'stepLabels'>,
    problems: readonly Problem[],
    private readonly codec: TaskCodec,
  ) {
    if (typeof task.stepLabels !== 'function') throw new Error(`OraclePrm: task ${task.name} has no exact step labels`);
    this.byPrompt = new Map(problems.map((p) => [codec.encodePrompt(p.prompt).join(','), p]));
  }

  tokenRewards(packed: PackedBatch): Tensor {
    const out = new Float64Array(packed.B * packed.T);
    for (let b = 0; b < packed.B; b++) {
      const row = Array.from(packed.ids.subarray(b * packed.L, b * packed.L + packed.seqLengths[b]!));
      const prompt = row.slice(0, packed.promptLengths[b]!);
      const problem = this.byPrompt.get(prompt.join(','));
      if (problem === undefined) throw new Error(`OraclePrm: row ${b}'s prompt is none of the ${this.byPrompt.size} problems the oracle was given`);
      const responseIds = row.slice(packed.promptLengths[b]!);
      const labels = this.task.stepLabels(problem, this.codec.decodeResponse(responseIds)).global;
      stepEndTokens(responseIds, this.codec).forEach((t, k) => {
        if (k < labels.length) out[b * packed.T + t] = labels[k] ? 1 : 0;
      });
    }
    return tensor(this.backend, out, [packed.B, packed.T]);
  }

  trainableParameters(): Map<string, Tensor> {
    return new Map();
  }

  dispose(): void {}
}
