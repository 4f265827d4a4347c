#!/usr/bin/env node
// Compute-matched test-time search curves (issue 16 item 2): accuracy against generated tokens per
// problem for majority vote (no PRM), and for each PRM — learned run directories and the oracle of
// the exact step labels, the upper bound — best-of-N under each aggregation, the weighted vote,
// beam search at each width and MCTS at each simulation count. Every point is one `repirl search`
// run on the same held-out test problems (same seed); its accuracy carries the bootstrap interval
// over problems, its x the mean generated tokens per problem (with its interval).
//
//   node scripts/experiments/search-curves.mjs --out runs/search-curves \
//     --task arith-chain --policy runs/sft-arith-r10 --prm repirl=runs/prm-repirl --prm orm=runs/prm-orm --oracle \
//     [--set task.difficulty.range=10 ...] [--ns 1,2,4,8,16] [--aggregations min,last] [--widths 1,2,4] [--sims 2,4,8,16] \
//     [--expansions 4] [--problems 100] [--max-new-tokens 32] [--seed 1000003] \
//     [--task add-carry --policy ... --prm ...]
//
// Each --task starts a group: the policy that writes the steps, the PRMs to compare and --set keys
// of that task (the difficulty). Writes OUT/<task>/<prm>/<method>-<size>/ (the search runs; a run
// with a search.json is not run again), OUT/curves.jsonl (one line per point) and OUT/<task>.svg.
// The SVG is drawn like plot-curves.mjs's: dependency-free, one colour per PRM, one marker per
// method, vertical bars for the accuracy intervals and horizontal ones for the tokens'.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const REPIRL = join(ROOT, 'apps/cli/bin/repirl.mjs');

function usage(message) {
  if (message) console.error(`search-curves: ${message}`);
  console.error('usage: search-curves.mjs --out DIR --task NAME --policy DIR [--prm label=RUN_DIR ...] [--oracle] [--set k=v ...] [--ns 1,2,4] [--aggregations min,last] [--widths 1,2] [--sims 2,4] [--expansions 4] [--problems 100] [--max-new-tokens 32] [--seed N] [--budget N]');
  process.exit(2);
}

const list = (text, name) => {
  const xs = text.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (xs.length === 0) usage(`--${name} needs a comma-separated list`);
  return xs;
};
const ints = (text, name) => list(text, name).map((x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 1) usage(`--${name}: ${JSON.stringify(x)} is not a positive integer`);
  return n;
});

const opts = { out: null, ns: [1, 2, 4, 8, 16], aggregations: ['min', 'last'], widths: [1, 2, 4], sims: [2, 4, 8, 16], expansions: 4, problems: 100, maxNewTokens: 32, seed: 1000003, budget: 0 };
const groups = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = () => {
    if (i + 1 >= args.length) usage(`${a} needs a value`);
    return args[++i];
  };
  const group = () => groups.at(-1) ?? usage(`${a} comes before any --task`);
  if (a === '--out') opts.out = value();
  else if (a === '--task') groups.push({ task: value(), policy: null, prms: [], sets: [] });
  else if (a === '--policy') group().policy = value();
  else if (a === '--prm') {
    const spec = value();
    const at = spec.indexOf('=');
    if (at <= 0) usage(`--prm wants label=RUN_DIR, got ${JSON.stringify(spec)}`);
    group().prms.push({ label: spec.slice(0, at), prm: spec.slice(at + 1) });
  } else if (a === '--oracle') group().prms.push({ label: 'oracle', prm: 'oracle' });
  else if (a === '--set') group().sets.push(value());
  else if (a === '--ns') opts.ns = ints(value(), 'ns');
  else if (a === '--aggregations') opts.aggregations = list(value(), 'aggregations');
  else if (a === '--widths') opts.widths = ints(value(), 'widths');
  else if (a === '--sims') opts.sims = ints(value(), 'sims');
  else if (a === '--expansions') [opts.expansions] = ints(value(), 'expansions');
  else if (a === '--problems') [opts.problems] = ints(value(), 'problems');
  else if (a === '--max-new-tokens') [opts.maxNewTokens] = ints(value(), 'max-new-tokens');
  else if (a === '--seed') opts.seed = Number(value());
  else if (a === '--budget') [opts.budget] = ints(value(), 'budget');
  else usage(`unexpected argument ${JSON.stringify(a)}`);
}
if (opts.out === null || groups.length === 0) usage();
for (const g of groups) if (g.policy === null) usage(`--task ${g.task} has no --policy`);

