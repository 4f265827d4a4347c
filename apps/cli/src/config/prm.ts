// The configs of `repirl prm train` and `repirl prm eval` (docs/DESIGN.md §5–6).
//
// `prm train` is the chosen learner's own config (@repirl/prm declares each: rePIRL, AIRL-S and
// PRIME as { rl, prm }, the offline ones as their training loop) with the task, the starting policy
// and the PRM evaluation added; `method` picks the learner, and with it the schema and its
// defaults (`repirl config prm-train --set method=prime` lists PRIME's). Methods are compared on
// the same task, starting policy and rollout budget: the online learners spend rl.steps ×
// rl.rollout.promptsPerStep × rl.rollout.k rollouts, each step updating the PRM and then the
// policy; the offline ones spend problems × rollout.k rollouts of the starting policy, once
// (Math-Shepherd also its Monte-Carlo completions).
import {
  airlConfigSchema, implicitOfflineConfigSchema, ormConfigSchema, primeConfigSchema, repirlConfigSchema, shepherdConfigSchema, supervisedConfigSchema,
} from '@repirl/prm';
import { U32_MAX, choose, extend, s, type Given, type Infer, type Issue, type ObjectSchema, type OptimizerConfig, type RlConfig } from '@repirl/rl';
import { problemDataSchema, verifierSchema, type ProblemDataConfig, type VerifierKeys } from './data.js';
import { offlineLabelledSchema, prmEvalProcessBench, supervisedFields, type LabelledDataConfig, type OfflineLabelledConfig, type ProcessBenchConfig } from './prm-labelled.js';
import { type TemplateChoice, checkOneStart, hfModelField, taskSchema, templateField, withValidationProblems } from './common.js';

export const PRM_METHODS = ['repirl', 'airl-s', 'prime', 'orm', 'shepherd', 'implicit-offline', 'supervised'] as const;
export type PrmMethod = (typeof PRM_METHODS)[number];
export const ONLINE_PRM_METHODS = ['repirl', 'airl-s', 'prime'] as const;
export type OnlinePrmMethod = (typeof ONLINE_PRM_METHODS)[number];
/** The offline learners on the starting policy's rollouts (supervised learns from a labelled file, or from the task's exact labels as a diagnostic). */
export type OfflinePrmMethod = Exclude<PrmMethod, OnlinePrmMethod | 'supervised'>;
export const isOnline = (method: PrmMethod): method is OnlinePrmMethod => (ONLINE_PRM_METHODS as readonly string[]).includes(method);

/** Each online learner's config schema ({ rl, prm }), as @repirl/prm declares it. */
const ONLINE_SCHEMAS: Record<OnlinePrmMethod, (given: Given) => ObjectSchema> = {
  repirl: repirlConfigSchema,
  'airl-s': airlConfigSchema,
  prime: primeConfigSchema,
};

/** Each offline learner's config schema (its training loop and method keys). */
const OFFLINE_SCHEMAS: Record<OfflinePrmMethod, ObjectSchema> = {
  orm: ormConfigSchema,
  shepherd: shepherdConfigSchema,
  'implicit-offline': implicitOfflineConfigSchema,
};

function prmEvalFields(defaults: { problems: number; samplesPerProblem: number; ns: number[] }) {
  return {
    problems: s.integer('held-out problems (a seed disjoint from training)', { default: defaults.problems, min: 2 }),
    samplesPerProblem: s.integer('policy samples per held-out problem, all labelled step by step (the pool best-of-N draws from)', {
      default: defaults.samplesPerProblem, min: 1, max: 1024,
    }),
    ns: s.array('best-of-N sizes (each ≤ samplesPerProblem)', s.integer('N', { min: 1 }), { default: defaults.ns, minItems: 1 }),
    temperature: s.number('sampling temperature of the held-out samples', { default: 1, min: 0, max: 10, minExclusive: true }),
  };
}

const checkNs = (e: { ns: number[]; samplesPerProblem: number }): Issue[] =>
  e.ns.filter((n) => n > e.samplesPerProblem).map((n) => ({ path: 'ns', message: `N = ${n} exceeds samplesPerProblem (${e.samplesPerProblem}): best-of-N draws N of the pool` }));

const prmTrainEval = () =>
  s.object('the PRM judged at the end on held-out samples of the starting policy (the same samples for every method of a seed)', prmEvalFields({
    problems: 48, samplesPerProblem: 16, ns: [4, 16],
  }), { check: checkNs });

