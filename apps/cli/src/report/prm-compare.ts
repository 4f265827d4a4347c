// The PRM comparison of `repirl prm train` runs, one source for scripts/experiments/prm-table.mjs
// (the markdown table of EXPERIMENTS.md) and `repirl report` (the HTML page): a run's numbers, the
// table's columns (mean ± half the range over seeds), and the verdicts of issue 15's goals, judged
// on each seed's 95% bootstrap interval over problems.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ONLINE_PRM_METHODS, PRM_METHODS } from '../config/prm.js';

/** One PRM run: who it is (task, method, seed from its config.json) and every number the tables read. */
export interface PrmRun {
  dir: string;
  /** The run directory's name. */
  name: string;
  task: string;
  method: string;
  seed: number;
  /**
   * The run's setup: its config with every `seed` key and the starting policy (`init`, one per seed)
   * left out, flattened to key paths. Runs of one task and method with the same setup are seeds of
   * one group; others (an lr sweep) are groups of their own.
   */
  setup: Record<string, string>;
  /** prm_eval.json's metrics (null read as NaN) plus policy/*, compute/sampled_sequences and wall_min. */
  values: Record<string, number>;
}

/** The file's text, or an error naming the file. */
function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/** The file's JSON, or an error naming the file. */
export function readJsonFile(file: string): any {
  const text = readText(file);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not JSON: ${(err as Error).message}`);
  }
}

/** The records of a metrics.jsonl (a torn last line, from a run still writing, is skipped; a bad line before it is an error naming it). */
export function readMetricsFile(file: string): Record<string, unknown>[] {
  const lines = readText(file).split('\n');
  const rows: Record<string, unknown>[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      rows.push(JSON.parse(line));
    } catch (err) {
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim() !== '')) throw new Error(`${file}:${i + 1}: not JSON (${(err as Error).message})`);
    }
  });
  return rows;
}

/** A JSON value as a number: NaN unless it is one. */
export const num = (x: unknown): number => (typeof x === 'number' ? x : NaN);

/** The task a run's config names: the generated task, else the problem file's name. */
export function taskOf(config: any): string {
  if (typeof config?.task?.name === 'string' && config?.data?.source !== 'file') return config.task.name;
  const path = config?.data?.path ?? config?.data?.test ?? config?.labelled?.path ?? config?.processbench?.path;
  return typeof path === 'string' ? basename(path) : String(config?.task?.name ?? 'unknown task');
}

/** Reads a `repirl prm train` run: config.json, prm_eval.json, summary.json and metrics.jsonl (each missing one is an error naming it). */
export function readPrmRun(dir: string): PrmRun {
  const config = readJsonFile(join(dir, 'config.json'));
  const metrics = readJsonFile(join(dir, 'prm_eval.json'))?.metrics;
  if (metrics === null || typeof metrics !== 'object') throw new Error(`${join(dir, 'prm_eval.json')} has no "metrics" object`);
  const summary = readJsonFile(join(dir, 'summary.json'));
  const rows = readMetricsFile(join(dir, 'metrics.jsonl'));
  const last = (key: string) => num(rows.filter((r) => Number.isFinite(r[key])).at(-1)?.[key]);
  const evaluation: Record<string, number> = {};
  for (const [k, v] of Object.entries(metrics as Record<string, unknown>)) evaluation[k] = num(v);
  return {
    dir,
    name: basename(dir),
    task: taskOf(config),
    method: typeof config.method === 'string' ? config.method : 'unknown method',
    seed: num(config.rl?.seed ?? config.prm?.seed ?? config.seed),
    setup: setupOf(config),
    values: {
      ...evaluation,
      'policy/val_acc': num(summary.results?.['val/acc']),
      'policy/val_acc_start': num(summary.results?.['val/acc@start']),
      'policy/entropy': last('actor/entropy'),
      'compute/sampled_sequences': num(summary.results?.['compute/sampled_sequences']),
      wall_min: num(summary.time) / 60,
    },
  };
}

/** A config's key paths and values (JSON), without its seeds and starting policy. */
function setupOf(config: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (value: unknown, path: string) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) if (k !== 'seed' && !(path === '' && k === 'init')) walk(v, path === '' ? k : `${path}.${k}`);
    } else out[path] = JSON.stringify(value);
  };
  walk(config, '');
  return out;
}

/** Mean ± half the range of the finite values ('n/a' without any; the mean alone for one; counts as whole numbers). */
export function formatSpread(xs: readonly number[]): string {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return 'n/a';
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const spread = (Math.max(...v) - Math.min(...v)) / 2;
  const digits = v.every((x) => Number.isInteger(x) && Math.abs(x) >= 10) ? 0 : 3;
  return v.length > 1 ? `${mean.toFixed(digits)} ± ${spread.toFixed(digits)}` : mean.toFixed(digits);
}

/**
 * The table's columns: step metrics pooled (confounded by position and line length),
 * position-controlled (the mean of the per-position AUROCs) with step scores as sums and as means of
 * token rewards, the length-only baseline beside them (position-only is 0.5 when position-controlled),
 * local labels; first-error F1; response AUROC; best-of-16; the policy; compute and time. `null`: the
 * policy's pass@1 start → end.
 */
export const PRM_COLUMNS: readonly (readonly [string, string | null])[] = [
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

/** The runs of one task, method and setup (its seeds), in seed order. */
export interface PrmGroup {
  task: string;
  method: string;
  /** The method, with the keys that set this group apart from the method's other groups (e.g. 'repirl (prm.optim.lr=0.003)'). */
  label: string;
  runs: PrmRun[];
}

const sameSetup = (a: PrmRun, b: PrmRun) => {
  const keys = new Set([...Object.keys(a.setup), ...Object.keys(b.setup)]);
  return [...keys].every((k) => a.setup[k] === b.setup[k]);
};

/**
 * Runs grouped by task (sorted), method (PRM_METHODS' order, unknown ones last) and setup: the
 * seeds of one group share every config key but their seeds and starting policies. A method with
 * several setups names each by the keys in which they differ.
 */
export function groupPrmRuns(runs: readonly PrmRun[]): PrmGroup[] {
  const order = (m: string) => {
    const i = (PRM_METHODS as readonly string[]).indexOf(m);
    return i < 0 ? PRM_METHODS.length : i;
  };
  const groups: PrmGroup[] = [];
  for (const task of [...new Set(runs.map((r) => r.task))].sort()) {
    const methods = [...new Set(runs.filter((r) => r.task === task).map((r) => r.method))].sort((a, b) => order(a) - order(b) || a.localeCompare(b));
    for (const method of methods) {
      const setups: PrmRun[][] = [];
      for (const r of runs.filter((x) => x.task === task && x.method === method)) {
        const home = setups.find((g) => sameSetup(g[0]!, r));
        if (home === undefined) setups.push([r]);
        else home.push(r);
      }
      const differing = [...new Set(setups.flatMap((g) => Object.keys(g[0]!.setup)))].filter((k) => new Set(setups.map((g) => g[0]!.setup[k])).size > 1).sort();
      for (const g of setups) {
        const label = differing.length === 0 ? method : `${method} (${differing.slice(0, 3).map((k) => `${k}=${g[0]!.setup[k] ?? 'unset'}`).join(', ')}${differing.length > 3 ? ', …' : ''})`;
        groups.push({ task, method, label, runs: g.sort((a, b) => a.seed - b.seed) });
      }
    }
  }
  return groups;
}

/** One group's table row: the cells of PRM_COLUMNS. */
export function prmRowCells(group: PrmGroup): string[] {
  const rs = group.runs;
  const online = (ONLINE_PRM_METHODS as readonly string[]).includes(group.method);
  return PRM_COLUMNS.map(([, key]) =>
    key === null
      ? online ? `${formatSpread(rs.map((r) => r.values['policy/val_acc_start']!))} → ${formatSpread(rs.map((r) => r.values['policy/val_acc']!))}` : '— (offline)'
      : formatSpread(rs.map((r) => r.values[key] ?? NaN)));
}

/** A goal is judged only on this many seeds or more. */
export const MIN_SEEDS = 3;

/** One seed's number for a goal: its value and 95% interval, and whether the interval clears the bar. */
export interface SeedEvidence {
  seed: number;
  /** The run's name and directory. */
  run: string;
  dir: string;
  /** What the number is, where it is not the goal's metric itself (e.g. the worst position). */
  detail?: string;
  value: number;
  lo: number;
  hi: number;
  clears: boolean;
}

export interface GoalVerdict {
  /** The claim, e.g. 'position-controlled step AUROC ≥ 0.8'. */
  goal: string;
  /** The prm_eval.json key it reads. */
  metric: string;
  /** The bar, in words. */
  bar: string;
  met: boolean;
  /** Why it is (not) met, in words. */
  reason: string;
  seeds: SeedEvidence[];
}

const evidence = (r: PrmRun, key: string, clears: (v: Record<string, number>) => boolean, detail?: string): SeedEvidence => ({
  seed: r.seed, run: r.name, dir: r.dir, value: r.values[key] ?? NaN, lo: r.values[`${key}/lo`] ?? NaN, hi: r.values[`${key}/hi`] ?? NaN, clears: clears(r.values),
  ...(detail === undefined ? {} : { detail }),
});

function verdict(goal: string, metric: string, bar: string, seeds: SeedEvidence[]): GoalVerdict {
  const failing = seeds.filter((s) => !s.clears);
  // Seeds, not runs: the same seed twice (a rerun) is one seed.
  const distinct = new Set(seeds.map((s) => s.seed)).size;
  const met = distinct >= MIN_SEEDS && failing.length === 0;
  const reason = met
    ? `every one of ${distinct} seeds clears the bar`
    : distinct < MIN_SEEDS
      ? `${distinct} seed${distinct === 1 ? '' : 's'}; a goal needs ${MIN_SEEDS} or more${failing.length > 0 ? `, and ${failing.map((s) => `s${s.seed}`).join(', ')} fall${failing.length === 1 ? 's' : ''} short` : ''}`
      : `${failing.map((s) => `s${s.seed}`).join(', ')} fall${failing.length === 1 ? 's' : ''} short`;
  return { goal, metric, bar, met, reason, seeds };
}

/**
 * Issue 15's goals for one group, judged per seed on the 95% bootstrap intervals over problems: a
 * goal is met only when there are MIN_SEEDS seeds or more and every seed's interval clears the bar.
 */
export function prmGoals(group: PrmGroup): GoalVerdict[] {
  const rs = group.runs;
  const auroc = 'prm_eval/step_auroc_position_controlled/sum';
  const diff = 'prm_eval/diff/bo16/weighted-official-minus-majority';
  // Beating the position-only baseline at every position: each position's AUROC interval above 0.5 (position-only is 0.5 within a position).
  // Positions no response reaches have no AUROC (null in prm_eval.json): they are not positions the PRM fails at.
  const positions = (r: PrmRun) => Object.keys(r.values).filter((k) => /^prm_eval\/step_auroc_pos\d+\/sum$/.test(k) && Number.isFinite(r.values[k]));
  const worstPosition = (r: PrmRun) => positions(r).sort((a, b) => (r.values[`${a}/lo`] ?? -Infinity) - (r.values[`${b}/lo`] ?? -Infinity))[0];
  return [
    verdict('position-controlled step AUROC ≥ 0.8', auroc, 'lower end ≥ 0.8', rs.map((r) => evidence(r, auroc, (v) => (v[`${auroc}/lo`] ?? NaN) >= 0.8))),
    verdict('above the position-only baseline at every position', 'prm_eval/step_auroc_pos<k>/sum', 'lower end > 0.5 at every position', rs.map((r) => {
      const worst = worstPosition(r);
      const everyAbove = (v: Record<string, number>) => positions(r).length > 0 && positions(r).every((k) => (v[`${k}/lo`] ?? NaN) > 0.5);
      if (worst === undefined) return { seed: r.seed, run: r.name, dir: r.dir, detail: 'no per-position AUROC', value: NaN, lo: NaN, hi: NaN, clears: false };
      return evidence(r, worst, everyAbove, `worst: position ${/pos(\d+)/.exec(worst)![1]}`);
    })),
    verdict('official weighted vote − majority at best-of-16 ≥ 5 points', diff, 'lower end ≥ 0.05, separated', rs.map((r) =>
      evidence(r, diff, (v) => (v[`${diff}/lo`] ?? NaN) >= 0.05 && v[`${diff}/separated`] === 1))),
  ];
}

/** `value [lo, hi]` of one seed's evidence. */
export function formatEvidence(s: SeedEvidence): string {
  if (!Number.isFinite(s.value)) return 'n/a';
  return `${s.value.toFixed(3)} [${s.lo.toFixed(3)}, ${s.hi.toFixed(3)}]`;
}

/** The markdown of prm-table.mjs: per task, the table of every method, then each method's goals with each seed's interval. */
export function prmTableMarkdown(runs: readonly PrmRun[]): string {
  const groups = groupPrmRuns(runs);
  const out: string[] = [];
  for (const task of [...new Set(groups.map((g) => g.task))]) {
    const ofTask = groups.filter((g) => g.task === task);
    const seeds = [...new Set(ofTask.flatMap((g) => g.runs.map((r) => r.seed)))].sort((a, b) => a - b);
    out.push(`### ${task} (seeds ${seeds.join(', ')}; mean ± half-range over seeds)`, '', `| method | ${PRM_COLUMNS.map((c) => c[0]).join(' | ')} |`, `|---|${PRM_COLUMNS.map(() => '---').join('|')}|`);
    for (const g of ofTask) out.push(`| ${g.label} (${g.runs.length}) | ${prmRowCells(g).join(' | ')} |`);
    out.push('', `Goals (per seed: value [95% interval]; met only when ${MIN_SEEDS}+ seeds all clear the bar):`, '');
    for (const g of ofTask) {
      const parts = prmGoals(g).map((v) => `${v.goal} — ${v.met ? 'met' : 'not met'} (${v.seeds.map((s) => `s${s.seed} ${s.detail === undefined ? '' : `${s.detail} `}${formatEvidence(s)}`).join('; ')})`);
      out.push(`- ${g.label}: ${parts.join('; ')}`);
    }
    out.push('');
  }
  return out.join('\n');
}
