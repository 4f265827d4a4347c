// Step segmentation rules (issue 14): lines (today's rule, unchanged), blank-line paragraphs,
// "Step k:" markers and a custom separator, with the step-end positions PRMs read scores at.
import { describe, expect, it } from 'vitest';
import { createRng, parseStepRule, segmentSteps, splitSteps, stepEnds, type StepRule } from '../src/tasks/index.js';

/** stepEnds as it was before step rules existed (a frozen copy): the default must stay bit-identical. */
function stepEndsBefore(response: string, unit: 'char' | 'byte' = 'char'): number[] {
  const spans: { start: number; end: number }[] = [];
  let start = 0;
  while (start <= response.length) {
    const newline = response.indexOf('\n', start);
    const end = newline === -1 ? response.length : newline;
    if (response.slice(start, end).trim() !== '') spans.push({ start, end });
    if (newline === -1) break;
    start = newline + 1;
  }
  const ends = spans.map((s) => (s.end < response.length ? s.end : s.end - 1));
  if (unit === 'char') return ends;
  const encoder = new TextEncoder();
  return ends.map((i) => encoder.encode(response.slice(0, i + 1)).length - 1);
}

const texts = (rule: StepRule, text: string) => segmentSteps(text, rule).map((s) => s.text);

describe("the default rule 'lines' is today's", () => {
  it('segmentSteps(text) and stepEnds(text) equal splitSteps and the former stepEnds on random texts', () => {
    const rng = createRng(14);
    const alphabet = ['a', 'b', '=', '1', ' ', '\t', '\n', '\n', '\r', 'é', '😀', '#'];
    for (let n = 0; n < 500; n++) {
      const length = Math.floor(rng.next() * 30);
      let text = '';
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(rng.next() * alphabet.length)];
      expect(segmentSteps(text)).toEqual(splitSteps(text));
      expect(segmentSteps(text, 'lines')).toEqual(splitSteps(text));
      for (const unit of ['char', 'byte'] as const) {
        expect(stepEnds(text, unit)).toEqual(stepEndsBefore(text, unit));
        expect(stepEnds(text, unit, 'lines')).toEqual(stepEndsBefore(text, unit));
      }
    }
  });
});

describe('paragraphs (blank-line separated, as PRM800K and rePIRL)', () => {
  const text = 'First we add 3 and 4.\nThat gives 7.\n\nThen we double it: 14.\n \n\n#### 14\n';
  it('cuts at blank lines only; a step may span lines', () => {
    expect(texts('paragraphs', text)).toEqual(['First we add 3 and 4.\nThat gives 7.', 'Then we double it: 14.', '#### 14']);
  });
  it('ends each step at the first newline after it (the "\\n\\n" token), the last at its final character', () => {
    const ends = stepEnds(text, 'char', 'paragraphs');
    expect(ends.map((e) => text[e])).toEqual(['\n', '\n', '\n']);
    expect(ends[0]).toBe(text.indexOf('7.') + 2);
    expect(stepEnds('a\n\nb', 'char', 'paragraphs')).toEqual([1, 3]);
    expect(stepEnds('é\n\nb😀', 'byte', 'paragraphs')).toEqual([2, 8]);
  });
  it('one paragraph of single lines is the lines rule\'s steps joined', () => {
    expect(texts('paragraphs', 'a\nb\nc')).toEqual(['a\nb\nc']);
    expect(texts('paragraphs', '\n\n\n')).toEqual([]);
    expect(texts('paragraphs', '')).toEqual([]);
  });
});

describe('step-markers ("Step k:")', () => {
  it('a step starts at each marker line; the preamble is a step; the answer line joins the last step', () => {
    const text = 'Let me solve this.\nStep 1: 3 + 4 = 7.\nStep 2: 7 * 2 = 14\nso far so good\n## Step 3. Check: 14.\n#### 14';
    expect(texts('step-markers', text)).toEqual([
      'Let me solve this.', 'Step 1: 3 + 4 = 7.', 'Step 2: 7 * 2 = 14\nso far so good', '## Step 3. Check: 14.\n#### 14',
    ]);
  });
  it('markdown bold and any case; a "step 2:" inside a sentence is not a marker', () => {
    const text = '**Step 1:** as in step 2: below\n- step 2: done';
    expect(texts('step-markers', text)).toEqual(['**Step 1:** as in step 2: below', '- step 2: done']);
  });
  it('ends at the newline after each step', () => {
    const text = 'Step 1: a\nStep 2: b';
    expect(stepEnds(text, 'char', 'step-markers')).toEqual([9, 18]);
  });
});

describe('a custom separator', () => {
  it('splits like String.split, blank pieces dropped', () => {
    expect(texts({ separator: /;/ }, 'a; b;; c ;')).toEqual(['a', 'b', 'c']);
    expect(texts({ separator: /\n-{3,}\n/ }, 'one\n---\ntwo\n-----\nthree')).toEqual(['one', 'two', 'three']);
  });
  it('a lookahead keeps the marker in the step', () => {
    expect(texts({ separator: /(?=^Step \d+)/m }, 'Step 1: a\nStep 2: b')).toEqual(['Step 1: a', 'Step 2: b']);
  });
  it('ends at the separator when it is not whitespace', () => {
    expect(stepEnds('ab;cd', 'char', { separator: /;/ })).toEqual([1, 4]);
  });
});

describe('parseStepRule (the config spelling)', () => {
  it('names and /regex/flags', () => {
    expect(parseStepRule('lines')).toBe('lines');
    expect(parseStepRule('paragraphs')).toBe('paragraphs');
    expect(parseStepRule('step-markers')).toBe('step-markers');
    const rule = parseStepRule('/^step \\d+/im');
    expect(typeof rule === 'object' && rule.separator.flags).toBe('im');
  });
  it('refuses the rest, naming the rules', () => {
    expect(() => parseStepRule('sentences')).toThrow(/not one of lines, paragraphs, step-markers or a "\/regex\/flags" separator/);
    expect(() => parseStepRule('/(/')).toThrow(/not a valid regular expression/);
    expect(() => parseStepRule('/x*/')).toThrow(/matches the empty string/);
    expect(() => segmentSteps('a', 'words' as StepRule)).toThrow(/unknown step rule "words"/);
  });
});
