// The run directory's errors. Both carry a one-line message meant to be printed as is.

/** A directory that cannot be used as asked (exists, holds another run, is in use); the message says what to do instead. */
export class RunDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunDirError';
  }
}

/** A file of the run could not be read or written (disk full, permissions, not a directory): names the path and the cause. */
export class RunFileError extends Error {
  constructor(
    readonly path: string,
    action: 'create' | 'read' | 'write',
    cause: unknown,
  ) {
    super(`cannot ${action} ${path}: ${describeFsError(cause)}`, { cause });
    this.name = 'RunFileError';
  }
}

/**
 * "no space left on device (ENOSPC)" from Node's "ENOSPC: no space left on device, write" (or the
 * same error wrapped by another one as its cause); other errors by their message.
 */
export function describeFsError(err: unknown): string {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') continue;
    const match = new RegExp(`^${code}: ([^,]*)`).exec(e.message);
    return match ? `${match[1]} (${code})` : `${e.message} (${code})`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Runs an fs operation on `path`; an error becomes a RunFileError naming the path. */
export async function onFile<T>(path: string, action: 'create' | 'read' | 'write', operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (err instanceof RunFileError || err instanceof RunDirError) throw err;
    throw new RunFileError(path, action, err);
  }
}
