import { describe, expect, it } from 'vitest';
import { autoProgressMode, formatDuration, formatMetric, Progress, type ProgressOptions } from '../src/progress.js';

/** A progress display on a fake clock, recording every write. */
function setup(options: Partial<ProgressOptions> & { mode: ProgressOptions['mode'] }) {
  const clock = { t: 0 };
  const writes: string[] = [];
  const progress = new Progress({ total: 100, barWidth: 10, now: () => clock.t, write: (s) => writes.push(s), ...options });
  const output = () => writes.join('');
  return { clock, writes, progress, output };
}

describe('progress bar (TTY)', () => {
  it('renders the bar, the counts, the ETA and the key metric', () => {
    const { clock, progress, writes } = setup({ mode: 'bar', metrics: ['val/acc', 'train/loss'] });
    expect(progress.render()).toBe('[>         ] 0/100 ETA --');
    for (let step = 1; step <= 42; step++) {
      clock.t += 1000;
      progress.update(step, step === 40 ? { 'val/acc': 0.43 } : {});
    }
    expect(progress.render()).toBe('[====>     ] 42/100 ETA 58s  val/acc 0.43');
    // Redrawn in place: carriage return, the line, clear to the end of the line.
    expect(writes.at(-1)).toBe('\r[====>     ] 42/100 ETA 58s  val/acc 0.43\x1b[K');
    expect(writes.join('')).not.toContain('\n');
    progress.update(42, { 'train/loss': 0.8123456 });
    expect(progress.render()).toBe('[====>     ] 42/100 ETA 58s  val/acc 0.43  train/loss 0.8123');
  });

  it('estimates the ETA from a moving average of recent step times', () => {
    const { clock, progress } = setup({ mode: 'bar', window: 5 });
    clock.t = 30_000; // a slow first step (compilation)
    progress.update(1);
    expect(progress.etaMs()).toBe(99 * 30_000);
    for (let step = 2; step <= 10; step++) {
      clock.t += 2000;
      progress.update(step);
    }
    // Only the last 5 steps count once the slow one has left the window: 90 steps × 2 s.
    expect(progress.etaMs()).toBe(90 * 2000);
    expect(progress.render()).toBe('[=>        ] 10/100 ETA 3m00s');
  });

  it('throttles redraws but always draws the last step, then ends the line', () => {
    const { clock, progress, writes } = setup({ mode: 'bar', total: 3, redrawMs: 100 });
    clock.t = 1000;
    progress.update(1);
    clock.t = 1050;
    progress.update(2); // 50 ms later: not redrawn
    expect(writes).toHaveLength(1);
    clock.t = 1060;
    progress.update(3); // the last step: drawn
    expect(writes).toHaveLength(2);
    expect(writes[1]).toBe('\r[==========] 3/3 done in 1.1s\x1b[K');
    progress.finish(); // already drawn as it is: only ends the line
    expect(writes.slice(2)).toEqual(['\n']);
    progress.finish(); // once only
    expect(writes).toHaveLength(3);
  });

  it('prints log lines without tearing the bar', () => {
    const { clock, progress, writes } = setup({ mode: 'bar', label: 'sft' });
    clock.t = 1000;
    progress.update(5);
    writes.length = 0;
    const out: string[] = [];
    progress.log('eval at step 5: val/acc 0.5', (t) => out.push(t));
    expect(writes).toEqual(['\r\x1b[K', '\rsft [>         ] 5/100 ETA 19s']);
    expect(out).toEqual(['eval at step 5: val/acc 0.5']);
  });

  it('cuts the line to the terminal width and says when it stopped early', () => {
    const { clock, progress, writes } = setup({ mode: 'bar', columns: 20 });
    clock.t = 1000;
    progress.update(10);
    expect(writes.at(-1)).toBe('\r[=>        ] 10/100\x1b[K'); // 19 columns: one is left free
    clock.t = 65_000;
    progress.finish();
    expect(progress.render()).toBe('[=>        ] 10/100 stopped after 1m05s');
  });

  it('starts a resumed run at its step', () => {
    const { clock, progress } = setup({ mode: 'bar', start: 60 });
    expect(progress.render()).toBe('[======>   ] 60/100 ETA --');
    clock.t = 4000;
    progress.update(62);
    expect(progress.render()).toBe('[======>   ] 62/100 ETA 1m16s');
  });
});

