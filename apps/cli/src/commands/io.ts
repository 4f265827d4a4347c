// What a command talks to. `main` fills in the real process; tests pass fakes (a fake clock, a
// string writer, an EventEmitter for signals).
import { stderrColumns, stderrIsTerminal } from '@repirl/kernels/node';
import type { SignalSource } from '../run/stop.js';

export interface CliIo {
  /** A line on stdout (results, --dry-run output). */
  print: (text: string) => void;
  /** Raw text on stderr (progress, notices); no newline added. */
  stderr: (text: string) => void;
  /** Whether stderr is a terminal (progress bar vs lines). */
  isTTY: boolean;
  /** Terminal width. */
  columns: number;
  env: Record<string, string | undefined>;
  /** Monotonic milliseconds (progress, ETA). */
  now: () => number;
  /** Wall-clock milliseconds (run directory times). */
  clock: () => number;
  /** Where SIGINT/SIGTERM come from. */
  signals: SignalSource;
  /** Called on a second Ctrl-C: leave now. */
  exit: (code: number) => void;
}

export function processIo(print: (text: string) => void, overrides: Partial<CliIo> = {}): CliIo {
  return {
    print,
    stderr: (text) => void process.stderr.write(text),
    isTTY: stderrIsTerminal(),
    columns: stderrColumns(),
    env: process.env,
    now: () => performance.now(),
    clock: Date.now,
    signals: process as unknown as SignalSource,
    exit: (code) => process.exit(code),
    ...overrides,
  };
}

/** A command-line mistake: printed with the command's usage hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
