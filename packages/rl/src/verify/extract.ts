// Final-answer extraction: where in a response (or a reference solution) the final answer is.
//
//   '####'         the text after the last "####" up to the end of its line (GSM8K, this
//                  project's §4 format; verl's GSM8K reward also takes the last one)
//   'boxed'        the content of the last \boxed{...} (or \fbox{...}), braces nested to any depth;
//                  "\boxed 5" without braces takes the next word. Boxes inside the last box stay
//                  in the answer (the normaliser unwraps them)
//   'answer-is'    the last "The answer is …", "The final answer is …", "Answer: …" (any case,
//                  markdown bold allowed); the answer runs to the end of its line or sentence; a
//                  \boxed{} inside it is taken as the answer
//   'last-number'  the last number in the text: sign, thousands commas, decimals, a fraction
//                  a/b and a trailing % belong to it ("… so 1,250.50 dollars." → "1,250.50")
//
// Several rules may be given in order (e.g. ['boxed', 'answer-is', 'last-number']): the first
// that finds an answer wins.

export const ANSWER_RULES = ['####', 'boxed', 'answer-is', 'last-number'] as const;
/** A final-answer extraction rule (see the file comment). */
export type AnswerRule = (typeof ANSWER_RULES)[number];

export interface Extraction {
  /** The answer text as written (not normalised), or null. */
  answer: string | null;
  /** The rule that found it; null when none did. */
  rule: AnswerRule | null;
  /** Why there is no answer ('' when there is one). */
  reason: string;
}

/** The final answer of `text` by `rule` (or the first of several rules that finds one). */
export function extractAnswer(text: string, rule: AnswerRule | readonly AnswerRule[]): Extraction {
  const rules = typeof rule === 'string' ? [rule] : rule;
  if (rules.length === 0) throw new Error('extractAnswer: give at least one rule');
  const reasons: string[] = [];
  for (const r of rules) {
    const extract = EXTRACTORS[r];
    if (extract === undefined) throw new Error(`extractAnswer: unknown rule ${JSON.stringify(r)}; the rules are ${ANSWER_RULES.join(', ')}`);
    const found = extract(text);
    if (typeof found === 'string') return { answer: found, rule: r, reason: '' };
    reasons.push(found.reason);
  }
  return { answer: null, rule: null, reason: reasons.join('; ') };
}

type Extractor = (text: string) => string | { reason: string };

const EXTRACTORS: Record<AnswerRule, Extractor> = {
  '####': hashAnswer,
  boxed: (text) => lastBoxed(text) ?? { reason: 'no \\boxed{...} answer' },
  'answer-is': answerIs,
  'last-number': lastNumber,
};

function hashAnswer(text: string): string | { reason: string } {
  const at = text.lastIndexOf('####');
  if (at < 0) return { reason: 'no "####" answer line' };
  let end = text.indexOf('\n', at);
  if (end < 0) end = text.length;
  const answer = text.slice(at + 4, end).trim();
  return answer === '' ? { reason: 'the last "####" has no answer after it' } : answer;
}

const BOX = /\\(?:boxed|fbox)(?![A-Za-z])/g;

/**
 * The content of the last top-level \boxed{...} / \fbox{...} of `text`, or null (also for a box
 * whose braces never close). A box written inside another is part of the outer box's content.
 */
export function lastBoxed(text: string): string | null {
  let last: string | null = null;
  let from = 0;
  for (;;) {
    BOX.lastIndex = from;
    const m = BOX.exec(text);
    if (m === null) return last;
    let i = m.index + m[0].length;
    while (text[i] === ' ') i++;
    if (text[i] === '{') {
      const close = matchingBrace(text, i);
      if (close < 0) return last; // unclosed: nothing after it can be a complete box either
      last = text.slice(i + 1, close).trim();
      from = close + 1;
    } else {
      // "\boxed 5": the next word, up to whitespace or a math delimiter.
      const word = /^[^\s$]+/.exec(text.slice(i));
      if (word !== null) last = word[0];
      from = i + (word?.[0].length ?? 0);
    }
  }
}

/** Index of the '}' that closes the '{' at `open` (backslash-escaped braces skipped), or -1. */
export function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      i++; // \{ and \} are literal braces
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

const ANSWER_IS = /(?:\*\*)?\b(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*:|answer\s*:)(?:\*\*)?\s*:?(?:\*\*)?[ \t]*/gi;

function answerIs(text: string): string | { reason: string } {
  let last: RegExpExecArray | null = null;
  ANSWER_IS.lastIndex = 0;
  for (let m = ANSWER_IS.exec(text); m !== null; m = ANSWER_IS.exec(text)) last = m;
  if (last === null) return { reason: 'no "The answer is …" or "Answer: …"' };
  let rest = text.slice(last.index + last[0].length);
  const box = lastBoxed(rest.split('\n\n')[0]!);
  if (box !== null) return box;
  const newline = rest.indexOf('\n');
  if (newline >= 0) rest = rest.slice(0, newline);
  // The sentence ends at ". " (a decimal point is followed by a digit, not a space) or at the end.
  const stop = /\.(?:\s|$)/.exec(rest);
  if (stop !== null) rest = rest.slice(0, stop.index);
  rest = rest.replace(/\*\*/g, '').trim();
  return rest === '' ? { reason: 'nothing after the last "answer is"' } : rest;
}

// A number as people write it: optional sign (not glued to a word or a closing bracket before
// it), thousands commas or plain digits, decimals, an optional "/ b", an optional %.
const NUMBER = /(?<![\w)\]}.])[-+−]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:\s*\/\s*\d+(?:\.\d+)?)?(?:\s*\\?%)?/g;

function lastNumber(text: string): string | { reason: string } {
  let last: string | null = null;
  NUMBER.lastIndex = 0;
  for (let m = NUMBER.exec(text); m !== null; m = NUMBER.exec(text)) last = m[0];
  return last === null ? { reason: 'no number' } : last.trim();
}
