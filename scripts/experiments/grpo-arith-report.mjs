#!/usr/bin/env node
// The results of scripts/experiments/grpo-arith.sh: a markdown table (SFT pass@1 → GRPO pass@1 per
// seed on the validation problems and, where `repirl eval` ran on them, on the test problems, with
// wall times) and the learning curves, from the runs' summary.json, metrics.jsonl and times.tsv.
// Everything is read from the run directories; nothing is typed in by hand.
//
// The test columns carry 95% bootstrap intervals over the test problems (@repirl/prm's bootstrap,
// 1000 replicates): each policy's pass@1, and the gain as a paired difference (both policies
// answered the same problems, so one replicate resamples both). The goal's verdict (GRPO gains
// ≥ +15 points on the test problems) is "met" for a seed only when the gain's interval clears +15.
// It imports TypeScript sources, so it runs under tsx:
//
//   npx tsx --conditions=source scripts/experiments/grpo-arith-report.mjs [runs/grpo-arith] [docs/experiments] [file-prefix]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bootstrapInterval, pairedBootstrapDifference, problemMean } from '@repirl/prm';

const root = process.argv[2] ?? 'runs/grpo-arith';
const docs = process.argv[3] ?? 'docs/experiments';
const prefix = process.argv[4] ?? 'grpo-arith';
const here = dirname(fileURLToPath(import.meta.url));

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const metrics = (dir) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
const times = new Map();
if (existsSync(join(root, 'times.tsv'))) {
  for (const line of readFileSync(join(root, 'times.tsv'), 'utf8').split('\n')) {
    const [label, seed, seconds] = line.split('\t');
    if (label) times.set(`${label}/${seed}`, Number(seconds)); // the last run of a label and seed wins
  }
}
const fmt = (x, d = 3) => (typeof x === 'number' ? x.toFixed(d) : '—');
const mins = (s) => (typeof s === 'number' ? `${(s / 60).toFixed(1)} min` : '—');

const seeds = readdirSync(root).filter((d) => /^seed\d+$/.test(d)).sort();
const rows = [];
for (const s of seeds) {
  const seed = s.slice(4);
  const sftDir = join(root, s, 'sft');
  const grpoDir = join(root, s, 'grpo');
  if (!existsSync(join(grpoDir, 'metrics.jsonl')) || !existsSync(join(sftDir, 'summary.json'))) continue;
  const sft = readJson(join(sftDir, 'summary.json'));
  // A run killed outright has no summary: its metrics.jsonl still says how far it got.
  const grpo = existsSync(join(grpoDir, 'summary.json'))
    ? readJson(join(grpoDir, 'summary.json'))
    : { status: 'killed', step: metrics(grpoDir).at(-1).step, time: undefined, config: readJson(join(grpoDir, 'config.json')) };
  if (grpo.config?.validation === undefined) {
    throw new Error(`${grpoDir}: its config has the key names of before the config change (eval.problems, not validation.problems); docs/config.md maps them`);
  }
  const curve = metrics(grpoDir).filter((r) => typeof r['val/acc'] === 'number');
  const start = curve.find((r) => r.step === 0)?.['val/acc'];
  // The last validation in metrics.jsonl (a run stopped at the time cap has no end-of-run results).
  const end = curve.at(-1)?.['val/acc'];
  const sftCurve = metrics(sftDir).filter((r) => typeof r['val/acc'] === 'number');
  const best = curve.reduce((b, r) => (b === null || r['val/acc'] > b['val/acc'] ? r : b), null);
  const rollout = metrics(grpoDir).filter((r) => typeof r['rollout/acc'] === 'number');
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  // Greedy pass@1 of `repirl eval` on the seed's test problems (scripts/experiments/grpo-arith.sh, analyse).
  const test = (which) => {
    const path = join(root, s, `test-${which}`, 'summary.json');
    return existsSync(path) ? readJson(path) : null;
  };
  const testSft = test('sft');
  const testGrpo = test('grpo');
  // Per-problem greedy correctness on the test problems, aligned by problem id.
  const correct = (which) => {
    const path = join(root, s, `test-${which}`, 'samples.jsonl');
    if (!existsSync(path)) return null;
    const rows = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
    return new Map(rows.map((r) => [r.id, r.correct ? 1 : 0]));
  };
  const [cs, cg] = [correct('sft'), correct('grpo')];
  let intervals = null;
  if (cs && cg) {
    const ids = [...cs.keys()].filter((id) => cg.has(id));
    if (ids.length !== cs.size || ids.length !== cg.size) throw new Error(`${join(root, s)}: test-sft and test-grpo answered different problems (${cs.size} and ${cg.size}, ${ids.length} shared)`);
    const a = problemMean(ids.map((id) => cg.get(id)));
    const b = problemMean(ids.map((id) => cs.get(id)));
    intervals = { sft: bootstrapInterval(ids.length, b), grpo: bootstrapInterval(ids.length, a), gain: pairedBootstrapDifference(ids.length, a, b) };
  }
  rows.push({
    seed,
    sftAcc: sftCurve.at(-1)?.['val/acc'],
    start,
    end,
    delta: end - start,
    best: best?.['val/acc'],
    bestStep: best?.step,
    steps: grpo.step,
    lastValStep: curve.at(-1)?.step,
    grpoWall: times.get(`grpo/${seed}`) ?? grpo.time,
    grpoTrain: grpo.time,
    sftWall: times.get(`sft/${seed}`) ?? sft.time,
    rolloutFirst: mean(rollout.slice(0, 10).map((r) => r['rollout/acc'])),
    rolloutLast: mean(rollout.slice(-10).map((r) => r['rollout/acc'])),
    problems: grpo.config.validation.problems,
    testSft: testSft?.results?.['val/acc'],
    testGrpo: testGrpo?.results?.['val/acc'],
    testProblems: testGrpo?.config?.problems,
    intervals,
    status: grpo.status,
  });
}
if (rows.length === 0) {
  console.error(`${root}: no seed with both an SFT and a GRPO summary`);
  process.exit(1);
}

