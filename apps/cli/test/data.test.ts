// Problems from files through every command (issue 14): a GSM8K-layout JSONL file, a MATH-layout
// JSONL file (steps by paragraphs) and a verl Parquet file each go sft → rl → prm train (rePIRL) →
// prm eval at tiny size, verified by their layout's answer rule; every run records the SHA-256 of
// the file it read and the duplicates it dropped. Then the checks that run before anything is
// created: --dry-run's report, bad rows (file:line and field), a file no mapping fits, split files
// that overlap, a split a command needs that is missing, the verifier section's rules.
// The fixtures are written by fixtures/data/make-data.mjs (made-up problems; only the layouts are
// the data sets').
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStepRule, segmentSteps } from '@repirl/rl';
import { makeCli, readJson, useTempDir } from './helpers.js';

const FIXTURES = new URL('./fixtures/data/', import.meta.url).pathname;
const tmp = useTempDir('repirl-data-cli-');

const TINY_MODEL = ['--set', 'model.dModel=32', '--set', 'model.nLayers=1', '--set', 'model.nHeads=2', '--set', 'model.dFF=64', '--set', 'model.maxSeqLen=96'];
const QUIET = ['--progress', 'off'];

interface Layout {
  name: string;
  file: string;
  /** Keys this layout needs beyond data.path. */
  keys: string[];
  duplicates: number;
  /** The answer rule its verifier uses, as the dry run names it. */
  rule: string;
}

const LAYOUTS: Layout[] = [
  { name: 'GSM8K JSONL', file: 'gsm8k.jsonl', keys: [], duplicates: 2, rule: '#### for gsm8k' },
  { name: 'MATH JSONL', file: 'math.jsonl', keys: ['data.steps=paragraphs'], duplicates: 0, rule: 'boxed for math' },
  // verl's GSM8K files keep the worked solution in extra_info.answer: SFT needs it mapped.
  { name: 'verl Parquet', file: 'verl.parquet', keys: ['data.layout=verl', 'data.columns.solution=extra_info.answer'], duplicates: 0, rule: '#### for verl' },
];

const dataArgs = (l: Layout) => [
  '--set', 'data.source=file', '--set', `data.path=${join(FIXTURES, l.file)}`, '--set', 'data.fractions.validation=0.2', '--set', 'data.fractions.test=0.2',
  ...l.keys.flatMap((k) => ['--set', k]),
];

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');
const exists = (path: string) => stat(path).then(() => true, () => false);

