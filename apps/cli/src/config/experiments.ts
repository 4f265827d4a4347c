// The experiment configs of `repirl sft`, `repirl rl` and `repirl eval`. The trainers declare their
// own keys (@repirl/rl's sftTrainerSchema, rlConfigSchema); a command's config is that schema with
// the task, the starting policy, the model and the data added, so every trainer key has one name,
// one default and one validator from the file to the optimizer. `repirl config <command>` prints
// these declarations; `--dry-run` prints a resolved config.
import { ATTENTION_MAX_HEAD_SIZE, ATTENTION_MIN_HEAD_SIZE } from '@repirl/kernels';
import { SPLITS, U32_MAX, extend, problemFileFields, rlConfigFor, s, sftTrainerSchema, type Given, type Infer, type ObjectSchema, type SchemaSource } from '@repirl/rl';
import { checkOneStart, fillDifficulty, hfModelField, taskSchema, templateField, withValidationProblems } from './common.js';
import { DATA_FILE_INPUTS, checkDataKeys, problemDataSchema, verifierSchema } from './data.js';
import { PROCESSBENCH_INPUTS } from './prm-labelled.js';
import { prmEvalSchema, prmTrainSchema, prmTrainSteps, type PrmEvalConfig, type PrmTrainConfig } from './prm.js';
import { searchSchema, type SearchConfig } from './search.js';
import { prmTttSchema, type PrmTttConfig } from './ttt.js';

// ---------------------------------------------------------------------------------------------
// sft

const modelSchema = s.object('the decoder LM (byte-level tokenizer)', {
  dModel: s.integer('width of the residual stream', { default: 64, min: 8, max: 8192 }),
  nLayers: s.integer('transformer blocks', { default: 2, min: 1, max: 128 }),
  nHeads: s.integer('attention heads (dModel / nHeads is the head size)', { default: 4, min: 1, max: 256 }),
  dFF: s.integer('hidden width of the feed-forward block', { default: 256, min: 8, max: 65536 }),
  maxSeqLen: s.integer('longest prompt + response in tokens (bytes)', { default: 128, min: 8, max: 32768 }),
  norm: s.enum('normalisation layer', ['rms', 'layer'], { default: 'rms' }),
  mlp: s.enum('feed-forward block', ['swiglu', 'gelu'], { default: 'swiglu' }),
}, {
  check: (m) => {
    if (m.dModel % m.nHeads !== 0) return [{ path: 'nHeads', message: `${m.nHeads} must divide dModel (${m.dModel})` }];
    const head = m.dModel / m.nHeads;
    if (head % 4 !== 0 || head < ATTENTION_MIN_HEAD_SIZE || head > ATTENTION_MAX_HEAD_SIZE) {
      return [{
        path: 'nHeads',
        message: `gives a head size dModel / nHeads = ${m.dModel} / ${m.nHeads} = ${head}; the attention kernel needs a multiple of 4 in ${ATTENTION_MIN_HEAD_SIZE}..${ATTENTION_MAX_HEAD_SIZE} (e.g. nHeads = ${Math.max(1, Math.floor(m.dModel / ATTENTION_MIN_HEAD_SIZE))})`,
      }];
    }
    return [];
  },
});

const dataSchema = s.object('the training solutions', {
  source: s.enum(
    "task-expert: the task's expert solutions; task-noisy: expert solutions with slips at errorRate; jsonl: trajectories from path; " +
      "file: the worked solutions of a problem file's train split (path, or train / validation / test; validation from its validation split)", [
      'task-expert', 'task-noisy', 'jsonl', 'file',
    ], { default: 'task-expert' }),
  errorRate: s.number('per-step slip probability of task-noisy solutions', { default: 0.2, min: 0, max: 1 }),
  problems: s.integer('training problems generated from the task (task-* sources)', { default: 2000, min: 1 }),
  ...problemFileFields,
  path: s.optional(s.string(
    'source jsonl: JSONL trajectories or problems with solutions (docs/DESIGN.md §7); source file: one .jsonl or .parquet file, split into train, validation and test by the hash of each prompt',
    { nonEmpty: true },
  )),
}, {
  check: (d, root) => {
    if (d.source === 'jsonl' && d.path === null) return [{ path: 'path', message: 'is required when data.source is "jsonl"' }];
    if (d.source !== 'jsonl' && d.source !== 'file' && d.path !== null) return [{ path: 'path', message: `is only read when data.source is "jsonl" or "file" (it is ${JSON.stringify(d.source)})` }];
    return checkDataKeys(d, d.source === 'file', root, d.source === 'jsonl' ? ['path'] : []);
  },
});

