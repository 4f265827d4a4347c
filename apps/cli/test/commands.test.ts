import { EventEmitter } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { getTask, only, resolveRlConfig, resolveSftConfig, rlTrainerSchema, sftTrainerSchema } from '@repirl/rl';
import { runners, type Runner, type Runners } from '../src/commands/runners.js';
import { defaultsOf, experiments, readConfigFile, resolveConfig, rlSchema, schemaOf, sftSchema, type RlConfig, type SftConfig } from '../src/config/index.js';
import { installStopHandler, resolveCheckpoint, RunDir, RunDirError, StopRequested, type SignalSource } from '../src/run/index.js';
import { makeCli } from './helpers.js';

const configsDir = new URL('../configs/', import.meta.url).pathname;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'repirl-cli-'));
});

const original: Runners = { ...runners };
afterEach(async () => {
  Object.assign(runners, original);
  await rm(dir, { recursive: true, force: true });
});


async function readJson(path: string): Promise<any> {
  return JSON.parse(await readFile(path, 'utf8'));
}

async function readMetrics(path: string): Promise<any[]> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

async function hiddenTempFiles(path: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path, { recursive: true })) if (String(entry).endsWith('.tmp')) out.push(String(entry));
  return out;
}

/**
 * A stand-in for the SFT trainer that honours the runner contract: one report per step, a
 * checkpoint every `checkpoint.every` steps and when a stop is requested, resume from ctx.resumeFrom.
 */
function fakeSft(cli: ReturnType<typeof makeCli>, hooks: { afterStep?: (step: number) => void; seen?: { resumeFrom: number | null; config?: SftConfig } } = {}): Runner<SftConfig> {
  return async (ctx) => {
    if (hooks.seen) {
      hooks.seen.resumeFrom = ctx.resumeFrom?.step ?? null;
      hooks.seen.config = ctx.config;
    }
    const total = ctx.config.steps;
    if (ctx.resumeFrom !== null) {
      const saved = await readJson(join(ctx.resumeFrom.dir, 'state.json'));
      expect(saved.step).toBe(ctx.resumeFrom.step);
    } else {
      await ctx.report(0, { 'val/acc': 0.1 });
    }
    for (let step = (ctx.resumeFrom?.step ?? 0) + 1; step <= total; step++) {
      cli.clock.t += 1000;
      await ctx.report(step, { 'train/loss': 1 / step, ...(step % 5 === 0 ? { 'val/acc': step / 100 } : {}) });
      const stopping = ctx.signal.aborted;
      if (stopping || (ctx.config.checkpoint.every > 0 && step % ctx.config.checkpoint.every === 0) || step === total) {
        const ckpt = await ctx.run.checkpointDir(step);
        await writeFile(join(ckpt, 'state.json'), JSON.stringify({ step }));
        await ctx.run.commitCheckpoint(step);
      }
      if (stopping) return { status: 'stopped', step };
      hooks.afterStep?.(step);
    }
    ctx.log(`final accuracy 0.${total}`);
    return { status: 'finished', step: total, results: { 'val/acc@start': 0.1, 'val/acc': total / 100 } };
  };
}

const SMALL = ['--set', 'steps=12', '--set', 'optim.warmupSteps=2', '--set', 'checkpoint.every=4'];

describe('repirl tasks', () => {
  it('lists the task families with their difficulty knobs', async () => {
    const { run } = makeCli();
    const { code, out } = await run('tasks');
    expect(code).toBe(0);
    expect(out).toMatch(/^arith-chain {2}start value and a list of/m);
    expect(out).toMatch(/^ {2}steps {2}default 4 +in \[1, 64\] +operations per problem/m);
    expect(out).toMatch(/^ {2}range {2}default 20 +in \[2, 1000000\]/m);
    expect(out).toMatch(/^add-carry {2}multi-digit addition/m);
    expect(out).toMatch(/^ {2}digits +default 3/m);
    expect(out).toMatch(/^ {2}addends +default 2/m);
  });

  it('shows generated problems with their expert solutions and step labels', async () => {
    const { run } = makeCli();
    const { code, out } = await run('tasks', 'show', 'arith-chain', '--seed', '1', '--count', '3');
    expect(code).toBe(0);
    const problems = getTask('arith-chain').generate(1, 3);
    expect(out).toMatch(/^arith-chain, seed 1, steps=4 range=20: 3 problems$/m);
    for (const p of problems) {
      expect(out).toContain(`#${p.meta.index}  ${p.id}`);
      expect(out).toContain(`  prompt   ${p.prompt.trim()}`);
      expect(out).toContain(`  answer   ${p.answer}`);
      for (const line of p.solution.split('\n')) expect(out).toMatch(new RegExp(`^ {4}${line.replace(/[*+#]/g, '\\$&')} +✓ {6}✓$`, 'm'));
    }
    expect(out.match(/expert solution, no error:/g)).toHaveLength(3);
    // The same arguments print the same problems.
    expect((await run('tasks', 'show', 'arith-chain', '--seed', '1', '--count', '3')).out).toBe(out);
  });

  it('shows noisy solutions with their false labels, takes knobs as options, and prints JSONL', async () => {
    const { run } = makeCli();
    const noisy = await run('tasks', 'show', 'add-carry', '--count', '4', '--digits', '5', '--error-rate', '1');
    expect(noisy.code).toBe(0);
    expect(noisy.out).toMatch(/^add-carry, seed 0, digits=5 addends=2: 4 problems$/m);
    expect(noisy.out).toMatch(/noisy solution \(error rate 1; wrong answer\), first error at step 1:/);
    expect(noisy.out).toMatch(/✗ {6}✗/);
    const jsonl = await run('tasks', 'show', 'arith-chain', '--count', '2', '--steps', '6', '--jsonl');
    const lines = jsonl.out.split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(getTask('arith-chain').generate(0, 2, { steps: 6 }));
  });

  it('rejects an unknown task, a bad knob and an unknown option', async () => {
    const { run } = makeCli();
    expect(await run('tasks', 'show', 'arith')).toEqual({
      code: 2,
      out: 'repirl tasks show: unknown task "arith" (did you mean "arith-chain"?); known tasks: arith-chain, add-carry',
      err: '',
    });
    expect((await run('tasks', 'show', 'arith-chain', '--steps', '0')).out).toBe(
      'repirl tasks show arith-chain: --steps must be an integer in [1, 64] (operations per problem, one solution line each), got 0',
    );
    expect((await run('tasks', 'show', 'arith-chain', '--digits', '3')).out).toMatch(/unknown option "--digits" \(allowed: --seed, --count, --error-rate, --jsonl, --steps, --range\)/);
    expect((await run('tasks', 'show', 'arith-chain', '--error-rate', '2')).out).toMatch(/--error-rate must be a number in \[0, 1\], got "2"/);
    expect((await run('tasks', 'list')).code).toBe(2);
  });
});

