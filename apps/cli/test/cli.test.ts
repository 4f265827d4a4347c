import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/index.js';
import { runners } from '../src/commands/runners.js';

const cliDir = new URL('..', import.meta.url).pathname;

async function run(...argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const code = await main(argv, (t) => lines.push(t));
  return { code, out: lines.join('\n') };
}

describe('repirl', () => {
  it('prints usage for help and no arguments', async () => {
    expect((await run()).out).toMatch(/usage: repirl <command>/);
    expect((await run('help')).code).toBe(0);
  });

  it('rejects an unknown command and an unknown option, naming them', async () => {
    const cmd = await run('frobnicate');
    expect(cmd.code).toBe(2);
    expect(cmd.out).toMatch(/^repirl: unknown command "frobnicate"\n/);
    const opt = await run('info', '--verbose');
    expect(opt.code).toBe(2);
    expect(opt.out).toMatch(/unknown option "--verbose" \(allowed: --json, --no-features, --set model=DIR\)/);
  });

  it('reports the device, its negotiated limits and features', async () => {
    const { code, out } = await run('info', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(Array.isArray(report.adapter.features)).toBe(true);
    const text = await run('info', '--no-features');
    expect(text.out).toMatch(/features\s+none \(scalar fallbacks/);
  });

  it('suggests the command a typo meant, the prm subcommands typed as one word included', async () => {
    const suggestion = async (...argv: string[]) => {
      const { code, out } = await run(...argv);
      expect(code).toBe(2);
      return out.split('\n')[0];
    };
    expect(await suggestion('sfft')).toBe('repirl: unknown command "sfft" (did you mean "sft"?)');
    expect(await suggestion('evl')).toBe('repirl: unknown command "evl" (did you mean "eval"?)');
    expect(await suggestion('trian')).toBe('repirl: unknown command "trian" (did you mean "prm train"?)');
    expect(await suggestion('train')).toBe('repirl: unknown command "train" (did you mean "prm train"?)');
    expect(await suggestion('prm-eval')).toBe('repirl: unknown command "prm-eval" (did you mean "prm eval"?)');
    expect(await suggestion('prm', 'trian')).toBe('repirl prm: unknown subcommand "trian" (did you mean "train"?) (use train, eval or ttt)');
  });

  it('prints the prm configs for `config prm train|eval` as for `config prm-train|prm-eval`', async () => {
    for (const sub of ['train', 'eval']) {
      const spaced = await run('config', 'prm', sub);
      expect(spaced.code).toBe(0);
      expect(spaced.out).toBe((await run('config', `prm-${sub}`)).out);
      expect((await run('config', 'prm', sub, '--json')).out).toBe((await run('config', `prm-${sub}`, '--json')).out);
    }
    expect((await run('config', 'prm', 'train')).out).toMatch(/method/);
    const which = await run('config', 'prm');
    expect([which.code, which.out.split('\n')[0]]).toEqual([2, 'repirl config prm: which? (train, eval, ttt)']);
    const typo = await run('config', 'prm', 'trian');
    expect(typo.code).toBe(2);
    expect(typo.out).toMatch(/^repirl config: no config for "prm-trian" \(did you mean "prm-train"\?\)/);
  });

  it('puts an eval run without --out under runs/ of the current directory, as every command', async () => {
    const here = process.cwd();
    const scratch = mkdtempSync(join(tmpdir(), 'repirl-cwd-'));
    const real = runners.eval;
    try {
      mkdirSync(join(scratch, 'policy'));
      process.chdir(scratch);
      runners.eval = async () => ({ status: 'finished', step: 1, results: {} });
      const io = { stderr: () => {}, isTTY: false, env: {}, clock: () => Date.UTC(2025, 0, 1, 12, 30, 5) };
      const code = await main(['eval', '--set', 'checkpoint=policy', '--progress', 'off'], () => {}, io);
      expect(code).toBe(0);
      expect(readdirSync(scratch).sort()).toEqual(['policy', 'runs']);
      expect(readdirSync(join(scratch, 'runs'))).toEqual(['eval-20250101-123005']);
      expect(existsSync(join(scratch, 'runs', 'eval-20250101-123005', 'summary.json'))).toBe(true);
    } finally {
      runners.eval = real;
      process.chdir(here);
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('runs as the `repirl` that npm links, from the TypeScript source without a build', () => {
    const pkg = JSON.parse(readFileSync(join(cliDir, 'package.json'), 'utf8'));
    const bin = join(cliDir, pkg.bin.repirl);
    expect(statSync(bin).isFile()).toBe(true);
    const scratch = mkdtempSync(join(tmpdir(), 'repirl-bin-'));
    try {
      const tasks = spawnSync(process.execPath, [bin, 'tasks'], { cwd: scratch, encoding: 'utf8' });
      expect(tasks.stderr).toBe('');
      expect(tasks.status).toBe(0);
      expect(tasks.stdout).toMatch(/^task families/);
      const typo = spawnSync(process.execPath, [bin, 'trian'], { cwd: scratch, encoding: 'utf8' });
      expect(typo.status).toBe(2);
      expect(typo.stdout).toMatch(/^repirl: unknown command "trian" \(did you mean "prm train"\?\)/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe('which command lines open a WebGPU device (only those run behind the Dawn notice filter)', () => {
  it('help, config, tasks, --help and --dry-run do not; runs, info, logprobs and generate do', async () => {
    const { opensDevice } = await import('../src/main.js');
    for (const argv of [[], ['help'], ['--help'], ['config', 'sft'], ['tasks'], ['sft', '--dry-run'], ['prm', 'train', '-h']]) expect(opensDevice(argv), argv.join(' ')).toBe(false);
    for (const argv of [['sft'], ['prm', 'train'], ['info'], ['logprobs', '--set', 'model=x'], ['generate', 'hi']]) expect(opensDevice(argv), argv.join(' ')).toBe(true);
  });
});
