// PRM losses as a named registry: name → { doc, fn }. Each fn takes per-sample or per-step
// tensors that the caller computed from the PRM's outputs (and the policy's / reference's
// log-probs), and returns { loss, ...diagnostics }. The formulas are in each file's header.
import { airlDiscriminatorLoss } from './airl.js';
import { ormBceLoss, shepherdBceLoss } from './baselines.js';
import { implicitPrmCeLoss, implicitPrmDpoLoss } from './implicit.js';
import { repirlIsMleLoss } from './repirl.js';

export * from './common.js';
export * from './repirl.js';
export * from './airl.js';
export * from './implicit.js';
export * from './baselines.js';

export const PRM_LOSSES = {
  'repirl-is-mle': {
    doc: 'rePIRL: Σ_g Σ_{j∈P∩g} w_j R̄_j − mean_{i∈E} R̄_i, w = softmax_g(R − log π_old) detached (log-sum-exp); mode "uniform" = the released runs (w ≡ 1: mean of +R̄ policy, −R̄ expert).',
    fn: repirlIsMleLoss,
  },
  'airl-s-discriminator': {
    doc: 'AIRL-S: step-level BCE on the logit ℓ = f − log π (D = exp f/(exp f + π) = σ(ℓ)), label 1 expert, 0 policy; policy reward f − log π.',
    fn: airlDiscriminatorLoss,
  },
  'implicit-prm-ce': {
    doc: 'PRIME / implicit PRM: r = β Σ_t (log π_φ − log π_ref), BCE of σ(r) against the outcome label.',
    fn: implicitPrmCeLoss,
  },
  'implicit-prm-dpo': {
    doc: 'Implicit PRM, DPO: −log σ(β[Δ(y_w) − Δ(y_l)]), Δ = Σ_t (log π_φ − log π_ref), on (correct, incorrect) pairs.',
    fn: implicitPrmDpoLoss,
  },
  'orm-bce': {
    doc: 'ORM: BCE of one logit per response (last token) against final-answer correctness.',
    fn: ormBceLoss,
  },
  'shepherd-bce': {
    doc: 'Math-Shepherd: BCE of step-end logits against Monte-Carlo labels (hard 1[any completion correct] or soft fraction correct).',
    fn: shepherdBceLoss,
  },
  'supervised-step-bce': {
    doc: "Supervised PRM (TRL's PRMTrainer): BCE of step-end logits against the step labels of a labelled file (the Math-Shepherd BCE with given labels).",
    fn: shepherdBceLoss,
  },
} as const;

export type PrmLossName = keyof typeof PRM_LOSSES;
export const PRM_LOSS_NAMES = Object.keys(PRM_LOSSES) as PrmLossName[];
