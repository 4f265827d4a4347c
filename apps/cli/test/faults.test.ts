// Faults of the run lifecycle, each reproduced through the real command line: a second process on
// the same --out (the run directory's lock), an unusable --out, a full disk, temp files and
// damaged checkpoints left by a killed run, a run that failed before its first checkpoint, and
// --dry-run with a missing input.
//
// A full disk is injected below node:fs/promises (which @repirl/autograd's atomic writes and the
// run directory both use): while `diskFull` matches a path, writing to it fails with ENOSPC as a
// full disk does. Lock tests start real second processes (test/fixtures/hold-run.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import * as realFs from 'node:fs/promises';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeSafetensors, stageFile } from '@repirl/autograd';
import { checkpointProblem, LOCK_FILE } from '@repirl/rl';
import { experiments } from '../src/config/index.js';
import { runners, type Runner, type Runners } from '../src/commands/runners.js';
import { makeCli } from './helpers.js';

const fault = vi.hoisted(() => ({ diskFull: null as null | ((path: string) => boolean) }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const check = (path: unknown) => {
    if (fault.diskFull !== null && typeof path === 'string' && fault.diskFull(path)) {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    }
  };
  const writes = (flags: unknown) => typeof flags === 'string' && /[wa+]/.test(flags);
  const mocked = {
    ...fs,
    appendFile: (async (path: string, ...rest: unknown[]) => {
      check(path);
      return (fs.appendFile as (...args: unknown[]) => Promise<void>)(path, ...rest);
    }) as typeof fs.appendFile,
    writeFile: (async (path: string, ...rest: unknown[]) => {
      check(path);
      return (fs.writeFile as (...args: unknown[]) => Promise<void>)(path, ...rest);
    }) as typeof fs.writeFile,
    open: (async (path: string, flags?: unknown, ...rest: unknown[]) => {
      if (writes(flags)) check(path);
      return (fs.open as (...args: unknown[]) => Promise<realFs.FileHandle>)(path, flags, ...rest);
    }) as typeof fs.open,
  };
  return { ...mocked, default: mocked };
});

const holderScript = fileURLToPath(new URL('./fixtures/hold-run.ts', import.meta.url));
const cliDir = fileURLToPath(new URL('..', import.meta.url));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'repirl-faults-'));
});
const original: Runners = { ...runners };
const children: ChildProcess[] = [];
afterEach(async () => {
  fault.diskFull = null;
  Object.assign(runners, original);
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});


/** `repirl sft --out DIR` in a second process whose runner waits after step 1 (see fixtures/hold-run.ts). */
function startHolder(out: string, ...extra: string[]) {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', holderScript, 'sft', '--out', out, '--progress', 'off', ...extra], {
    cwd: cliDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += String(d)));
  child.stderr!.on('data', (d) => (output += String(d)));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const ready = new Promise<boolean>((resolve) => {
    child.stdout!.on('data', () => output.includes('ready\n') && resolve(true));
    void exited.then(() => resolve(false));
  });
  return { child, ready, exited, output: () => output };
}

/** A runner that reports each step, commits a checkpoint every 4 steps and at a stop, and resumes from ctx.resumeFrom. */
function steppingRunner(cli: ReturnType<typeof makeCli>, seen: { resumeFrom?: number | null } = {}, stopAfter?: number): Runner<unknown> {
  return async (ctx) => {
    seen.resumeFrom = ctx.resumeFrom?.step ?? null;
    for (let step = (ctx.resumeFrom?.step ?? 0) + 1; step <= 12; step++) {
      cli.clock.t += 1000;
      await ctx.report(step, { 'train/loss': 1 / step });
      const stopping = step === stopAfter;
      if (stopping || step % 4 === 0) {
        const checkpoint = await ctx.run.checkpointDir(step);
        await writeFile(join(checkpoint, 'state.json'), JSON.stringify({ step }));
        await ctx.run.commitCheckpoint(step);
      }
      if (stopping) return { status: 'stopped', step };
    }
    return { status: 'finished', step: 12 };
  };
}

const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
const exists = (path: string) => stat(path).then(() => true, () => false);
// The runners here ignore the config (12 steps), so the tests need no --set keys of the sft config.
const SFT: string[] = [];

