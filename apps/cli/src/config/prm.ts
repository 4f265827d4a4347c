// The configs of `repirl prm train` and `repirl prm eval` (issue 6; docs/DESIGN.md §5–6).
//
// One config for every learner, so methods are compared on the same task, starting policy and
// rollout budget: the online learners (rePIRL, AIRL-S, PRIME) spend steps × promptsPerStep × k
// rollouts, each step updating the PRM and then the policy; the offline ones (ORM, Math-Shepherd,
// the offline implicit PRM) spend offline.problems × k rollouts of the starting policy, once
// (Math-Shepherd also its Monte-Carlo completions). Method-specific keys are ignored by the others,
// and their docs say which method reads them.
import { checkSchedule, checkpointEvery, seed, taskSchema, U32_MAX } from './common.js';
import { s, type Infer, type Issue } from '@repirl/rl';

export const PRM_METHODS = ['repirl', 'airl-s', 'prime', 'orm', 'shepherd', 'implicit-offline'] as const;
export type PrmMethod = (typeof PRM_METHODS)[number];
export const ONLINE_PRM_METHODS: readonly PrmMethod[] = ['repirl', 'airl-s', 'prime'];

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

/** A key whose null default means "the learner's own default" (they differ between methods). */
const methodDefault = <I extends Parameters<typeof s.optional>[0]>(inner: I) => s.optional(inner, { doc: `${inner.doc} (null: the method's default)` });

const checkNs = (e: { ns: number[]; samplesPerProblem: number }): Issue[] =>
  e.ns.filter((n) => n > e.samplesPerProblem).map((n) => ({ path: 'ns', message: `N = ${n} exceeds samplesPerProblem (${e.samplesPerProblem}): best-of-N draws N of the pool` }));

