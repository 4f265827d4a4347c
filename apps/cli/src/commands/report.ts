// `repirl report RUN_DIR... [--out report.html] [--title TEXT]`: one self-contained HTML page over
// any mix of run directories (sft, rl, eval, prm train, prm eval, search): the claims with their
// intervals, bars and verdicts, the tables, the figures (inline SVG) and the commands that make
// every run again (src/report/page.ts). Opens no device; written atomically.
import { writeFileAtomic } from '@repirl/autograd';
import { chromiumPath, requireChromium, screenshotPage } from '../report/browser.js';
import { buildReport } from '../report/page.js';
import { ReportError, readRuns, shellQuote } from '../report/runs.js';
import { parseOptions } from './args.js';
import { UsageError, type CliIo } from './io.js';

export const REPORT_USAGE = `usage: repirl report RUN_DIR... [--out FILE] [--title TEXT] [--screenshot PNG [--screenshot-height PX]]

One self-contained HTML page (inline SVG figures and CSS, no script, no external URL) over the
given run directories, of any kind (each known from its files: run.json's command, else
prm_eval.json, search.json, metrics.jsonl):
  claims       each claim the runs can settle — PRM goals (position-controlled step AUROC >= 0.8,
               above the position-only baseline at every position, weighted vote - majority at
               best-of-16 >= 5 points; judged per seed, 3 seeds or more), search beating majority
               vote at no more tokens — with its metric, each run's value and 95% interval, the
               bar, the verdict (met only when the interval clears the bar) and the command to rerun
  prm train / prm eval   the comparison table (mean ± half-range over seeds), each run's interval
               against the bar, the PRM's validation curve
  search       accuracy against generated tokens per problem, with both intervals
  sft / rl / eval        validation curves and results
  runs         per run: status, the command it was started with, the commands that make it again
               (its stored config.json, after the runs it started from)

  --out FILE    where to write the page (default report.html)
  --title TEXT  the page's title (default "repirl report")
  --screenshot PNG          also a PNG of the page as a headless chromium shows it (Debian's
                            /usr/bin/chromium, or $REPIRL_CHROMIUM; scripts/setup.sh installs it)
  --screenshot-height PX    only the page's top PX pixels (default: the whole page)

A run still running (or stopped, failed) is shown with what it has so far; a finished run missing
a file of its kind, or a directory that is not a run, is an error naming the path and the file.
Example: repirl report runs/prm-exp2/* --out report.html`;

export async function reportCommand(argv: readonly string[], io: CliIo): Promise<number> {
  let dirs: string[];
  let out: string;
  let title: string;
  let screenshot: string | undefined;
  let maxHeight: number | undefined;
  try {
    const parsed = parseOptions('repirl report', argv, [
      { name: 'out', kind: 'value' },
      { name: 'title', kind: 'value' },
      { name: 'screenshot', kind: 'value' },
      { name: 'screenshot-height', kind: 'value' },
      { name: 'help', kind: 'flag', short: 'h' },
    ]);
    if (parsed.flags.has('help')) {
      io.print(REPORT_USAGE);
      return 0;
    }
    dirs = parsed.positionals;
    if (dirs.length === 0) throw new UsageError('repirl report: which runs? (give one or more run directories)');
    out = parsed.values.get('out') ?? 'report.html';
    title = parsed.values.get('title') ?? 'repirl report';
    screenshot = parsed.values.get('screenshot');
    const height = parsed.values.get('screenshot-height');
    if (height !== undefined) {
      maxHeight = Number(height);
      if (!Number.isInteger(maxHeight) || maxHeight < 1) throw new UsageError(`repirl report: --screenshot-height wants a whole number of pixels, got "${height}"`);
      if (screenshot === undefined) throw new UsageError('repirl report: --screenshot-height goes with --screenshot PNG');
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.print(`${err.message}\n(repirl report --help for the options)`);
    return 2;
  }
  try {
    // Without a browser, say so before writing anything.
    if (screenshot !== undefined) requireChromium(chromiumPath(io.env));
    const runs = readRuns(dirs);
    const html = await buildReport(runs, { title, command: ['repirl', 'report', ...argv].map(shellQuote).join(' '), generated: new Date(io.clock()).toISOString() });
    try {
      await writeFileAtomic(out, html);
    } catch (err) {
      io.print(`repirl report: cannot write ${out}: ${(err as Error).message}`);
      return 1;
    }
    io.print(`repirl report: ${runs.length} run${runs.length === 1 ? '' : 's'} → ${out}`);
    if (screenshot !== undefined) {
      await screenshotPage(out, screenshot, { executablePath: chromiumPath(io.env), ...(maxHeight === undefined ? {} : { maxHeight }) });
      io.print(`repirl report: screenshot → ${screenshot}`);
    }
    return 0;
  } catch (err) {
    if (err instanceof ReportError) {
      io.print(`repirl report: ${err.message}`);
      return 2;
    }
    throw err;
  }
}
