// The general verifier (issue 14): answers as people write them, right and wrong, table by table.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  VerifierModuleError, answersEquivalent, createAnswerVerifier, extractAnswer, loadVerifierModule, normaliseAnswer, verifierFromConfig,
  type AnswerRule, type EquivalenceOptions,
} from '../src/verify/index.js';
import type { RolloutOptions } from '../src/rollout/index.js';
import type { TrainerCommonOptions } from '../src/trainers/index.js';
import type { Problem } from '../src/tasks/index.js';

const fixtures = join(fileURLToPath(new URL('.', import.meta.url)), 'fixtures', 'verifiers');

// [reference, candidate, equivalent?, options?]
type Case = [string, string, boolean, EquivalenceOptions?];

const EQUIVALENCE: Record<string, Case[]> = {
  'integers and decimals': [
    ['72', '72', true], ['72', '72.0', true], ['72', '72.00', true], ['3', '3.', true], ['3.14', '3.140', true],
    ['0.1', '0.10', true], ['7', '07', true], ['12', '12.5', false], ['12', '120', false], ['0.5', '.5', true],
    ['1.5', '1.50000', true], ['2', '2.01', false],
  ],
  'thousands separators': [
    ['1000', '1,000', true], ['1000000', '1,000,000', true], ['1000', '1{,}000', true], ['1,000', '1000', true],
    ['1000', '1,00', false], ['1234.5', '1,234.50', true], ['10000', '1,000', false],
  ],
  signs: [
    ['5', '+5', true], ['-5', '\u22125', true], ['0', '-0', true], ['-3', '3', false], ['3', '-3', false],
    ['-2.5', '-2.50', true],
  ],
  'fractions and \\frac': [
    ['0.5', '1/2', true], ['0.5', '\\frac{1}{2}', true], ['\\frac{1}{2}', '\\dfrac{1}{2}', true], ['\\frac{1}{2}', '\\tfrac12', true],
    ['\\frac{1}{2}', '\\frac12', true], ['1/2', '2/4', true], ['-\\frac{1}{2}', '\\frac{-1}{2}', true], ['-\\frac{1}{2}', '-1/2', true],
    ['-1/2', '1/2', false], ['\\frac{3}{4}', '0.75', true], ['\\frac{1}{3}', '0.333', false], ['\\frac{1}{3}', '0.3333', false],
    ['\\frac{1}{2}', '\\frac{2}{4}', true], ['2', '\\frac{4}{2}', true], ['-0.5', '-\\frac{1}{2}', true], ['\\frac{2}{3}', '\\frac{3}{2}', false],
    ['\\frac{1}{2}', '1 / 2', true],
  ],
  'mixed numbers': [
    ['2\\frac{1}{2}', '5/2', true], ['2 1/2', '2.5', true], ['2\\frac{1}{2}', '2.25', false],
  ],
  'percentages (the reference decides)': [
    ['50%', '50%', true], ['50%', '50', true], ['50%', '0.5', true], ['50%', '50\\%', true], ['25%', '1/4', true],
    ['25%', '25 percent', true], ['50%', '5', false], ['50', '50%', false], ['0.5', '50%', false], ['50', '0.5', false],
    ['50', '50%', true, { percent: 'lenient' }], ['0.5', '50%', true, { percent: 'lenient' }], ['50', '0.5', false, { percent: 'lenient' }],
    ['50', '40%', false, { percent: 'lenient' }],
  ],
  'money, units, degrees': [
    ['18', '\\$18', true], ['18', '$18', true], ['18', '18 dollars', true], ['18.50', '\\$18.5', true], ['5', '5\\text{ cm}', true],
    ['5', '5 \\mbox{inches}', true], ['90', '90^\\circ', true], ['90', '90°', true], ['90', '90^{\\circ}', true], ['18', '19 dollars', false],
    ['12', '12 square meters', true],
  ],
  'text wrappers and words': [
    ['\\text{Monday}', 'Monday', true], ['Monday', '\\textbf{Monday}', true], ['yes', 'Yes', true], ['Tuesday', 'Monday', false],
    ['\\text{(C)}', '(C)', true], ['3', 'three', false], ['2\\pi', '2 \\pi', true], ['2\\pi', '2', false],
    ['\\sqrt{2}', '\\sqrt2', true], ['\\frac{\\sqrt{3}}{2}', '\\frac{\\sqrt3}{2}', true], ['\\frac{\\sqrt{3}}{2}', '\\dfrac{\\sqrt{3}}{2}', true],
    ['\\sqrt{2}', '\\sqrt{3}', false],
  ],
  'tuples and intervals with \\left \\right': [
    ['(1, 2)', '\\left( 1, 2 \\right)', true], ['(1,2)', '(1, 2)', true], ['(1,2)', '(2,1)', false], ['(1,2)', '[1,2]', false],
    ['[0, 1)', '[0,1)', true], ['(-\\infty, 3]', '\\left(-\\infty,3\\right]', true], ['(\\frac{1}{2}, 3)', '(0.5, 3.0)', true],
    ['\\{1, 2\\}', '\\{1,2\\}', true], ['(1, 2, 3)', '(1, 2)', false],
  ],
  'boxes, dollars, assignments, full stops': [
    ['5', 'x = 5', true], ['5', 'x=5', true], ['5', '5.', true], ['10', '\\boxed{10}', true], ['10', '$\\boxed{10}$', true],
    ['10', '$10$', true], ['5', 'y = 6', false],
  ],
  tolerance: [
    ['3.14159', '3.1416', false], ['3.14159', '3.1416', true, { relTol: 1e-4 }], ['100', '101', false, { relTol: 1e-3 }],
  ],
};

