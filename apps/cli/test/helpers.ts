// What the CLI test files share: the CLI run in this process with fake stdout, stderr, clocks,
// signals and exit; a temporary folder per test file; the tiny Hugging Face checkpoints.
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, vi } from 'vitest';
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

/** The tiny checkpoints in the exact Hugging Face layout, with their PyTorch goldens (docs/hf-goldens.md). */
export const HF_FIXTURES = new URL('../../../packages/autograd/test/fixtures/hf/', import.meta.url).pathname;

export const readJson = async (path: string): Promise<any> => JSON.parse(await readFile(path, 'utf8'));

/** A fresh temporary folder for this test file (made before its tests, removed after): call path() inside a test. */
export function useTempDir(prefix: string): { path: () => string } {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return { path: () => dir! };
}