describe('progress lines (CI, pipes)', () => {
  it('prints one line every N steps, never redrawing', () => {
    const { clock, progress, writes } = setup({ mode: 'lines', total: 30, lineEverySteps: 10, label: 'rl', metrics: ['val/acc'] });
    for (let step = 1; step <= 30; step++) {
      clock.t += 100;
      progress.update(step, step % 10 === 0 ? { 'val/acc': step / 100 } : {});
    }
    progress.finish();
    expect(writes).toEqual([
      'rl [===>      ] 10/30 ETA 2.0s  val/acc 0.1\n',
      'rl [======>   ] 20/30 ETA 1.0s  val/acc 0.2\n',
      'rl [==========] 30/30 done in 3.0s  val/acc 0.3\n',
    ]);
    expect(writes.join('')).not.toMatch(/[\r\x1b]/);
  });

  it('prints a line every ~10 s when steps are slow', () => {
    const { clock, progress, writes } = setup({ mode: 'lines', total: 1000, lineEverySteps: 500, lineEveryMs: 10_000 });
    for (let step = 1; step <= 7; step++) {
      clock.t += 4000;
      progress.update(step);
    }
    // 12 s and 24 s after the start: steps 3 and 6.
    expect(writes.map((w) => /\d+\/1000/.exec(w)?.[0])).toEqual(['3/1000', '6/1000']);
  });

  it('defaults to a line every tenth of the run', () => {
    const { clock, progress, writes } = setup({ mode: 'lines', total: 50 });
    for (let step = 1; step <= 50; step++) {
      clock.t += 10;
      progress.update(step);
    }
    expect(writes).toHaveLength(10);
  });

  it('prints the final line once, and a stop line when stopped early', () => {
    const done = setup({ mode: 'lines', total: 2, lineEverySteps: 1 });
    done.clock.t = 10;
    done.progress.update(1);
    done.progress.update(2);
    done.progress.finish();
    expect(done.writes).toHaveLength(2);
    const stopped = setup({ mode: 'lines', total: 10, lineEverySteps: 5 });
    stopped.clock.t = 5000;
    stopped.progress.update(5);
    stopped.progress.finish();
    expect(stopped.writes).toEqual(['[=====>    ] 5/10 ETA 5.0s\n', '[=====>    ] 5/10 stopped after 5.0s\n']);
  });

  it('off prints nothing but log lines', () => {
    const { clock, progress, writes } = setup({ mode: 'off' });
    clock.t = 10;
    progress.update(100);
    progress.finish();
    expect(writes).toEqual([]);
    progress.log('hello');
    expect(writes).toEqual(['hello\n']);
  });
});

describe('formatting', () => {
  it('formats durations', () => {
    expect(formatDuration(4200)).toBe('4.2s');
    expect(formatDuration(45_000)).toBe('45s');
    expect(formatDuration(72_000)).toBe('1m12s');
    expect(formatDuration(2 * 3600_000 + 3 * 60_000)).toBe('2h03m');
    expect(formatDuration(130 * 3600_000)).toBe('130h');
    expect(formatDuration(Number.NaN)).toBe('--');
  });

  it('formats metrics to 4 significant digits', () => {
    expect(formatMetric(0.43)).toBe('0.43');
    expect(formatMetric(0.123456)).toBe('0.1235');
    expect(formatMetric(12)).toBe('12');
    expect(formatMetric(1234.5678)).toBe('1235');
    expect(formatMetric(0.00012)).toBe('1.20e-4');
    expect(formatMetric(Number.NaN)).toBe('NaN');
    expect(formatMetric('ok')).toBe('ok');
  });

  it('chooses the bar on a terminal and lines elsewhere', () => {
    expect(autoProgressMode(true)).toBe('bar');
    expect(autoProgressMode(false)).toBe('lines');
    expect(autoProgressMode(undefined)).toBe('lines');
    expect(autoProgressMode(true, { CI: 'true' })).toBe('lines');
    expect(autoProgressMode(true, { TERM: 'dumb' })).toBe('lines');
  });
});
