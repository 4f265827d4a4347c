// The general outcome verifier: extract the response's final answer by a rule, then compare it
// with the problem's answer by value (normalise.ts). It is a `Verifier` (rollout/rollout.ts), so
// rollouts, the trainers and evaluation take it as their `verify` option unchanged.
//
// The rule and the percent mode are chosen per data set; 'auto' picks them from the layout the
// problems were read with (data/problem-files.ts) and, for verl files, from each problem's
// data_source (kept in meta):
//
//   layout     rule       percent
//   gsm8k      '####'     'lenient'   (GSM8K stores "what percent" answers as bare numbers)
//   math       'boxed'    'reference'
//   verl       '####' when data_source names gsm8k (with 'lenient'), 'boxed' otherwise
//   generic    '####'     'reference' (this project's §4 format: steps, then "#### <answer>")
import type { Verifier } from '../rollout/rollout.js';
import type { Problem } from '../tasks/task.js';
import type { Verdict } from '../tasks/format.js';
import type { ProblemLayout } from '../data/problem-files.js';
import { ANSWER_RULES, extractAnswer, type AnswerRule } from './extract.js';
import { answersEquivalent, type PercentMode } from './normalize.js';

export interface AnswerVerifierOptions {
  /** Extraction rule, several tried in order, or 'auto' (by layout; see the file comment). Default 'auto'. */
  rule?: AnswerRule | readonly AnswerRule[] | 'auto';
  /** The layout the problems were read with, for the 'auto' choices. Default 'generic'. */
  layout?: ProblemLayout;
  /** How a % in the answer is read when the reference has none (normalise.ts), or 'auto' (by layout). Default 'auto'. */
  percent?: PercentMode | 'auto';
  /** Relative tolerance for numbers; default 0 (exact). */
  relTol?: number;
}

/** The rule and percent mode 'auto' gives for a problem read with `layout`. */
export function autoAnswerRule(layout: ProblemLayout, problem?: Problem): { rule: AnswerRule; percent: PercentMode } {
  if (layout === 'gsm8k') return { rule: '####', percent: 'lenient' };
  if (layout === 'math') return { rule: 'boxed', percent: 'reference' };
  if (layout === 'verl') {
    const source = problem?.meta?.data_source;
    return typeof source === 'string' && /gsm8k/i.test(source) ? { rule: '####', percent: 'lenient' } : { rule: 'boxed', percent: 'reference' };
  }
  return { rule: '####', percent: 'reference' };
}

/** A Verifier that extracts the final answer by rule and compares it by value with `problem.answer`. */
export function createAnswerVerifier(options: AnswerVerifierOptions = {}): Verifier {
  const rule = options.rule ?? 'auto';
  const percent = options.percent ?? 'auto';
  const layout = options.layout ?? 'generic';
  if (rule !== 'auto') {
    for (const r of typeof rule === 'string' ? [rule] : rule) {
      if (!(ANSWER_RULES as readonly string[]).includes(r)) {
        throw new Error(`createAnswerVerifier: unknown rule ${JSON.stringify(r)}; the rules are auto, ${ANSWER_RULES.join(', ')}`);
      }
    }
  }
  if (percent !== 'auto' && percent !== 'reference' && percent !== 'lenient') {
    throw new Error(`createAnswerVerifier: percent must be auto, reference or lenient, got ${JSON.stringify(percent)}`);
  }
  const relTol = options.relTol ?? 0;
  if (!(relTol >= 0 && relTol < 1)) throw new Error(`createAnswerVerifier: relTol must be in [0, 1), got ${relTol}`);
  return (problem: Problem, response: string): Verdict => {
    const auto = rule === 'auto' || percent === 'auto' ? autoAnswerRule(layout, problem) : undefined;
    const r = rule === 'auto' ? auto!.rule : (rule as AnswerRule | readonly AnswerRule[]);
    const found = extractAnswer(response, r);
    if (found.answer === null) return { correct: false, parsedAnswer: null, reason: found.reason };
    const correct = answersEquivalent(problem.answer, found.answer, { percent: percent === 'auto' ? auto!.percent : percent, relTol });
    const shown = JSON.stringify(shorten(found.answer));
    return {
      correct,
      parsedAnswer: found.answer,
      reason: correct ? `answer ${shown} (${found.rule}) matches ${JSON.stringify(problem.answer)}` :
        `answer ${shown} (${found.rule}) is not the expected ${JSON.stringify(problem.answer)}`,
    };
  };
}

function shorten(text: string, max = 40): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
