// What the rl test files share: a temporary folder of written files per test file, and the error a
// promise rejects with.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** A fresh temporary folder for this test file (made before its tests, removed after). */
export function tempFiles(prefix: string): { dir: () => string; write: (name: string, content: string | Uint8Array) => Promise<string> } {
  let dir: string | undefined;
  let count = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return {
    dir: () => dir!,
    /** Writes `content` to a new file (its name made unique) and returns the path. */
    async write(name, content) {
      const path = join(dir!, `${count++}-${name}`);
      await writeFile(path, content);
      return path;
    },
  };
}

/** The error `promise` rejects with (a test failure when it resolves). */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}