describe('answersEquivalent: answers as people write them', () => {
  for (const [group, cases] of Object.entries(EQUIVALENCE)) {
    it.each(cases)(`${group}: %s vs %s → %s`, (reference, candidate, equal, options) => {
      expect(answersEquivalent(reference, candidate, options)).toBe(equal);
    });
  }
  it('has at least 100 written cases', () => {
    expect(Object.values(EQUIVALENCE).flat().length + EXTRACTION.length).toBeGreaterThanOrEqual(100);
  });
});

// [rule, text, answer or null]
const EXTRACTION: [AnswerRule | AnswerRule[], string, string | null][] = [
  ['####', 'She has 3 + 4 = 7 apples.\n#### 7', '7'],
  ['####', 'Total: 1,000 dollars\n#### 1,000', '1,000'],
  ['####', '#### 5\nwait, no\n#### 6', '6'],
  ['####', 'so it costs\n#### $18.50\n', '$18.50'],
  ['####', 'I think it is 7', null],
  ['####', 'it is\n####   \n', null],
  ['boxed', 'So the result is \\boxed{5}.', '5'],
  ['boxed', '$\\boxed{\\frac{1}{2}}$', '\\frac{1}{2}'],
  ['boxed', '\\boxed{\\left\\{1, 2\\right\\}}', '\\left\\{1, 2\\right\\}'],
  ['boxed', 'first \\boxed{3}, then \\boxed{4}', '4'],
  ['boxed', 'the answer is \\boxed 7', '7'],
  ['boxed', '\\fbox{8}', '8'],
  ['boxed', '\\boxed{a^{2}+b^{2}}', 'a^{2}+b^{2}'],
  ['boxed', 'almost \\boxed{5', null],
  ['boxed', 'no box at all: 5', null],
  ['answer-is', 'Adding them up, the answer is 42.', '42'],
  ['answer-is', 'So the final answer is $\\boxed{12}$. I hope it is correct.', '12'],
  ['answer-is', 'Answer: 3.5', '3.5'],
  ['answer-is', '**Answer:** 7', '7'],
  ['answer-is', 'The answer is: 9', '9'],
  ['answer-is', 'so the answer is 3.14.', '3.14'],
  ['answer-is', 'The answer is 5 apples. That was easy.', '5 apples'],
  ['answer-is', 'I computed 5', null],
  ['last-number', 'I got 5 first, then 10.', '10'],
  ['last-number', 'In total 1,250.50 dollars.', '1,250.50'],
  ['last-number', 'so x = -3', '-3'],
  ['last-number', 'she ate 3/4 of them', '3/4'],
  ['last-number', 'it rose by 50%', '50%'],
  ['last-number', 'between 3-5', '5'],
  ['last-number', 'no numbers here', null],
  [['boxed', 'answer-is', 'last-number'], 'The answer is 7', '7'],
  [['boxed', 'answer-is', 'last-number'], 'maybe 8 or 9', '9'],
  [['####', 'boxed'], '\\boxed{11}', '11'],
];

describe('extractAnswer: the final answer by rule', () => {
  it.each(EXTRACTION)('%s: %j → %j', (rule, text, answer) => {
    const found = extractAnswer(text, rule);
    expect(found.answer).toBe(answer);
    if (answer === null) expect(found.reason).not.toBe('');
  });
  it('refuses an unknown rule', () => {
    expect(() => extractAnswer('x', 'last' as AnswerRule)).toThrow(/unknown rule "last"/);
  });
});

describe('normaliseAnswer', () => {
  it.each([
    ['$\\boxed{\\dfrac{1}{2}}$', '\\frac{1}{2}'],
    ['\\left( 1, 2 \\right)', '(1, 2)'],
    ['5\\text{ cm}', '5'],
    ['\\text{Monday}.', 'Monday'],
    ['x = 5', '5'],
  ])('%s → %s', (raw, normal) => {
    expect(normaliseAnswer(raw)).toBe(normal);
  });
});

const problem = (answer: string, meta?: Record<string, unknown>): Problem => ({ id: 'p', prompt: 'q', answer, ...(meta ? { meta } : {}) });