export const prmTrainSchema = s.object(
  'learn a process reward model from a starting (SFT) policy: rePIRL, AIRL-S, PRIME, ORM, Math-Shepherd or the offline implicit PRM',
  {
    task: taskSchema(),
    init: s.string('the starting policy (and PRM backbone): an SFT run directory or a checkpoint directory', { nonEmpty: true }),
    method: s.enum('the PRM learner', PRM_METHODS, { default: 'repirl' }),
    steps: s.integer('online methods: dual-loop steps (rollout → PRM update → policy update)', { default: 40, min: 1 }),
    rollout: s.object('sampling the policy (online: every step; offline: the fixed rollout set)', {
      promptsPerStep: s.integer('prompts per step (online methods)', { default: 8, min: 1 }),
      k: s.integer('samples per prompt (the RLOO/GRPO group; offline: samples per problem of the rollout set)', { default: 4, min: 2, max: 1024 }),
      temperature: s.number('sampling temperature', { default: 1, min: 0, max: 10, minExclusive: true }),
      maxNewTokens: s.integer('longest response in tokens (bytes)', { default: 32, min: 1 }),
      filter: s.object("online methods: keep only prompts whose group accuracy is in [low, high], with oversampling (PRIME's default: on, [0.2, 0.8])", {
        enabled: methodDefault(s.boolean('filter prompts by group accuracy')),
        low: methodDefault(s.number('keep prompts with accuracy ≥ low', { min: 0, max: 1 })),
        high: methodDefault(s.number('keep prompts with accuracy ≤ high', { min: 0, max: 1 })),
        oversample: s.number('sample this many times promptsPerStep prompts to refill after filtering', { default: 4, min: 1, max: 64 }),
      }),
    }),
    offline: s.object('the offline learners (orm, shepherd, implicit-offline)', {
      problems: s.integer('training problems of the fixed rollout set (rollouts = problems × rollout.k)', { default: 64, min: 1 }),
      epochs: s.integer('passes over the rollout set', { default: 4, min: 1, max: 1000 }),
      batchSize: s.integer('sequences per PRM optimizer step', { default: 32, min: 1 }),
      completions: s.integer('shepherd: Monte-Carlo completions from each step prefix', { default: 4, min: 1, max: 256 }),
      labels: s.enum('shepherd: hard (1 if any completion reaches the answer) or soft (the fraction that does) step labels', ['hard', 'soft'], { default: 'soft' }),
      loss: s.enum('implicit-offline: cross-entropy on outcome labels, or DPO on (correct, wrong) pairs of a prompt', ['ce', 'dpo'], { default: 'ce' }),
    }),
    prm: s.object("the reward model and its optimizer (null: the method's default, docs/research/papers.md scaled to tiny models)", {
      lr: methodDefault(s.number('PRM learning rate (AdamW)', { min: 0, max: 1, minExclusive: true })),
      warmup: s.integer('steps of linear warmup from 0 to lr', { default: 0, min: 0 }),
      schedule: s.enum('learning rate after warmup', ['constant', 'cosine', 'linear'], { default: 'constant' }),
      weightDecay: s.number('decoupled weight decay (AdamW)', { default: 0, min: 0, max: 1 }),
      maxGradNorm: methodDefault(s.number('clip the global gradient norm to this (0: no clipping); non-finite steps are skipped', { min: 0 })),
      epochs: s.integer('online methods: PRM passes over each rollout batch (offline: passes over the rollout set are set by steps)', { default: 1, min: 1, max: 64 }),
      miniBatches: s.integer('online methods: PRM optimizer steps per pass', { default: 1, min: 1 }),
      freezeBackbone: s.boolean("repirl/orm/shepherd: train only the head (rePIRL's ffn_only)", { default: false }),
      beta: methodDefault(s.number('prime/implicit-offline: β of the implicit reward β·log(π_φ/π_ref)', { min: 0, max: 100, minExclusive: true })),
      weights: s.enum("repirl: self-normalised importance weights softmax(R − log π_old) (the paper's estimator), or uniform (the released runs, micro-batch 1)", [
        'importance', 'uniform',
      ], { default: 'importance' }),
      experts: s.enum("repirl/airl-s: expert samples — the task's demonstrations, the verified-correct rollouts, or both", ['demos', 'correct', 'both'], {
        default: 'both',
      }),
    }),
    policy: s.object("the policy update of the online methods (null: the method's default)", {
      lr: s.number('policy learning rate (AdamW)', { default: 1e-4, min: 0, max: 1, minExclusive: true }),
      maxGradNorm: s.number('clip the global gradient norm to this (0: no clipping)', { default: 1, min: 0 }),
      epochs: s.integer('PPO passes over each rollout batch', { default: 1, min: 1, max: 64 }),
      miniBatches: s.integer('policy optimizer steps per pass', { default: 1, min: 1 }),
      clip: s.number('PPO ratio clip ε', { default: 0.2, min: 0, max: 1 }),
      entropyCoef: methodDefault(s.number('entropy bonus (rePIRL 0.001, PRIME 0)', { min: 0, max: 1 })),
      cPrm: methodDefault(s.number("weight of the PRM reward in the advantage (rePIRL's c_prm 0.1, PRIME's 1; 0 = outcome only)", { min: 0, max: 100 })),
      cGt: methodDefault(s.number('weight of the outcome (verifier) reward in the advantage (0 = PRM only: test-time training)', { min: 0, max: 100 })),
    }),
    eval: s.object('evaluation: the policy on held-out problems during training, the PRM on held-out samples of the starting policy at the end', {
      every: s.integer('online methods: steps between policy validations (greedy pass@1; 0: start and end only)', { default: 10, min: 0 }),
      validationProblems: s.integer('held-out problems of the policy validation', { default: 100, min: 1 }),
      ...prmEvalFields({ problems: 48, samplesPerProblem: 16, ns: [4, 16] }),
    }, { check: checkNs }),
    seed: seed(),
    checkpointEvery: checkpointEvery(),
  },
  {
    check: (c) => {
      const issues: Issue[] = [];
      const online = ONLINE_PRM_METHODS.includes(c.method);
      const rows = online ? c.rollout.promptsPerStep * c.rollout.k : c.offline.batchSize;
      if (online) {
        for (const [key, value] of [['prm.miniBatches', c.prm.miniBatches], ['policy.miniBatches', c.policy.miniBatches]] as const) {
          if (rows % value !== 0) issues.push({ path: key, message: `${value} must divide the rollout batch (promptsPerStep × k = ${rows})` });
        }
        if (c.policy.cPrm === 0 && c.policy.cGt === 0) issues.push({ path: 'policy.cPrm', message: 'policy.cPrm and policy.cGt are both 0: the policy would get no reward' });
      }
      issues.push(...checkSchedule(c.prm, c.steps, 'steps').map((i) => ({ ...i, path: `prm.${i.path}` })));
      return issues;
    },
  },
);
export type PrmTrainConfig = Infer<typeof prmTrainSchema>;

/** What a prm train run counts: dual-loop steps (online) or epochs over the rollout set (offline). */
export const prmTrainSteps = (c: PrmTrainConfig): number => (ONLINE_PRM_METHODS.includes(c.method) ? c.steps : c.offline.epochs);

export const prmEvalSchema = s.object(
  'step-level evaluation of a trained PRM on held-out policy samples with exact step labels',
  {
    prm: s.string('a `repirl prm train` run directory (its final prm) or a checkpoint directory holding prm.safetensors', { nonEmpty: true }),
    policy: s.optional(s.string('the policy whose samples are scored (default: the prm run\'s init, so every PRM is judged on the same samples)', { nonEmpty: true })),
    task: taskSchema(),
    ...prmEvalFields({ problems: 100, samplesPerProblem: 64, ns: [4, 16, 64] }),
    maxNewTokens: s.integer('longest response in tokens (bytes)', { default: 32, min: 1 }),
    seed: s.integer('seed of the problems and samples (use one disjoint from training)', { default: 1_000_003, min: 0, max: U32_MAX }),
  },
  { check: checkNs },
);
export type PrmEvalConfig = Infer<typeof prmEvalSchema>;