const hasTest = rows.every((r) => typeof r.testSft === 'number' && typeof r.testGrpo === 'number');
const points = (d) => (typeof d === 'number' && !Number.isNaN(d) ? `${d >= 0 ? '+' : ''}${fmt(d * 100, 1)}` : '—');
const testHead = hasTest ? ' test: SFT → GRPO | Δ test (points) |' : '';
const ci = (i, scale = 1, digits = 3) => (i ? ` [${fmt(i.lo * scale, digits)}, ${fmt(i.hi * scale, digits)}]` : '');
const lines = [
  `| seed | SFT greedy pass@1 | GRPO step 0 | GRPO final | Δ (points) | best (step) |${testHead} GRPO steps (last val.) | GRPO wall time | SFT wall time | rollout acc, first → last 10 steps |`,
  `|---:|---:|---:|---:|---:|---:|${hasTest ? '---:|---:|' : ''}---:|---:|---:|---:|`,
];
const testCells = (sft, grpo, i = null) => (hasTest ? ` ${fmt(sft)}${ci(i?.sft)} → ${fmt(grpo)}${ci(i?.grpo)} | ${points(grpo - sft)}${ci(i?.gain, 100, 1)} |` : '');
for (const r of rows) {
  lines.push(
    `| ${r.seed} | ${fmt(r.sftAcc)} | ${fmt(r.start)} | ${fmt(r.end)} | ${points(r.delta)} | ${fmt(r.best)} (${r.bestStep}) |${testCells(r.testSft, r.testGrpo, r.intervals)} ${r.steps} (${r.lastValStep})${r.status === 'finished' ? '' : ' ' + r.status} | ${mins(r.grpoWall)} | ${mins(r.sftWall)} | ${fmt(r.rolloutFirst)} → ${fmt(r.rolloutLast)} |`,
  );
}
const avg = (k) => rows.reduce((a, r) => a + r[k], 0) / rows.length;
lines.push(`| mean | ${fmt(avg('sftAcc'))} | ${fmt(avg('start'))} | ${fmt(avg('end'))} | ${points(avg('delta'))} | |${testCells(avg('testSft'), avg('testGrpo'))} | ${mins(avg('grpoWall'))} | ${mins(avg('sftWall'))} | |`);
lines.push('', `Greedy pass@1 on ${rows[0].problems} held-out validation problems (the same problems for SFT and GRPO of a seed; "GRPO final" is the last policy, not the best one)` +
  (hasTest ? `, and on ${rows[0].testProblems} test problems of the test split, which no run trained or validated on, with 95% bootstrap intervals over the test problems (the gain's paired).` : '.'));
if (rows.every((r) => r.intervals)) {
  const met = rows.filter((r) => r.intervals.gain.lo >= 0.15).length;
  lines.push('', `Goal "GRPO gains ≥ +15 points of greedy pass@1 on the test problems on every seed": ${met === rows.length ? 'met' : 'not met'} ` +
    `(the gain's interval clears +15 on ${met} of ${rows.length} seeds; point estimates ${rows.map((r) => points(r.testGrpo - r.testSft)).join(', ')}).`);
}
mkdirSync(docs, { recursive: true });
writeFileSync(join(docs, `${prefix}-results.md`), lines.join('\n') + '\n');
console.log(lines.join('\n'));

// Learning curves: val/acc (solid) and the 10-step mean of rollout/acc (dashed), by step and by time.
const labelled = rows.map((r) => `seed ${r.seed}=${join(root, `seed${r.seed}`, 'grpo')}`);
const plot = (extra) => execFileSync(process.execPath, [join(here, 'plot-curves.mjs'), ...extra, ...labelled], { stdio: 'inherit' });
plot(['--out', join(docs, `${prefix}-curves.svg`), '--metric', 'val/acc', '--also', 'rollout/acc', '--ylabel', 'accuracy',
  '--title', 'GRPO on arith-chain: held-out greedy pass@1 (solid), rollout accuracy (dashed)',
  '--table', join(docs, `${prefix}-curves.md`)]);
plot(['--out', join(docs, `${prefix}-curves-time.svg`), '--metric', 'val/acc', '--time', '--ylabel', 'held-out greedy pass@1',
  '--title', 'GRPO on arith-chain: held-out greedy pass@1 by training time']);
