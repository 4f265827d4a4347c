// Atomic file writes. The content goes to a temp file in the target's own directory (same
// filesystem, so the final rename(2) is atomic), is flushed to disk, and only then replaces the
// target. A failure anywhere before the rename leaves an existing target byte-identical and
// removes the temp file; readers never see a half-written target.
//
// stageFile() exposes the two halves (write, then commit) so that a pair of files can be written
// fully before either is renamed into place (see saveCheckpoint in safetensors.ts).
import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/**
 * What can be written: a string (UTF-8), one byte array, or a sequence of byte chunks (written in
 * order, so a large file need not be concatenated in memory first). The chunks must not be
 * modified until the write has finished.
 */
export type FileContent = string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** A fully written, flushed temp file waiting to replace `path`. */
export interface StagedFile {
  /** The destination. */
  readonly path: string;
  /** The temp file beside it: `.<name>.<pid>-<random>.tmp` (hidden, so globs skip it). */
  readonly tempPath: string;
  /** Atomically replaces `path` with the temp file. */
  commit(): Promise<void>;
  /** Removes the temp file; does nothing after a commit or a previous discard. */
  discard(): Promise<void>;
}

/** Writes `content` to `path` atomically: the target is either the old file or the new one. */
export async function writeFileAtomic(path: string, content: FileContent): Promise<void> {
  const staged = await stageFile(path, content);
  try {
    await staged.commit();
  } catch (err) {
    await staged.discard();
    throw err;
  }
}

/**
 * Writes `content` to a temp file next to `path` and fsyncs it, without touching `path`. On error
 * the temp file is removed and the error (naming `path`) is thrown.
 */
export async function stageFile(path: string, content: FileContent): Promise<StagedFile> {
  const tempPath = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  try {
    // 'wx' fails rather than reusing a file that happens to have the same name.
    const handle = await open(tempPath, 'wx');
    try {
      for await (const chunk of chunksOf(content)) await writeAll(handle, chunk);
      await handle.sync(); // the data is on disk before the rename can make it visible
    } finally {
      await handle.close();
    }
  } catch (err) {
    await removeQuietly(tempPath);
    throw new Error(`cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }

  let state: 'staged' | 'committed' | 'discarded' = 'staged';
  return {
    path,
    tempPath,
    async commit() {
      if (state !== 'staged') throw new Error(`cannot commit ${path}: the staged file was already ${state}`);
      try {
        await rename(tempPath, path);
      } catch (err) {
        throw new Error(`cannot replace ${path}: ${(err as Error).message}`, { cause: err });
      }
      state = 'committed';
      await syncDirectory(dirname(path));
    },
    async discard() {
      if (state !== 'staged') return;
      state = 'discarded';
      await removeQuietly(tempPath);
    },
  };
}

async function* chunksOf(content: FileContent): AsyncIterable<Uint8Array> {
  if (typeof content === 'string') yield new TextEncoder().encode(content);
  else if (content instanceof Uint8Array) yield content;
  else yield* content;
}

async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  // write() may write fewer bytes than asked; loop until the chunk is out.
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/** Makes the rename itself durable (POSIX); platforms that cannot open a directory skip it. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Best effort: on Windows directories cannot be opened or fsynced; the rename already happened.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

async function removeQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

/**
 * Creates the directory `dir` atomically: `fill` writes its files into a temp directory beside it
 * (`.<name>.<pid>-<random>.tmp`), which is then renamed to `dir`, so `dir` appears complete or not
 * at all. `dir` must not exist yet (a rename does not replace a non-empty directory; refusing
 * first keeps an earlier export intact). On any failure the temp directory is removed.
 */
export async function writeDirectoryAtomic<T>(dir: string, fill: (tempDir: string) => Promise<T>): Promise<T> {
  const target = resolve(dir);
  if (await pathExists(target)) throw new Error(`${dir} already exists; choose a new output directory (nothing was written)`);
  await mkdir(dirname(target), { recursive: true });
  const tempDir = join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  await mkdir(tempDir);
  try {
    const result = await fill(tempDir);
    try {
      await rename(tempDir, target);
    } catch (err) {
      throw new Error(`cannot move the finished directory into place at ${dir}: ${(err as Error).message}`, { cause: err });
    }
    await syncDirectory(dirname(target));
    return result;
  } catch (err) {
    await rm(tempDir, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
