// The page of `repirl report`: one self-contained HTML file (inline CSS and SVG, no script, no
// external URL) over any mix of runs:
//   - claims: every claim the runs can settle, with its metric, each run's value and 95% interval,
//     the bar, the verdict (met only when the interval clears the bar) and the commands that make
//     the runs again;
//   - PRM runs: the comparison table of prm-table.mjs (prm-compare.ts), the goals' evidence as
//     figures (each seed's interval against the bar), the PRM's validation curve while it trained;
//   - search runs: accuracy against generated tokens, with a compute-matched claim against majority vote;
//   - SFT / RL runs: their validation curves and results; eval runs: their results;
//   - per run: kind, status, directory, the command it was started with and how to make it again.
import { formatEvidence, groupPrmRuns, MIN_SEEDS, num, PRM_COLUMNS, prmGoals, prmRowCells, type GoalVerdict, type PrmGroup } from './prm-compare.js';
import { curveSpec, intervalSpec, renderSvg, searchSpec, type CurvePoint, type IntervalPoint } from './plots.js';
import { shellQuote, type ReportRun } from './runs.js';

export interface ReportOptions {
  title: string;
  /** The `repirl report …` command line that made the page. */
  command: string;
  /** When it was made (ISO). */
  generated: string;
}

/** One claim: a bar a metric must clear, the runs' evidence, and the verdict. */
export interface Claim {
  section: string;
  claim: string;
  metric: string;
  bar: string;
  met: boolean;
  reason: string;
  /** One line per run: its name and value [interval]. */
  evidence: { run: ReportRun; text: string }[];
}

const esc = (s: unknown) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f3 = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : 'n/a');
/** A search point's accuracy with its interval. */
const accuracyText = (p: { accuracy: number; accuracyLo: number; accuracyHi: number }) => `${f3(p.accuracy)} [${f3(p.accuracyLo)}, ${f3(p.accuracyHi)}]`;

/** The anchor of a run's section. */
const anchor = (runs: readonly ReportRun[], run: ReportRun) => `run-${runs.indexOf(run) + 1}`;

function table(header: readonly string[], rows: readonly (readonly string[])[], cls = ''): string {
  return `<table${cls === '' ? '' : ` class="${cls}"`}><thead><tr>${header.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n')}</tbody></table>`;
}

async function figure(id: string, kind: string, caption: string, svg: Promise<string>, marks: number): Promise<string> {
  return `<figure id="${esc(id)}" data-kind="${esc(kind)}" data-marks="${marks}">${await svg}<figcaption>${caption}</figcaption></figure>`;
}

// ---------------------------------------------------------------------------------------------
// PRM runs

function prmClaims(groups: readonly PrmGroup[], byDir: Map<string, ReportRun>): Claim[] {
  return groups.flatMap((g) => prmGoals(g).map((v: GoalVerdict) => ({
    section: `PRM: ${g.task}`, claim: `${g.label}: ${v.goal}`, metric: v.metric, bar: v.bar, met: v.met, reason: v.reason,
    evidence: v.seeds.map((s) => ({ run: byDir.get(s.dir)!, text: `s${s.seed}${s.detail === undefined ? '' : ` (${s.detail})`}: ${formatEvidence(s)} — ${s.clears ? 'clears' : 'short'}` })),
  })));
}

