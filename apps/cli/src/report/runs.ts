// The run directories `repirl report` reads: what kind each is (from its files), what it holds,
// and the commands that make it again (its own and those of the runs it started from).
//
// Kind: run.json's command (sft, rl, eval, prm-train, prm-eval, search); a directory without
// run.json is known by its files (prm_eval.json: a PRM run; search.json: a search; metrics.jsonl
// with config.json: a training run). A finished run must hold its kind's files (config.json,
// metrics.jsonl, summary.json; prm_eval.json for PRM runs, search.json for searches): a missing
// one is a ReportError naming the directory and the file. A run still running, stopped or failed
// is reported with what it has so far, its status said beside it.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { num, readJsonFile, readMetricsFile, readPrmRun, taskOf, type PrmRun } from './prm-compare.js';

export class ReportError extends Error {}

export const RUN_KINDS = ['sft', 'rl', 'eval', 'prm-train', 'prm-eval', 'search'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

/** One point of a `repirl search` run: accuracy against generated tokens, each with its bootstrap interval. */
export interface SearchPoint {
  task: string;
  /** 'none' (majority vote alone), 'oracle', or the PRM run's name. */
  prm: string;
  /** majority, bon/<aggregation>, weighted-vote, beam, mcts. */
  method: string;
  /** n (majority, bon, weighted vote), the beam width or the MCTS simulations. */
  size: number;
  policy: string;
  problems: number;
  seed: number;
  accuracy: number;
  accuracyLo: number;
  accuracyHi: number;
  tokens: number;
  tokensLo: number;
  tokensHi: number;
}

export interface ReportRun {
  /** The directory as given on the command line. */
  dir: string;
  name: string;
  kind: RunKind;
  status: string;
  config: any;
  /** run.json (null for a directory without one). */
  info: any | null;
  summary: any | null;
  metrics: Record<string, unknown>[];
  /** PRM runs (prm-train, prm-eval) with prm_eval.json. */
  prm: PrmRun | null;
  search: SearchPoint | null;
  /** The shell commands that make this run again: the runs it starts from first, then its own. */
  reproduce: string[];
  notes: string[];
}

/** How a command is typed: 'prm-train' is `repirl prm train`. */
const commandWords = (kind: string) => (kind.startsWith('prm-') ? `prm ${kind.slice(4)}` : kind);

/** A word as a POSIX shell reads it back. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function kindOf(dir: string, info: any | null): RunKind {
  if (info !== null) {
    const command = info.command;
    if (!(RUN_KINDS as readonly string[]).includes(command)) {
      throw new ReportError(`${join(dir, 'run.json')}: unknown command ${JSON.stringify(command)} (repirl report reads ${RUN_KINDS.map(commandWords).join(', ')} runs)`);
    }
    return command as RunKind;
  }
  const has = (f: string) => existsSync(join(dir, f));
  if (!has('config.json')) {
    throw new ReportError(`${dir} is not a repirl run directory: it has no run.json and no config.json`);
  }
  if (has('prm_eval.json')) return typeof readJsonFile(join(dir, 'config.json')).method === 'string' ? 'prm-train' : 'prm-eval';
  if (has('search.json')) return 'search';
  if (has('metrics.jsonl')) {
    const config = readJsonFile(join(dir, 'config.json'));
    return typeof config.checkpoint === 'string' ? 'eval' : config.rollout !== undefined ? 'rl' : 'sft';
  }
  throw new ReportError(`${dir} is not a repirl run directory: it has no run.json, and none of prm_eval.json, search.json or metrics.jsonl`);
}

/** The files a finished run of this kind must hold. */
const REQUIRED: Record<RunKind, string[]> = {
  sft: ['config.json', 'metrics.jsonl', 'summary.json'],
  rl: ['config.json', 'metrics.jsonl', 'summary.json'],
  eval: ['config.json', 'metrics.jsonl', 'summary.json'],
  'prm-train': ['config.json', 'metrics.jsonl', 'summary.json', 'prm_eval.json'],
  'prm-eval': ['config.json', 'metrics.jsonl', 'summary.json', 'prm_eval.json'],
  search: ['config.json', 'metrics.jsonl', 'summary.json', 'search.json'],
};

function searchPoint(dir: string, config: any): SearchPoint {
  const s = readJsonFile(join(dir, 'search.json'));
  if (typeof s?.accuracy?.value !== 'number' || typeof s?.tokens_per_problem?.value !== 'number') {
    throw new ReportError(`${join(dir, 'search.json')}: no accuracy.value or tokens_per_problem.value (not written by repirl search?)`);
  }
  const method = String(config.method ?? s.method);
  const size = method === 'beam' ? config.beam?.width : method === 'mcts' ? config.mcts?.simulations : config.n;
  const prm = config.prm === null || config.prm === undefined ? 'none' : config.prm === 'oracle' ? 'oracle' : basename(String(config.prm));
  return {
    task: taskOf(config), prm, method: method === 'bon' ? `bon/${config.aggregation ?? 'default'}` : method, size: num(size),
    policy: String(config.policy ?? config.model ?? config.prm ?? ''), problems: num(s.problems), seed: num(config.seed),
    accuracy: s.accuracy.value, accuracyLo: num(s.accuracy.lo), accuracyHi: num(s.accuracy.hi),
    tokens: s.tokens_per_problem.value, tokensLo: num(s.tokens_per_problem.lo), tokensHi: num(s.tokens_per_problem.hi),
  };
}

/** The run directory a config path points into (a checkpoint folder inside a run counts as the run), or null. */
function runOf(path: unknown): string | null {
  if (typeof path !== 'string' || path === 'oracle') return null;
  let p = path.replace(/\/+$/, '');
  const at = p.lastIndexOf('/checkpoints/');
  if (at >= 0) p = p.slice(0, at);
  return existsSync(join(p, 'run.json')) && existsSync(join(p, 'config.json')) ? p : null;
}

/**
 * The commands that make the run at `dir` again, the runs it started from (init, policy, prm,
 * checkpoint: those that are run directories) first. Each run's own command is its stored config
 * (`--config DIR/config.json`, exact whatever was typed) with the same --out.
 */
export function reproduceCommands(dir: string, seen = new Set<string>()): string[] {
  if (seen.has(dir)) return [];
  seen.add(dir);
  const info = existsSync(join(dir, 'run.json')) ? readJsonFile(join(dir, 'run.json')) : null;
  const config = readJsonFile(join(dir, 'config.json'));
  const kind = kindOf(dir, info);
  const before: string[] = [];
  for (const key of ['init', 'policy', 'prm', 'checkpoint']) {
    const path = config[key];
    const from = runOf(path);
    if (from !== null) before.push(...reproduceCommands(from, seen));
    // A relative path from another working directory: say so rather than leave the chain short.
    else if (typeof path === 'string' && path !== 'oracle' && !existsSync(path)) before.push(`# ${key}=${path} (from ${dir}/config.json) is not found from here: its commands are missing`);
  }
  return [...before, `npx repirl ${commandWords(kind)} --config ${shellQuote(join(dir, 'config.json'))} --out ${shellQuote(dir)}`];
}

/** Reads one run directory for the report; a ReportError names what is wrong with it. */
export function readRun(dir: string): ReportRun {
  if (!existsSync(dir)) throw new ReportError(`${dir}: no such directory`);
  if (!isDir(dir)) throw new ReportError(`${dir} is not a directory (repirl report reads run directories)`);
  try {
    const info = existsSync(join(dir, 'run.json')) ? readJsonFile(join(dir, 'run.json')) : null;
    const kind = kindOf(dir, info);
    const summary = existsSync(join(dir, 'summary.json')) ? readJsonFile(join(dir, 'summary.json')) : null;
    const status = String(summary?.status ?? info?.status ?? 'unknown');
    const notes: string[] = [];
    const missing = REQUIRED[kind].filter((f) => !existsSync(join(dir, f)));
    if (status === 'finished' || (info === null && summary === null)) {
      if (missing.length > 0) throw new ReportError(`${dir}: a finished ${commandWords(kind)} run without ${missing.join(', ')}`);
    } else {
      if (!existsSync(join(dir, 'config.json'))) throw new ReportError(`${dir}: a ${commandWords(kind)} run without config.json`);
      notes.push(`status: ${status}${info?.error !== undefined ? ` (${info.error})` : ''}; ${missing.length > 0 ? `no ${missing.join(', ')} yet, so only what it has so far is shown` : 'its numbers are its last ones'}`);
    }
    const config = readJsonFile(join(dir, 'config.json'));
    const metrics = existsSync(join(dir, 'metrics.jsonl')) ? readMetricsFile(join(dir, 'metrics.jsonl')) : [];
    const prm = (kind === 'prm-train' || kind === 'prm-eval') && !missing.includes('prm_eval.json') && !missing.includes('summary.json') ? readPrmRun(dir) : null;
    if (prm !== null && kind === 'prm-eval') {
      // A `prm eval` run is named after the PRM it scored: that run's method, when its config can be read.
      const from = runOf(config.prm);
      const method = from === null ? null : readJsonFile(join(from, 'config.json')).method;
      prm.method = `${typeof method === 'string' ? method : basename(String(config.prm))} (prm eval)`;
      prm.seed = num(config.seed);
    }
    const search = kind === 'search' && !missing.includes('search.json') ? searchPoint(dir, config) : null;
    return { dir, name: basename(dir) || dir, kind, status, config, info, summary, metrics, prm, search, reproduce: reproduceCommands(dir), notes };
  } catch (err) {
    if (err instanceof ReportError) throw err;
    throw new ReportError((err as Error).message);
  }
}

/**
 * The runs of the command line, each read once (the same directory twice is refused). Runs of
 * different folders with the same name are named by their last two path parts (a/sft, b/sft).
 */
export function readRuns(dirs: readonly string[]): ReportRun[] {
  const seen = new Map<string, string>();
  const runs = dirs.map((given) => {
    const dir = given.length > 1 ? given.replace(/\/+$/, '') : given;
    const key = resolve(dir);
    const twice = seen.get(key);
    if (twice !== undefined) throw new ReportError(`${dir} is given twice (also as ${twice})`);
    seen.set(key, dir);
    return readRun(dir);
  });
  const shared = new Set(runs.filter((r) => runs.some((q) => q !== r && q.name === r.name)).map((r) => r.name));
  for (const r of runs) if (shared.has(r.name)) r.name = `${basename(dirname(resolve(r.dir)))}/${r.name}`;
  for (const r of runs) if (r.prm !== null) r.prm.name = r.name;
  return runs;
}
