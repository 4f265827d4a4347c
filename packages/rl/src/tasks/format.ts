// The text format of every solution (docs/DESIGN.md §4), shared by the tasks, the data loaders and the
// PRMs that read one score per step:
//
//   one step per line            =10
//   ...                          =20
//   final line "#### <answer>"   #### 20      (GSM8K's convention)
//
// A step is a line with some non-whitespace text; blank lines are not steps (so a trailing
// newline or a blank line never gets a label or a score). Leading and trailing whitespace of a
// line is ignored, which also makes "\r\n" line ends harmless.

/** What separates steps. */
export const stepDelimiter = '\n';

/** The prefix of the final answer line. */
export const answerPrefix = '####';

/** One step of a response, located in the original text. */
export interface StepSpan {
  /** The line with leading and trailing whitespace removed. */
  text: string;
  /** Offset (a string index) of the line's first character. */
  start: number;
  /** Offset just past the line's last character; the delimiter, if any, is at `end`. */
  end: number;
}

/** The steps of a response: its non-blank lines, in order. */
export function splitSteps(response: string): StepSpan[] {
  const spans: StepSpan[] = [];
  let start = 0;
  while (start <= response.length) {
    const newline = response.indexOf(stepDelimiter, start);
    const end = newline === -1 ? response.length : newline;
    const text = response.slice(start, end).trim();
    if (text !== '') spans.push({ text, start, end });
    if (newline === -1) break;
    start = newline + 1;
  }
  return spans;
}

/**
 * How a response is cut into steps:
 *
 *   'lines'         every non-blank line is a step (the default; splitSteps, the tasks' labels)
 *   'paragraphs'    blocks separated by blank lines ("\n\n", a line of only whitespace counts as
 *                   blank), as PRM800K and rePIRL write steps; a block may span several lines
 *   'step-markers'  a step starts at each line beginning "Step k:" (or "Step k." — any case,
 *                   after optional markdown "#", "*", "-" or "**"); non-blank text before the first
 *                   marker is a step of its own; the text after the last marker (a final answer
 *                   line too) belongs to the last step
 *   { separator }   a custom regular expression: the steps are the non-blank pieces between its
 *                   matches (like String.split; a lookahead such as /(?=^Step \d+)/m keeps the
 *                   marker in the step)
 *
 * For every rule but 'lines', a StepSpan's `text` is the step trimmed, `start` the offset of its
 * first non-whitespace character and `end` the offset just past its last one.
 */
export type StepRule = 'lines' | 'paragraphs' | 'step-markers' | { separator: RegExp };

export const STEP_RULES = ['lines', 'paragraphs', 'step-markers'] as const;

/** The steps of `text` under `rule` (see StepRule); 'lines' is exactly splitSteps. */
export function segmentSteps(text: string, rule: StepRule = 'lines'): StepSpan[] {
  if (rule === 'lines') return splitSteps(text);
  if (rule === 'paragraphs') return piecesBetween(text, /\n[^\S\n]*\n/g);
  if (rule === 'step-markers') return stepMarkerSpans(text);
  if (typeof rule === 'object' && rule !== null && rule.separator instanceof RegExp) {
    const flags = rule.separator.flags.includes('g') ? rule.separator.flags : `${rule.separator.flags}g`;
    return piecesBetween(text, new RegExp(rule.separator.source, flags));
  }
  throw new Error(`segmentSteps: unknown step rule ${JSON.stringify(rule)}; use ${STEP_RULES.join(', ')} or { separator: /regex/ }`);
}

/**
 * A step rule from its config spelling: 'lines', 'paragraphs', 'step-markers', or a regular
 * expression written "/source/flags" (a custom separator). Anything else throws, naming the rules.
 */
export function parseStepRule(text: string): StepRule {
  if ((STEP_RULES as readonly string[]).includes(text)) return text as StepRule;
  const m = /^\/(.+)\/([a-z]*)$/s.exec(text);
  if (m !== null) {
    let separator: RegExp;
    try {
      separator = new RegExp(m[1]!, m[2]);
    } catch (err) {
      throw new Error(`step rule ${JSON.stringify(text)} is not a valid regular expression: ${(err as Error).message}`);
    }
    if (separator.test('')) throw new Error(`step rule ${JSON.stringify(text)} matches the empty string, so it cannot separate steps`);
    return { separator };
  }
  throw new Error(`step rule ${JSON.stringify(text)} is not one of ${STEP_RULES.join(', ')} or a "/regex/flags" separator`);
}

/** The non-blank pieces of `text` between matches of `separator` (a global regex), trimmed. */
function piecesBetween(text: string, separator: RegExp): StepSpan[] {
  const spans: StepSpan[] = [];
  let start = 0;
  const push = (from: number, to: number) => {
    const span = trimmedSpan(text, from, to);
    if (span !== null) spans.push(span);
  };
  separator.lastIndex = 0;
  for (let m = separator.exec(text); m !== null; m = separator.exec(text)) {
    if (m[0] === '') { // a lookahead or other empty match: cut here, then step past it
      if (m.index > start) push(start, m.index);
      if (m.index > start) start = m.index;
      separator.lastIndex = m.index + 1;
      continue;
    }
    push(start, m.index);
    start = m.index + m[0].length;
  }
  push(start, text.length);
  return spans;
}

