#!/usr/bin/env node
// One markdown row per run, read from its config.json and metrics.jsonl, so a pilot table in
// EXPERIMENTS.md is never typed in by hand. RL runs: the settings people vary (init, model width,
// P×K, temperature, lr and schedule, filter, entropy bonus, steps) and the held-out greedy pass@1
// curve; SFT runs (a config with a `data` section) get their own table: data, schedule, curve.
//
//   node scripts/experiments/pilot-table.mjs label=runs/p/run1 [label=runDir ...]
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const runs = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf('=');
  if (at < 1) throw new Error(`pilot-table: expected label=runDir, got ${JSON.stringify(arg)}`);
  return { label: arg.slice(0, at), dir: arg.slice(at + 1) };
});
if (runs.length === 0) {
  console.error('usage: node scripts/experiments/pilot-table.mjs label=runDir [...]');
  process.exit(2);
}

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
const fmt = (x) => (typeof x === 'number' ? x.toFixed(3) : '—');
const mean = (xs) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

const sftRuns = [];
const rlRuns = [];
for (const run of runs) {
  const c = readJson(join(run.dir, 'config.json'));
  const records = readFileSync(join(run.dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  if (c.train !== undefined || c.loss !== undefined) {
    throw new Error(`${run.dir}: its config.json has the key names of before the config change (train.*, loss.*); docs/config.md maps them`);
  }
  (c.data !== undefined ? sftRuns : rlRuns).push({ ...run, c, records });
}
const validations = (records) => records.filter((r) => typeof r['val/acc'] === 'number');

// SFT runs: the data they learned from, the schedule, and the whole validation curve (to show
// whether the policy had settled when it stopped).
if (sftRuns.length > 0) {
  console.log('| SFT run | data (problems) | steps × batch | lr (schedule) | val/acc by step |');
  console.log('|---|---|---|---|---|');
  for (const { label, c, records } of sftRuns) {
    const curve = validations(records).map((r) => `${r.step}: ${fmt(r['val/acc'])}`).join(', ');
    console.log(`| ${label} | ${c.data.source} (${c.data.problems}) | ${records.at(-1)?.step ?? 0} × ${c.batchSize} | ${c.optim.lr} (${c.optim.schedule}) | ${curve} |`);
  }
  if (rlRuns.length > 0) console.log('');
}
if (rlRuns.length === 0) process.exit(0);

console.log('| pilot | init | steps done | P×K | T | lr (schedule) | filter | entropy coef | val/acc start → last (step) | min / max (step) | rollout/acc first → last 10 steps |');
console.log('|---|---|---:|---|---:|---|---|---:|---|---|---|');
for (const { label, c, records } of rlRuns) {
  const val = validations(records);
  const rollout = records.filter((r) => typeof r['rollout/acc'] === 'number').map((r) => r['rollout/acc']);
  const lo = val.reduce((b, r) => (b === null || r['val/acc'] < b['val/acc'] ? r : b), null);
  const hi = val.reduce((b, r) => (b === null || r['val/acc'] > b['val/acc'] ? r : b), null);
  const policy = join(c.init, 'policy.json');
  const width = existsSync(policy) ? ` (d ${readJson(policy).config?.model?.dModel ?? '?'})` : '';
  const f = c.filter;
  console.log(
    `| ${label} | ${c.init}${width} | ${records.at(-1)?.step ?? 0} | ${c.rollout.promptsPerStep}×${c.rollout.k} | ${c.rollout.temperature} | ` +
      `${c.actor.lr} (${c.actor.schedule}) | ${f.enabled ? `[${f.low}, ${f.high}]` : 'off'} | ${c.actor.entropyCoef} | ` +
      `${fmt(val[0]?.['val/acc'])} → ${fmt(val.at(-1)?.['val/acc'])} (${val.at(-1)?.step ?? '—'}) | ` +
      `${fmt(lo?.['val/acc'])} (${lo?.step}) / ${fmt(hi?.['val/acc'])} (${hi?.step}) | ` +
      `${fmt(mean(rollout.slice(0, 10)))} → ${fmt(mean(rollout.slice(-10)))} |`,
  );
}