describe('the run directory lock', () => {
  it('refuses new, --resume and --force on a run another process has open, naming its PID; released when it stops', async () => {
    const out = join(dir, 'run');
    const holder = startHolder(out);
    expect(await holder.ready, holder.output()).toBe(true);
    const pid = holder.child.pid!;
    const cli = makeCli();
    runners.sft = steppingRunner(cli);
    const inUse = new RegExp(`^repirl sft: ${out} is in use by a running repirl sft \\(PID ${pid} on .*, since .*\\); wait for it to end or stop it \\(kill -INT ${pid}\\)$`);
    for (const mode of [[], ['--resume'], ['--force']]) {
      const refused = await cli.run('sft', ...SFT, '--out', out, ...mode);
      expect(refused.code, mode.join()).toBe(2);
      expect(refused.out, mode.join()).toMatch(inUse);
    }
    // --force did not touch the live run's files.
    expect(await readJson(join(out, 'run.json'))).toMatchObject({ status: 'running' });
    expect(await readJson(join(out, 'checkpoints', 'latest.json'))).toMatchObject({ step: 1 });

    holder.child.kill('SIGTERM');
    expect(await holder.exited, holder.output()).toBe(143);
    expect(await readdir(out)).not.toContain(LOCK_FILE);
    expect(await readJson(join(out, 'run.json'))).toMatchObject({ status: 'stopped' });
    const resumed = await cli.run('sft', '--out', out, '--resume');
    expect(resumed.code, resumed.out).toBe(0);
    expect(resumed.err).toContain(`resuming ${out} from step 1`);
  });

  it('of two processes started at once on the same --out, one runs and the other is refused', async () => {
    const out = join(dir, 'run');
    const [a, b] = [startHolder(out), startHolder(out)];
    const first = await Promise.race([a.ready.then((ok) => (ok ? a : b)), b.ready.then((ok) => (ok ? b : a))]);
    const second = first === a ? b : a;
    expect(await second.exited, second.output()).toBe(2);
    expect(second.output()).toMatch(new RegExp(`is in use by a running repirl sft \\(PID ${first.child.pid} on `));
    expect(await first.ready).toBe(true);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(130);
  });

  it('takes over the lock of a process that was killed outright, with a note', async () => {
    const out = join(dir, 'run');
    const holder = startHolder(out);
    expect(await holder.ready, holder.output()).toBe(true);
    holder.child.kill('SIGKILL'); // no chance to release the lock
    await holder.exited;
    expect(await readJson(join(out, LOCK_FILE))).toMatchObject({ pid: holder.child.pid, command: 'sft' });
    const cli = makeCli();
    const seen: { resumeFrom?: number | null } = {};
    runners.sft = steppingRunner(cli, seen);
    const resumed = await cli.run('sft', '--out', out, '--resume');
    expect(resumed.code, resumed.out).toBe(0);
    expect(resumed.err).toMatch(new RegExp(`repirl sft: took over the lock of PID ${holder.child.pid} \\(repirl sft since .*\\), which is no longer running`));
    expect(seen.resumeFrom).toBe(1);
    expect(await readdir(out)).not.toContain(LOCK_FILE);
  });
});