/** The points of one task: majority for no PRM; bon per aggregation, weighted vote, beam, mcts per PRM. */
function grid(g) {
  const points = opts.ns.map((n) => ({ prm: 'none', method: 'majority', size: n, sets: [`n=${n}`] }));
  for (const { label } of g.prms) {
    for (const agg of opts.aggregations) points.push(...opts.ns.map((n) => ({ prm: label, method: `bon/${agg}`, size: n, sets: ['method=bon', `n=${n}`, `aggregation=${agg}`] })));
    points.push(...opts.ns.map((n) => ({ prm: label, method: 'weighted-vote', size: n, sets: ['method=weighted-vote', `n=${n}`] })));
    points.push(...opts.widths.map((w) => ({ prm: label, method: 'beam', size: w, sets: ['method=beam', `beam.width=${w}`, `beam.expansions=${opts.expansions}`] })));
    points.push(...opts.sims.map((s) => ({ prm: label, method: 'mcts', size: s, sets: ['method=mcts', `mcts.simulations=${s}`, `mcts.expansions=${opts.expansions}`] })));
  }
  return points;
}

function runPoint(g, p) {
  const dir = join(opts.out, g.task, p.prm, `${p.method.replace('/', '-')}-${p.size}`);
  if (!existsSync(join(dir, 'search.json'))) {
    const prm = p.prm === 'none' ? [] : ['--set', `prm=${g.prms.find((x) => x.label === p.prm).prm}`];
    const argv = [
      REPIRL, 'search', '--set', `task.name=${g.task}`, ...g.sets.flatMap((s) => ['--set', s]), '--set', `policy=${g.policy}`, ...prm,
      ...p.sets.flatMap((s) => ['--set', s]), '--set', `problems=${opts.problems}`, '--set', `maxNewTokens=${opts.maxNewTokens}`, '--set', `seed=${opts.seed}`,
      '--set', `budget=${opts.budget}`, '--out', dir, '--force', '--progress', 'off',
    ];
    console.log(`[search-curves] ${g.task} ${p.prm} ${p.method} ${p.size}`);
    const r = spawnSync(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit'], cwd: process.cwd() });
    if (r.status !== 0) {
      console.error(`search-curves: repirl search failed (exit ${r.status}) for ${g.task} ${p.prm} ${p.method} ${p.size}: node ${argv.join(' ')}`);
      process.exit(1);
    }
  }
  const s = JSON.parse(readFileSync(join(dir, 'search.json'), 'utf8'));
  return {
    task: g.task, prm: p.prm, method: p.method, size: p.size, dir, problems: s.problems,
    accuracy: s.accuracy.value, accuracy_lo: s.accuracy.lo, accuracy_hi: s.accuracy.hi,
    tokens: s.tokens_per_problem.value, tokens_lo: s.tokens_per_problem.lo, tokens_hi: s.tokens_per_problem.hi,
    prefilled: s.tokens.prefilled, reprefill_equivalent: s.tokens.reprefill_equivalent,
  };
}

// ---------------------------------------------------------------------------------------------
// The plot (plot-curves.mjs's approach: plain SVG, no dependency)

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

function marker(method, x, y, colour) {
  const r = 4;
  if (method === 'majority' || method === 'weighted-vote') return `<circle cx="${x}" cy="${y}" r="${r}" fill="${method === 'majority' ? colour : 'white'}" stroke="${colour}" stroke-width="1.5"/>`;
  if (method === 'beam') return `<rect x="${x - r}" y="${y - r}" width="${2 * r}" height="${2 * r}" fill="${colour}"/>`;
  if (method === 'mcts') return `<path d="M${x},${y - r - 1} L${x + r + 1},${y + r} L${x - r - 1},${y + r} Z" fill="${colour}"/>`;
  return `<path d="M${x},${y - r - 1} L${x + r + 1},${y} L${x},${y + r + 1} L${x - r - 1},${y} Z" fill="${method.endsWith('/min') ? colour : 'white'}" stroke="${colour}" stroke-width="1.5"/>`; // bon: diamonds
}

function plot(task, points) {
  const W = 860, H = 480, L = 60, R = 230, T = 40, B = 50;
  const xmax = Math.max(...points.map((p) => p.tokens_hi ?? p.tokens), 1) * 1.05;
  const ymax = Math.min(1, Math.ceil(Math.max(...points.map((p) => p.accuracy_hi), 0.01) * 10 + 0.5) / 10);
  const sx = (x) => (L + (x / xmax) * (W - L - R)).toFixed(1);
  const sy = (y) => (H - B - (y / ymax) * (H - T - B)).toFixed(1);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="22" font-size="15">${esc(`Test-time search on ${task}: accuracy vs generated tokens (95% bootstrap intervals, ${points[0].problems} problems)`)}</text>`,
  ];
  for (let k = 0; k <= 5; k++) {
    const y = (ymax * k) / 5;
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${sy(y)}" y2="${sy(y)}" stroke="#ddd"/>`, `<text x="${L - 8}" y="${Number(sy(y)) + 4}" text-anchor="end">${y.toFixed(2)}</text>`);
  }
  const raw = xmax / 6;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const tick = [1, 2, 5, 10].map((m) => m * pow).find((t) => t >= raw);
  for (let x = 0; x <= xmax + 1e-9; x += tick) {
    parts.push(`<line x1="${sx(x)}" x2="${sx(x)}" y1="${T}" y2="${H - B}" stroke="#eee"/>`, `<text x="${sx(x)}" y="${H - B + 18}" text-anchor="middle">${Math.round(x)}</text>`);
  }
  parts.push(
    `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="black"/>`, `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="black"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">generated tokens per problem</text>`,
    `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">accuracy</text>`,
  );
  const prms = [...new Set(points.map((p) => p.prm))];
  const colourOf = (prm) => COLOURS[prms.indexOf(prm) % COLOURS.length];
  const curves = [...new Set(points.map((p) => `${p.prm}\t${p.method}`))];
  let ly = T + 6;
  for (const key of curves) {
    const [prm, method] = key.split('\t');
    const pts = points.filter((p) => p.prm === prm && p.method === method).sort((a, b) => a.tokens - b.tokens);
    const colour = colourOf(prm);
    const dash = method === 'majority' || method.startsWith('bon') ? '' : method === 'weighted-vote' ? ' stroke-dasharray="2 3"' : method === 'beam' ? ' stroke-dasharray="6 3"' : ' stroke-dasharray="10 3 2 3"';
    parts.push(`<path d="${pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${sx(p.tokens)},${sy(p.accuracy)}`).join(' ')}" fill="none" stroke="${colour}" stroke-width="1.5"${dash}/>`);
    for (const p of pts) {
      parts.push(`<line x1="${sx(p.tokens)}" x2="${sx(p.tokens)}" y1="${sy(p.accuracy_lo)}" y2="${sy(p.accuracy_hi)}" stroke="${colour}" opacity="0.6"/>`);
      parts.push(`<line x1="${sx(p.tokens_lo)}" x2="${sx(p.tokens_hi)}" y1="${sy(p.accuracy)}" y2="${sy(p.accuracy)}" stroke="${colour}" opacity="0.4"/>`);
      parts.push(marker(method, Number(sx(p.tokens)), Number(sy(p.accuracy)), colour));
    }
    parts.push(`<line x1="${W - R + 12}" x2="${W - R + 40}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="1.5"${dash}/>`, marker(method, W - R + 26, ly, colour));
    parts.push(`<text x="${W - R + 46}" y="${ly + 4}">${esc(prm === 'none' ? 'majority vote' : `${prm}: ${method}`)}</text>`);
    ly += 17;
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function writeAtomic(file, text) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

const all = [];
for (const g of groups) {
  const points = grid(g).map((p) => runPoint(g, p));
  all.push(...points);
  writeAtomic(join(opts.out, `${g.task}.svg`), plot(g.task, points));
  console.log(`wrote ${join(opts.out, `${g.task}.svg`)}`);
}
writeAtomic(join(opts.out, 'curves.jsonl'), `${all.map((p) => JSON.stringify(p)).join('\n')}\n`);
console.log(`wrote ${join(opts.out, 'curves.jsonl')}`);
