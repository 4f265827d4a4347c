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

/** One JSON value per non-empty line (metrics.jsonl, per-problem JSONL). */
export const readJsonl = async (path: string): Promise<any[]> => (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

/** The one-step, range-10 arith chain the fast CLI tests train on. */
export const TINY_TASK = ['--set', 'task.difficulty.steps=1', '--set', 'task.difficulty.range=10'];

/** `repirl sft` arguments for a tiny policy (d 32, one layer) on TINY_TASK, trained `steps` steps into `out`. */
export function tinySftArgs(steps: number, out: string): string[] {
  return [
    'sft', ...TINY_TASK, '--set', 'model.dModel=32', '--set', 'model.nLayers=1', '--set', 'model.nHeads=2', '--set', 'model.dFF=64', '--set', 'model.maxSeqLen=48',
    '--set', `steps=${steps}`, '--set', 'optim.warmupSteps=1', '--set', 'batchSize=16', '--set', 'optim.lr=0.003', '--set', 'data.problems=128',
    '--set', 'validation.problems=4', '--set', 'validation.every=0', '--set', 'checkpoint.every=0', '--progress', 'off', '--out', out,
  ];
}
