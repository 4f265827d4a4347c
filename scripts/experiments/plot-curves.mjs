#!/usr/bin/env node
// Learning curves from runs' metrics.jsonl as one dependency-free SVG, plus a markdown table.
//
//   node scripts/experiments/plot-curves.mjs --out docs/experiments/grpo-arith.svg \
//     --metric val/acc --title "GRPO on arith-chain" seed1=runs/grpo-arith/seed1/grpo [...]
//
// Each positional argument is label=runDir. The x axis is the step; with --time, the cumulative
// training time (the runs' timing/step_s, validation excluded) in minutes; with --x-cumulative KEY,
// the running sum of a per-step metric (e.g. compute/sampled_sequences: a curve against the
// sequences a learner has sampled, which puts runs of different per-step cost on one axis). --table FILE also
// writes the metric per validation step and run as a markdown table. A metric (--metric or --also)
// that a run never logged is an error naming the metrics it has, not an empty chart.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const args = process.argv.slice(2);
const opts = { out: null, metric: 'val/acc', title: '', table: null, time: false, cumulative: null, ylabel: null, extra: [] };
const runs = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--out') opts.out = args[++i];
  else if (a === '--metric') opts.metric = args[++i];
  else if (a === '--title') opts.title = args[++i];
  else if (a === '--table') opts.table = args[++i];
  else if (a === '--ylabel') opts.ylabel = args[++i];
  else if (a === '--also') opts.extra.push(args[++i]); // a second metric, drawn dashed in the same colour
  else if (a === '--time') opts.time = true;
  else if (a === '--x-cumulative') opts.cumulative = args[++i];
  else if (a.includes('=')) {
    const [label, dir] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
    runs.push({ label, dir });
  } else throw new Error(`plot-curves: unexpected argument ${JSON.stringify(a)}`);
}
if (!opts.out || runs.length === 0) {
  console.error('usage: plot-curves.mjs --out FILE.svg [--metric val/acc] [--also rollout/acc] [--time] [--table FILE.md] label=runDir ...');
  process.exit(2);
}

function fail(message) {
  console.error(`plot-curves: ${message}`);
  process.exit(2);
}

function load(dir) {
  const file = `${dir}/metrics.jsonl`;
  if (!existsSync(file)) fail(`no ${file}`);
  const rows = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      rows.push(JSON.parse(line));
    } catch {
      // a torn last line
    }
  }
  let t = 0, c = 0;
  for (const r of rows) {
    t += r['timing/step_s'] ?? 0;
    r.__minutes = t / 60;
    if (opts.cumulative) c += r[opts.cumulative] ?? 0;
    r.__cumulative = c;
  }
  if (opts.cumulative && c === 0) fail(`${file} never logged ${JSON.stringify(opts.cumulative)} (--x-cumulative)`);
  return rows;
}

function series(rows, metric, smooth = 1) {
  const x = (r) => (opts.cumulative ? r.__cumulative : opts.time ? r.__minutes : r.step);
  const pts = rows.filter((r) => typeof r[metric] === 'number').map((r) => [x(r), r[metric]]);
  if (smooth <= 1) return pts;
  // Trailing moving average (for per-step metrics such as rollout/acc).
  return pts.map((p, i) => {
    const w = pts.slice(Math.max(0, i - smooth + 1), i + 1);
    return [p[0], w.reduce((s, q) => s + q[1], 0) / w.length];
  });
}

/** The metrics a run logged: every key with a number in some row, the step and our own keys aside. */
function metricsOf(rows) {
  const names = new Set();
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && k !== 'step' && !k.startsWith('__')) names.add(k);
  return [...names].sort();
}

const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const data = runs.map((r, i) => {
  const rows = load(r.dir);
  const present = metricsOf(rows);
  for (const metric of [opts.metric, ...opts.extra]) {
    if (!present.includes(metric)) {
      const have = present.length === 0 ? 'none' : present.join(', ');
      fail(`metric ${JSON.stringify(metric)} is not in ${r.dir}/metrics.jsonl (run ${JSON.stringify(r.label)}); its metrics: ${have}`);
    }
  }
  return {
    ...r,
    rows,
    colour: colours[i % colours.length],
    main: series(rows, opts.metric),
    extra: opts.extra.map((m) => series(rows, m, 10)),
  };
});