describe('problems from files through sft → rl → prm train (rePIRL) → prm eval', () => {
  it.each(LAYOUTS)('$name', async (l) => {
    const cli = makeCli();
    const dir = join(tmp.path(), l.file.replace('.', '-'));
    const data = dataArgs(l);
    const file = join(FIXTURES, l.file);

    const sft = await cli.run(
      'sft', ...data, ...TINY_MODEL, '--set', 'steps=3', '--set', 'batchSize=8', '--set', 'optim.warmupSteps=1', '--set', 'optim.lr=0.003',
      '--set', 'validation.problems=3', '--set', 'validation.every=3', '--set', 'checkpoint.every=0', ...QUIET, '--out', join(dir, 'sft'),
    );
    expect(sft.out).toMatch(/^repirl sft finished 3\/3: val\/acc@start 0, val\/acc [\d.]+, .*data\/duplicates \d+/m);
    expect(sft.code).toBe(0);
    // The run records the file it read (its SHA-256) and the duplicates it dropped.
    const manifest = await readJson(join(dir, 'sft', 'data.json'));
    expect(manifest.files).toEqual([expect.objectContaining({ key: 'path', path: file, sha256: await sha256(file), bytes: (await readFile(file)).length })]);
    expect(manifest.problems.train + manifest.problems.validation + manifest.problems.test + l.duplicates).toBe(manifest.files[0].problems);
    const summary = await readJson(join(dir, 'sft', 'summary.json'));
    expect(summary.results['data/duplicates']).toBe(l.duplicates);

    const rl = await cli.run(
      'rl', ...data, '--set', `init=${join(dir, 'sft')}`, '--set', 'steps=1', '--set', 'rollout.promptsPerStep=2', '--set', 'rollout.k=2',
      '--set', 'rollout.maxNewTokens=12', '--set', 'validation.problems=2', '--set', 'checkpoint.every=1', ...QUIET, '--out', join(dir, 'rl'),
    );
    expect(rl.out).toMatch(/^repirl rl finished 1\/1/m);
    expect(rl.code).toBe(0);
    expect((await readJson(join(dir, 'rl', 'data.json'))).files[0].sha256).toBe(manifest.files[0].sha256);

    const prm = await cli.run(
      'prm', 'train', ...data, '--set', `init=${join(dir, 'sft')}`, '--set', 'method=repirl', '--set', 'rl.steps=1', '--set', 'rl.filter.enabled=false',
      '--set', 'rl.rollout.promptsPerStep=2', '--set', 'rl.rollout.k=2', '--set', 'rl.rollout.maxNewTokens=12', '--set', 'rl.validation.problems=2',
      '--set', 'rl.validation.every=0', '--set', 'rl.checkpoint.every=1', '--set', 'eval.problems=3', '--set', 'eval.samplesPerProblem=2', '--set', 'eval.ns=[2]',
      ...QUIET, '--out', join(dir, 'prm'),
    );
    expect(prm.out).toMatch(/repirl prm train finished 1\/1: .*prm_eval\/response_auroc\/min/);
    expect(prm.code).toBe(0);
    // Problems from a file have no exact step labels: the outcome metrics only, step labels null.
    const report = await readJson(join(dir, 'prm', 'prm_eval.json'));
    expect(report.metrics['prm_eval/samples']).toBe(6);
    expect(Object.keys(report.metrics).filter((k) => k.startsWith('prm_eval/step_auroc'))).toEqual([]);
    expect(report.samples.every((s: { step_labels: unknown }) => s.step_labels === null)).toBe(true);
    // The PRM scored the steps of data.steps: one score per segmented step of each response.
    const rule = parseStepRule(l.keys.find((k) => k.startsWith('data.steps='))?.slice('data.steps='.length) ?? 'lines');
    for (const s of report.samples as { response: string; step_scores: number[] }[]) expect(s.step_scores).toHaveLength(segmentSteps(s.response, rule).length);

    const evaluated = await cli.run(
      'prm', 'eval', ...data, '--set', `prm=${join(dir, 'prm')}`, '--set', 'problems=3', '--set', 'samplesPerProblem=2', '--set', 'ns=[2]',
      '--set', 'maxNewTokens=12', ...QUIET, '--out', join(dir, 'prm-eval'),
    );
    expect(evaluated.out).toMatch(new RegExp(`^${l.file.replace('.', '\\.')}: response AUROC \\(min\\) .*best-of-2: .*\\(6 samples of 3 problems\\)$`, 'm'));
    expect(evaluated.out).not.toContain('step AUROC');
    expect(evaluated.code).toBe(0);
    expect((await readJson(join(dir, 'prm-eval', 'summary.json'))).results['data/duplicates']).toBe(l.duplicates);
    if (l.keys.includes('data.steps=paragraphs')) {
      // The PRM reads paragraphs: scoring it under another step rule is refused, naming the key and the rule it needs.
      const wrong = await cli.run('prm', 'eval', ...data, '--set', 'data.steps=lines', '--set', `prm=${join(dir, 'prm')}`, '--set', 'problems=3', ...QUIET, '--out', join(dir, 'prm-eval-lines'));
      expect(wrong.code).toBe(1);
      expect(wrong.out + wrong.err).toMatch(/data\.steps is "lines" but the PRM in .* was trained on steps cut by "paragraphs" .*: set --set data\.steps=paragraphs/);
    }
  }, 120_000);

  it('repirl eval scores a checkpoint on a file\'s test split with the layout\'s verifier', async () => {
    const cli = makeCli();
    const l = LAYOUTS[1]!;
    const r = await cli.run('eval', ...dataArgs(l), '--set', `checkpoint=${join(tmp.path(), 'math-jsonl', 'sft')}`, '--set', 'problems=3', '--set', 'maxNewTokens=8', ...QUIET, '--out', join(tmp.path(), 'eval'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^math\.jsonl: greedy pass@1 [\d.]+ on 3 problems/m);
    const samples = (await readFile(join(tmp.path(), 'eval', 'samples.jsonl'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
    expect(samples.map((s) => s.id)).toHaveLength(3);
    // The train split is read as a count too (the first `problems`), not whole as a training stream.
    const train = await cli.run('eval', ...dataArgs(l), '--set', 'split=train', '--set', `checkpoint=${join(tmp.path(), 'math-jsonl', 'sft')}`, '--set', 'problems=2', '--set', 'maxNewTokens=4', ...QUIET, '--out', join(tmp.path(), 'eval-train'));
    expect(train.out).toMatch(/^math\.jsonl: greedy pass@1 [\d.]+ on 2 problems/m);
  });
});

describe('data checks before anything is created', () => {
  const file = (name: string, lines: unknown[]) => {
    const path = join(tmp.path(), name);
    return writeFile(path, lines.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n') + '\n').then(() => path);
  };

  it('--dry-run reads the file: counts per split, duplicates dropped, the verifier and one rendered example (stderr); the config (stdout)', async () => {
    const cli = makeCli();
    for (const l of LAYOUTS) {
      const r = await cli.run('sft', ...dataArgs(l), '--dry-run');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out).data).toMatchObject({ source: 'file', path: join(FIXTURES, l.file) });
      expect(r.err).toMatch(new RegExp(`^data\\.path: .*${l.file.replace('.', '\\.')}: (jsonl|parquet), layout \\w+ \\(prompt ← .*\\), \\d+ problems, \\d+ bytes, sha256 [0-9a-f]{64}$`, 'm'));
      expect(r.err).toMatch(new RegExp(`^problems: train \\d+, validation \\d+, test \\d+ \\(split by the hash of each prompt: validation 0\\.2, test 0\\.2\\); ${l.duplicates} duplicates? dropped`, 'm'));
      expect(r.err).toContain(`verifier: rule auto (${l.rule})`);
      expect(r.err).toMatch(/^ {2}prompt {2}│ \S.*\n {2}step {2}1 │ /m);
      expect(r.err).toMatch(/\(2 steps by data\.steps = (lines|paragraphs); verdict of the solution: answer "\d+" \((####|boxed)\) matches "\d+"\)/);
    }
  });

  it('a bad row names file:line and the field; a file no layout fits names the mapping it tried; nothing is created', async () => {
    const cli = makeCli();
    const out = join(tmp.path(), 'never');
    const bad = await file('bad.jsonl', [{ question: 'What is 1 plus 1?', answer: '1 + 1 = 2\n#### 2' }, { question: 'What is 2 plus 2?', answer: null }]);
    const r1 = await cli.run('sft', '--set', 'data.source=file', '--set', `data.path=${bad}`, '--out', out);
    expect(r1.code).toBe(2);
    expect(r1.out).toMatch(/^repirl sft: data: .*bad\.jsonl:2: field "answer" is missing; give the final answer/);
    const wrongType = await file('wrong-type.jsonl', [{ question: 'What is 1 plus 1?', answer: '1 + 1 = 2\n#### 2' }, { question: 42, answer: '2' }]);
    const r2 = await cli.run('sft', '--set', 'data.source=file', '--set', `data.path=${wrongType}`, '--out', out);
    expect(r2.out).toMatch(/wrong-type\.jsonl:2: field "question" must be a string or a list of chat messages \[\{role, content\}\], got (a )?number/);
    const alien = await file('alien.jsonl', [{ text: 'hello', label: 1 }]);
    const r3 = await cli.run('sft', '--set', 'data.source=file', '--set', `data.path=${alien}`, '--out', out);
    expect(r3.code).toBe(2);
    expect(r3.out).toMatch(/no problem layout fits the first record \(line 1\); columns found: text, label; layouts tried: gsm8k \(prompt ← "question"/);
    const mapped = await cli.run('sft', '--set', 'data.source=file', '--set', `data.path=${alien}`, '--set', 'data.columns.prompt=text', '--set', 'data.columns.answer=answer', '--out', out);
    expect(mapped.out).toMatch(/has no column "answer" for answer, so no record maps; mapping tried: generic \(prompt ← "text", answer ← "answer"/);
    expect(await exists(out)).toBe(false);
  });

  it('split files: read as given, refused when they overlap or when a split the command reads is missing', async () => {
    const cli = makeCli();
    const gsm = (a: number) => ({ question: `What is ${a} plus 1?`, answer: `${a} + 1 = ${a + 1}\n#### ${a + 1}` });
    const train = await file('train.jsonl', [1, 2, 3, 4, 5, 5].map(gsm));
    const validation = await file('validation.jsonl', [6, 7].map(gsm));
    const test = await file('test.jsonl', [8, 9].map(gsm));
    const ok = await cli.run('sft', '--set', 'data.source=file', '--set', `data.train=${train}`, '--set', `data.validation=${validation}`, '--set', `data.test=${test}`, '--dry-run');
    expect(ok.code).toBe(0);
    expect(ok.err).toMatch(/^problems: train 5, validation 2, test 2 \(one file per split\); 1 duplicate dropped \(train 1\)$/m);
    const leaky = await file('leaky.jsonl', [9, 3].map(gsm));
    const overlap = await cli.run('sft', '--set', 'data.source=file', '--set', `data.train=${train}`, '--set', `data.validation=${validation}`, '--set', `data.test=${leaky}`, '--dry-run');
    expect(overlap.code).toBe(2);
    expect(overlap.out).toMatch(/the train and test files overlap: .*train\.jsonl problem "train\.jsonl:3" and .*leaky\.jsonl problem "leaky\.jsonl:2" have the same prompt "What is 3 plus 1\?"/);
    const missing = await cli.run('sft', '--set', 'data.source=file', '--set', `data.train=${train}`, '--set', `data.test=${test}`, '--dry-run');
    expect(missing.code).toBe(2);
    expect(missing.out).toContain('`repirl sft` reads the validation split, but data.validation is not given');
    const both = await cli.run('sft', '--set', 'data.source=file', '--set', `data.path=${train}`, '--set', `data.test=${test}`, '--dry-run');
    expect(both.out).toMatch(/data\.test: a split file excludes path/);
  });

  it('--resume refuses a data file whose SHA-256 changed since the run started, leaving the run as it was', async () => {
    const cli = makeCli();
    const path = join(tmp.path(), 'resume-gsm8k.jsonl');
    await writeFile(path, await readFile(join(FIXTURES, 'gsm8k.jsonl')));
    const out = join(tmp.path(), 'resume-sft');
    const args = ['--set', 'data.source=file', '--set', `data.path=${path}`, ...TINY_MODEL, '--set', 'batchSize=4', '--set', 'validation.problems=2', '--set', 'validation.every=0'];
    expect((await cli.run('sft', ...args, '--set', 'steps=1', '--set', 'checkpoint.every=1', ...QUIET, '--out', out)).code).toBe(0);
    await writeFile(path, `${await readFile(path, 'utf8')}${JSON.stringify({ question: 'What is 1 plus 9?', answer: '1 + 9 = 10\n#### 10' })}\n`);
    const resumed = await cli.run('sft', '--out', out, '--resume', '--set', 'steps=2', ...QUIET);
    expect(resumed.code).toBe(2);
    expect(resumed.out).toMatch(/data\.path \(.*resume-gsm8k\.jsonl\) changed since the run started \(sha256 [0-9a-f]{12}… → [0-9a-f]{12}…\)/);
    expect((await readJson(join(out, 'summary.json'))).status).toBe('finished');
  });

  it('the verifier section: only for files, a user module loaded and checked before the run', async () => {
    const cli = makeCli();
    const taskWithModule = await cli.run('sft', '--set', 'verifier.module=./x.mjs', '--dry-run');
    expect(taskWithModule.code).toBe(2);
    expect(taskWithModule.out).toMatch(/data\.source: is "task-expert" but verifier\.module is set: the verifier section is only read for problems from files/);
    const steps = await cli.run('sft', '--set', 'data.steps=paragraphs', '--dry-run');
    expect(steps.out).toMatch(/data\.steps: is only read when data\.source is "file"/);
    const module = join(tmp.path(), 'no-verify.mjs');
    await writeFile(module, 'export const check = () => true;\n');
    const r = await cli.run('sft', ...dataArgs(LAYOUTS[0]!), '--set', `verifier.module=${module}`, '--dry-run');
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/verifier: verifier module .*no-verify\.mjs: has no export named "verify" \(its exports are check\)/);
    const good = join(tmp.path(), 'verify.mjs');
    await writeFile(good, 'export function verify(response, problem) { return response.includes(problem.answer); }\n');
    const withModule = await cli.run('sft', ...dataArgs(LAYOUTS[0]!), '--set', `verifier.module=${good}`, '--dry-run');
    expect(withModule.code).toBe(0);
    expect(withModule.err).toContain(`verifier: the module ${good}`);
  });
});
