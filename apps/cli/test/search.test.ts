// `repirl search` end to end on a tiny SFT policy: majority vote without a PRM, beam search with
// the oracle PRM, MCTS and best-of-N with a PRM from an (ORM) run directory; per-problem JSONL and
// a summary with a bootstrap interval; budgets hold; bad options are refused naming the key.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeCli, readJson, useTempDir, readJsonl, tinySftArgs, TINY_TASK } from './helpers.js';

const tmp = useTempDir('repirl-search-cli-');
const TASK = TINY_TASK;
const readLines = readJsonl;

let sft: string;
let orm: string;

beforeAll(async () => {
  const cli = makeCli();
  sft = join(tmp.path(), 'sft');
  const r = await cli.run(...tinySftArgs(40, sft));
  expect(r.code).toBe(0);
  orm = join(tmp.path(), 'orm');
  const p = await cli.run('prm', 'train', ...TASK, '--set', 'method=orm', '--set', `init=${sft}`, '--set', 'problems=4', '--set', 'rollout.k=2', '--set', 'rollout.maxNewTokens=12',
    '--set', 'prm.epochs=1', '--set', 'prm.miniBatchSize=4', '--set', 'eval.problems=2', '--set', 'eval.samplesPerProblem=2', '--set', 'eval.ns=[2]', '--progress', 'off', '--out', orm);
  expect(p.code).toBe(0);
}, 120_000);

const SMALL = [...TASK, '--set', 'problems=6', '--set', 'maxNewTokens=12', '--set', 'bootstrap=100', '--progress', 'off'];

describe('repirl search', () => {
  it('runs majority without a PRM and beam search with the oracle, writing per-problem JSONL and a summary', async () => {
    const cli = makeCli();
    const majority = join(tmp.path(), 'majority');
    const r = await cli.run('search', ...SMALL, '--set', `policy=${sft}`, '--set', 'n=4', '--out', majority);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/arith-chain: majority accuracy [\d.]+ \[[\d.]+, [\d.]+\] at [\d.]+ generated tokens per problem \(6 problems/);
    const lines = await readLines(join(majority, 'search.jsonl'));
    expect(lines).toHaveLength(6);
    for (const l of lines) {
      expect(l.candidates).toHaveLength(4);
      expect(l.generated_tokens).toBe(l.candidates.reduce((a: number, c: any) => a + c.tokens, 0));
      if (l.chosen !== null) expect(l.correct).toBe(l.candidates[l.chosen].correct);
    }
    const summary = await readJson(join(majority, 'search.json'));
    expect(summary.accuracy.value).toBeCloseTo(lines.filter((l) => l.correct).length / 6, 10);
    expect(summary.accuracy.lo).toBeLessThanOrEqual(summary.accuracy.value);
    expect(summary.accuracy.hi).toBeGreaterThanOrEqual(summary.accuracy.value);
    expect(summary.tokens.prefilled).toBeLessThan(summary.tokens.reprefill_equivalent);
    expect((await readJson(join(majority, 'summary.json'))).results['search/acc']).toBe(summary.accuracy.value);

    const beam = join(tmp.path(), 'beam');
    const b = await cli.run('search', ...SMALL, '--set', `policy=${sft}`, '--set', 'method=beam', '--set', 'prm=oracle', '--set', 'beam.width=2', '--set', 'beam.expansions=2',
      '--set', 'budget=40', '--out', beam);
    expect(b.code).toBe(0);
    for (const l of await readLines(join(beam, 'search.jsonl'))) {
      expect(l.generated_tokens).toBeLessThanOrEqual(40);
      for (const c of l.candidates) for (const s of c.step_scores) expect([0, 1]).toContain(s);
    }
  }, 60_000);

  it('runs MCTS and best-of-N with a PRM from a run directory (its init writes the steps)', async () => {
    const cli = makeCli();
    for (const method of ['mcts', 'bon']) {
      const out = join(tmp.path(), method);
      const r = await cli.run('search', ...SMALL, '--set', `prm=${orm}`, '--set', `method=${method}`, '--set', 'mcts.simulations=3', '--set', 'mcts.expansions=2', '--set', 'n=3', '--out', out);
      expect(r.code, r.out + r.err).toBe(0);
      const lines = await readLines(join(out, 'search.jsonl'));
      expect(lines).toHaveLength(6);
      if (method === 'mcts') expect(lines.some((l) => l.candidates.some((c: any) => c.visits >= 1))).toBe(true);
      else for (const l of lines) expect(l.candidates.every((c: any) => Array.isArray(c.step_scores))).toBe(true);
    }
  }, 60_000);

  it('refuses bad options, naming the key', async () => {
    const cli = makeCli();
    const cases: [string[], RegExp][] = [
      [['--set', 'method=beam', '--set', `policy=${sft}`], /prm: is required by method beam/],
      [['--set', 'prm=oracle'], /policy: is required with prm=oracle/],
      [['--set', 'method=best'], /method/],
      [['--set', 'mcts.selection=ucb', '--set', `policy=${sft}`], /mcts\.selection/],
      [['--set', 'budget=-1', '--set', `policy=${sft}`], /budget/],
    ];
    for (const [args, message] of cases) {
      const r = await cli.run('search', ...TASK, ...args, '--dry-run');
      expect(r.code).toBe(2);
      expect(r.out + r.err).toMatch(message);
    }
  });
});
