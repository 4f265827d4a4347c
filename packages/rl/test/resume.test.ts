// Checkpoint + resume continues the same run: a run stopped after step 2 and resumed in a new
// trainer produces, for steps 3–4, exactly the metrics, sampled tokens and final weights of an
// uninterrupted run. The config exercises every piece of state a step carries over: PPO's critic
// and both optimizers, the frozen reference with an adaptive KL coefficient, the accuracy filter's
// carry-over buffer, the prompt cursor, mini-batch shuffles, dense rewards and validation.
import { appendFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '@repirl/kernels';
import { DecoderLM, GpuBackend } from '@repirl/autograd';
import { arithChain, type Problem } from '../src/tasks/index.js';
import {
  RlTrainer, loadPolicy, type CheckpointSink, type MetricsRecord, type RlConfigInput, type RunSummary, type TrainerEvent,
} from '../src/trainers/index.js';
import { LOCK_FILE, RunDir, readLatestCheckpoint } from '../src/run/index.js';
import type { RolloutBatch } from '../src/rollout/index.js';

let gpu: GpuBackend;
beforeAll(async () => {
  gpu = new GpuBackend(await getRuntime());
});

const decoder = { vocabSize: 259, dModel: 32, nLayers: 2, nHeads: 2, dFF: 64, maxSeqLen: 48 };
const train = arithChain.generate(1, 40, { steps: 1, range: 10 });
const validation = arithChain.generate(2, 6, { steps: 1, range: 10 });
// An untrained policy never answers correctly, so the outcome is a stand-in with mixed results:
// "correct" when the response starts with a byte of even value. It makes group accuracies vary,
// which the filter and the advantages need.
const verify = (_p: Problem, response: string) => {
  const correct = response.length > 0 && response.charCodeAt(0) % 2 === 0;
  return { correct, parsedAnswer: null, reason: correct ? 'even' : 'odd' };
};
// Dense rewards: 0.05 for each digit byte written.
const denseRewards = (batch: RolloutBatch) => batch.samples.map((s) => s.responseIds.map((id) => (id >= 48 && id <= 57 ? 0.05 : 0)));

const config: RlConfigInput = {
  algorithm: 'ppo',
  seed: 9,
  steps: 4,
  rollout: { promptsPerStep: 3, k: 4, maxNewTokens: 8 },
  filter: { enabled: true, low: 0.25, high: 0.75, oversample: 3, maxRounds: 2, maxBuffer: 6 },
  actor: { lr: 1e-3, ppoEpochs: 2, miniBatches: 2, microBatchSize: 4, entropyCoef: 0.01 },
  critic: { lr: 1e-3 },
  kl: { coef: 0.05, target: 0.01, horizon: 100 },
  validation: { every: 2, k: 2 },
  checkpoint: { every: 1, keep: 2 },
};

/**
 * A trainer built from scratch, as a new process would: the same initial policy (seed 1), config
 * and data. `where` is a run directory, or a checkpoint sink for a caller that owns its files.
 */
async function makeTrainer(where: string | CheckpointSink, onEvent: (e: TrainerEvent) => void, overrides: RlConfigInput = {}) {
  const policy = new DecoderLM(gpu, decoder, { seed: 1 });
  const trainer = await RlTrainer.create({
    policy, train, validation, verify, denseRewards, onEvent,
    ...(typeof where === 'string' ? { runDir: where } : { checkpoints: where }),
    config: { ...config, ...overrides, actor: { ...config.actor, ...overrides.actor } },
  });
  return { policy, trainer };
}

/** Records the sampled token ids of every step. */
function sampleLog() {
  const tokens = new Map<number, number[][]>();
  const listener = (e: TrainerEvent) => {
    if (e.type === 'samples') tokens.set(e.step, e.samples.map((s) => s.responseIds));
  };
  return { tokens, listener };
}

/** A record without its wall-clock fields. */
const deterministic = (r: MetricsRecord) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'time' && !k.startsWith('timing/')));

const readRecords = async (dir: string) =>
  (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as MetricsRecord);

