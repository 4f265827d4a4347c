// `repirl report` over made-up run directories of every kind, laid out as the commands write them
// (run.json, config.json, metrics.jsonl, summary.json, prm_eval.json, search.json; no GPU): the
// claims' verdicts (met only when the interval clears the bar), the reproduce commands (the runs a
// run started from first), the page's self-containment, and the page in a real headless browser
// (Debian's chromium driven by playwright-core; nothing downloads a browser): every figure renders
// at a non-zero size with its marks, and a screenshot is saved. Unreadable directories are refused
// naming the path and the file. prm-table.mjs, which shares the verdicts, judges the same runs alike.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { opensDevice } from '../src/main.js';
import { chromiumPath, requireChromium, withChromiumPage } from '../src/report/browser.js';
import { makeCli, useTempDir } from './helpers.js';

const CHROMIUM = chromiumPath();
const PRM_TABLE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../scripts/experiments/prm-table.mjs');
const tmp = useTempDir('repirl-report-');

const TASK = { name: 'arith-chain', difficulty: { steps: 4, range: 10 } };
const write = (file: string, value: unknown) => writeFileSync(file, typeof value === 'string' ? value : `${JSON.stringify(value, null, 1)}\n`);
const jsonl = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;

/** A run directory as `repirl <command>` leaves it. */
function fakeRun(dir: string, command: string, argv: string[], config: object, metrics: object[], results: object | null, extra: Record<string, unknown> = {}) {
  mkdirSync(dir, { recursive: true });
  const status = results === null ? 'running' : 'finished';
  write(join(dir, 'run.json'), { command, status, created: '2026-12-08T00:00:00Z', updated: '2026-12-08T00:01:00Z', argv: [command, ...argv], resumes: [] });
  write(join(dir, 'config.json'), config);
  write(join(dir, 'metrics.jsonl'), jsonl(metrics));
  if (results !== null) write(join(dir, 'summary.json'), { command, status, step: 2, total: 2, time: 90, finished: '2026-12-08T00:01:30Z', results });
  for (const [file, value] of Object.entries(extra)) write(join(dir, file), value);
}

/** prm_eval.json metrics: the position-controlled AUROC, three positions (two more unreached) and the best-of-16 vote difference, each with an interval. */
function prmEval(auroc: number, halfWidth: number, voteDiff: number) {
  const m: Record<string, number | null> = {
    'prm_eval/step_auroc': auroc - 0.02, 'prm_eval/step_auroc/lo': auroc - 0.06, 'prm_eval/step_auroc/hi': auroc + 0.02,
    'prm_eval/step_auroc_position_controlled/sum': auroc, 'prm_eval/step_auroc_position_controlled/sum/lo': auroc - halfWidth, 'prm_eval/step_auroc_position_controlled/sum/hi': auroc + halfWidth,
    'prm_eval/step_auroc_position_controlled/baseline-length': 0.55, 'prm_eval/first_error_f1': null,
    'prm_eval/bo16/weighted/official': 0.4, 'prm_eval/bo16/majority': 0.4 - voteDiff,
    'prm_eval/diff/bo16/weighted-official-minus-majority': voteDiff, 'prm_eval/diff/bo16/weighted-official-minus-majority/lo': voteDiff - 0.03,
    'prm_eval/diff/bo16/weighted-official-minus-majority/hi': voteDiff + 0.03, 'prm_eval/diff/bo16/weighted-official-minus-majority/separated': voteDiff - 0.03 > 0 ? 1 : 0,
  };
  for (const k of [1, 2, 3]) Object.assign(m, { [`prm_eval/step_auroc_pos${k}/sum`]: auroc, [`prm_eval/step_auroc_pos${k}/sum/lo`]: auroc - halfWidth, [`prm_eval/step_auroc_pos${k}/sum/hi`]: auroc + halfWidth });
  // As prm eval writes them: positions no response reaches are null (no AUROC there), not failures.
  for (const k of [4, 5]) Object.assign(m, { [`prm_eval/step_auroc_pos${k}/sum`]: null, [`prm_eval/step_auroc_pos${k}/sum/lo`]: null, [`prm_eval/step_auroc_pos${k}/sum/hi`]: null });
  return { metrics: m, product: 'product', samples: [] };
}

