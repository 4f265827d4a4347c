// Ctrl-C (SIGINT) and SIGTERM: the first one asks the running job to stop after its current step
// (and leave a resumable checkpoint); a second one exits at once. The request is an AbortSignal,
// so a trainer polls `signal.aborted` between steps (or listens for 'abort'); `signal.reason` is
// a StopRequested naming the signal. The command exits with 128 + the signal number (130 for
// SIGINT, 143 for SIGTERM) once the job has stopped cleanly.

export type StopSignalName = 'SIGINT' | 'SIGTERM';

const SIGNAL_NUMBERS: Record<StopSignalName, number> = { SIGINT: 2, SIGTERM: 15 };

/** What signals are listened on: `process`, or a fake in tests (any EventEmitter). */
export interface SignalSource {
  on(event: StopSignalName, listener: () => void): unknown;
  off(event: StopSignalName, listener: () => void): unknown;
}

/** The reason of an aborted stop signal. */
export class StopRequested extends Error {
  constructor(readonly signalName: StopSignalName | 'request') {
    super(signalName === 'request' ? 'stop requested' : `stop requested by ${signalName}`);
    this.name = 'StopRequested';
  }

  /** 128 + the signal number; 130 for a programmatic request (as for Ctrl-C). */
  get exitCode(): number {
    return 128 + (this.signalName === 'request' ? SIGNAL_NUMBERS.SIGINT : SIGNAL_NUMBERS[this.signalName]);
  }
}

export interface StopHandler {
  /** Aborted once a stop was requested; poll `signal.aborted` between steps. */
  readonly signal: AbortSignal;
  /** The exit code the command should end with once stopped (null while no stop was requested). */
  readonly exitCode: number | null;
  /** Requests a stop as a signal would (tests, or a job that wants to end early and resumably). */
  request(signalName?: StopSignalName | 'request'): void;
  /** Removes the listeners; the default signal behaviour comes back. */
  dispose(): void;
}

export interface StopHandlerOptions {
  /** Default: process. */
  source?: SignalSource;
  /** Default: ['SIGINT', 'SIGTERM']. */
  signals?: readonly StopSignalName[];
  /** Called on the first signal, e.g. to print "stopping after this step (Ctrl-C again to quit now)". */
  onFirst?: (reason: StopRequested) => void;
  /** Called on a second signal; default: process.exit(128 + signal number). */
  onSecond?: (reason: StopRequested) => void;
}

export function installStopHandler(options: StopHandlerOptions = {}): StopHandler {
  const source = options.source ?? (process as unknown as SignalSource);
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  const controller = new AbortController();
  const onSecond = options.onSecond ?? ((reason: StopRequested) => process.exit(reason.exitCode));
  const listeners = new Map<StopSignalName, () => void>();
  let disposed = false;

  const request = (name: StopSignalName | 'request' = 'request') => {
    const reason = new StopRequested(name);
    if (controller.signal.aborted) {
      onSecond(reason);
      return;
    }
    controller.abort(reason);
    options.onFirst?.(reason);
  };

  for (const name of signals) {
    const listener = () => request(name);
    listeners.set(name, listener);
    source.on(name, listener);
  }

  return {
    signal: controller.signal,
    get exitCode() {
      return controller.signal.aborted ? (controller.signal.reason as StopRequested).exitCode : null;
    },
    request,
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const [name, listener] of listeners) source.off(name, listener);
    },
  };
}