async function prmSection(runs: readonly ReportRun[], all: readonly ReportRun[]): Promise<string> {
  const prmRuns = runs.filter((r) => r.prm !== null);
  const groups = groupPrmRuns(prmRuns.map((r) => r.prm!));
  const byDir = new Map(prmRuns.map((r) => [r.prm!.dir, r]));
  const parts: string[] = ['<section id="prm"><h2>Process reward models</h2>'];
  for (const task of [...new Set(groups.map((g) => g.task))]) {
    const ofTask = groups.filter((g) => g.task === task);
    parts.push(`<h3>${esc(task)}</h3><p>Held-out evaluation (prm_eval.json) of each run; mean ± half the range over seeds.</p>`);
    parts.push(table(['method (seeds)', ...PRM_COLUMNS.map((c) => esc(c[0]))], ofTask.map((g) => [`${esc(g.label)} (${g.runs.length})`, ...prmRowCells(g).map(esc)]), 'wide'));
    const points = (key: string, reference?: string): IntervalPoint[] => ofTask.flatMap((g) => g.runs.map((r) => ({
      group: g.label, label: `s${r.seed}`, value: r.values[key] ?? NaN, lo: r.values[`${key}/lo`] ?? NaN, hi: r.values[`${key}/hi`] ?? NaN,
      ...(reference === undefined ? {} : { reference: r.values[reference] ?? NaN }),
    })));
    const auroc = points('prm_eval/step_auroc_position_controlled/sum', 'prm_eval/step_auroc_position_controlled/baseline-length');
    const vote = points('prm_eval/diff/bo16/weighted-official-minus-majority');
    const shown = (ps: IntervalPoint[]) => ps.filter((p) => Number.isFinite(p.value)).length;
    const slug = task.replace(/[^\w-]+/g, '-');
    if (shown(auroc) > 0) {
      parts.push(await figure(`prm-auroc-${slug}`, 'prm-auroc', `${esc(task)}: position-controlled step AUROC of each run with its 95% bootstrap interval over problems; grey tick: the length-only baseline; dashed red: the bar of 0.8.`,
        renderSvg(intervalSpec(`${task}: position-controlled step AUROC`, 'step AUROC (position-controlled, sums)', auroc, 0.8, 'length-only baseline')), shown(auroc)));
    }
    if (shown(vote) > 0) {
      parts.push(await figure(`prm-vote-${slug}`, 'prm-vote', `${esc(task)}: best-of-16, the official PRM-weighted vote minus majority vote (paired over problems) with its 95% interval; dashed red: the bar of 5 points.`,
        renderSvg(intervalSpec(`${task}: weighted vote − majority at best-of-16`, 'accuracy difference', vote, 0.05)), shown(vote)));
    }
  }
  // The PRM's validation while it trained (prm.validation): its metric at each validation step.
  const validation: CurvePoint[] = [];
  for (const r of runs) {
    const key = validationKey(r);
    if (key === null) continue;
    for (const m of r.metrics) if (typeof m[key] === 'number') validation.push({ run: r.name, step: num(m.step), value: m[key] as number });
  }
  if (validation.length > 0) {
    const keys = [...new Set(runs.map(validationKey).filter((k) => k !== null))];
    parts.push(await figure('prm-validation', 'curve', `The PRM's validation metric (${keys.map((k) => `<code>${esc(k)}</code>`).join(', ')}) on its validation problems while it trained; the best PRM is the one kept.`,
      renderSvg(curveSpec('PRM validation while training', keys.length === 1 ? keys[0]!.replace(/^val\/prm\//, '') : 'validation metric', validation)), new Set(validation.map((p) => p.run)).size));
  }
  const pending = runs.filter((r) => r.prm === null);
  if (pending.length > 0) parts.push(`<p class="note">Not in the table (no prm_eval.json yet): ${pending.map((r) => `<a href="#${anchor(all, r)}">${esc(r.name)}</a> (${esc(r.status)})`).join(', ')}.</p>`);
  parts.push('</section>');
  return parts.join('\n');
}

/** The metrics.jsonl key of a PRM run's validation metric (prm.validation.metric, 'auto' = the position-controlled step AUROC), or null without one. */
function validationKey(r: ReportRun): string | null {
  const keys = new Set(r.metrics.flatMap((m) => Object.keys(m).filter((k) => k.startsWith('val/prm/') && typeof m[k] === 'number')));
  const chosen = r.config?.prm?.validation?.metric;
  for (const k of [typeof chosen === 'string' && chosen !== 'auto' ? `val/prm/${chosen}` : '', 'val/prm/step_auroc_position_controlled/sum', 'val/prm/response_auroc/min']) {
    if (keys.has(k)) return k;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Search runs

/**
 * A PRM-guided search beats majority vote at matched compute when its accuracy interval lies above
 * the best majority-vote accuracy at no more generated tokens per problem (same task, policy, problems and seed).
 */
function searchClaims(runs: readonly ReportRun[]): Claim[] {
  const claims: Claim[] = [];
  for (const r of runs) {
    const p = r.search!;
    if (p.method === 'majority') continue;
    const peers = runs.filter((q) => q.search!.method === 'majority' && q.search!.task === p.task && q.search!.policy === p.policy && q.search!.problems === p.problems && q.search!.seed === p.seed && q.search!.tokens <= p.tokens);
    if (peers.length === 0) continue;
    const best = peers.reduce((a, b) => (b.search!.accuracy > a.search!.accuracy ? b : a));
    const bar = best.search!.accuracy;
    const met = p.accuracyLo > bar;
    claims.push({
      section: `search: ${p.task}`, claim: `${p.prm}: ${p.method} ${p.size} beats majority vote at no more tokens`, metric: 'search.json accuracy',
      bar: `lower end > ${f3(bar)} (majority n=${best.search!.size}, ${best.search!.tokens.toFixed(1)} tokens)`, met,
      reason: met ? 'the interval lies above the bar' : 'the interval reaches the bar',
      evidence: [{ run: r, text: `${accuracyText(p)} at ${p.tokens.toFixed(1)} tokens` }],
    });
  }
  return claims;
}

async function searchSection(runs: readonly ReportRun[], all: readonly ReportRun[]): Promise<string> {
  const parts: string[] = ['<section id="search"><h2>Test-time search</h2>'];
  for (const task of [...new Set(runs.map((r) => r.search!.task))].sort()) {
    const ofTask = runs.filter((r) => r.search!.task === task).sort((a, b) => a.search!.prm.localeCompare(b.search!.prm) || a.search!.method.localeCompare(b.search!.method) || a.search!.size - b.search!.size);
    const points = ofTask.map((r) => ({ ...r.search!, curve: r.search!.prm === 'none' ? 'majority vote' : `${r.search!.prm}: ${r.search!.method}` }));
    parts.push(`<h3>${esc(task)}</h3>`);
    parts.push(await figure(`search-${task.replace(/[^\w-]+/g, '-')}`, 'search', `${esc(task)}: accuracy against generated tokens per problem, each point one <code>repirl search</code> run, with the 95% bootstrap intervals over problems of both.`,
      renderSvg(searchSpec(`Test-time search on ${task}`, points)), points.length));
    parts.push(table(['run', 'PRM', 'method', 'size', 'problems', 'accuracy [95%]', 'tokens per problem [95%]'], ofTask.map((r) => {
      const p = r.search!;
      return [`<a href="#${anchor(all, r)}">${esc(r.name)}</a>`, esc(p.prm), esc(p.method), String(p.size), String(p.problems), accuracyText(p), `${p.tokens.toFixed(1)} [${p.tokensLo.toFixed(1)}, ${p.tokensHi.toFixed(1)}]`];
    })));
  }
  parts.push('</section>');
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Training and evaluation runs

async function trainingSection(runs: readonly ReportRun[], all: readonly ReportRun[]): Promise<string> {
  const parts: string[] = ['<section id="training"><h2>Training and evaluation</h2>'];
  const kinds: [string, string][] = [['sft', 'SFT'], ['rl', 'RL'], ['prm-train', 'PRM training (the policy of the online learners)']];
  for (const [kind, title] of kinds) {
    const ofKind = runs.filter((r) => r.kind === kind);
    const points = ofKind.flatMap((r) => r.metrics.filter((m) => typeof m['val/acc'] === 'number').map((m) => ({ run: r.name, step: num(m.step), value: m['val/acc'] as number })));
    if (points.length === 0) continue;
    parts.push(await figure(`curve-${kind}`, 'curve', `${esc(title)}: held-out greedy pass@1 (<code>val/acc</code>) at each validation step.`,
      renderSvg(curveSpec(`${title}: validation accuracy`, 'val/acc (greedy pass@1)', points)), new Set(points.map((p) => p.run)).size));
  }
  const rows = runs.map((r) => {
    const res = r.summary?.results ?? {};
    return [
      `<a href="#${anchor(all, r)}">${esc(r.name)}</a>`, esc(r.kind), esc(r.status), `${r.summary?.step ?? r.metrics.at(-1)?.step ?? 'n/a'}${r.summary?.total === undefined ? '' : ` / ${r.summary.total}`}`,
      r.kind === 'eval' ? f3(res['val/acc']) : `${f3(res['val/acc@start'])} → ${f3(res['val/acc'])} (best ${f3(res['val/acc@best'])})`,
      res['compute/sampled_sequences'] === undefined ? '—' : String(res['compute/sampled_sequences']),
      typeof r.summary?.time === 'number' ? (r.summary.time / 60).toFixed(1) : 'n/a',
    ];
  });
  parts.push(table(['run', 'kind', 'status', 'step', 'val/acc start → end', 'sampled sequences', 'wall (min)'], rows));
  parts.push('</section>');
  return parts.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The page

function claimsSection(claims: readonly Claim[], all: readonly ReportRun[]): string {
  if (claims.length === 0) return '<section id="claims"><h2>Claims</h2><p>None of these runs carries a claim with an interval and a bar (PRM runs with prm_eval.json, search runs beside majority-vote runs).</p></section>';
  const met = claims.filter((c) => c.met).length;
  const rows = claims.map((c) => [
    esc(c.section), esc(c.claim), `<code>${esc(c.metric)}</code>`,
    c.evidence.map((e) => `<a href="#${anchor(all, e.run)}">${esc(e.run.name)}</a> ${esc(e.text)}`).join('<br>'),
    esc(c.bar), `<span class="${c.met ? 'met' : 'not-met'}">${c.met ? 'met' : 'not met'}</span><br><small>${esc(c.reason)}</small>`,
    `<details><summary>${c.evidence.length} run${c.evidence.length === 1 ? '' : 's'}</summary>${c.evidence.map((e) => `<code>${esc(e.run.reproduce.at(-1))}</code>`).join('<br>')}</details>`,
  ]);
  return `<section id="claims"><h2>Claims</h2><p>${met} of ${claims.length} met. Values are each run's, with its 95% bootstrap interval over problems; a claim is met only when the interval clears the bar${claims.some((c) => c.section.startsWith('PRM')) ? ` (PRM goals: for every seed, with ${MIN_SEEDS} seeds or more)` : ''}. Each run's section has every command that makes it again, the runs it started from first.</p>
${table(['where', 'claim', 'metric', 'runs: value [95% interval]', 'bar', 'verdict', 'reproduce'], rows, 'claims')}</section>`;
}

function runsSection(all: readonly ReportRun[]): string {
  const items = all.map((r) => {
    const typed = Array.isArray(r.info?.argv) ? `npx repirl ${(r.info.argv as string[]).map((a, i) => (i === 0 && a.startsWith('prm-') ? `prm ${a.slice(4)}` : shellQuote(a))).join(' ')}` : null;
    return `<div class="run" id="${anchor(all, r)}"><h3>${esc(r.name)} <small>${esc(r.kind)}, ${esc(r.status)}</small></h3>
<p>directory <code>${esc(r.dir)}</code>${r.summary?.finished ? `, finished ${esc(r.summary.finished)}` : ''}${typeof r.summary?.time === 'number' ? `, run time ${(r.summary.time / 60).toFixed(1)} min` : ''}</p>
${r.notes.map((n) => `<p class="note">${esc(n)}</p>`).join('\n')}
${typed === null ? '' : `<p>started as</p><pre>${esc(typed)}</pre>`}
<p>made again by (its stored config; the runs it started from first)</p><pre>${r.reproduce.map(esc).join('\n')}</pre></div>`;
  });
  return `<section id="runs"><h2>Runs</h2>${items.join('\n')}</section>`;
}

const CSS = `
body { font-family: sans-serif; margin: 24px auto; max-width: 1240px; color: #222; line-height: 1.4; padding: 0 16px; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 10px 0; font-size: 13px; } th, td { border: 1px solid #ddd; padding: 4px 6px; vertical-align: top; text-align: left; }
th { background: #f4f4f4; } table.wide { display: block; overflow-x: auto; } table.claims td:nth-child(7) { font-size: 11px; max-width: 340px; word-break: break-all; } summary { cursor: pointer; color: #1a5fb4; }
table.claims td:nth-child(3) { max-width: 190px; word-break: break-all; font-size: 11px; } table.claims td:nth-child(4) { min-width: 330px; }
.met { color: #fff; background: #2e7d32; padding: 1px 6px; border-radius: 3px; font-weight: bold; }
.not-met { color: #fff; background: #b23b3b; padding: 1px 6px; border-radius: 3px; font-weight: bold; }
figure { display: inline-block; width: min-content; margin: 8px 12px 12px 0; padding: 8px; border: 1px solid #e4e4e4; vertical-align: top; max-width: 100%; overflow-x: auto; }
figcaption { font-size: 12px; color: #555; min-width: 320px; }
pre { background: #f7f7f7; padding: 6px 8px; font-size: 12px; white-space: pre-wrap; word-break: break-all; } code { font-size: 0.92em; }
.note { color: #8a5a00; } .run { border-top: 1px dashed #ddd; } .meta { color: #555; font-size: 13px; }`;

/** The whole page. */
export async function buildReport(all: readonly ReportRun[], options: ReportOptions): Promise<string> {
  const prm = all.filter((r) => r.kind === 'prm-train' || r.kind === 'prm-eval');
  const search = all.filter((r) => r.search !== null);
  const training = all.filter((r) => r.kind === 'sft' || r.kind === 'rl' || r.kind === 'eval' || r.kind === 'prm-train');
  const prmRuns = prm.filter((r) => r.prm !== null);
  const claims = [...prmClaims(groupPrmRuns(prmRuns.map((r) => r.prm!)), new Map(prmRuns.map((r) => [r.prm!.dir, r]))), ...searchClaims(search)];
  const sections = [
    claimsSection(claims, all),
    prm.length > 0 ? await prmSection(prm, all) : '',
    search.length > 0 ? await searchSection(search, all) : '',
    training.length > 0 ? await trainingSection(training, all) : '',
    runsSection(all),
  ];
  const counts = Object.entries(all.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.kind]: (acc[r.kind] ?? 0) + 1 }), {})).map(([k, n]) => `${n} ${k}`).join(', ');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(options.title)}</title><style>${CSS}</style></head>
<body><h1>${esc(options.title)}</h1>
<p class="meta">${all.length} run${all.length === 1 ? '' : 's'} (${esc(counts)}); made ${esc(options.generated)} by <code>${esc(options.command)}</code></p>
${sections.filter((s) => s !== '').join('\n')}
</body></html>
`;
}

