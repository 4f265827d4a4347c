// The general outcome verifier (issue 14): final-answer extraction rules, normalisation and
// equivalence of answers as people write them, a Verifier built from them, and user verifier modules.
export { ANSWER_RULES, extractAnswer, lastBoxed, type AnswerRule, type Extraction } from './extract.js';
export { answersEquivalent, normaliseAnswer, parseAnswer, type AnswerValue, type EquivalenceOptions, type PercentMode, type Rational } from './normalize.js';
export { autoAnswerRule, createAnswerVerifier, type AnswerVerifierOptions } from './verifier.js';
export { VerifierModuleError, loadVerifierModule } from './module.js';
export { verifierConfigSchema, verifierFromConfig, type VerifierConfig } from './config.js';
