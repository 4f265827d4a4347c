// Answer normalisation and equivalence, for answers as people (and models) write them.
//
// normaliseAnswer strips what does not change an answer: surrounding $…$ and a whole-answer
// \boxed{}, \left / \right, \displaystyle, LaTeX spacing (\, \! \; \: ~), \dfrac and \tfrac
// (→ \frac), \frac12 (→ \frac{1}{2}), \sqrt2 (→ \sqrt{2}), \text{}/\textbf{}/\mathrm{}/\mbox{}
// wrappers (a unit in \text{} after a number is dropped: "5\text{ cm}" → "5"), degrees (^\circ,
// °), \% (→ %), \$ and "dollars" signs, a trailing full stop, a leading "x =" and whitespace.
//
// parseAnswer reads the normalised answer as an exact rational when it is a number: integers and
// decimals (3 = 3.0 = 3.00 = +3, "-0" = "0", ".5" = "0.5"), thousands separators (1,000 =
// 1{,}000 = 1000 — only groups of three), fractions a/b and \frac{a}{b} (signs inside or out),
// mixed numbers (2 1/2, 2\frac{1}{2}), a trailing % (kept as a flag) and up to three unit words
// after a number ("18 dollars", "5 square meters" → the number). A bracketed list — (1, 2),
// [0, 1), \{1, 2\} — is a tuple compared element by element with the same brackets.
//
// answersEquivalent compares numbers exactly (no tolerance unless `relTol` is given: 0.33 ≠ 1/3)
// and everything else as normalised text without whitespace (case-insensitively when neither
// side has LaTeX commands). Percentages — the decision of issue 14:
//   - a reference written as a percentage ("50%") equals a candidate "50%", "50" or "0.5";
//   - a reference without % equals a candidate with % only in percent mode 'lenient' (the data
//     set says so: GSM8K stores "what percent…" answers as bare numbers), where "50%" equals "50"
//     and "0.5"; in the default mode 'reference' a candidate "50%" is wrong against "50" or "0.5";
//   - numbers without % are never scaled by 100: "0.5" ≠ "50".

export type PercentMode = 'reference' | 'lenient';

export interface EquivalenceOptions {
  /** How a % in the candidate is read when the reference has none (see the file comment); default 'reference'. */
  percent?: PercentMode;
  /** Relative tolerance for numbers (|a − b| ≤ relTol · max(|a|, |b|)); default 0, exact. */
  relTol?: number;
}

/** An exact rational num/den (den > 0, reduced). */
export interface Rational {
  num: bigint;
  den: bigint;
}

export type AnswerValue =
  | { kind: 'number'; value: Rational; percent: boolean }
  | { kind: 'tuple'; open: string; close: string; items: AnswerValue[] }
  | { kind: 'text'; text: string };

const TEXT_COMMANDS = ['text', 'textbf', 'textit', 'textrm', 'mathrm', 'mathbf', 'mbox', 'operatorname'];

