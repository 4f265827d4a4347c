#!/usr/bin/env node
// The PRM comparison table: for each task and method, mean ± spread (half the range) over seeds
// of the held-out metrics in <run>/prm_eval.json and of the run's policy, compute and timing
// numbers, then the verdict of each goal of issue 15 from the per-seed bootstrap intervals.
//   node scripts/experiments/prm-table.mjs runs/prm-exp [--svg figure.svg] > table.md
// The runs, columns and goal verdicts are apps/cli/src/report/prm-compare.ts's (as in `repirl report`).
// Runs are the folders of RUNS_DIR holding prm_eval.json; task, method and seed come from each one's config.json.
import { existsSync, readdirSync } from 'node:fs';
import { register } from 'node:module';
import { join } from 'node:path';

const root = process.argv[2];
if (!root || root.startsWith('--')) {
  console.error('usage: prm-table.mjs RUNS_DIR [--svg FILE]');
  process.exit(2);
}
// The CLI's TypeScript through tsx, with the @repirl/* packages resolved to their src/ (as bin/repirl.mjs does).
register('../../apps/cli/bin/source-condition.mjs', import.meta.url);
const { tsImport } = await import('tsx/esm/api');
const { groupPrmRuns, prmTableMarkdown, readPrmRun } = await tsImport('../../apps/cli/src/report/prm-compare.ts', import.meta.url);

const runs = readdirSync(root).sort().filter((name) => existsSync(join(root, name, 'prm_eval.json'))).map((name) => readPrmRun(join(root, name)));
console.log(prmTableMarkdown(runs));

// --svg FILE: grouped bars per task — step AUROC of each method, and best-of-16 (PRM-weighted vote)
// next to majority vote — with the seed spread as whiskers. Dependency-free SVG.
const svgIndex = process.argv.indexOf('--svg');
if (svgIndex > 0) {
  const file = process.argv[svgIndex + 1];
  const tasks = [...new Set(runs.map((r) => r.task))].sort();
  const methods = [...new Set(groupPrmRuns(runs).map((g) => g.method))];
  const panels = [
    { title: 'position-controlled step AUROC (bars), length-only baseline (lines)', key: 'prm_eval/step_auroc_position_controlled/sum', line: 'prm_eval/step_auroc_position_controlled/baseline-length', ref: 0.5 },
    { title: 'best-of-16: official weighted vote (bars), majority (lines)', key: 'prm_eval/bo16/weighted/official', line: 'prm_eval/bo16/majority' },
  ];
  const W = 460, H = 230, pad = 40, colours = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
  const parts = [];
  const stats = (rs, key) => {
    const v = rs.map((r) => r.values[key]).filter((x) => Number.isFinite(x));
    return v.length === 0 ? null : { mean: v.reduce((a, b) => a + b, 0) / v.length, lo: Math.min(...v), hi: Math.max(...v) };
  };
  tasks.forEach((task, ti) => panels.forEach((panel, pi) => {
    const x0 = pi * W, y0 = ti * H;
    const vals = methods.map((m) => stats(runs.filter((r) => r.task === task && r.method === m), panel.key));
    const lines = panel.line ? methods.map((m) => stats(runs.filter((r) => r.task === task && r.method === m), panel.line)) : [];
    const top = Math.max(0.001, ...vals.map((v) => v?.hi ?? 0), ...lines.map((v) => v?.hi ?? 0), panel.ref ?? 0) * 1.15;
    const y = (v) => y0 + H - pad - (v / top) * (H - 2 * pad);
    const bw = (W - 2 * pad) / methods.length;
    parts.push(`<text x="${x0 + pad}" y="${y0 + 18}" font-size="12">${task}: ${panel.title}</text>`);
    parts.push(`<line x1="${x0 + pad}" y1="${y(0)}" x2="${x0 + W - pad / 2}" y2="${y(0)}" stroke="#333"/>`);
    for (const t of [0, top / 2, top]) parts.push(`<text x="${x0 + 4}" y="${y(t) + 4}" font-size="9">${t.toFixed(2)}</text>`);
    if (panel.ref !== undefined) parts.push(`<line x1="${x0 + pad}" y1="${y(panel.ref)}" x2="${x0 + W - pad / 2}" y2="${y(panel.ref)}" stroke="#999" stroke-dasharray="4 3"/>`);
    methods.forEach((m, i) => {
      const v = vals[i];
      const bx = x0 + pad + i * bw + bw * 0.15;
      if (v) {
        parts.push(`<rect x="${bx}" y="${y(v.mean)}" width="${bw * 0.7}" height="${y(0) - y(v.mean)}" fill="${colours[i % colours.length]}" opacity="0.8"/>`);
        parts.push(`<line x1="${bx + bw * 0.35}" y1="${y(v.lo)}" x2="${bx + bw * 0.35}" y2="${y(v.hi)}" stroke="#000"/>`);
        parts.push(`<text x="${bx + bw * 0.35}" y="${y(v.mean) - 3}" font-size="9" text-anchor="middle">${v.mean.toFixed(3)}</text>`);
      }
      const l = lines[i];
      if (l) parts.push(`<line x1="${bx - 2}" y1="${y(l.mean)}" x2="${bx + bw * 0.7 + 2}" y2="${y(l.mean)}" stroke="#000" stroke-width="2"/>`);
      parts.push(`<text x="${bx + bw * 0.35}" y="${y(0) + 12}" font-size="10" text-anchor="middle">${m}</text>`);
    });
  }));
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${tasks.length * H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
  (await import('node:fs')).writeFileSync(file, svg);
}