describe('repirl config', () => {
  it('prints the documented defaults, or them as JSON', async () => {
    const { run } = makeCli();
    const text = await run('config', 'sft');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^repirl sft: supervised fine-tuning/);
    expect(text.out).toMatch(/optim\.lr\s+0\.001\s+peak learning rate \(AdamW\) \[a number in \(0, 1\]\]/);
    const json = await run('config', 'rl', '--json');
    expect(JSON.parse(json.out)).toEqual(defaultsOf(schemaOf(experiments.rl.schema)));
    expect((await run('config', 'stf')).out).toMatch(/no config for "stf" \(did you mean "sft"\?\)/);
  });
});

describe('repirl sft|rl|eval: config handling', () => {
  it('--dry-run prints the resolved config as JSON and writes nothing', async () => {
    const { run } = makeCli();
    const out = join(dir, 'run');
    const { code, out: text } = await run('sft', '--config', join(configsDir, 'sft-arith.json'), '--set', 'optim.lr=0.01', '--out', out, '--dry-run');
    expect(code).toBe(0);
    const config = JSON.parse(text);
    expect(config.optim.lr).toBe(0.01);
    expect(config.data.source).toBe('task-noisy');
    expect(config.task.difficulty).toEqual({ steps: 4, range: 20 });
    expect(Object.keys(config)).toEqual(Object.keys(sftSchema.fields));
    await expect(stat(out)).rejects.toThrow();
    // The printed config is itself a valid config file.
    await writeFile(join(dir, 'resolved.json'), text);
    expect(JSON.parse((await run('sft', '--config', join(dir, 'resolved.json'), '--dry-run')).out)).toEqual(config);
    // Defaults only, and the other commands.
    expect(JSON.parse((await run('sft', '--dry-run')).out)).toEqual(experiments.sft.finalize(resolveConfig(sftSchema)));
    // A dry run checks the input paths too: these need a checkpoint folder that exists.
    const checkpoint = join(dir, 'checkpoint');
    await mkdir(checkpoint);
    expect(JSON.parse((await run('rl', '--config', join(configsDir, 'grpo-arith.json'), '--set', `init=${checkpoint}`, '--dry-run')).out).algorithm).toBe('grpo');
    expect(JSON.parse((await run('eval', '--set', `checkpoint=${checkpoint}`, '--dry-run', '--set=k=4')).out).k).toBe(4);
  });

  it('reports config errors with exit code 2', async () => {
    const { run } = makeCli();
    const bad = await run('sft', '--set', 'optim.lr=abc', '--dry-run');
    expect(bad.code).toBe(2);
    expect(bad.out).toBe('repirl sft: invalid config: optim.lr: expected a number in (0, 1], got "abc" (a string) [from --set optim.lr=abc]\n(repirl config sft lists every key)');
    const missing = await run('rl', '--dry-run');
    expect(missing.out).toMatch(/^repirl rl: invalid config: init: is required/);
    await writeFile(join(dir, 'typo.json'), JSON.stringify({ model: { dmodel: 32 } }));
    const typo = await run('sft', '--config', join(dir, 'typo.json'), '--dry-run');
    expect(typo.code).toBe(2);
    expect(typo.out).toMatch(/model\.dmodel: unknown key \(did you mean "dModel"\?\).*\[from .*typo\.json\]/);
    expect((await run('sft', '--config', join(dir, 'nope.json'))).out).toMatch(/nope\.json: cannot read the config file: no such file/);
  });

  it('reports bad options', async () => {
    const { run } = makeCli();
    expect(await run('sft', '--dryrun')).toMatchObject({ code: 2, out: expect.stringMatching(/^repirl sft: unknown option "--dryrun" \(did you mean "--dry-run"\?\) \(allowed: --config, --set/) });
    expect((await run('sft', '--config')).out).toMatch(/option --config needs a value/);
    expect((await run('sft', '--resume', '--force', '--out', dir)).out).toMatch(/--resume and --force exclude each other/);
    expect((await run('sft', '--resume')).out).toMatch(/--resume needs --out DIR/);
    expect((await run('sft', '--progress', 'fancy', '--dry-run')).out).toMatch(/--progress must be one of auto, bar, lines, off/);
    expect((await run('sft', 'extra')).out).toMatch(/unexpected argument "extra"/);
    expect((await run('sft', '--help')).out).toMatch(/^usage: repirl sft \[--config FILE\]/);
  });

  it('checks input paths before starting', async () => {
    const { run } = makeCli();
    const rl = await run('rl', '--set', `init=${join(dir, 'missing')}`, '--out', join(dir, 'rl'));
    expect(rl.code).toBe(2);
    expect(rl.out).toMatch(/^repirl rl: init: no such checkpoint: .*missing/);
    const data = await run('sft', '--set', 'data.source=jsonl', '--set', `data.path=${join(dir, 'x.jsonl')}`, '--out', join(dir, 'sft'));
    expect(data.out).toMatch(/^repirl sft: data\.path: no such file: .*x\.jsonl/);
  });
});

describe('the runners seam', () => {
  it('runs a runner: run directory, metrics, checkpoints, progress and summary', async () => {
    const cli = makeCli();
    const seen: { resumeFrom: number | null; config?: SftConfig } = { resumeFrom: null };
    runners.sft = fakeSft(cli, { seen });
    const out = join(dir, 'run');
    const { code, out: stdout, err } = await cli.run('sft', ...SMALL, '--out', out);
    expect(code).toBe(0);
    expect(seen.resumeFrom).toBeNull();
    expect(seen.config!.task.difficulty).toEqual({ steps: 4, range: 20 });
    expect(stdout).toBe(`final accuracy 0.12\nrepirl sft finished 12/12: val/acc@start 0.1, val/acc 0.12; summary: ${join(out, 'summary.md')}`);
    // Progress in lines mode on the non-TTY stderr.
    expect(err).toContain(`repirl sft: run directory ${out}\n`);
    expect(err).toMatch(/^sft \[={24}\] 12\/12 done in 12s {2}val\/acc 0\.1 {2}train\/loss 0\.08333$/m);
    expect(err).not.toContain('\r');

    expect((await readdir(out)).sort()).toEqual(['checkpoints', 'config.json', 'metrics.jsonl', 'run.json', 'summary.json', 'summary.md']);
    expect(await hiddenTempFiles(out)).toEqual([]);
    expect(await readJson(join(out, 'config.json'))).toEqual(seen.config);
    const metrics = await readMetrics(join(out, 'metrics.jsonl'));
    expect(metrics.map((m) => m.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(metrics[5]).toEqual({ step: 5, time: 5, 'train/loss': 0.2, 'val/acc': 0.05 });
    expect((await readdir(join(out, 'checkpoints'))).sort()).toEqual(['latest.json', 'step-00000004', 'step-00000008', 'step-00000012']);
    expect(await readJson(join(out, 'checkpoints', 'latest.json'))).toMatchObject({ step: 12, dir: join('checkpoints', 'step-00000012') });

    const summary = await readJson(join(out, 'summary.json'));
    expect(summary).toMatchObject({
      command: 'sft', status: 'finished', step: 12, total: 12, time: 12,
      checkpoint: { step: 12, dir: join('checkpoints', 'step-00000012') },
      results: { 'val/acc@start': 0.1, 'val/acc': 0.12 },
      metrics: { 'val/acc': 0.1, 'train/loss': 1 / 12 },
    });
    expect(summary.config).toEqual(seen.config);
    const md = await readFile(join(out, 'summary.md'), 'utf8');
    expect(md).toMatch(/^# repirl sft: finished$/m);
    expect(md).toContain('| `val/acc` | 0.12 |');
    expect(md).toContain('"steps": 12');
    expect((await readJson(join(out, 'run.json'))).status).toBe('finished');
  });

  it('marks the run failed when the runner throws', async () => {
    const cli = makeCli();
    runners.sft = async (ctx) => {
      await ctx.report(1, { 'train/loss': 2 });
      throw new Error('loss is NaN at step 1');
    };
    const out = join(dir, 'run');
    const { code, out: stdout } = await cli.run('sft', '--out', out);
    expect(code).toBe(1);
    expect(stdout).toBe('repirl sft failed: loss is NaN at step 1');
    expect(await readJson(join(out, 'summary.json'))).toMatchObject({ status: 'failed', error: 'loss is NaN at step 1', metrics: { 'train/loss': 2 } });
    expect(await readJson(join(out, 'run.json'))).toMatchObject({ status: 'failed', error: 'loss is NaN at step 1' });
  });
});

describe('run directory: overwrite, force, resume', () => {
  it('refuses to overwrite a run without --resume or --force', async () => {
    const cli = makeCli();
    runners.sft = fakeSft(cli);
    const out = join(dir, 'run');
    expect((await cli.run('sft', ...SMALL, '--out', out)).code).toBe(0);
    const again = await cli.run('sft', ...SMALL, '--out', out);
    expect(again.code).toBe(2);
    expect(again.out).toBe(`repirl sft: ${out} already holds a "repirl sft" run (finished); use --resume to continue it, --force to overwrite it, or choose another --out`);
    // A non-empty directory that is not a run is refused too.
    await mkdir(join(dir, 'other'));
    await writeFile(join(dir, 'other', 'notes.txt'), 'mine');
    expect((await cli.run('sft', ...SMALL, '--out', join(dir, 'other'))).out).toMatch(/other is not empty and holds no repirl run/);
    // A file is not a directory.
    expect((await cli.run('sft', ...SMALL, '--out', join(dir, 'other', 'notes.txt'))).out).toMatch(/it is a file/);
  });

  it('--force replaces the run files and keeps everything else', async () => {
    const cli = makeCli();
    runners.sft = fakeSft(cli);
    const out = join(dir, 'run');
    await cli.run('sft', ...SMALL, '--out', out);
    await writeFile(join(out, 'notes.txt'), 'keep me');
    const forced = await cli.run('sft', ...SMALL, '--set', 'steps=6', '--out', out, '--force');
    expect(forced.code).toBe(0);
    expect(await readFile(join(out, 'notes.txt'), 'utf8')).toBe('keep me');
    expect((await readMetrics(join(out, 'metrics.jsonl'))).map((m) => m.step)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect((await readdir(join(out, 'checkpoints'))).sort()).toEqual(['latest.json', 'step-00000004', 'step-00000006']);
  });

  it('Ctrl-C stops after the current step with a checkpoint (exit 130), and --resume continues the same run', async () => {
    const cli = makeCli();
    runners.sft = fakeSft(cli, { afterStep: (step) => step === 6 && cli.signals.emit('SIGINT') });
    const out = join(dir, 'run');
    const stopped = await cli.run('sft', ...SMALL, '--out', out);
    expect(stopped.code).toBe(130);
    expect(stopped.err).toContain('repirl sft: stopping after the current step and saving a checkpoint (press Ctrl-C again to quit now)');
    expect(stopped.out).toBe(`repirl sft stopped at step 7/12; summary: ${join(out, 'summary.md')}\ncontinue with: repirl sft --out ${out} --resume`);
    expect(cli.signals.listenerCount('SIGINT')).toBe(0); // the handler is removed afterwards
    expect(await readJson(join(out, 'checkpoints', 'latest.json'))).toMatchObject({ step: 7 });
    expect(await readJson(join(out, 'summary.json'))).toMatchObject({ status: 'stopped', step: 7, total: 12 });
    expect(await readJson(join(out, 'run.json'))).toMatchObject({ status: 'stopped' });
    expect(await readFile(join(out, 'summary.md'), 'utf8')).toContain(`repirl sft --out ${out} --resume`);

    // Metrics written after the checkpoint are dropped on resume (the trainer recomputes them).
    await writeFile(join(out, 'metrics.jsonl'), `${await readFile(join(out, 'metrics.jsonl'), 'utf8')}{"step":8,"time":8.5,"train/loss":9}\n{"step":9,"ti`);

    const seen: { resumeFrom: number | null } = { resumeFrom: null };
    runners.sft = fakeSft(cli, { seen });
    const resumed = await cli.run('sft', '--out', out, '--resume', '--set', 'steps=14');
    expect(resumed.code).toBe(0);
    expect(seen.resumeFrom).toBe(7);
    expect(resumed.err).toContain(`repirl sft: resuming ${out} from step 7`);
    expect(resumed.err).toContain('dropped 2 metrics lines after step 7 (they will be recomputed)');
    const metrics = await readMetrics(join(out, 'metrics.jsonl'));
    expect(metrics.map((m) => m.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    // Run time continues from the last kept line instead of restarting at 0.
    const times = metrics.map((m) => m.time);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(metrics[8].time).toBeGreaterThan(metrics[7].time);
    expect((await readJson(join(out, 'config.json'))).steps).toBe(14);
    const run = await readJson(join(out, 'run.json'));
    expect(run).toMatchObject({ status: 'finished', resumes: [{ step: 7 }] });
    expect(await readJson(join(out, 'summary.json'))).toMatchObject({ status: 'finished', step: 14, total: 14 });
  });

  it('a second Ctrl-C quits at once', async () => {
    const cli = makeCli();
    runners.sft = fakeSft(cli, {
      afterStep: (step) => {
        if (step === 2) {
          cli.signals.emit('SIGINT');
          cli.signals.emit('SIGINT');
        }
      },
    });
    const result = await cli.run('sft', ...SMALL, '--out', join(dir, 'run'));
    expect(cli.exit).toHaveBeenCalledWith(130);
    expect(result.err).toContain('repirl sft: quitting now; resume from the last checkpoint with --resume');
  });

  it('refuses a resume whose config differs beyond the resumable keys', async () => {
    const cli = makeCli();
    runners.sft = fakeSft(cli, { afterStep: (step) => step === 4 && cli.signals.emit('SIGINT') });
    const out = join(dir, 'run');
    expect((await cli.run('sft', ...SMALL, '--out', out)).code).toBe(130);
    runners.sft = fakeSft(cli);
    const changed = await cli.run('sft', '--out', out, '--resume', '--set', 'optim.lr=0.01', '--set', 'model.dModel=128', '--set', 'validation.every=3');
    expect(changed.code).toBe(2);
    expect(changed.out).toBe(
      [
        `repirl sft: cannot --resume ${out}: the config differs from the stored one (${join(out, 'config.json')}):`,
        '  model.dModel: stored 64, now 128',
        '  optim.lr: stored 0.001, now 0.01',
        '  validation.every: stored 100, now 3',
        'only steps, checkpoint.every may change on resume; drop the other changes (without --config, --resume starts from the stored config), or start a new run (another --out, or --force)',
      ].join('\n'),
    );
    // With the same config file it is fine.
    const config = join(dir, 'stored.json');
    await writeFile(config, await readFile(join(out, 'config.json')));
    expect((await cli.run('sft', '--config', config, '--out', out, '--resume', '--set', 'checkpoint.every=2')).code).toBe(0);
  });

  it('refuses to resume another command, a directory without a run, or a run without a checkpoint', async () => {
    const cli = makeCli();
    runners.sft = fakeSft(cli);
    const out = join(dir, 'run');
    await cli.run('sft', ...SMALL, '--out', out);
    expect((await cli.run('rl', '--out', out, '--resume')).out).toBe(`repirl rl: cannot --resume ${out} with repirl rl: it holds a "repirl sft" run`);
    expect((await cli.run('eval', '--out', out, '--resume')).out).toMatch(/^repirl eval: eval runs cannot be resumed/);
    expect((await cli.run('sft', '--out', join(dir, 'empty'), '--resume')).out).toMatch(/cannot --resume .*empty: it holds no run/);
    runners.sft = async () => {
      throw new Error('crashed before the first checkpoint');
    };
    const early = join(dir, 'early');
    expect((await cli.run('sft', ...SMALL, '--out', early)).code).toBe(1);
    expect((await cli.run('sft', '--out', early, '--resume')).out).toMatch(/cannot --resume .*early: it has no checkpoint yet/);
    await expect(RunDir.open(out, { command: 'rl', config: {}, mode: 'resume', resumableKeys: ['steps'] })).rejects.toThrow(
      /cannot --resume .* with repirl rl: it holds a "repirl sft" run/,
    );
    await expect(RunDir.open(out, { command: 'sft', config: {}, mode: 'resume', resumableKeys: [] })).rejects.toThrow(/runs cannot be resumed/);
  });
});

describe('RunDir', () => {
  it('writes config.json and run.json atomically and appends metrics in order', async () => {
    const out = join(dir, 'r');
    let t = 1_000_000;
    const run = await RunDir.open(out, { command: 'sft', config: { a: 1 }, mode: 'new', now: () => t });
    expect(await readJson(join(out, 'config.json'))).toEqual({ a: 1 });
    expect(await readJson(join(out, 'run.json'))).toMatchObject({ command: 'sft', status: 'running', resumes: [] });
    t += 1500;
    // Not awaited one by one: the lines still come out in call order.
    const writes = [run.appendMetrics(1, { x: 1 }), run.appendMetrics(2, { x: Number.NaN, y: 'ok' }), run.appendMetrics(3, { x: Infinity, z: undefined })];
    await Promise.all(writes);
    await run.flush();
    expect(await readMetrics(join(out, 'metrics.jsonl'))).toEqual([
      { step: 1, time: 1.5, x: 1 },
      { step: 2, time: 1.5, x: null, y: 'ok' },
      { step: 3, time: 1.5, x: null },
    ]);
    expect(run.latestMetrics()).toEqual({ x: null, y: 'ok' });
    expect(() => run.appendMetrics(-1, {})).toThrow(/step must be an integer ≥ 0/);
    expect(await run.latestCheckpoint()).toBeNull();
    const ckpt = await run.checkpointDir(5);
    expect(ckpt).toBe(join(out, 'checkpoints', 'step-00000005'));
    expect(await run.latestCheckpoint()).toBeNull(); // not committed yet
    await run.commitCheckpoint(5);
    expect(await run.latestCheckpoint()).toEqual({ step: 5, dir: ckpt });
    expect(await resolveCheckpoint(out)).toEqual({ step: 5, dir: ckpt });
    expect(await resolveCheckpoint(ckpt)).toEqual({ step: null, dir: ckpt });
    await expect(resolveCheckpoint(join(dir, 'nope'))).rejects.toThrow(RunDirError);
    await run.writeSummary({ status: 'finished', step: 5, total: 5, results: { acc: 0.5 } });
    expect(await hiddenTempFiles(out)).toEqual([]);
    expect(await readJson(join(out, 'summary.json'))).toMatchObject({ status: 'finished', results: { acc: 0.5 }, config: { a: 1 } });
  });
});

describe('stop handler (SIGINT/SIGTERM)', () => {
  it('sets the stop flag on the first signal and quits on the second', () => {
    const source = new EventEmitter();
    const onFirst = vi.fn();
    const onSecond = vi.fn();
    const stop = installStopHandler({ source: source as unknown as SignalSource, onFirst, onSecond });
    expect(stop.signal.aborted).toBe(false);
    expect(stop.exitCode).toBeNull();
    source.emit('SIGINT');
    expect(stop.signal.aborted).toBe(true);
    expect(stop.signal.reason).toBeInstanceOf(StopRequested);
    expect(stop.exitCode).toBe(130);
    expect(onFirst).toHaveBeenCalledTimes(1);
    expect(onSecond).not.toHaveBeenCalled();
    source.emit('SIGINT');
    expect(onSecond).toHaveBeenCalledTimes(1);
    stop.dispose();
    expect(source.listenerCount('SIGINT') + source.listenerCount('SIGTERM')).toBe(0);
  });

  it('SIGTERM exits with 143; request() stops without a signal', () => {
    const source = new EventEmitter();
    const stop = installStopHandler({ source: source as unknown as SignalSource });
    source.emit('SIGTERM');
    expect(stop.exitCode).toBe(143);
    stop.dispose();
    const manual = installStopHandler({ source: source as unknown as SignalSource });
    manual.request();
    expect(manual.signal.aborted).toBe(true);
    expect(manual.exitCode).toBe(130);
    manual.dispose();
  });

  it('catches a real SIGINT sent to this process', async () => {
    const stop = installStopHandler({ signals: ['SIGINT'], onSecond: () => undefined });
    try {
      const aborted = new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve()));
      process.kill(process.pid, 'SIGINT');
      await aborted;
      expect(stop.exitCode).toBe(130);
    } finally {
      stop.dispose();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The real trainers behind the commands, on tiny configs (a 1-layer d = 32 policy, the easiest
// arith-chain): what they write, eval of their checkpoint, stop + resume, and RL from SFT.

const TASK = ['--set', 'task.difficulty.steps=1', '--set', 'task.difficulty.range=10'];
const TINY_MODEL = ['--set', 'model.dModel=32', '--set', 'model.nLayers=1', '--set', 'model.nHeads=2', '--set', 'model.dFF=64', '--set', 'model.maxSeqLen=48'];
const TINY_SFT = [
  ...TASK, ...TINY_MODEL,
  '--set', 'steps=5', '--set', 'optim.warmupSteps=1', '--set', 'batchSize=8', '--set', 'optim.lr=0.003',
  '--set', 'data.problems=64', '--set', 'validation.problems=8', '--set', 'validation.every=2', '--set', 'checkpoint.every=2', '--progress', 'off',
];

describe('the wired trainers', () => {
  it('hand the trainers their own keys: a CLI config resolves to the same trainer config (the example configs included)', async () => {
    const sft = experiments.sft.finalize(resolveConfig(sftSchema, { file: await readConfigFile(join(configsDir, 'sft-arith.json')) })) as SftConfig;
    const s = resolveSftConfig(only(sftTrainerSchema, sft));
    expect(s).toEqual(only(sftTrainerSchema, sft));
    expect(s).toMatchObject({ seed: 1, steps: 300, batchSize: 32, microBatchSize: 0, checkpoint: { every: 100 }, validation: { every: 50, k: 0 } });
    expect(s.optim).toMatchObject({ lr: 0.003, warmupSteps: 20, schedule: 'cosine', weightDecay: 0.01, maxGradNorm: 1, minLrRatio: 0 });
    const rl = experiments.rl.finalize(resolveConfig(rlSchema, { file: await readConfigFile(join(configsDir, 'grpo-arith.json')) })) as RlConfig;
    const r = resolveRlConfig(only(rlTrainerSchema, rl));
    expect(r).toEqual(only(rlTrainerSchema, rl));
    expect(r).toMatchObject({ algorithm: 'grpo', seed: 1, steps: 60, rollout: { promptsPerStep: 8, k: 8, maxNewTokens: 32 }, checkpoint: { every: 10 } });
    expect(r.actor).toMatchObject({ lr: 0.0002, clipLow: 0.2, clipHigh: 0.28, dualClip: null, ppoEpochs: 1, miniBatches: 1, microBatchSize: 0 });
    expect(r.advantage.estimator).toBe('grpo');
    // PPO from the command line gets its preset's λ = 0.95 (the old CLI always passed λ = 1).
    const ppo = resolveConfig<RlConfig>(rlSchema, { sets: ['init=runs/x', 'algorithm=ppo'] });
    expect(resolveRlConfig(only(rlTrainerSchema, ppo)).advantage).toMatchObject({ estimator: 'gae', lambda: 0.95 });
  });

  it('repirl sft trains and writes metrics, checkpoints, the final policy and a summary; repirl eval scores it', async () => {
    const cli = makeCli();
    const out = join(dir, 'sft');
    const sft = await cli.run('sft', ...TINY_SFT, '--out', out);
    expect(sft.out).toMatch(/^repirl sft finished 5\/5: val\/acc@start 0, val\/acc [\d.]+/);
    expect(sft.code).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['checkpoints', 'config.json', 'metrics.jsonl', 'policy.json', 'policy.safetensors', 'run.json', 'summary.json', 'summary.md']);
    const metrics = await readMetrics(join(out, 'metrics.jsonl'));
    expect(metrics.map((m) => m.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Object.keys(metrics[0])).toEqual(expect.arrayContaining(['val/acc', 'val/nll', 'val/response_length/mean']));
    for (const m of metrics.slice(1)) {
      for (const key of ['train/loss', 'train/lr', 'train/grad_norm', 'train/tokens', 'timing/step_s']) expect(Number.isFinite(m[key])).toBe(true);
    }
    expect(metrics.filter((m) => m['val/acc'] !== undefined).map((m) => m.step)).toEqual([0, 2, 4, 5]);
    expect(metrics[5]['train/loss']).toBeLessThan(metrics[1]['train/loss']);
    expect((await readdir(join(out, 'checkpoints'))).sort()).toEqual(['latest.json', 'step-00000002', 'step-00000004', 'step-00000005']);
    const summary = await readJson(join(out, 'summary.json'));
    expect(summary).toMatchObject({ command: 'sft', status: 'finished', step: 5, total: 5, checkpoint: { step: 5 }, results: { 'val/acc@start': 0 } });
    expect(typeof summary.results['val/acc']).toBe('number');

    const evalOut = join(dir, 'eval');
    const evaluated = await cli.run('eval', ...TASK, '--set', `checkpoint=${out}`, '--set', 'problems=8', '--set', 'k=2', '--set', 'maxNewTokens=16', '--out', evalOut, '--progress', 'off');
    expect(evaluated.code).toBe(0);
    expect(evaluated.out).toMatch(/^arith-chain: greedy pass@1 [\d.]+ on 8 problems, pass@2 [\d.]+\nrepirl eval finished 8\/8: val\/acc [\d.]+, val\/pass@k [\d.]+/);
    const evalSummary = await readJson(join(evalOut, 'summary.json'));
    expect(evalSummary).toMatchObject({ status: 'finished', step: 8, metrics: { 'val/k': 2 } });
    expect(evalSummary.results['val/acc']).toBeGreaterThanOrEqual(0);
    expect((await readFile(join(evalOut, 'samples.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(8);
    // The final policy in the run directory is the last checkpoint's.
    const fromPolicy = await cli.run('eval', ...TASK, '--set', `checkpoint=${join(out, 'checkpoints', 'step-00000005')}`, '--set', 'problems=8', '--set', 'maxNewTokens=16', '--out', join(dir, 'eval2'), '--progress', 'off');
    expect((await readJson(join(dir, 'eval2', 'summary.json'))).results['val/acc']).toBe(evalSummary.results['val/acc']);
    expect(fromPolicy.code).toBe(0);

    // RL from the SFT run: two GRPO steps.
    const rlOut = join(dir, 'rl');
    const rl = await cli.run(
      'rl', ...TASK, '--set', `init=${out}`, '--set', 'steps=2', '--set', 'rollout.promptsPerStep=2', '--set', 'rollout.k=2', '--set', 'rollout.maxNewTokens=8',
      '--set', 'validation.problems=4', '--set', 'checkpoint.every=1', '--out', rlOut, '--progress', 'off',
    );
    expect(rl.out).toMatch(/^repirl rl finished 2\/2/);
    expect(rl.code).toBe(0);
    const rlMetrics = await readMetrics(join(rlOut, 'metrics.jsonl'));
    expect(rlMetrics.map((m) => m.step)).toEqual([0, 1, 2]);
    expect(Number.isFinite(rlMetrics[1]['critic/score/mean'])).toBe(true);
    expect((await readdir(join(rlOut, 'checkpoints'))).sort()).toEqual(['latest.json', 'step-00000001', 'step-00000002']);
  });

  it('a stopped sft run resumes to the same metrics as an uninterrupted one', async () => {
    const cli = makeCli();
    const full = join(dir, 'full');
    expect((await cli.run('sft', ...TINY_SFT, '--out', full)).code).toBe(0);

    // Ctrl-C during step 3: the trainer finishes it, checkpoints step 3 and stops.
    const real = runners.sft;
    runners.sft = (ctx) => real({ ...ctx, report: async (step, m) => {
      await ctx.report(step, m);
      if (step === 3) cli.signals.emit('SIGINT');
    } });
    const out = join(dir, 'stopped');
    const stopped = await cli.run('sft', ...TINY_SFT, '--out', out);
    expect(stopped.code).toBe(130);
    expect(stopped.out).toBe(`repirl sft stopped at step 3/5; summary: ${join(out, 'summary.md')}\ncontinue with: repirl sft --out ${out} --resume`);
    expect(await readJson(join(out, 'checkpoints', 'latest.json'))).toMatchObject({ step: 3 });
    runners.sft = real;

    const resumed = await cli.run('sft', '--out', out, '--resume', '--progress', 'off');
    expect(resumed.out).toMatch(/^repirl sft finished 5\/5/);
    expect(resumed.code).toBe(0);
    const strip = (ms: any[]) => ms.map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'time' && !k.startsWith('timing/'))));
    const a = strip(await readMetrics(join(full, 'metrics.jsonl')));
    const b = strip(await readMetrics(join(out, 'metrics.jsonl')));
    expect(b.map((m) => m.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(b).toEqual(a);
    const resumedSummary = await readJson(join(out, 'summary.json'));
    expect(resumedSummary).toMatchObject({ status: 'finished', step: 5, results: { 'val/acc@start': a[0]['val/acc'] } });
    expect(resumedSummary.results['val/acc']).toBe(a[5]['val/acc']);
  });

  it('repirl sft continues from a saved policy (init), and refuses a model section that does not describe it', async () => {
    const cli = makeCli();
    const base = join(dir, 'init-base');
    expect((await cli.run('sft', ...TINY_SFT, '--out', base)).code).toBe(0);
    const baseMetrics = await readMetrics(join(base, 'metrics.jsonl'));
    const continued = await cli.run('sft', ...TINY_SFT, '--set', `init=${base}`, '--set', 'steps=2', '--out', join(dir, 'init-continued'));
    expect(continued.out).toMatch(/^repirl sft finished 2\/2/);
    const metrics = await readMetrics(join(dir, 'init-continued', 'metrics.jsonl'));
    // Step 0 validates the policy the run starts from: the base run's final policy, not a fresh one.
    expect(metrics[0]['val/nll']).toBeCloseTo(baseMetrics.at(-1)['val/nll'], 5);
    expect(metrics[0]['val/nll']).toBeLessThan(baseMetrics[0]['val/nll']);
    expect((await readJson(join(dir, 'init-continued', 'config.json'))).init).toBe(base);

    const mismatch = await cli.run('sft', ...TINY_SFT, '--set', `init=${base}`, '--set', 'model.dModel=64', '--out', join(dir, 'init-bad'));
    expect(mismatch.code).toBe(1);
    expect(mismatch.out).toMatch(/model\.dModel is 64 but the init policy .* has 32: set --set model\.dModel=32/);
  });

  it('repirl sft trains on JSONL trajectories or problems (data.source jsonl)', async () => {
    const cli = makeCli();
    const problems = getTask('arith-chain').generate(3, 16, { steps: 1, range: 10 });
    const trajectories = join(dir, 'trajectories.jsonl');
    await writeFile(trajectories, problems.map((p, i) => JSON.stringify({ id: p.id, prompt: p.prompt, response: p.solution, correct: i % 4 !== 0 })).join('\n') + '\n');
    const fromTrajectories = await cli.run('sft', ...TINY_SFT, '--set', 'steps=2', '--set', 'data.source=jsonl', '--set', `data.path=${trajectories}`, '--out', join(dir, 'a'));
    expect(fromTrajectories.out).toMatch(/^repirl sft finished 2\/2/);
    const problemsFile = join(dir, 'problems.jsonl');
    await writeFile(problemsFile, problems.map((p) => JSON.stringify({ id: p.id, prompt: p.prompt, answer: p.answer })).join('\n') + '\n');
    const fromProblems = await cli.run('sft', ...TINY_SFT, '--set', 'steps=2', '--set', 'data.source=jsonl', '--set', `data.path=${problemsFile}`, '--out', join(dir, 'b'));
    expect(fromProblems.out).toMatch(/^repirl sft finished 2\/2/);
    await writeFile(trajectories, JSON.stringify({ id: 'x', prompt: 'p', response: 'r', correct: false }) + '\n');
    const none = await cli.run('sft', ...TINY_SFT, '--set', 'data.source=jsonl', '--set', `data.path=${trajectories}`, '--out', join(dir, 'c'));
    expect(none.code).toBe(1);
    expect(none.out).toMatch(/no examples to train on \(every trajectory is marked correct: false\)/);
  });

  it('repirl eval reports per chunk of problems and stops between chunks', async () => {
    const cli = makeCli();
    const sftOut = join(dir, 'sft');
    expect((await cli.run('sft', ...TINY_SFT, '--set', 'steps=1', '--set', 'optim.warmupSteps=0', '--out', sftOut)).code).toBe(0);
    // 70 distinct test problems need a larger space than steps 1, range 10 holds in its test split.
    const evalArgs = [...TASK, '--set', 'task.difficulty.range=100', '--set', `checkpoint=${sftOut}`, '--set', 'problems=70', '--set', 'maxNewTokens=8', '--progress', 'off'];
    const full = await cli.run('eval', ...evalArgs, '--out', join(dir, 'full'));
    expect(full.code).toBe(0);
    expect((await readMetrics(join(dir, 'full', 'metrics.jsonl'))).map((m) => m.step)).toEqual([64, 70]);

    const real = runners.eval;
    runners.eval = (ctx) => real({ ...ctx, report: async (step, m) => {
      await ctx.report(step, m);
      cli.signals.emit('SIGINT');
    } });
    const out = join(dir, 'stopped');
    const stopped = await cli.run('eval', ...evalArgs, '--out', out);
    expect(stopped.code).toBe(130);
    expect(stopped.out).toMatch(/^repirl eval stopped at step 64\/70/);
    expect(await readJson(join(out, 'summary.json'))).toMatchObject({ status: 'stopped', step: 64 });
    expect((await readFile(join(out, 'samples.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(64);
  });
});
