// scripts/experiments/search-curves.mjs: the grid it runs, the curves.jsonl it collects from the
// runs' search.json, the SVG per task, and its usage errors. The runs here are made up (a run with
// a search.json is not run again), so the test needs no GPU.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTempDir } from './helpers.js';

const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../scripts/experiments/search-curves.mjs');
const tmp = useTempDir('repirl-search-curves-');

function curves(...args: string[]) {
  const out = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}

function fakeRun(dir: string, accuracy: number, tokens: number) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'search.json'), JSON.stringify({
    problems: 10, accuracy: { value: accuracy, lo: accuracy - 0.1, hi: accuracy + 0.1 }, tokens_per_problem: { value: tokens, lo: tokens - 1, hi: tokens + 1 },
    tokens: { prefilled: 5, reprefill_equivalent: 50 },
  }));
}

describe('search-curves.mjs', () => {
  it('collects every point of the grid into curves.jsonl and draws one SVG per task', () => {
    const out = join(tmp.path(), 'curves');
    const task = join(out, 'arith-chain');
    fakeRun(join(task, 'none', 'majority-1'), 0.2, 10);
    fakeRun(join(task, 'none', 'majority-2'), 0.3, 20);
    for (const [method, acc] of [['bon-min', 0.4], ['weighted-vote', 0.35]] as const) {
      fakeRun(join(task, 'oracle', `${method}-1`), acc, 10);
      fakeRun(join(task, 'oracle', `${method}-2`), acc + 0.1, 20);
    }
    fakeRun(join(task, 'oracle', 'beam-1'), 0.6, 15);
    fakeRun(join(task, 'oracle', 'mcts-3'), 0.7, 25);
    const r = curves('--out', out, '--task', 'arith-chain', '--policy', 'unused', '--oracle', '--ns', '1,2', '--aggregations', 'min', '--widths', '1', '--sims', '3');
    expect(r.status, r.stderr).toBe(0);
    const points = readFileSync(join(out, 'curves.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(points.map((p) => `${p.prm} ${p.method} ${p.size}`)).toEqual([
      'none majority 1', 'none majority 2', 'oracle bon/min 1', 'oracle bon/min 2', 'oracle weighted-vote 1', 'oracle weighted-vote 2', 'oracle beam 1', 'oracle mcts 3',
    ]);
    expect(points.find((p) => p.method === 'mcts')).toMatchObject({ accuracy: 0.7, accuracy_lo: 0.6, tokens: 25, tokens_hi: 26 });
    const svg = readFileSync(join(out, 'arith-chain.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const legend of ['majority vote', 'oracle: bon/min', 'oracle: weighted-vote', 'oracle: beam', 'oracle: mcts']) expect(svg).toContain(`>${legend}</text>`);
  });

  it('refuses a bad command line, naming what is wrong', () => {
    expect(curves('--task', 'arith-chain').stderr).toMatch(/usage/);
    const noPolicy = curves('--out', join(tmp.path(), 'x'), '--task', 'arith-chain');
    expect(noPolicy.status).toBe(2);
    expect(noPolicy.stderr).toMatch(/--task arith-chain has no --policy/);
    expect(curves('--out', 'x', '--task', 't', '--policy', 'p', '--prm', 'nolabel').stderr).toMatch(/--prm wants label=RUN_DIR/);
    expect(curves('--out', 'x', '--task', 't', '--policy', 'p', '--ns', '0').stderr).toMatch(/--ns: "0" is not a positive integer/);
    expect(curves('--out', 'x', '--policy', 'p').stderr).toMatch(/--policy comes before any --task/);
    expect(existsSync('x')).toBe(false);
  });
});