describe('createAnswerVerifier', () => {
  it('GSM8K: #### with lenient percentages', () => {
    const verify = createAnswerVerifier({ layout: 'gsm8k' });
    expect(verify(problem('50'), 'Half of them: 50%\n#### 50%')).toMatchObject({ correct: true, parsedAnswer: '50%' });
    expect(verify(problem('50'), 'The answer is 50')).toMatchObject({ correct: false, parsedAnswer: null });
    expect(verify(problem('1000'), '#### 1,000').correct).toBe(true);
  });
  it('MATH: the last box, by value', () => {
    const verify = createAnswerVerifier({ layout: 'math' });
    expect(verify(problem('\\frac12'), 'We get $\\boxed{\\dfrac{1}{2}}$.')).toMatchObject({ correct: true, parsedAnswer: '\\dfrac{1}{2}' });
    const wrong = verify(problem('\\frac12'), '\\boxed{2}');
    expect(wrong).toMatchObject({ correct: false, parsedAnswer: '2' });
    expect(wrong.reason).toMatch(/is not the expected/);
    expect(verify(problem('50'), '\\boxed{50\\%}').correct).toBe(false); // reference mode
  });
  it('verl: the rule follows each problem\'s data_source', () => {
    const verify = createAnswerVerifier({ layout: 'verl' });
    expect(verify(problem('6', { data_source: 'openai/gsm8k' }), '3 + 3 = 6\n#### 6').correct).toBe(true);
    expect(verify(problem('6', { data_source: 'openai/gsm8k' }), '\\boxed{6}').correct).toBe(false);
    expect(verify(problem('6', { data_source: 'DigitalLearningGmbH/MATH-lighteval' }), '\\boxed{6}').correct).toBe(true);
  });
  it('explicit rules, tried in order', () => {
    const verify = createAnswerVerifier({ rule: ['boxed', 'answer-is'] });
    expect(verify(problem('7'), 'The answer is 7.').correct).toBe(true);
    expect(verify(problem('7'), 'seven').reason).toMatch(/no \\boxed.*no "The answer is/);
  });
  it('refuses unknown options', () => {
    expect(() => createAnswerVerifier({ rule: 'hash' as AnswerRule })).toThrow(/unknown rule "hash"/);
    expect(() => createAnswerVerifier({ percent: 'always' as 'lenient' })).toThrow(/percent must be/);
  });
  it('is the Verifier that rollouts and trainers take as their verify option', () => {
    const rolloutVerify: RolloutOptions['verify'] = createAnswerVerifier();
    const trainerVerify: TrainerCommonOptions['verify'] = createAnswerVerifier({ layout: 'math' });
    expect(rolloutVerify!(problem('3'), '#### 3.0').correct).toBe(true);
    expect(trainerVerify!(problem('3'), '\\boxed{3}').correct).toBe(true);
  });
});

describe('loadVerifierModule', () => {
  it('a verify returning a boolean', async () => {
    const verify = await loadVerifierModule(join(fixtures, 'ends-with.mjs'));
    expect(verify(problem('42'), 'so 42')).toMatchObject({ correct: true, parsedAnswer: null });
    expect(verify(problem('42'), 'so 41').correct).toBe(false);
  });
  it('a verify returning { correct, parsedAnswer, reason }', async () => {
    const verify = await loadVerifierModule(join(fixtures, 'verdict.mjs'));
    expect(verify(problem('42'), 'ANSWER=42')).toEqual({ correct: true, parsedAnswer: '42', reason: 'exact' });
  });
  it('through the config: verifier.module wins over the rule', async () => {
    const verify = await verifierFromConfig({ rule: 'boxed', percent: 'auto', relTol: 0, module: join(fixtures, 'verdict.mjs') });
    expect(verify(problem('1'), 'ANSWER=1').correct).toBe(true);
  });
  it('a module without a verify export is refused, naming the file and its exports', async () => {
    const path = join(fixtures, 'no-verify.mjs');
    const err = await loadVerifierModule(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerifierModuleError);
    expect((err as Error).message).toContain(path);
    expect((err as Error).message).toMatch(/no export named "verify" \(its exports are check\)/);
  });
  it('a missing file is refused, naming it', async () => {
    const path = join(fixtures, 'missing.mjs');
    await expect(loadVerifierModule(path)).rejects.toThrow(new RegExp(`verifier module ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot import it`));
  });
  it('a verify returning something else is an error naming the file and the problem', async () => {
    const verify = await loadVerifierModule(join(fixtures, 'bad-results.mjs'));
    const call = (response: string) => () => verify({ ...problem('1'), id: 'gsm/7' }, response);
    expect(call('number')).toThrow(/bad-results\.mjs: verify\(response, problem\) returned the number 1 for problem "gsm\/7"/);
    expect(call('promise')).toThrow(/returned a Promise \(verify must be synchronous\)/);
    expect(call('object')).toThrow(/an object whose "correct" is the string "yes", not a boolean/);
    expect(call('undefined')).toThrow(/returned undefined/);
    expect(call('throw')).toThrow(/verify threw on problem "gsm\/7": boom/);
    expect(call('ok')()).toMatchObject({ correct: true });
  });
});