const commonFields = (method: PrmMethod) => ({
  task: taskSchema(),
  init: s.optional(s.string('the starting policy (and PRM backbone): an SFT run directory or a checkpoint directory (or give model)', { nonEmpty: true })),
  model: s.optional(hfModelField()),
  template: templateField(),
  method: s.enum('the PRM learner (it picks the schema: `repirl config prm-train --set method=…` lists its keys)', PRM_METHODS, { default: method }),
  data: problemDataSchema(),
  verifier: verifierSchema(),
});

/** The exact step labels of a task that method=supervised can train on without a labelled file (StepLabels' global / local). */
export const EXACT_LABELS = ['global', 'local'] as const;

/**
 * Whether method=supervised reads a step-labelled file: data.path is given and data.source is not
 * (with data.source given, `data` is the problem data of the exact-label diagnostic).
 */
const isLabelledFile = (given: Given): boolean => given('data.path') !== undefined && given('data.source') === undefined;

/** The rollout set of the starting policy that the offline learners (and the exact-label diagnostic) train on. */
const rolloutSetFields = () => ({
  problems: s.integer('training problems of the rollout set (rollouts = problems × rollout.k); generated with prm.seed', { default: 64, min: 1 }),
  rollout: s.object('sampling the rollout set from the starting policy', {
    k: s.integer('samples per problem', { default: 4, min: 1, max: 1024 }),
    temperature: s.number('sampling temperature', { default: 1, min: 0, max: 10, minExclusive: true }),
    maxNewTokens: s.integer('longest response in tokens (bytes)', { default: 32, min: 1 }),
  }),
});

/** The config of `repirl prm train` for the method the user chose. */
export const prmTrainSchema = (given: Given): ObjectSchema => {
  const method = choose(given, 'method', PRM_METHODS, 'repirl');
  if (isOnline(method)) {
    const learner = ONLINE_SCHEMAS[method](given);
    const rl = learner.fields.rl as ObjectSchema;
    return s.object(`learn a PRM with ${method} from a starting (SFT) policy, in a dual loop with the policy`, {
      ...commonFields(method),
      rl: extend(rl, { validation: withValidationProblems(rl.fields.validation as ObjectSchema, 100) }),
      prm: learner.fields.prm!,
      eval: prmTrainEval(),
    }, { check: (c, root) => [...checkOneStart('init')(c), ...(learner.check?.(c, root) ?? [])] });
  }
  if (method === 'supervised' && isLabelledFile(given)) {
    // The step labels come from data.path (config/prm-labelled.ts); the task section is not read.
    const { data: _problems, verifier: _verifier, ...start } = commonFields(method);
    return s.object("learn a PRM from the step labels of a file (TRL's PRMTrainer baseline), starting from the (SFT) policy's backbone", {
      ...start,
      ...supervisedFields(),
    }, { check: checkOneStart('init') });
  }
  if (method === 'supervised') {
    // No labelled file: the upper-bound diagnostic on the task's exact step labels (docs/config.md, "The exact-label upper bound").
    return s.object("an upper-bound diagnostic, not a learner from the papers: the supervised PRM (BCE at step ends) trained on the starting policy's own rollouts of train-split problems, each step labelled by the task's exact step labels — what a PRM of this backbone reaches with perfect labels at this rollout budget", {
      ...commonFields(method),
      ...rolloutSetFields(),
      prm: extend(supervisedConfigSchema, {
        labels: s.enum("the task's exact labels trained on: global (step k is right and everything before it; the labels prm eval's step AUROC scores) or local (step k is right from what the response wrote before it)", EXACT_LABELS, { default: 'global' }),
      }),
      eval: prmTrainEval(),
    }, {
      check: (c) => [
        ...checkOneStart('init')(c),
        ...((c as { data: { source: string } }).data.source === 'file'
          ? [{ path: 'data.source', message: 'is "file", but method=supervised without a step-labelled file learns from the exact step labels of a generated task (data.source=task), which problems from files do not have: give the step-labelled file as data.path (and leave data.source unset), or use data.source=task' }]
          : []),
      ],
    });
  }
  return s.object(`learn a PRM with ${method} on a fixed rollout set of the starting (SFT) policy`, {
    ...commonFields(method),
    ...rolloutSetFields(),
    prm: OFFLINE_SCHEMAS[method],
    labelled: offlineLabelledSchema(),
    eval: prmTrainEval(),
  }, {
    check: (c) => [
      ...checkOneStart('init')(c),
      ...(method === 'shepherd' && (c as { labelled: { path: string | null } }).labelled.path !== null
        ? [{ path: 'labelled.path', message: "is for orm and implicit-offline (they learn from the file's outcomes); Math-Shepherd's labels are Monte-Carlo estimates of what a step-labelled file already gives: use method=supervised" }]
        : []),
    ],
  });
};