const W = 720, H = 420, L = 60, R = 170, T = 40, B = 50;
const all = data.flatMap((d) => [...d.main, ...d.extra.flat()]);
const xmax = Math.max(...all.map((p) => p[0]), 1);
const ymaxRaw = Math.max(...all.map((p) => p[1]), 0.01);
const ymax = Math.min(1, Math.ceil(ymaxRaw * 10 + 0.5) / 10);
const sx = (x) => L + (x / xmax) * (W - L - R);
const sy = (y) => H - B - (y / ymax) * (H - T - B);
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

const parts = [];
parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
parts.push(`<text x="${L}" y="22" font-size="15">${esc(opts.title)}</text>`);
for (let k = 0; k <= 5; k++) {
  const y = (ymax * k) / 5;
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" stroke="#ddd"/>`);
  parts.push(`<text x="${L - 8}" y="${sy(y) + 4}" text-anchor="end">${y.toFixed(2)}</text>`);
}
// Ticks at a round spacing (1, 2 or 5 times a power of ten), about six of them.
const raw = xmax / 6;
const pow = 10 ** Math.floor(Math.log10(raw));
const tick = [1, 2, 5, 10].map((m) => m * pow).find((t) => t >= raw);
for (let x = 0; x <= xmax + 1e-9; x += tick) {
  parts.push(`<line x1="${sx(x)}" x2="${sx(x)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`);
  parts.push(`<text x="${sx(x)}" y="${H - B + 18}" text-anchor="middle">${Number.isInteger(tick) ? Math.round(x) : x.toFixed(1)}</text>`);
}
parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="black"/>`);
parts.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="black"/>`);
parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${opts.cumulative ? `${esc(opts.cumulative)} (cumulative)` : opts.time ? 'GRPO training time (min, validation excluded)' : 'RL step'}</text>`);
parts.push(`<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(opts.ylabel ?? opts.metric)}</text>`);
const path = (pts) => pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ');
let ly = T + 10;
for (const d of data) {
  parts.push(`<path d="${path(d.main)}" fill="none" stroke="${d.colour}" stroke-width="2"/>`);
  for (const p of d.main) parts.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="2.5" fill="${d.colour}"/>`);
  d.extra.forEach((pts) => parts.push(`<path d="${path(pts)}" fill="none" stroke="${d.colour}" stroke-width="1.2" stroke-dasharray="4 3" opacity="0.8"/>`));
  parts.push(`<line x1="${W - R + 12}" x2="${W - R + 34}" y1="${ly}" y2="${ly}" stroke="${d.colour}" stroke-width="2"/>`);
  parts.push(`<text x="${W - R + 40}" y="${ly + 4}">${esc(d.label)}</text>`);
  ly += 18;
}
if (opts.extra.length > 0) {
  parts.push(`<line x1="${W - R + 12}" x2="${W - R + 34}" y1="${ly}" y2="${ly}" stroke="#555" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${W - R + 40}" y="${ly + 4}">${esc(opts.extra.join(', '))}</text>`);
  parts.push(`<text x="${W - R + 40}" y="${ly + 18}" fill="#555">(10-step mean)</text>`);
}
parts.push('</svg>');
mkdirSync(dirname(opts.out), { recursive: true });
writeFileSync(opts.out, parts.join('\n') + '\n');
console.log(`wrote ${opts.out}`);

if (opts.table) {
  const steps = [...new Set(data.flatMap((d) => d.rows.filter((r) => typeof r[opts.metric] === 'number').map((r) => r.step)))].sort((a, b) => a - b);
  const lines = [`| step | ${data.map((d) => d.label).join(' | ')} |`, `|---:|${data.map(() => '---:').join('|')}|`];
  for (const s of steps) {
    const cells = data.map((d) => {
      const r = d.rows.find((q) => q.step === s && typeof q[opts.metric] === 'number');
      return r ? r[opts.metric].toFixed(3) : '';
    });
    lines.push(`| ${s} | ${cells.join(' | ')} |`);
  }
  mkdirSync(dirname(opts.table), { recursive: true });
  writeFileSync(opts.table, lines.join('\n') + '\n');
  console.log(`wrote ${opts.table}`);
}
