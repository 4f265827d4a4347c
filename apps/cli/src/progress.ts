// A progress display for long runs:
//
//   sft [=========>              ] 42/100 ETA 1m12s  val/acc 0.43  train/loss 0.812
//
// The ETA is the remaining steps times the mean step time over a moving window of recent steps
// (so a slow first step, e.g. shader compilation, stops counting once it leaves the window).
// Metrics keep their last value: `val/acc` shows the latest validation between validations.
//
// Modes: 'bar' redraws one line in place ("\r" + clear to end of line), for terminals; 'lines'
// prints a full line every `lineEverySteps` steps or every `lineEveryMs` (~10 s), whichever comes
// first, for CI logs and pipes; 'off' prints nothing. The clock and the writer are injected, so
// tests drive it with a fake clock and read exactly what was written.

import { formatDuration, formatMetric } from '@repirl/rl';

export { formatDuration, formatMetric };

export type ProgressMode = 'bar' | 'lines' | 'off';

export interface ProgressOptions {
  /** The step the run ends at. */
  total: number;
  mode: ProgressMode;
  /** Raw output (no newline added), e.g. `(s) => process.stderr.write(s)`. */
  write: (text: string) => void;
  /** Milliseconds, monotonic; default performance.now(). */
  now?: () => number;
  /** Printed before the bar, e.g. the command name. */
  label?: string;
  /** Metrics to show, the key metric first; those not reported yet are left out. */
  metrics?: readonly string[];
  /** The step the run starts at (a resumed run); default 0. */
  start?: number;
  /** Terminal width in 'bar' mode (the line is cut to fit); default 80. */
  columns?: number;
  /** Characters inside the brackets; default 24. */
  barWidth?: number;
  /** Steps in the moving average of the step time; default 20. */
  window?: number;
  /** 'lines' mode: print every this many steps (default total/10, at least 1)... */
  lineEverySteps?: number;
  /** ...or when this many ms passed since the last line (default 10 000). */
  lineEveryMs?: number;
  /** 'bar' mode: redraw at most this often (default 100 ms); the last step always draws. */
  redrawMs?: number;
}

interface Sample {
  step: number;
  time: number;
}

export class Progress {
  readonly mode: ProgressMode;
  readonly total: number;
  private readonly write: (text: string) => void;
  private readonly now: () => number;
  private readonly label: string;
  private readonly metricNames: readonly string[];
  private readonly columns: number;
  private readonly barWidth: number;
  private readonly window: number;
  private readonly lineEverySteps: number;
  private readonly lineEveryMs: number;
  private readonly redrawMs: number;
  private readonly startTime: number;
  private readonly samples: Sample[];
  private readonly values = new Map<string, unknown>();
  private step: number;
  /** 'bar': the line currently on screen, '' when none. */
  private shown = '';
  private lastDraw = -Infinity;
  private lastLineStep: number;
  private lastLineTime: number;
  private finished = false;
  /** 'lines': whether any line was printed. */
  private printed = false;

  constructor(options: ProgressOptions) {
    if (!Number.isInteger(options.total) || options.total < 0) throw new Error(`Progress: total must be an integer ≥ 0, got ${options.total}`);
    this.mode = options.mode;
    this.total = options.total;
    this.write = options.write;
    this.now = options.now ?? (() => performance.now());
    this.label = options.label ?? '';
    this.metricNames = options.metrics ?? [];
    this.columns = options.columns ?? 80;
    this.barWidth = options.barWidth ?? 24;
    this.window = Math.max(1, options.window ?? 20);
    this.lineEverySteps = Math.max(1, options.lineEverySteps ?? Math.ceil(this.total / 10));
    this.lineEveryMs = options.lineEveryMs ?? 10_000;
    this.redrawMs = options.redrawMs ?? 100;
    this.step = options.start ?? 0;
    this.startTime = this.now();
    this.samples = [{ step: this.step, time: this.startTime }];
    this.lastLineStep = this.step;
    this.lastLineTime = this.startTime;
  }

