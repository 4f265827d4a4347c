// scripts/experiments/plot-curves.mjs draws runs' metrics; a metric a run never logged (a typo such
// as val/ac) must be refused with the metrics that are there, not drawn as an empty chart.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../scripts/experiments/plot-curves.mjs');
const scratch = mkdtempSync(join(tmpdir(), 'repirl-plot-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const run = join(scratch, 'run');
mkdirSync(run);
writeFileSync(join(run, 'metrics.jsonl'), [
  { step: 1, 'actor/pg_loss': 0.5, 'rollout/acc': 0.2, 'timing/step_s': 2 },
  { step: 2, 'actor/pg_loss': 0.4, 'rollout/acc': 0.3, 'timing/step_s': 2, 'val/acc': 0.4 },
].map((r) => JSON.stringify(r)).join('\n') + '\n');

function plot(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const out = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}

describe('plot-curves.mjs', () => {
  it('refuses an unknown --metric or --also, listing the metrics the run has, and writes nothing', () => {
    const svg = join(scratch, 'typo.svg');
    const typo = plot('--out', svg, '--metric', 'val/ac', `seed1=${run}`);
    expect(typo.status).toBe(2);
    expect(typo.stdout).not.toMatch(/wrote/);
    expect(typo.stderr).toContain(`metric "val/ac" is not in ${run}/metrics.jsonl (run "seed1"); its metrics: actor/pg_loss, rollout/acc, timing/step_s, val/acc`);
    expect(existsSync(svg)).toBe(false);
    const also = plot('--out', svg, '--also', 'critic/score/mean', `seed1=${run}`);
    expect(also.status).toBe(2);
    expect(also.stderr).toMatch(/metric "critic\/score\/mean" is not in/);
    expect(existsSync(svg)).toBe(false);
  });

  it('draws a metric the run has', () => {
    const svg = join(scratch, 'ok.svg');
    const ok = plot('--out', svg, '--metric', 'val/acc', '--also', 'rollout/acc', `seed1=${run}`);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`wrote ${svg}`);
    expect(readFileSync(svg, 'utf8')).toMatch(/<circle cx="[\d.]+" cy="[\d.]+" r="2.5"/);
  });

  it('puts the running sum of a per-step metric on x with --x-cumulative, and refuses a key the run never logged', () => {
    const cum = join(scratch, 'cum');
    mkdirSync(cum);
    writeFileSync(join(cum, 'metrics.jsonl'), [
      { step: 1, 'compute/sampled_sequences': 30, 'val/acc': 0.1 },
      { step: 2, 'compute/sampled_sequences': 90, 'val/acc': 0.5 },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const svg = join(scratch, 'cum.svg');
    const ok = plot('--out', svg, '--x-cumulative', 'compute/sampled_sequences', `a=${cum}`);
    expect(ok.status).toBe(0);
    const text = readFileSync(svg, 'utf8');
    expect(text).toContain('compute/sampled_sequences (cumulative)');
    // x runs 0..120 (30 then 30 + 90): the second point sits at the right end of the axis, the first at a quarter of it.
    const xs = [...text.matchAll(/<circle cx="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(xs).toHaveLength(2);
    const [left, right] = [60, 720 - 170];
    expect((xs[0]! - left) / (right - left)).toBeCloseTo(0.25, 2);
    expect((xs[1]! - left) / (right - left)).toBeCloseTo(1, 2);
    const bad = plot('--out', join(scratch, 'bad.svg'), '--x-cumulative', 'compute/nope', `a=${cum}`);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('never logged "compute/nope"');
  });
});