export const sftSchema = s.object('supervised fine-tuning of a small decoder LM on expert or noisy solutions', {
  init: s.optional(s.string(
    'continue from this policy (an SFT run directory or a checkpoint directory) instead of a fresh one; the model section must describe it',
    { nonEmpty: true },
  )),
  task: taskSchema(),
  model: modelSchema,
  template: templateField(),
  data: dataSchema,
  verifier: verifierSchema(),
  ...sftTrainerSchema.fields,
  validation: withValidationProblems(sftTrainerSchema.fields.validation, 200),
}, { check: (c, root) => sftTrainerSchema.check!(c, root) });
/**
 * `repirl sft --set model=DIR`: the same keys, with `model` a Hugging Face model directory (its
 * weights start the policy, unless `init` continues a checkpoint of that architecture).
 */
export const sftHfSchema = extend(sftSchema, {
  model: hfModelField('a Hugging Face model directory (config.json, model.safetensors or its index, tokenizer.json): the policy starts from its weights (or, with init, continues a checkpoint of this architecture and tokenizer) and text is tokenized with its tokenizer'),
});
/** The sft schema for what the user gave: a toy model section, or `model` a Hugging Face directory. */
export const sftSchemaFor = (given: Given): ObjectSchema => (typeof given('model') === 'string' ? sftHfSchema : sftSchema);
export type SftConfig = Infer<typeof sftSchema>;
export type SftHfConfig = Infer<typeof sftHfSchema>;

// ---------------------------------------------------------------------------------------------
// rl

/** The RL trainer's schema for the chosen `algorithm` (its preset's defaults), with the task and the starting policy. */
export const rlSchema = (given: Given) => {
  const trainer = rlConfigFor(given);
  return s.object('policy-gradient RL from an SFT checkpoint with verifier rewards', {
    task: taskSchema(),
    init: s.optional(s.string('the starting policy: an SFT run directory (its latest checkpoint) or a checkpoint directory (or give model)', { nonEmpty: true })),
    model: s.optional(hfModelField()),
    template: templateField(),
    data: problemDataSchema(),
    verifier: verifierSchema(),
    ...trainer.fields,
    validation: withValidationProblems(trainer.fields.validation, 200),
  }, { check: (c, root) => [...checkOneStart('init')(c), ...trainer.check!(c, root)] });
};
export type RlConfig = Infer<ReturnType<typeof rlSchema>>;

// ---------------------------------------------------------------------------------------------
// eval

export const evalSchema = s.object('accuracy of a checkpoint on held-out problems (greedy pass@1, pass@k)', {
  checkpoint: s.optional(s.string('a run directory (its latest checkpoint) or a checkpoint directory (or give model)', { nonEmpty: true })),
  model: s.optional(hfModelField('a Hugging Face model directory to evaluate as it is (instead of checkpoint)')),
  template: templateField(),
  task: taskSchema(),
  data: problemDataSchema(),
  verifier: verifierSchema(),
  split: s.enum('which problems: the task\'s train, validation or test split (disjoint by construction; test: never trained or validated on)', SPLITS, {
    default: 'test',
  }),
  problems: s.integer('problems to evaluate', { default: 500, min: 1 }),
  k: s.integer('samples per problem for pass@k (0: greedy pass@1 only)', { default: 0, min: 0, max: 1024 }),
  temperature: s.number('sampling temperature of the pass@k samples', { default: 1, min: 0, max: 10, minExclusive: true }),
  maxNewTokens: s.integer('longest response in tokens (bytes)', { default: 64, min: 1 }),
  seed: s.integer('seed of the problems and samples (use one disjoint from training)', { default: 1_000_003, min: 0, max: U32_MAX }),
}, { check: checkOneStart('checkpoint') });
export type EvalConfig = Infer<typeof evalSchema>;

// ---------------------------------------------------------------------------------------------
// The registry the commands use

export type ExperimentName = 'sft' | 'rl' | 'eval' | 'prm-train' | 'prm-eval' | 'prm-ttt' | 'search';

export interface ConfigTypes {
  /** sftSchemaFor's toy variant; a runner reads `model` as SftConfig | SftHfConfig. */
  sft: SftConfig;
  rl: RlConfig;
  eval: EvalConfig;
  'prm-train': PrmTrainConfig;
  'prm-eval': PrmEvalConfig;
  'prm-ttt': PrmTttConfig;
  search: SearchConfig;
}

export interface ExperimentSpec<C> {
  name: ExperimentName;
  /** The config's schema, or a function choosing it from a key the user gave (rl: algorithm; prm train: method). */
  schema: SchemaSource;
  /** One line for help texts. */
  summary: string;
  /** What the progress bar counts to. */
  totalSteps(config: C): number;
  /** Steps the command's loop counts in (for the progress bar and messages). */
  unit: string;
  /** Keys that may differ from the stored config on --resume (empty: the command cannot resume). */
  resumableKeys: readonly string[];
  /** Metrics shown next to the progress bar, the key metric first. */
  displayMetrics: readonly string[];
  /** Config keys holding paths that must exist before the run starts: a file, a checkpoint (folder or run directory), or a Hugging Face model directory. */
  inputPaths: readonly { key: string; kind: 'file' | 'checkpoint' | 'model' }[];
  /** Fills in derived defaults after validation (e.g. the task's difficulty). */
  finalize(config: C): C;
}

