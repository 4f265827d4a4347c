#!/usr/bin/env node
// The PRM comparison table: for each task and method, mean ± spread (half the range) over seeds
// of the held-out metrics in <run>/prm_eval.json and of the run's policy, compute and timing
// numbers, then the verdict of each goal of issue 15 from the per-seed bootstrap intervals.
//   node scripts/experiments/prm-table.mjs runs/prm-exp [--svg figure.svg] > table.md
// Runs are folders named <task>-<method>-s<seed> holding prm_eval.json, summary.json, metrics.jsonl.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = process.argv[2];
if (!root) {
  console.error('usage: prm-table.mjs RUNS_DIR');
  process.exit(2);
}
const METHODS = ['repirl', 'airl-s', 'prime', 'orm', 'shepherd', 'implicit-offline'];
const runs = [];
for (const name of readdirSync(root)) {
  const m = /^(.+)-(repirl|airl-s|prime|orm|shepherd|implicit-offline)-s(\d+)$/.exec(name);
  if (!m || !existsSync(join(root, name, 'prm_eval.json'))) continue;
  const dir = join(root, name);
  const evaluation = JSON.parse(readFileSync(join(dir, 'prm_eval.json'), 'utf8')).metrics;
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  const last = (key) => lines.filter((r) => Number.isFinite(r[key])).at(-1)?.[key];
  runs.push({
    task: m[1], method: m[2], seed: Number(m[3]),
    values: {
      ...evaluation,
      'policy/val_acc': summary.results?.['val/acc'] ?? NaN,
      'policy/val_acc_start': summary.results?.['val/acc@start'] ?? NaN,
      'policy/entropy': last('actor/entropy') ?? NaN,
      'compute/sampled_sequences': summary.results?.['compute/sampled_sequences'] ?? NaN,
      'wall_min': (summary.time ?? NaN) / 60,
    },
  });
}

const fmt = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return 'n/a';
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const spread = (Math.max(...v) - Math.min(...v)) / 2;
  return v.length > 1 ? `${mean.toFixed(3)} ± ${spread.toFixed(3)}` : mean.toFixed(3);
};
// Step metrics: pooled (confounded by position and line length), position-controlled (the mean of
// the per-position AUROCs) with step scores as sums and as means of token rewards, the length-only
// baseline beside them (position-only is 0.5 when position-controlled), and local labels.
const columns = [
  ['step AUROC pooled', 'prm_eval/step_auroc'],
  ['pos.-controlled (sum)', 'prm_eval/step_auroc_position_controlled/sum'],
  ['pos.-controlled (mean)', 'prm_eval/step_auroc_position_controlled/mean'],
  ['length-only baseline', 'prm_eval/step_auroc_position_controlled/baseline-length'],
  ['local', 'prm_eval/step_auroc_local'],
  ['first-error F1', 'prm_eval/first_error_f1'],
  ['resp. AUROC min', 'prm_eval/response_auroc/min'],
  ['bo16 min', 'prm_eval/bo16/min'],
  ['bo16 weighted (official)', 'prm_eval/bo16/weighted/official'],
  ['bo16 weighted (step-mean)', 'prm_eval/bo16/weighted/step-mean'],
  ['bo16 majority', 'prm_eval/bo16/majority'],
  ['policy pass@1 start → end', null],
  ['sampled sequences', 'compute/sampled_sequences'],
  ['wall (min)', 'wall_min'],
];
const out = [];
for (const task of [...new Set(runs.map((r) => r.task))].sort()) {
  const seeds = [...new Set(runs.filter((r) => r.task === task).map((r) => r.seed))].sort((a, b) => a - b);
  out.push(`### ${task} (seeds ${seeds.join(', ')}; mean ± half-range over seeds)`, '', `| method | ${columns.map((c) => c[0]).join(' | ')} |`, `|---|${columns.map(() => '---').join('|')}|`);
  for (const method of METHODS) {
    const rs = runs.filter((r) => r.task === task && r.method === method);
    if (rs.length === 0) continue;
    const online = ['repirl', 'airl-s', 'prime'].includes(method);
    const cells = columns.map(([, key]) => key === null
      ? (online ? `${fmt(rs.map((r) => r.values['policy/val_acc_start']))} → ${fmt(rs.map((r) => r.values['policy/val_acc']))}` : '— (offline)')
      : fmt(rs.map((r) => r.values[key])));
    out.push(`| ${method} (${rs.length}) | ${cells.join(' | ')} |`);
  }
  out.push('');
  // The issue's goals, judged per seed on the 95% bootstrap intervals over problems: a goal is met
  // only when every seed's interval clears the bar.
  out.push('Goals (per seed: value [95% interval]; met only when every seed clears the bar):', '');
  const cell = (r, key) => (Number.isFinite(r.values[key]) ? `${r.values[key].toFixed(3)} [${(r.values[`${key}/lo`] ?? NaN).toFixed(3)}, ${(r.values[`${key}/hi`] ?? NaN).toFixed(3)}]` : 'n/a');
  for (const method of METHODS) {
    const rs = runs.filter((r) => r.task === task && r.method === method).sort((a, b) => a.seed - b.seed);
    if (rs.length === 0) continue;
    const auroc = 'prm_eval/step_auroc_position_controlled/sum';
    const aurocMet = rs.length >= 3 && rs.every((r) => r.values[`${auroc}/lo`] >= 0.8);
    const diff = 'prm_eval/diff/bo16/weighted-official-minus-majority';
    const voteMet = rs.length >= 3 && rs.every((r) => r.values[`${diff}/lo`] >= 0.05 && r.values[`${diff}/separated`] === 1);
    // Beating the position-only baseline at every position: each position's AUROC interval above 0.5 (position-only is 0.5 within a position).
    const positions = (r) => Object.keys(r.values).filter((k) => /^prm_eval\/step_auroc_pos\d+\/sum$/.test(k));
    const everyPosition = rs.length >= 3 && rs.every((r) => positions(r).length > 0 && positions(r).every((k) => r.values[`${k}/lo`] > 0.5));
    out.push(`- ${method}: position-controlled step AUROC ≥ 0.8 — ${aurocMet ? 'met' : 'not met'} (${rs.map((r) => `s${r.seed} ${cell(r, auroc)}`).join('; ')}); ` +
      `above the position-only baseline at every position — ${everyPosition ? 'met' : 'not met'}; ` +
      `official weighted vote − majority at best-of-16 ≥ 5 points — ${voteMet ? 'met' : 'not met'} (${rs.map((r) => `s${r.seed} ${cell(r, diff)}`).join('; ')})`);
  }
  out.push('');
}
console.log(out.join('\n'));

// --svg FILE: grouped bars per task — step AUROC of each method, and best-of-16 (PRM-weighted vote)
// next to majority vote — with the seed spread as whiskers. Dependency-free SVG.
const svgIndex = process.argv.indexOf('--svg');
if (svgIndex > 0) {
  const file = process.argv[svgIndex + 1];
  const tasks = [...new Set(runs.map((r) => r.task))].sort();
  const methods = METHODS.filter((m) => runs.some((r) => r.method === m));
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