describe('faults around files', () => {
  it('an --out that cannot be created is a one-line error naming it', async () => {
    const cli = makeCli();
    runners.sft = steppingRunner(cli);
    await writeFile(join(dir, 'file.txt'), 'not a folder');
    const out = join(dir, 'file.txt', 'run');
    const result = await cli.run('sft', ...SFT, '--out', out);
    expect(result).toMatchObject({ code: 1, out: `repirl sft: cannot create ${out}: not a directory (ENOTDIR)` });
  });

  it('a full disk while a resumed run writes metrics.jsonl: one line naming the file, and run.json agrees with summary.json', async () => {
    const cli = makeCli();
    const out = join(dir, 'run');
    runners.sft = steppingRunner(cli, {}, 6);
    expect((await cli.run('sft', ...SFT, '--out', out)).code).toBe(130);
    runners.sft = steppingRunner(cli);
    fault.diskFull = (path) => path === join(out, 'metrics.jsonl');
    const result = await cli.run('sft', '--out', out, '--resume');
    expect(result.code).toBe(1);
    expect(result.out.split('\n')[0]).toBe(`repirl sft failed: cannot write ${join(out, 'metrics.jsonl')}: no space left on device (ENOSPC)`);
    expect(await readJson(join(out, 'run.json'))).toMatchObject({ status: 'failed', error: expect.stringContaining('ENOSPC') });
    expect(await readJson(join(out, 'summary.json'))).toMatchObject({ status: 'failed' });
    expect(await readdir(out)).not.toContain(LOCK_FILE);
  });

  it('a full disk when --resume rewrites metrics.jsonl, and when even run.json cannot record the failure', async () => {
    const cli = makeCli();
    const out = join(dir, 'run');
    runners.sft = steppingRunner(cli, {}, 6);
    expect((await cli.run('sft', ...SFT, '--out', out)).code).toBe(130);
    await writeFile(join(out, 'metrics.jsonl'), `${await readFile(join(out, 'metrics.jsonl'), 'utf8')}{"step":7,"time":7}\n`);
    runners.sft = steppingRunner(cli);
    fault.diskFull = (path) => path.startsWith(join(out, '.metrics.jsonl')); // the rewrite's temp file
    const atOpen = await cli.run('sft', '--out', out, '--resume');
    expect(atOpen).toMatchObject({ code: 1, out: `repirl sft: cannot write ${join(out, 'metrics.jsonl')}: no space left on device (ENOSPC)` });
    expect(await readdir(out)).not.toContain(LOCK_FILE);

    // The disk fills up mid-run: neither metrics.jsonl nor run.json can be written, and the error says both.
    fault.diskFull = null;
    runners.sft = async (ctx) => {
      fault.diskFull = (path) => path.startsWith(out);
      await ctx.report(7, { 'train/loss': 1 });
      return { status: 'finished', step: 7 };
    };
    const midRun = await cli.run('sft', '--out', out, '--resume');
    expect(midRun.code).toBe(1);
    expect(midRun.out.split('\n')[0]).toBe(
      `repirl sft failed: cannot write ${join(out, 'metrics.jsonl')}: no space left on device (ENOSPC); ` +
        `the failure is not recorded in the run directory either (cannot write ${join(out, 'run.json')}: no space left on device (ENOSPC))`,
    );
  });

  it('a new run whose files cannot be written leaves no directory behind', async () => {
    const cli = makeCli();
    runners.sft = steppingRunner(cli);
    const out = join(dir, 'new', 'run');
    fault.diskFull = (path) => path.startsWith(out);
    const result = await cli.run('sft', ...SFT, '--out', out);
    expect(result).toMatchObject({ code: 1, out: expect.stringMatching(/^repirl sft: cannot (create|write) .*: no space left on device \(ENOSPC\)$/) });
    expect(await exists(join(dir, 'new'))).toBe(false);
  });

  it('--resume deletes the temp files a killed run left behind', async () => {
    const cli = makeCli();
    const out = join(dir, 'run');
    runners.sft = steppingRunner(cli, {}, 6);
    expect((await cli.run('sft', ...SFT, '--out', out)).code).toBe(130);
    // What an atomic write leaves when its process dies before the rename: a staged temp file.
    const staged = [await stageFile(join(out, 'metrics.jsonl'), 'x'), await stageFile(join(out, 'checkpoints', 'step-00000006', 'state.json'), 'x')];
    for (const s of staged) expect(await exists(s.tempPath)).toBe(true);
    runners.sft = steppingRunner(cli);
    const resumed = await cli.run('sft', '--out', out, '--resume');
    expect(resumed.code).toBe(0);
    expect(resumed.err).toContain('repirl sft: removed 2 temp files left by an interrupted write');
    for (const s of staged) expect(await exists(s.tempPath)).toBe(false);
    const left = (await readdir(out, { recursive: true })).map(String).filter((f) => f.endsWith('.tmp'));
    expect(left).toEqual([]);
  });

  it('--resume falls back from a damaged latest checkpoint to the intact one before it, and says how to go on when none is intact', async () => {
    const cli = makeCli();
    const out = join(dir, 'run');
    runners.sft = steppingRunner(cli, {}, 6); // checkpoints at steps 4 and 6 (the CLI keeps every one)
    expect((await cli.run('sft', ...SFT, '--out', out)).code).toBe(130);
    await truncate(join(out, 'checkpoints', 'step-00000006', 'state.json'), 5);
    const seen: { resumeFrom?: number | null } = {};
    runners.sft = steppingRunner(cli, seen, 5);
    const resumed = await cli.run('sft', '--out', out, '--resume');
    expect(resumed.code).toBe(130);
    expect(seen.resumeFrom).toBe(4);
    expect(resumed.err).toContain(
      'repirl sft: the latest checkpoint is damaged (step 6: state.json has 5 bytes instead of 10 (moved to checkpoints/step-00000006.damaged)); ' +
        'resuming from the intact checkpoint of step 4 instead',
    );
    expect(resumed.err).toContain('dropped 2 metrics lines after step 4');
    expect(await exists(join(out, 'checkpoints', 'step-00000006.damaged'))).toBe(true);

    // Now damage every checkpoint: resuming cannot go on and says what to do.
    for (const step of ['00000004', '00000005']) await writeFile(join(out, 'checkpoints', `step-${step}`, 'state.json'), '{"step":9}'); // same size, other bytes
    const refused = await cli.run('sft', '--out', out, '--resume');
    expect(refused.code).toBe(2);
    expect(refused.out).toBe(
      `repirl sft: cannot --resume ${out}: no intact checkpoint (step 5: state.json is corrupt (its SHA-256 differs from the manifest); ` +
        `step 4: state.json is corrupt (its SHA-256 differs from the manifest)); start the run over with --force (copy ${out} elsewhere first to keep its metrics)`,
    );
  });

  it('checkpoints from before manifests are checked by structure (JSON parses, safetensors as long as their header says)', async () => {
    const folder = join(dir, 'step-00000004');
    await mkdir(folder);
    await writeFile(join(folder, 'policy.json'), '{"kind": "DecoderLM"}');
    await writeFile(join(folder, 'policy.safetensors'), encodeSafetensors({ w: { dtype: 'F32', shape: [4], data: new Float32Array([1, 2, 3, 4]) } }));
    expect(await checkpointProblem(folder)).toBeNull();
    const size = (await stat(join(folder, 'policy.safetensors'))).size;
    await truncate(join(folder, 'policy.safetensors'), size - 4);
    expect(await checkpointProblem(folder)).toBe(`policy.safetensors has ${size - 4} bytes instead of ${size}`);
    await writeFile(join(folder, 'policy.json'), '{"kind": "Dec');
    expect(await checkpointProblem(folder)).toBe('policy.json is not valid JSON');
  });

  it('a run that failed before its first checkpoint does not block a plain rerun; a finished one does', async () => {
    const cli = makeCli();
    const out = join(dir, 'run');
    runners.sft = async () => {
      throw new Error('the data is unreadable');
    };
    expect((await cli.run('sft', ...SFT, '--out', out)).code).toBe(1);
    runners.sft = steppingRunner(cli);
    const rerun = await cli.run('sft', ...SFT, '--out', out);
    expect(rerun.code, rerun.out).toBe(0);
    expect(rerun.err).toContain(`repirl sft: replacing the failed run in ${out}: it ended before its first checkpoint, so nothing in it could be resumed`);
    expect(await readJson(join(out, 'run.json'))).toMatchObject({ status: 'finished' });
    expect((await cli.run('sft', ...SFT, '--out', out)).out).toMatch(/already holds a "repirl sft" run \(finished\); use --resume/);
  });

  it('--dry-run checks that every input path exists', async () => {
    const { run } = makeCli();
    for (const name of ['rl', 'eval'] as const) {
      const key = experiments[name].inputPaths.find((p) => p.kind === 'checkpoint')!.key;
      const missing = join(dir, 'missing');
      const result = await run(name, '--set', `${key}=${missing}`, '--dry-run');
      expect(result.code, name).toBe(2);
      expect(result.out, name).toMatch(new RegExp(`^repirl ${name}: ${key.replace('.', '\\.')}: no such checkpoint: ${missing}\\n`));
    }
  });
});