describe('checkpoint and resume', () => {
  let root: string;
  let dirA: string;
  let dirB: string;
  const logA = sampleLog();
  const logC = sampleLog();
  let stopped: RunSummary;
  let resumedFrom = -1;
  let lockedDuringRun: Promise<string> = Promise.resolve('not tried');

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'repirl-resume-'));
    dirA = join(root, 'uninterrupted');
    dirB = join(root, 'interrupted');

    const a = await makeTrainer(dirA, (e) => {
      logA.listener(e);
      if (e.type === 'metrics' && e.record.step === 1) lockedDuringRun = RunDir.open(dirA, { command: 'rl', config: {}, mode: 'force' }).then(() => 'opened', (err: Error) => err.message);
    });
    await a.trainer.run();
    a.trainer.dispose();
    a.policy.dispose();

    const b = await makeTrainer(dirB, () => {});
    stopped = await b.trainer.run({ stopAtStep: 2 });
    b.trainer.dispose();
    b.policy.dispose();
    // A crash after step 3's metrics line was written but before its checkpoint: resume must drop the line.
    await appendFile(join(dirB, 'metrics.jsonl'), `${JSON.stringify({ step: 3, time: 0, 'actor/pg_loss': 123 })}\n`);

    const c = await makeTrainer(dirB, logC.listener);
    resumedFrom = await c.trainer.resume();
    await c.trainer.run();
    c.trainer.dispose();
    c.policy.dispose();
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('a stopped run leaves a checkpoint of its last step', async () => {
    expect(stopped.stopped).toBe(true);
    expect(stopped.step).toBe(2);
    expect(resumedFrom).toBe(2);
  });

  it('the resumed run writes the same metrics as the uninterrupted one', async () => {
    const [recordsA, recordsB] = [await readRecords(dirA), await readRecords(dirB)];
    expect(recordsA.map((r) => r.step)).toEqual([0, 1, 2, 3, 4]);
    expect(recordsB.map((r) => r.step)).toEqual([0, 1, 2, 3, 4]);
    // The config really exercises the carried state.
    expect(recordsA.some((r) => (r['filter/carried_groups'] ?? 0) > 0)).toBe(true);
    expect(recordsA.find((r) => r.step === 2)!['filter/buffer']).toBeGreaterThan(0); // groups carried across the interruption
    expect(new Set(recordsA.slice(1).map((r) => r['actor/kl_coef'])).size).toBeGreaterThan(1); // the adaptive KL moved
    for (const key of ['critic/vf_loss', 'critic/dense/mean', 'actor/kl', 'val/acc', 'val/pass@k']) expect(recordsA.some((r) => r[key] !== undefined), key).toBe(true);
    // Steps 3 and 4 were computed by a new trainer from the step-2 checkpoint: same numbers, bit for bit.
    expect(recordsB.map(deterministic)).toEqual(recordsA.map(deterministic));
    // time is seconds since the run began, continued across the resume.
    const times = recordsB.map((r) => r.time);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(times.at(-1)).toBeLessThan(3600);
  });

  it('the resumed run samples the same tokens and ends with the same weights', async () => {
    expect([...logC.tokens.keys()]).toEqual([3, 4]);
    for (const step of [3, 4]) expect(logC.tokens.get(step)).toEqual(logA.tokens.get(step));
    const [policyA, policyB] = [await loadPolicy(gpu, dirA), await loadPolicy(gpu, dirB)];
    const [weightsA, weightsB] = [await policyA.stateDict(), await policyB.stateDict()];
    for (const [name, t] of Object.entries(weightsA)) expect(Array.from(weightsB[name]!.data), name).toEqual(Array.from(t.data));
    policyA.dispose();
    policyB.dispose();
  });

  it('writes config, summary, the final policy, and keeps the newest checkpoints', async () => {
    const config = JSON.parse(await readFile(join(dirB, 'config.json'), 'utf8'));
    expect(config.trainer).toBe('rl');
    expect(config.config.algorithm).toBe('ppo');
    expect(config.config.critic.valueClip).toBe(0.5); // resolved defaults are recorded
    const summary = JSON.parse(await readFile(join(dirB, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ command: 'rl', status: 'finished', step: 4, total: 4, resumes: [{ step: 2 }] });
    expect(Object.keys(summary.results).sort()).toEqual(['compute/sampled_sequences', 'compute/sampled_tokens', 'val/acc', 'val/acc@best', 'val/acc@start', 'val/pass@k']);
    // The compute totals span both sessions: every sequence sampled, the filter's oversampling included.
    const records = await readRecords(dirB);
    const sum = (key: string) => records.reduce((n, r) => n + (r[key] ?? 0), 0);
    for (const r of records.slice(1)) expect(r['compute/sampled_sequences']).toBe(r['filter/sampled_groups']! * 4);
    expect(summary.results['compute/sampled_sequences']).toBe(sum('compute/sampled_sequences'));
    expect(summary.results['compute/sampled_sequences']).toBeGreaterThan(4 * 3 * 4 - sum('filter/carried_groups') * 4 - 1); // more than the kept groups: oversampled
    expect(summary.results['compute/sampled_tokens']).toBe(sum('compute/sampled_tokens'));
    expect(await readFile(join(dirB, 'summary.md'), 'utf8')).toMatch(/\| `val\/acc` \| .* \|/);
    expect(JSON.parse(await readFile(join(dirB, 'run.json'), 'utf8'))).toMatchObject({ command: 'rl', status: 'finished' });
    expect((await readdir(join(dirA, 'checkpoints'))).sort()).toEqual(['latest.json', 'step-00000003', 'step-00000004']); // checkpoint.keep = 2
    expect((await readdir(join(dirA, 'checkpoints', 'step-00000004'))).filter((f) => !f.startsWith('.')).sort()).toEqual([
      'critic.json', 'critic.safetensors', 'manifest.json', 'policy.json', 'policy.safetensors', 'trainer.json', 'trainer.safetensors',
    ]);
    expect(await readLatestCheckpoint(dirA)).toEqual({ step: 4, dir: join(dirA, 'checkpoints', 'step-00000004') });
  });

  it('holds the run directory locked while run() is in progress, and releases it at the end', async () => {
    expect(await lockedDuringRun).toMatch(/uninterrupted is already open in this process \(repirl rl since .*\); close that run first$/);
    for (const d of [dirA, dirB]) expect(await readdir(d)).not.toContain(LOCK_FILE);
  });

  it('a caller that owns its run directory: checkpoints through a sink, restore(), metrics through events', async () => {
    const commits: number[] = [];
    const sink: CheckpointSink = { dirFor: (step) => join(root, 'sink', `step-${step}`), commit: async (step) => commits.push(step) };
    const first: MetricsRecord[] = [];
    const a = await makeTrainer(sink, (e) => e.type === 'metrics' && first.push(e.record));
    await a.trainer.run({ stopAtStep: 2 });
    a.trainer.dispose();
    a.policy.dispose();
    expect(commits).toEqual([1, 2]); // checkpoint.every = 1
    const second: MetricsRecord[] = [];
    const b = await makeTrainer(sink, (e) => e.type === 'metrics' && second.push(e.record));
    expect(await b.trainer.restore(join(root, 'sink', 'step-2'))).toBe(2);
    await b.trainer.run();
    b.trainer.dispose();
    b.policy.dispose();
    expect(commits).toEqual([1, 2, 3, 4]);
    expect([...first, ...second].map(deterministic)).toEqual((await readRecords(dirA)).map(deterministic));
  });

  it('ends at its compute budget: the step that brings the sampled sequences to budget.sampledSequences is the last', async () => {
    const records: MetricsRecord[] = [];
    const sampled = (await readRecords(dirA)).slice(1).map((r) => r['compute/sampled_sequences']!);
    const budget = sampled[0]! + 1; // not reached by step 1 (nor by a step that only uses carried groups)
    const prefix = sampled.map((_, i) => sampled.slice(0, i + 1).reduce((a, b) => a + b, 0));
    const last = prefix.findIndex((n) => n >= budget) + 1;
    expect(last).toBeGreaterThan(1);
    expect(last).toBeLessThan(4);
    const d = await makeTrainer(join(root, 'budget'), (e) => e.type === 'metrics' && records.push(e.record), { budget: { sampledSequences: budget } });
    const summary = await d.trainer.run();
    d.trainer.dispose();
    d.policy.dispose();
    expect(summary).toMatchObject({ step: last, stopped: false, endedEarly: 'budget', compute: { 'compute/sampled_sequences': prefix[last - 1] } });
    expect(records.at(-1)!['val/acc']).toBeDefined(); // the last step validates
  });

  it('refuses to start a new run over an existing one', async () => {
    const d = await makeTrainer(dirB, () => {});
    await expect(d.trainer.run()).rejects.toThrow(/interrupted already holds a "repirl rl" run \(finished\); use --resume to continue it/);
    d.trainer.dispose();
    d.policy.dispose();
  });

  it('refuses to resume with a different config', async () => {
    const d = await makeTrainer(dirB, () => {}, { actor: { lr: 5e-4 } });
    await expect(d.trainer.resume()).rejects.toThrow(/the config differs from the stored one .*\n {2}config\.actor\.lr: stored 0\.001, now 0\.0005\n/);
    expect(await readdir(dirB)).not.toContain(LOCK_FILE);
    d.trainer.dispose();
    d.policy.dispose();
  });
});
