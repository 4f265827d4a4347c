// What the CLI test files share: the CLI run in this process with fake stdout, stderr, clocks,
// signals and exit.
import { EventEmitter } from 'node:events';
import { vi } from 'vitest';
import { main } from '../src/main.js';
import type { SignalSource } from '../src/run/stop.js';

export function makeCli() {
  const clock = { t: 0 };
  const signals = new EventEmitter();
  const exit = vi.fn();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const run = async (...argv: string[]) => {
    stdout.length = 0;
    stderr.length = 0;
    const code = await main(argv, (t) => stdout.push(t), {
      stderr: (t) => stderr.push(t),
      isTTY: false,
      columns: 100,
      env: {},
      now: () => clock.t,
      clock: () => Date.UTC(2025, 0, 1) + clock.t,
      signals: signals as unknown as SignalSource,
      exit,
    });
    return { code, out: stdout.join('\n'), err: stderr.join('') };
  };
  return { run, clock, signals, exit };
}