  /** Records that `step` steps are done, with any metrics of that step. */
  update(step: number, metrics: Record<string, unknown> = {}): void {
    const time = this.now();
    for (const [key, value] of Object.entries(metrics)) this.values.set(key, value);
    if (step > this.step) {
      this.step = step;
      this.samples.push({ step, time });
      if (this.samples.length > this.window + 1) this.samples.splice(0, this.samples.length - this.window - 1);
    }
    if (this.mode === 'bar') {
      if (time - this.lastDraw >= this.redrawMs || step >= this.total) this.draw(time);
    } else if (this.mode === 'lines') {
      const due = this.step - this.lastLineStep >= this.lineEverySteps || time - this.lastLineTime >= this.lineEveryMs || this.step >= this.total;
      if (due && this.step > this.lastLineStep) this.printLine(time);
    }
  }

  /**
   * Prints a message without tearing the bar: clears it, emits the text (by default a line on
   * this display's writer; pass `emit` to send it elsewhere, e.g. stdout), then redraws.
   */
  log(text: string, emit?: (text: string) => void): void {
    const redraw = this.mode === 'bar' && this.shown !== '';
    if (redraw) this.write('\r\x1b[K');
    if (emit) emit(text);
    else this.write(`${text}\n`);
    if (redraw) this.write(`\r${this.shown}`);
  }

  /** The last line: always drawn (or printed) once, then the bar line is ended with "\n". */
  finish(metrics: Record<string, unknown> = {}): void {
    if (this.finished) return;
    for (const [key, value] of Object.entries(metrics)) this.values.set(key, value);
    this.finished = true;
    const time = this.now();
    if (this.mode === 'bar') {
      if (this.render(time) !== this.shown || this.shown === '') this.draw(time);
      this.write('\n');
      this.shown = '';
    } else if (this.mode === 'lines') {
      // The final line, unless the last update already printed this very step as complete.
      if (!this.printed || this.step !== this.lastLineStep || this.step < this.total) this.printLine(time);
    }
  }

  /** Estimated milliseconds left, or null before two steps have been timed. */
  etaMs(): number | null {
    const first = this.samples[0]!;
    const last = this.samples.at(-1)!;
    if (last.step <= first.step) return null;
    const perStep = (last.time - first.time) / (last.step - first.step);
    return Math.max(0, this.total - this.step) * perStep;
  }

  /** The current line, e.g. `[=====>    ] 42/100 ETA 1m12s  val/acc 0.43`. */
  render(time = this.now()): string {
    const fraction = this.total === 0 ? 1 : Math.min(1, this.step / this.total);
    const filled = Math.floor(fraction * this.barWidth);
    const bar = filled >= this.barWidth ? '='.repeat(this.barWidth) : `${'='.repeat(filled)}>${' '.repeat(this.barWidth - filled - 1)}`;
    let when: string;
    if (this.step >= this.total) when = `done in ${formatDuration(time - this.startTime)}`;
    else if (this.finished) when = `stopped after ${formatDuration(time - this.startTime)}`;
    else {
      const eta = this.etaMs();
      when = `ETA ${eta === null ? '--' : formatDuration(eta)}`;
    }
    const parts = [`${this.label === '' ? '' : `${this.label} `}[${bar}] ${this.step}/${this.total} ${when}`];
    for (const name of this.metricNames) {
      const value = this.values.get(name);
      if (value !== undefined) parts.push(`${name} ${formatMetric(value)}`);
    }
    return parts.join('  ');
  }

  private draw(time: number): void {
    let line = this.render(time);
    if (line.length > this.columns - 1) line = line.slice(0, Math.max(0, this.columns - 1));
    this.write(`\r${line}\x1b[K`);
    this.shown = line;
    this.lastDraw = time;
  }

  private printLine(time: number): void {
    this.printed = true;
    this.write(`${this.render(time)}\n`);
    this.lastLineStep = this.step;
    this.lastLineTime = time;
  }
}

/** The mode for a stream: the bar on a terminal, lines otherwise (CI, pipes, files). */
export function autoProgressMode(isTTY: boolean | undefined, env: Record<string, string | undefined> = {}): ProgressMode {
  if (env.CI && env.CI !== '0' && env.CI !== 'false') return 'lines';
  if (env.TERM === 'dumb') return 'lines';
  return isTTY ? 'bar' : 'lines';
}