/** The runs: an SFT policy, three rePIRL seeds (the AUROC goal met), one more at another lr, one ORM seed, a PRM run still running, searches, an eval. */
function makeRuns(root: string) {
  const sft = join(root, 'sft-s1');
  fakeRun(sft, 'sft', ['--config', 'apps/cli/configs/sft-arith-r10.json', '--out', sft], { task: TASK, seed: 1, steps: 20 },
    [0, 10, 20].map((step, i) => ({ step, time: step, 'val/acc': 0.1 + 0.2 * i })), { 'val/acc@start': 0.1, 'val/acc': 0.5, 'val/acc@best': 0.5 });
  const prms: string[] = [];
  for (const seed of [1, 2, 3]) {
    const dir = join(root, `arith-repirl-s${seed}`);
    prms.push(dir);
    fakeRun(dir, 'prm-train', ['--set', 'method=repirl', '--set', `rl.seed=${seed}`, '--set', `init=${sft}`, '--out', dir], { task: TASK, init: sft, method: 'repirl', rl: { seed }, prm: { optim: { lr: 0.001 }, validation: { metric: 'auto' } } },
      [0, 1, 2].map((step) => ({ step, time: step, 'val/acc': 0.5, 'val/prm/step_auroc_position_controlled/sum': 0.6 + 0.1 * step + 0.01 * seed })),
      { 'val/acc@start': 0.5, 'val/acc': 0.52, 'compute/sampled_sequences': 960 }, { 'prm_eval.json': prmEval(0.85 + 0.01 * seed, 0.03, 0.02) });
  }
  // The lr sweep's other point: seed 1 again at another PRM lr (a run of the same name in another folder), a setup of its own.
  const sweep = join(root, 'sweep', 'arith-repirl-s1');
  fakeRun(sweep, 'prm-train', ['--set', 'method=repirl', '--set', 'prm.optim.lr=0.003'], { task: TASK, init: sft, method: 'repirl', rl: { seed: 1 }, prm: { optim: { lr: 0.003 }, validation: { metric: 'auto' } } },
    [0, 1].map((step) => ({ step, time: step, 'val/acc': 0.5, 'val/prm/step_auroc_position_controlled/sum': 0.7 })), { 'val/acc': 0.5 }, { 'prm_eval.json': prmEval(0.9, 0.02, 0.1) });
  const orm = join(root, 'arith-orm-s1');
  fakeRun(orm, 'prm-train', ['--set', 'method=orm', '--out', orm], { task: TASK, init: sft, method: 'orm', prm: { seed: 1 } },
    [{ step: 1, time: 1, 'prm/loss': 0.6 }], { 'compute/sampled_sequences': 960 }, { 'prm_eval.json': prmEval(0.9, 0.02, 0.1) });
  const running = join(root, 'arith-prime-s1');
  fakeRun(running, 'prm-train', ['--set', 'method=prime'], { task: TASK, init: sft, method: 'prime', rl: { seed: 1 } }, [{ step: 0, time: 0, 'val/acc': 0.5 }], null);
  const search = (name: string, method: string, prm: string | null, n: number, acc: number, tokens: number) => {
    const dir = join(root, name);
    fakeRun(dir, 'search', ['--set', `method=${method}`, '--out', dir], { task: TASK, method, prm, policy: sft, n, aggregation: method === 'bon' ? 'min' : null, problems: 50, seed: 1000003, beam: { width: 4 }, mcts: { simulations: 16 } },
      [{ step: 2, time: 1, 'search/acc': acc }], { 'search/acc': acc }, {
        'search.json': { method, prm: prm ?? 'none', n, problems: 50, accuracy: { value: acc, lo: acc - 0.05, hi: acc + 0.05 }, tokens_per_problem: { value: tokens, lo: tokens - 2, hi: tokens + 2 } },
      });
    return dir;
  };
  const searches = [search('maj-1', 'majority', null, 1, 0.3, 30), search('maj-4', 'majority', null, 4, 0.4, 120), search('bon-4', 'bon', prms[0]!, 4, 0.6, 120), search('bon-2', 'bon', prms[0]!, 2, 0.33, 60)];
  const evalRun = join(root, 'eval-sft');
  fakeRun(evalRun, 'eval', ['--set', `checkpoint=${sft}`], { task: TASK, checkpoint: sft, problems: 100 }, [{ step: 100, time: 3, 'val/acc': 0.48 }], { 'val/acc': 0.48 });
  return { sft, prms, sweep, orm, running, searches, evalRun };
}

