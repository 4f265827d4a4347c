#!/usr/bin/env node
// The PRM comparison table: for each task and method, mean ± spread (half the range) over seeds
// of the held-out metrics in <run>/prm_eval.json and of the run's policy and timing numbers.
//   node scripts/experiments/prm-table.mjs runs/prm-exp > table.md
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
const columns = [
  ['step AUROC', 'prm_eval/step_auroc'],
  ['first-error F1', 'prm_eval/first_error_f1'],
  ['resp. AUROC min', 'prm_eval/response_auroc/min'],
  ['resp. AUROC last', 'prm_eval/response_auroc/last'],
  ['bo16 min', 'prm_eval/bo16/min'],
  ['bo16 last', 'prm_eval/bo16/last'],
  ['bo16 mean', 'prm_eval/bo16/mean'],
  ['bo16 weighted vote', 'prm_eval/bo16/weighted'],
  ['bo16 majority', 'prm_eval/bo16/majority'],
  ['bo64 weighted vote', 'prm_eval/bo64/weighted'],
  ['bo64 majority', 'prm_eval/bo64/majority'],
  ['policy pass@1 start → end', null],
  ['policy entropy', 'policy/entropy'],
  ['wall (min)', 'wall_min'],
];
const out = [];
for (const task of [...new Set(runs.map((r) => r.task))].sort()) {
  const seeds = [...new Set(runs.filter((r) => r.task === task).map((r) => r.seed))].sort((a, b) => a - b);
  out.push(`### ${task} (seeds ${seeds.join(', ')}; mean ± half-range)`, '', `| method | ${columns.map((c) => c[0]).join(' | ')} |`, `|---|${columns.map(() => '---').join('|')}|`);
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
}
console.log(out.join('\n'));