export const experiments: { [K in ExperimentName]: ExperimentSpec<ConfigTypes[K]> } = {
  sft: {
    name: 'sft',
    schema: sftSchemaFor,
    summary: 'supervised fine-tuning on expert or noisy solutions',
    totalSteps: (c) => c.steps,
    unit: 'step',
    // The trainers refuse a resume under any other change (validation.every included: validation is part of the run's record).
    resumableKeys: ['steps', 'checkpoint.every'],
    displayMetrics: ['val/acc', 'train/loss'],
    inputPaths: [...DATA_FILE_INPUTS, { key: 'init', kind: 'checkpoint' }, { key: 'model', kind: 'model' }],
    finalize: (c) => fillDifficulty(c),
  },
  rl: {
    name: 'rl',
    schema: rlSchema,
    summary: 'RL from an SFT checkpoint: grpo, dr-grpo, rloo, reinforce++, ppo',
    totalSteps: (c) => c.steps,
    unit: 'step',
    resumableKeys: ['steps', 'checkpoint.every'],
    displayMetrics: ['val/acc', 'critic/score/mean'],
    inputPaths: [...DATA_FILE_INPUTS, { key: 'init', kind: 'checkpoint' }, { key: 'model', kind: 'model' }],
    finalize: (c) => fillDifficulty(c),
  },
  eval: {
    name: 'eval',
    schema: evalSchema,
    summary: 'greedy pass@1 and pass@k of a checkpoint',
    totalSteps: (c) => c.problems,
    unit: 'problem',
    resumableKeys: [],
    displayMetrics: ['val/acc'],
    inputPaths: [...DATA_FILE_INPUTS, { key: 'checkpoint', kind: 'checkpoint' }, { key: 'model', kind: 'model' }],
    finalize: fillDifficulty,
  },
  'prm-train': {
    name: 'prm-train',
    schema: prmTrainSchema,
    summary: 'learn a PRM: repirl, airl-s, prime (online, with the policy), orm, shepherd, implicit-offline (on a fixed rollout set) or supervised (on a step-labelled file; without one, on a task: the exact-label upper-bound diagnostic)',
    totalSteps: prmTrainSteps,
    unit: 'step',
    resumableKeys: ['rl.steps', 'rl.checkpoint.every'],
    displayMetrics: ['prm/loss', 'val/acc', 'critic/score/mean'],
    inputPaths: [...DATA_FILE_INPUTS, ...PROCESSBENCH_INPUTS, { key: 'init', kind: 'checkpoint' }, { key: 'model', kind: 'model' }],
    finalize: fillDifficulty,
  },
  'prm-eval': {
    name: 'prm-eval',
    schema: prmEvalSchema,
    summary: 'step AUROC, first-error F1, response AUROC and best-of-N vs majority vote of a trained PRM; or its ProcessBench metrics (processbench.path)',
    totalSteps: () => 3,
    unit: 'stage',
    resumableKeys: [],
    displayMetrics: ['prm_eval/step_auroc'],
    inputPaths: [...DATA_FILE_INPUTS, ...PROCESSBENCH_INPUTS, { key: 'prm', kind: 'checkpoint' }, { key: 'policy', kind: 'checkpoint' }, { key: 'model', kind: 'model' }],
    finalize: fillDifficulty,
  },
  'prm-ttt': {
    name: 'prm-ttt',
    schema: prmTttSchema,
    summary: 'test-time training: RL on the unlabelled test prompts with a learned PRM as the only reward (frozen or online), with a reward-hacking monitor',
    totalSteps: (c) => c.rl.steps,
    unit: 'step',
    resumableKeys: ['rl.steps', 'rl.checkpoint.every'],
    displayMetrics: ['val/acc', 'ttt/prm_score'],
    inputPaths: [...DATA_FILE_INPUTS, { key: 'prm', kind: 'checkpoint' }, { key: 'init', kind: 'checkpoint' }, { key: 'model', kind: 'model' }],
    finalize: fillDifficulty,
  },
  search: {
    name: 'search',
    schema: searchSchema,
    summary: 'test-time search with a PRM: majority, best-of-N, weighted vote, beam search or MCTS at a budget of generated tokens',
    totalSteps: () => 2,
    unit: 'stage',
    resumableKeys: [],
    displayMetrics: ['search/acc', 'search/tokens_per_problem'],
    inputPaths: [...DATA_FILE_INPUTS, { key: 'policy', kind: 'checkpoint' }, { key: 'model', kind: 'model' }],
    finalize: fillDifficulty,
  },
};