const STEP_MARKER = /^[ \t]*(?:#+[ \t]*|[*-][ \t]*)?(?:\*\*)?step[ \t]*\d+[ \t]*(?:\*\*)?[ \t]*[:.]/gim;

function stepMarkerSpans(text: string): StepSpan[] {
  const cuts: number[] = [];
  STEP_MARKER.lastIndex = 0;
  for (let m = STEP_MARKER.exec(text); m !== null; m = STEP_MARKER.exec(text)) cuts.push(m.index);
  const bounds = [0, ...cuts.filter((c) => c > 0), text.length];
  const spans: StepSpan[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const span = trimmedSpan(text, bounds[k]!, bounds[k + 1]!);
    if (span !== null) spans.push(span);
  }
  return spans;
}

function trimmedSpan(text: string, from: number, to: number): StepSpan | null {
  let start = from;
  let end = to;
  while (start < end && /\s/.test(text[start]!)) start++;
  while (end > start && /\s/.test(text[end - 1]!)) end--;
  return start < end ? { text: text.slice(start, end), start, end } : null;
}

/**
 * Where each step ends: the offset of the character at which a causal model has read the whole
 * step, i.e. the '\n' that ends it, or the step's last character when the text ends without one.
 * PRMs read step scores at these positions. `unit: 'byte'` gives UTF-8 byte offsets (the token
 * positions of the byte-level tokenizer); 'char' gives string indices. Under another step rule
 * (segmentSteps) the step ends at the whitespace character right after its text (the first '\n'
 * of a "\n\n" separator), or at its last character when none follows.
 */
export function stepEnds(response: string, unit: 'char' | 'byte' = 'char', rule: StepRule = 'lines'): number[] {
  const ends = rule === 'lines'
    ? splitSteps(response).map((s) => (s.end < response.length ? s.end : s.end - 1))
    : segmentSteps(response, rule).map((s) => (s.end < response.length && /\s/.test(response[s.end]!) ? s.end : s.end - 1));
  if (unit === 'char') return ends;
  // The byte offset of a character's last byte: the UTF-8 length of everything up to and
  // including it, minus one (slice(0, i + 1) keeps a surrogate pair whole when i is its end).
  const encoder = new TextEncoder();
  return ends.map((i) => encoder.encode(response.slice(0, i + 1)).length - 1);
}

/** The answer on a `#### <answer>` line, or null if the line is not one (or has no answer). */
export function answerOfLine(line: string): string | null {
  const text = line.trim();
  if (!text.startsWith(answerPrefix)) return null;
  const answer = text.slice(answerPrefix.length).trim();
  return answer === '' ? null : answer;
}

/** The answer on the response's final line, or null with the reason it has none. */
export function finalAnswer(response: string): { answer: string | null; reason: string } {
  const steps = splitSteps(response);
  const last = steps.at(-1);
  if (last === undefined) return { answer: null, reason: 'the response is empty' };
  const answer = answerOfLine(last.text);
  if (answer !== null) return { answer, reason: '' };
  const reason = last.text.startsWith(answerPrefix)
    ? `the final "${answerPrefix}" line has no answer after it`
    : `the last line ${JSON.stringify(shorten(last.text))} is not a final "${answerPrefix} <answer>" line`;
  return { answer: null, reason };
}

/**
 * Whether two answers are the same. Numbers compare by value, exactly (thousands commas and a
 * leading '+' are ignored, so "1,000" = "1000" and "16.50" = "16.5"); anything else compares as
 * trimmed text.
 */
export function answersMatch(expected: string, got: string): boolean {
  const a = canonicalNumber(expected);
  const b = canonicalNumber(got);
  if (a !== null && b !== null) return a === b;
  return expected.trim() === got.trim();
}

/** The verifier's verdict on one response. */
export interface Verdict {
  correct: boolean;
  /** The text after `####` on the final line, or null when there is no such line. */
  parsedAnswer: string | null;
  /** Why: e.g. `answer "17" is not the expected "16"`. */
  reason: string;
}

/** The outcome verifier: the final `#### <answer>` line must hold the expected answer. */
export function verifyFinalAnswer(expected: string, response: string): Verdict {
  const { answer, reason } = finalAnswer(response);
  if (answer === null) return { correct: false, parsedAnswer: null, reason };
  if (answersMatch(expected, answer)) return { correct: true, parsedAnswer: answer, reason: `answer ${JSON.stringify(answer)} matches` };
  return {
    correct: false,
    parsedAnswer: answer,
    reason: `answer ${JSON.stringify(shorten(answer))} is not the expected ${JSON.stringify(expected)}`,
  };
}

/** A decimal number written canonically ("-0012.50" → "-12.5"), or null if `text` is not one. */
function canonicalNumber(text: string): string | null {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim().replace(/,/g, ''));
  if (m === null || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const whole = BigInt(m[2] === '' ? '0' : m[2]!).toString();
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  const magnitude = fraction === '' ? whole : `${whole}.${fraction}`;
  return m[1] === '-' && magnitude !== '0' ? `-${magnitude}` : magnitude;
}

function shorten(text: string, max = 40): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