/** The answer with the wrappers and spellings that do not change it removed (see the file comment). */
export function normaliseAnswer(answer: string): string {
  let s = answer.replace(/[\u2212\u2013]/g, '-').replace(/\u00a0|\u2009|\u202f/g, ' ').trim();
  s = s.replace(/\\\$/g, '').replace(/\$/g, '');
  s = unwrapWholeBox(s.trim());
  s = s.replace(/\\left\s*|\\right\s*/g, '').replace(/\\displaystyle\s*/g, '');
  s = s.replace(/\\[dt]frac(?![A-Za-z])/g, '\\frac');
  s = s.replace(/\{,\}/g, ',').replace(/\\[,!;: ]/g, ' ').replace(/~/g, ' ');
  s = s.replace(/\^\s*\{?\s*\\circ\s*\}?/g, '').replace(/°/g, '');
  s = s.replace(/\\%/g, '%');
  s = dropTrailingUnit(s);
  for (const cmd of TEXT_COMMANDS) s = unwrapCommand(s, cmd);
  s = s.replace(/\\frac(\d)(\d)/g, '\\frac{$1}{$2}').replace(/\\frac(\d)\{/g, '\\frac{$1}{').replace(/\\frac\{([^{}]*)\}(\d)/g, '\\frac{$1}{$2}');
  s = s.replace(/\\sqrt(\d+)/g, '\\sqrt{$1}');
  s = s.replace(/\s+/g, ' ').replace(/([([]|\\\{) /g, '$1').replace(/ ([)\]]|\\\})/g, '$1').trim();
  if (/^[A-Za-z]\s*=/.test(s) && s.indexOf('=') === s.lastIndexOf('=')) s = s.slice(s.indexOf('=') + 1).trim();
  s = s.replace(/\.$/, '').trim();
  return s;
}

/** The value of a normalised answer: a number, a bracketed tuple or text. */
export function parseAnswer(answer: string): AnswerValue {
  const s = normaliseAnswer(answer);
  const number = parseNumber(s);
  if (number !== null) return number;
  const tuple = parseTuple(s);
  if (tuple !== null) return tuple;
  return { kind: 'text', text: s.replace(/\s+/g, '') };
}

/** Whether `candidate` is the same answer as `reference` (see the file comment). */
export function answersEquivalent(reference: string, candidate: string, options: EquivalenceOptions = {}): boolean {
  return valuesEquivalent(parseAnswer(reference), parseAnswer(candidate), options);
}

function valuesEquivalent(ref: AnswerValue, cand: AnswerValue, options: EquivalenceOptions): boolean {
  if (ref.kind === 'number' && cand.kind === 'number') {
    const eq = (a: Rational, b: Rational) => rationalsEqual(a, b, options.relTol ?? 0);
    if (ref.percent === cand.percent) return eq(ref.value, cand.value);
    if (ref.percent) return eq(ref.value, cand.value) || eq(divide100(ref.value), cand.value);
    return (options.percent ?? 'reference') === 'lenient' && (eq(ref.value, cand.value) || eq(ref.value, divide100(cand.value)));
  }
  if (ref.kind === 'tuple' && cand.kind === 'tuple') {
    return ref.open === cand.open && ref.close === cand.close && ref.items.length === cand.items.length &&
      ref.items.every((item, i) => valuesEquivalent(item, cand.items[i]!, options));
  }
  const a = textOf(ref);
  const b = textOf(cand);
  if (a === b) return true;
  return !a.includes('\\') && !b.includes('\\') && a.toLowerCase() === b.toLowerCase();
}

function textOf(v: AnswerValue): string {
  if (v.kind === 'text') return v.text;
  if (v.kind === 'number') return `${v.value.num}/${v.value.den}${v.percent ? '%' : ''}`;
  return `${v.open}${v.items.map(textOf).join(',')}${v.close}`;
}

// ---------------------------------------------------------------------------------------------
// Numbers

const DECIMAL = String.raw`(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+`;
const SIGNED = String.raw`[+-]?\s*(?:${DECIMAL})`;
const RE_DECIMAL = new RegExp(`^([+-]?)\\s*(${DECIMAL})$`);
const RE_SLASH = new RegExp(`^([+-]?)\\s*(${SIGNED})\\s*/\\s*(${SIGNED})$`);
const RE_FRAC = new RegExp(`^([+-]?)\\s*\\\\frac\\{\\s*(${SIGNED})\\s*\\}\\{\\s*(${SIGNED})\\s*\\}$`);
const RE_MIXED = new RegExp(String.raw`^([+-]?)\s*(\d+)\s*(?:\s(\d+)\s*/\s*(\d+)|\\frac\{\s*(\d+)\s*\}\{\s*(\d+)\s*\})$`);
// A number followed by one to three unit words ("18 dollars", "5 square meters", "50% off").
const RE_UNITS = /^(.*[\d}%])\s+([A-Za-z]{2,})(?:\s+[A-Za-z]+){0,2}$/;
const NOT_UNITS = new Set(['pi', 'sqrt', 'and', 'or', 'to', 'times', 'over', 'plus', 'minus']);

function parseNumber(text: string): AnswerValue | null {
  const direct = numberOf(text);
  if (direct !== null) return direct;
  const units = RE_UNITS.exec(text);
  if (units === null || NOT_UNITS.has(units[2]!.toLowerCase())) return null;
  return numberOf(units[1]!.trim());
}

function numberOf(text: string): AnswerValue | null {
  const percent = text.endsWith('%');
  const value = parseRational(percent ? text.slice(0, -1).trim() : text);
  return value === null ? null : { kind: 'number', value, percent };
}

