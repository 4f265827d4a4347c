// The run directory's lock: DIR/.lock holds {"pid", "host", "started", "command"} of the process
// that has the run open, so a second process (a new run, --resume or --force on the same --out)
// is refused instead of writing into a live run.
//
// Taking it: the owner's record is written to a temp file, then hard-linked to DIR/.lock — link()
// fails when .lock exists, like open(..., 'wx'), and the lock is never seen half written. An
// existing lock whose process is gone (same host, process.kill(pid, 0) → ESRCH, or our own PID
// but not taken by us: a previous incarnation in a container) is stale and taken over: it is
// renamed away (only one contender's rename succeeds) and checked to be the one judged stale
// before the new lock is linked. A lock from another host cannot be checked and counts as live.
//
// Releasing: release() (the run closing), or the process's 'exit' event (process.exit, the end
// of the event loop, an uncaught error). A process killed outright (SIGKILL, or a signal nobody
// handles) leaves its lock behind; the next opener finds the PID dead and takes it over.
import { linkSync, readFileSync, unlinkSync } from 'node:fs';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RunDirError } from './errors.js';

export const LOCK_FILE = '.lock';

/** Who holds a run directory. */
export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  started: string;
  /** What holds it, e.g. 'sft'. */
  command: string;
}

/** The directory is held by a live process; the message names it (one line). */
export class RunLockedError extends RunDirError {
  constructor(readonly dir: string, readonly owner: LockOwner, here: boolean) {
    super(
      here
        ? `${dir} is already open in this process (repirl ${owner.command} since ${owner.started}); close that run first`
        : `${dir} is in use by a running repirl ${owner.command} (PID ${owner.pid} on ${owner.host}, since ${owner.started}); ` +
            (owner.host === hostname()
              ? `wait for it to end or stop it (kill -INT ${owner.pid})`
              : `if that process is gone, delete ${join(dir, LOCK_FILE)}`),
    );
    this.name = 'RunLockedError';
  }
}

/** Locks held by this process, by directory; released on exit. */
const held = new Map<string, RunLock>();
let exitHookInstalled = false;

export class RunLock {
  private released = false;

  private constructor(
    readonly dir: string,
    readonly owner: LockOwner,
  ) {}

  /**
   * Takes the lock of `dir` (an existing directory) for `command`. Returns it with the stale
   * owner it replaced, if any; throws RunLockedError when a live process holds it.
   */
  static async acquire(dir: string, command: string, now: () => number = Date.now): Promise<{ lock: RunLock; tookOverFrom: LockOwner | null }> {
    const owner: LockOwner = { pid: process.pid, host: hostname(), started: new Date(now()).toISOString(), command };
    const file = join(dir, LOCK_FILE);
    const staged = join(dir, `${LOCK_FILE}.${process.pid}.${Math.random().toString(16).slice(2, 10)}`);
    await writeFile(staged, `${JSON.stringify(owner)}\n`, { flag: 'wx' });
    try {
      let tookOverFrom: LockOwner | null = null;
      // A few rounds: a contender may take the lock, or release it, between our steps.
      for (let round = 0; round < 5; round++) {
        try {
          await link(staged, file);
          const lock = new RunLock(dir, owner);
          held.set(dir, lock);
          installExitHook();
          return { lock, tookOverFrom };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const text = await readFile(file, 'utf8').catch(() => null);
        if (text === null) continue; // released meanwhile: try again
        const current = parseOwner(text);
        if (current === null) {
          // Not a lock this code writes (link() never exposes a partial one): treat it as stale.
          await takeAway(dir, file, text);
          continue;
        }
        if (isAlive(dir, current)) throw new RunLockedError(dir, current, current.pid === process.pid && current.host === owner.host);
        if (await takeAway(dir, file, text)) tookOverFrom = current;
      }
      throw new Error(`could not take the lock ${file}: other processes keep taking it`);
    } finally {
      await unlink(staged).catch(() => undefined);
    }
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** Deletes the lock file (synchronously, so it also works from the 'exit' event). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (held.get(this.dir) === this) held.delete(this.dir);
    const file = join(this.dir, LOCK_FILE);
    // Only our own lock: if it was taken over (we were judged dead, e.g. a frozen NFS client), leave it.
    const text = (() => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return null;
      }
    })();
    const current = text === null ? null : parseOwner(text);
    if (current !== null && current.pid === this.owner.pid && current.host === this.owner.host && current.started === this.owner.started) {
      try {
        unlinkSync(file);
      } catch {
        // already gone
      }
    }
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (!Number.isInteger(value.pid) || typeof value.host !== 'string' || typeof value.started !== 'string') return null;
    return { pid: value.pid!, host: value.host, started: value.started, command: typeof value.command === 'string' ? value.command : '?' };
  } catch {
    return null;
  }
}

/** Whether the owner's process still runs (another host's: assumed so, as it cannot be checked). */
function isAlive(dir: string, owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) return held.has(dir);
  return processAlive(owner.pid);
}

/** Whether a process with this PID runs on this host (EPERM: it does, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Moves a stale lock out of the way; true when we moved exactly the lock judged stale (`text`).
 * Should a contender have replaced it with a live one meanwhile, that one is put back.
 */
async function takeAway(dir: string, file: string, text: string): Promise<boolean> {
  const aside = join(dir, `${LOCK_FILE}.stale.${process.pid}`);
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // another contender moved it first
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => null);
  if (moved !== text) {
    try {
      linkSync(aside, file);
    } catch {
      // someone else holds it now; our next link() attempt will see theirs
    }
  }
  await unlink(aside).catch(() => undefined);
  return moved === text;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lock of [...held.values()]) lock.release();
  });
}

/**
 * A file that taking a lock leaves behind when its process dies midway (.lock.<pid>.<random>
 * staged, .lock.stale.<pid> moved aside), once that process is gone.
 */
export function isStaleLockLeftover(name: string): boolean {
  const match = /^\.lock\.(?:stale\.)?(\d+)(?:\.[0-9a-f]+)?$/.exec(name);
  return match !== null && Number(match[1]) !== process.pid && !processAlive(Number(match[1]));
}
