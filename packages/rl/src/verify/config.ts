// The verifier's config keys, declared once (docs/config.md) for the commands that read problem
// files: `verifier.rule`, `verifier.percent`, `verifier.relTol`, `verifier.module`.
import { s, type Infer } from '../config/schema.js';
import type { ProblemLayout } from '../data/problem-files.js';
import type { Verifier } from '../rollout/rollout.js';
import { ANSWER_RULES } from './extract.js';
import { loadVerifierModule } from './module.js';
import { createAnswerVerifier } from './verifier.js';

export const verifierConfigSchema = s.object('outcome verifier of problems read from a file', {
  rule: s.enum('final-answer extraction: auto (by the data layout: gsm8k and generic ####, math and verl \\boxed{}, verl gsm8k sources ####), ####, boxed, answer-is, last-number',
    ['auto', ...ANSWER_RULES], { default: 'auto' }),
  percent: s.enum('a % in an answer whose reference has none: auto (lenient for GSM8K), reference (then wrong), lenient (50% = 50 = 0.5)',
    ['auto', 'reference', 'lenient'], { default: 'auto' }),
  relTol: s.number('relative tolerance when comparing numbers (0 = exact)', { default: 0, min: 0, max: 0.5 }),
  module: s.optional(s.string('a .mjs module exporting verify(response, problem) → boolean | { correct } used instead of the rule', { nonEmpty: true })),
});

export type VerifierConfig = Infer<typeof verifierConfigSchema>;

/** The Verifier a resolved `verifier` section describes, for problems read with `layout`. */
export async function verifierFromConfig(config: VerifierConfig, layout: ProblemLayout = 'generic'): Promise<Verifier> {
  if (config.module !== null) return loadVerifierModule(config.module);
  return createAnswerVerifier({ rule: config.rule, percent: config.percent, relTol: config.relTol, layout });
}