function parseRational(s: string): Rational | null {
  let m = RE_DECIMAL.exec(s);
  if (m !== null) return negateIf(m[1] === '-', decimal(m[2]!));
  m = RE_MIXED.exec(s);
  if (m !== null) {
    const whole = BigInt(m[2]!);
    const num = BigInt(m[3] ?? m[5]!);
    const den = BigInt(m[4] ?? m[6]!);
    if (den === 0n) return null;
    return negateIf(m[1] === '-', reduce(whole * den + num, den));
  }
  m = RE_SLASH.exec(s) ?? RE_FRAC.exec(s);
  if (m !== null) {
    const a = signedDecimal(m[2]!);
    const b = signedDecimal(m[3]!);
    if (b.num === 0n) return null;
    return negateIf(m[1] === '-', reduce(a.num * b.den, a.den * b.num));
  }
  return null;
}

function signedDecimal(s: string): Rational {
  const t = s.replace(/\s+/g, '');
  const negative = t.startsWith('-');
  return negateIf(negative, decimal(t.replace(/^[+-]/, '')));
}

function decimal(s: string): Rational {
  const [whole, fraction = ''] = s.replace(/,/g, '').split('.');
  const den = 10n ** BigInt(fraction.length);
  return reduce(BigInt((whole === '' ? '0' : whole!) + fraction || '0'), den);
}

function reduce(num: bigint, den: bigint): Rational {
  if (den < 0n) {
    num = -num;
    den = -den;
  }
  const g = gcd(num < 0n ? -num : num, den);
  return g === 0n ? { num: 0n, den: 1n } : { num: num / g, den: den / g };
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function negateIf(negative: boolean, r: Rational): Rational {
  return negative ? { num: -r.num, den: r.den } : r;
}

function divide100(r: Rational): Rational {
  return reduce(r.num, r.den * 100n);
}

function rationalsEqual(a: Rational, b: Rational, relTol: number): boolean {
  if (a.num === b.num && a.den === b.den) return true;
  if (relTol <= 0) return false;
  const x = Number(a.num) / Number(a.den);
  const y = Number(b.num) / Number(b.den);
  return Math.abs(x - y) <= relTol * Math.max(Math.abs(x), Math.abs(y));
}

// ---------------------------------------------------------------------------------------------
// Tuples and LaTeX wrappers

const BRACKETS: [string, string][] = [['\\{', '\\}'], ['(', ')'], ['[', ']'], ['(', ']'], ['[', ')']];

function parseTuple(s: string): AnswerValue | null {
  for (const [open, close] of BRACKETS) {
    if (!s.startsWith(open) || !s.endsWith(close) || s.length < open.length + close.length) continue;
    const inner = s.slice(open.length, s.length - close.length);
    const items = splitTopLevel(inner);
    if (items === null || items.length < 2) continue;
    return { kind: 'tuple', open, close, items: items.map((item) => parseAnswer(item)) };
  }
  return null;
}

/** `text` split at commas outside brackets and braces, or null when its brackets do not balance. */
function splitTopLevel(text: string): string[] | null {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) {
      if (--depth < 0) return null;
    } else if (c === ',' && depth === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return null;
  items.push(text.slice(start));
  // "1,000" inside brackets is a tuple of 1 and 000 only if every group is not three digits.
  if (items.length > 1 && /^\s*[+-]?\d{1,3}$/.test(items[0]!) && items.slice(1).every((x) => /^\d{3}(\.\d+)?$/.test(x))) return null;
  return items;
}

function unwrapWholeBox(s: string): string {
  for (;;) {
    const m = /^\\(?:boxed|fbox)\s*\{/.exec(s);
    if (m === null) return s;
    const open = m[0].length - 1;
    if (matchingBraceAt(s, open) !== s.length - 1) return s;
    s = s.slice(open + 1, -1).trim();
  }
}

/** "\cmd{X}" → "X" everywhere in `s` (braces nested). */
function unwrapCommand(s: string, cmd: string): string {
  const re = new RegExp(`\\\\${cmd}\\s*\\{`, 'g');
  for (;;) {
    re.lastIndex = 0;
    const m = re.exec(s);
    if (m === null) return s;
    const open = m.index + m[0].length - 1;
    const close = matchingBraceAt(s, open);
    if (close < 0) return s;
    s = s.slice(0, m.index) + s.slice(open + 1, close) + s.slice(close + 1);
  }
}

/** "5\text{ cm}", "12 \mbox{inches}": a \text-like unit right after a number is dropped. */
function dropTrailingUnit(s: string): string {
  const m = /^(.*\d)\s*\\(?:text|mbox|mathrm)\s*\{\s*[A-Za-z][A-Za-z\s.^{}0-9]*\}$/.exec(s);
  return m !== null && parseRational(m[1]!.replace(/\s+/g, ' ').trim()) !== null ? m[1]!.trim() : s;
}

function matchingBraceAt(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}
