// The config of `repirl prm ttt` (issue 16 item 3, docs/ttt.md): test-time training — RL on the
// held-out test prompts with a learned PRM as the only reward. The trainer's keys are
// @repirl/prm's tttConfigSchema ({ rl, ttt, learner }: the RL trainer with rePIRL's policy
// settings and c_gt = 0, the TTT section with the monitor, the online PRM's update); the command
// adds the PRM run directory, the starting policy, the task or data file and the test problems.
import { tttConfigSchema, type TttConfig } from '@repirl/prm';
import { U32_MAX, s, type Given, type ObjectSchema, type RlConfig } from '@repirl/rl';
import { hfModelField, taskSchema, templateField, type TemplateChoice } from './common.js';
import { problemDataSchema, verifierSchema, type ProblemDataConfig, type VerifierKeys } from './data.js';

export const prmTttSchema = (given: Given): ObjectSchema => {
  const trainer = tttConfigSchema(given);
  return s.object('test-time training: RL on the unlabelled test prompts with a learned PRM as the only reward (c_gt = 0), frozen or online, with a reward-hacking monitor', {
    prm: s.string('the PRM: a `repirl prm train` run directory (its final prm) or a checkpoint directory holding prm.safetensors', { nonEmpty: true }),
    init: s.optional(s.string('the policy to train (default: the prm run\'s init or model)', { nonEmpty: true })),
    model: s.optional(hfModelField('a Hugging Face model directory to train, instead of init (same tokenizer as the PRM)')),
    template: templateField(),
    task: taskSchema(),
    data: problemDataSchema(),
    verifier: verifierSchema(),
    split: s.enum("whose prompts are trained on: 'test' (drawn as `prm eval` and `search` draw it with the same seed), or 'validation' (to choose the TTT settings without reading the test answers)", ['test', 'validation'], {
      default: 'test',
    }),
    problems: s.integer('problems of that split whose prompts are trained on; their answers only reach the monitor', { default: 100, min: 1 }),
    seed: s.integer('seed of the problems (test: as `prm eval` and `search` use it)', { default: 1_000_003, min: 0, max: U32_MAX }),
    experts: s.integer('ttt.prm=online: training problems whose demonstrations are the experts of the PRM update (the train split; the test prompts have none)', {
      default: 256, min: 1,
    }),
    ...trainer.fields,
  }, {
    check: (c, root) => [
      ...(c.init !== null && c.model !== null ? [{ path: 'model', message: 'and init both name the policy to train; give one' }] : []),
      ...(trainer.check?.(c, root) ?? []),
    ],
  });
};
/** A resolved `prm ttt` config (the learner section as @repirl/prm's resolveTttConfig reads it). */
export interface PrmTttConfig {
  prm: string;
  init: string | null;
  model: string | null;
  template: TemplateChoice;
  task: { name: string; difficulty: Record<string, number> };
  data: ProblemDataConfig;
  verifier: VerifierKeys;
  split: 'test' | 'validation';
  problems: number;
  seed: number;
  experts: number;
  rl: RlConfig;
  ttt: TttConfig['ttt'];
  learner: Record<string, unknown>;
}