interface PrmTrainCommon {
  task: { name: string; difficulty: Record<string, number> };
  init: string | null;
  model: string | null;
  template: TemplateChoice;
  eval: { problems: number; samplesPerProblem: number; ns: number[]; temperature: number };
  data: ProblemDataConfig;
  verifier: VerifierKeys;
}
/** A resolved online `prm train` config: the learner's { rl, prm } (validated by its schema) and the command's keys. */
export interface OnlinePrmTrainConfig extends PrmTrainCommon {
  method: OnlinePrmMethod;
  rl: RlConfig & { validation: { problems: number } };
  prm: Record<string, unknown>;
}
/** A resolved offline `prm train` config. */
export interface OfflinePrmTrainConfig extends PrmTrainCommon {
  method: OfflinePrmMethod;
  problems: number;
  rollout: { k: number; temperature: number; maxNewTokens: number };
  prm: { seed: number; epochs: number; miniBatchSize: number; optim: OptimizerConfig } & Record<string, unknown>;
  labelled: OfflineLabelledConfig;
}
/** A resolved `prm train` config of method=supervised. */
export interface SupervisedPrmTrainConfig extends Omit<PrmTrainCommon, 'data' | 'verifier' | 'eval'> {
  method: 'supervised';
  data: LabelledDataConfig;
  prm: { seed: number; epochs: number; miniBatchSize: number; optim: OptimizerConfig } & Record<string, unknown>;
  processbench: ProcessBenchConfig;
}
/**
 * A resolved `prm train` config of method=supervised without a labelled file: the exact-label
 * diagnostic on the task's rollouts (the rollout set of the offline learners, the supervised loss).
 */
export interface ExactLabelPrmTrainConfig extends PrmTrainCommon {
  method: 'supervised';
  problems: number;
  rollout: { k: number; temperature: number; maxNewTokens: number };
  prm: { seed: number; epochs: number; miniBatchSize: number; optim: OptimizerConfig; labels: (typeof EXACT_LABELS)[number] } & Record<string, unknown>;
}
export type PrmTrainConfig = OnlinePrmTrainConfig | OfflinePrmTrainConfig | SupervisedPrmTrainConfig | ExactLabelPrmTrainConfig;

/** What a prm train run counts: dual-loop steps (online) or epochs over the rollout set (offline). */
export const prmTrainSteps = (c: PrmTrainConfig): number => ('rl' in c ? c.rl.steps : c.prm.epochs);

export const prmEvalSchema = s.object(
  'step-level evaluation of a trained PRM on held-out policy samples with exact step labels',
  {
    prm: s.string('a `repirl prm train` run directory (its final prm) or a checkpoint directory holding prm.safetensors', { nonEmpty: true }),
    policy: s.optional(s.string('the policy whose samples are scored (default: the prm run\'s init or model, so every PRM is judged on the same samples)', { nonEmpty: true })),
    model: s.optional(hfModelField('a Hugging Face model directory whose samples are scored, instead of policy (same tokenizer as the PRM)')),
    task: taskSchema(),
    data: problemDataSchema(),
    verifier: verifierSchema(),
    ...prmEvalFields({ problems: 100, samplesPerProblem: 64, ns: [4, 16, 64] }),
    processbench: prmEvalProcessBench(),
    maxNewTokens: s.integer('longest response in tokens (bytes)', { default: 32, min: 1 }),
    seed: s.integer('seed of the problems and samples (use one disjoint from training)', { default: 1_000_003, min: 0, max: U32_MAX }),
  },
  {
    check: (c) => [
      ...checkNs(c),
      ...(c.policy !== null && c.model !== null ? [{ path: 'model', message: 'and policy both name the policy whose samples are scored; give one' }] : []),
    ],
  },
);
export type PrmEvalConfig = Infer<typeof prmEvalSchema>;