describe('repirl report', () => {
  it('writes one self-contained page: claims with intervals, bars and verdicts, tables, figures, reproduce commands', async () => {
    const root = join(tmp.path(), 'runs');
    const runs = makeRuns(root);
    const out = join(tmp.path(), 'report.html');
    const cli = makeCli();
    const r = await cli.run('report', runs.sft, ...runs.prms, runs.sweep, runs.orm, runs.running, ...runs.searches, runs.evalRun, '--out', out, '--title', 'Test report');
    expect(r.out).toBe(`repirl report: 12 runs → ${out}`);
    expect(r.code).toBe(0);
    const html = readFileSync(out, 'utf8');

    // Self-contained: no script, stylesheet link, image source or URL but the SVG namespaces.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|url\(/i);
    expect(html.match(/https?:\/\/[^"\s<]*/g)!.every((u) => u === 'http://www.w3.org/2000/svg' || u === 'http://www.w3.org/1999/xlink')).toBe(true);

    // The claims: rePIRL's AUROC goal is met (three seeds, every lower end ≥ 0.8), its vote goal not (lower ends below 0.05);
    // the ORM's one seed, and rePIRL's at lr 0.003 (its own setup), meet no goal whatever their numbers;
    // bon-4 beats majority at equal tokens, bon-2 does not beat majority n=1.
    const claims = html.slice(html.indexOf('<section id="claims">'), html.indexOf('</section>'));
    const row = (text: string) => claims.split('<tr>').find((tr) => tr.includes(text)) ?? '';
    expect(claims).toContain('3 of 11 met');
    const repirl = 'repirl (prm.optim.lr=0.001)';
    expect(row(`${repirl}: position-controlled step AUROC ≥ 0.8`)).toContain('class="met"');
    expect(row(`${repirl}: position-controlled step AUROC ≥ 0.8`)).toContain('runs/arith-repirl-s1</a> s1: 0.860 [0.830, 0.890] — clears');
    expect(row(`${repirl}: above the position-only baseline`)).toContain('class="met"');
    expect(row(`${repirl}: official weighted vote`)).toContain('class="not-met"');
    expect(row('repirl (prm.optim.lr=0.003): position-controlled step AUROC ≥ 0.8')).toContain('sweep/arith-repirl-s1</a> s1: 0.900 [0.880, 0.920] — clears');
    expect(row('repirl (prm.optim.lr=0.003): position-controlled step AUROC ≥ 0.8')).toContain('1 seed; a goal needs 3 or more');
    expect(row('orm: position-controlled step AUROC ≥ 0.8')).toContain('class="not-met"');
    expect(row('orm: position-controlled step AUROC ≥ 0.8')).toContain('1 seed; a goal needs 3 or more');
    expect(row('bon/min 4 beats majority')).toContain('class="met"');
    expect(row('bon/min 4 beats majority')).toContain('lower end &gt; 0.400 (majority n=4, 120.0 tokens)');
    expect(row('bon/min 2 beats majority')).toContain('class="not-met"');
    expect(row('bon/min 2 beats majority')).toContain('lower end &gt; 0.300 (majority n=1');

    // Every run is made again from its stored config, the runs it started from first.
    const section = (name: string) => html.slice(html.indexOf(`<h3>${name} `), html.indexOf('</div>', html.indexOf(`<h3>${name} `)));
    expect(section('bon-4')).toContain(`<pre>npx repirl sft --config ${runs.sft}/config.json --out ${runs.sft}\nnpx repirl prm train --config ${runs.prms[0]}/config.json --out ${runs.prms[0]}\nnpx repirl search --config`);
    expect(section('arith-repirl-s2')).toContain(`npx repirl prm train --set method=repirl --set rl.seed=2 --set init=${runs.sft}`);
    expect(section('arith-prime-s1')).toContain('status: running; no summary.json, prm_eval.json yet');
    expect(html).toContain('Not in the table (no prm_eval.json yet)');

    // The comparison table has a row per method with the seed count and the spread over seeds.
    expect(html).toMatch(/<td>repirl \(prm\.optim\.lr=0\.001\) \(3\)<\/td><td>0\.850 ± 0\.010<\/td><td>0\.870 ± 0\.010<\/td>/);

    // In a real browser: every figure has its SVG at a non-zero size, with a mark per run (curves: a line each; the others: a point each).
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: bash scripts/setup.sh installs Debian's chromium`).toBe(true);
    await withChromiumPage(async (page) => {
      const requests: string[] = [];
      page.on('request', (req) => requests.push(req.url()));
      await page.goto(pathToFileURL(out).href);
      const figures = await page.$$eval('figure', (fs) => fs.map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        return {
          id: f.id, kind: f.dataset.kind, marks: Number(f.dataset.marks), width: box?.width ?? 0, height: box?.height ?? 0,
          lines: f.querySelectorAll('.mark-line.role-mark path').length, points: f.querySelectorAll('.mark-symbol.role-mark path').length, rules: f.querySelectorAll('.mark-rule.role-mark line').length,
        };
      }));
      expect(figures.map((f) => f.id)).toEqual(['prm-auroc-arith-chain', 'prm-vote-arith-chain', 'prm-validation', 'search-arith-chain', 'curve-sft', 'curve-prm-train']);
      for (const f of figures) {
        expect(f.width, f.id).toBeGreaterThan(100);
        expect(f.height, f.id).toBeGreaterThan(100);
        if (f.kind === 'curve') expect(f.lines, f.id).toBe(f.marks);
        else expect(f.points, f.id).toBe(f.marks);
      }
      // 5 runs (3 rePIRL seeds, the sweep's, 1 ORM) with an interval rule each, plus the bar; the search: 4 points on 2 lines (majority, bon/min), both intervals per point.
      expect(figures.find((f) => f.id === 'prm-auroc-arith-chain')).toMatchObject({ marks: 5, rules: 6 });
      expect(figures.find((f) => f.id === 'search-arith-chain')).toMatchObject({ marks: 4, rules: 8, lines: 2 });
      expect(figures.find((f) => f.id === 'prm-validation')).toMatchObject({ marks: 4 });
      expect(requests.every((u) => u.startsWith('file:'))).toBe(true);
    }, { executablePath: CHROMIUM });

    // --screenshot: the page as chromium shows it, as a PNG (here its top 1200 pixels).
    const png = join(tmp.path(), 'report.png');
    const shot = await cli.run('report', runs.sft, ...runs.prms, '--out', join(tmp.path(), 'small.html'), '--screenshot', png, '--screenshot-height', '1200');
    expect(shot.out).toBe(`repirl report: 4 runs → ${join(tmp.path(), 'small.html')}\nrepirl report: screenshot → ${png}`);
    const header = readFileSync(png);
    expect(header.subarray(1, 4).toString()).toBe('PNG');
    expect(header.readUInt32BE(16)).toBe(1280);
    expect(header.readUInt32BE(20)).toBe(1200);
  });

  it('refuses what it cannot read, naming the path and the missing file', async () => {
    const root = join(tmp.path(), 'bad');
    const cli = makeCli();
    const missing = await cli.run('report', join(root, 'nope'), '--out', join(root, 'r.html'));
    expect(missing).toMatchObject({ code: 2, out: `repirl report: ${join(root, 'nope')}: no such directory` });

    mkdirSync(join(root, 'empty'), { recursive: true });
    expect((await cli.run('report', join(root, 'empty'))).out).toBe(`repirl report: ${join(root, 'empty')} is not a repirl run directory: it has no run.json and no config.json`);

    const noEval = join(root, 'prm-no-eval');
    fakeRun(noEval, 'prm-train', [], { task: TASK, method: 'repirl' }, [{ step: 1, time: 1 }], { 'val/acc': 0.5 });
    expect((await cli.run('report', noEval)).out).toBe(`repirl report: ${noEval}: a finished prm train run without prm_eval.json`);

    const odd = join(root, 'odd');
    fakeRun(odd, 'bench', [], {}, [], {});
    expect((await cli.run('report', odd)).out).toMatch(new RegExp(`^repirl report: ${odd}/run\\.json: unknown command "bench"`));

    const torn = join(root, 'torn');
    fakeRun(torn, 'sft', [], { task: TASK }, [], { 'val/acc': 0.5 });
    write(join(torn, 'metrics.jsonl'), '{"step":0,"val/acc":0.1}\n{"step":1,\n{"step":2,"val/acc":0.2}\n');
    expect((await cli.run('report', torn)).out).toMatch(new RegExp(`^repirl report: ${torn}/metrics\\.jsonl:2: not JSON`));

    // A run that started from a path not found from here (another working directory) says its chain is cut there.
    const orphan = join(root, 'orphan');
    fakeRun(orphan, 'rl', [], { task: TASK, init: 'runs/elsewhere/sft' }, [{ step: 1, time: 1, 'val/acc': 0.2 }], { 'val/acc': 0.2 });
    expect((await cli.run('report', orphan, '--out', join(root, 'orphan.html'))).code).toBe(0);
    expect(readFileSync(join(root, 'orphan.html'), 'utf8')).toContain(`<pre># init=runs/elsewhere/sft (from ${orphan}/config.json) is not found from here: its commands are missing\nnpx repirl rl --config ${orphan}/config.json --out ${orphan}</pre>`);

    expect(await cli.run('report')).toMatchObject({ code: 2, out: expect.stringMatching(/^repirl report: which runs\?/) });
    // --screenshot without a browser says where to get one (before writing anything).
    expect(() => requireChromium(join(root, 'no-chromium'))).toThrow(`no browser at ${join(root, 'no-chromium')}: bash scripts/setup.sh installs Debian's chromium (or set REPIRL_CHROMIUM)`);
    // It reads files only: bin.ts starts no WebGPU device for it.
    expect(opensDevice(['report', noEval])).toBe(false);
    expect(existsSync(join(root, 'r.html'))).toBe(false);
  });

  it('prm-table.mjs judges the same runs with the same verdicts (one module for both)', () => {
    const root = join(tmp.path(), 'table');
    makeRuns(root);
    const r = spawnSync(process.execPath, [PRM_TABLE, root], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('| repirl (3) | 0.850 ± 0.010 | 0.870 ± 0.010 |');
    expect(r.stdout).toMatch(/- repirl: position-controlled step AUROC ≥ 0\.8 — met \(s1 0\.860 \[0\.830, 0\.890\]; s2 /);
    expect(r.stdout).toMatch(/official weighted vote − majority at best-of-16 ≥ 5 points — not met/);
    expect(r.stdout).toMatch(/- orm: position-controlled step AUROC ≥ 0\.8 — not met/);
  });
});
