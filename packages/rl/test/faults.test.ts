// Faults of issue 12 that the data loaders, the batch packing and the trainers must refuse with a
// clear message instead of training on garbage or crashing somewhere deep:
//  - data files with bytes that are not UTF-8 (refused with file:line), with a byte-order mark
//    (read as if it were not there, also when sniffing which kind of file it is);
//  - data-sized spreads into Math.max (a batch of 2,000,000 sequences overflowed the stack);
//  - training that cannot learn: NaN weights (fresh or loaded), weights ×1e30 (every step skipped
//    for a non-finite gradient), a sampling temperature of 1e-300;
//  - a batch whose tensors exceed the device's limits: one line naming the tensor, the limit and
//    the micro-batch size that fits.
// The trainer tests use a tiny policy (d = 16, one layer) on the GPU backend (lavapipe in CI).

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime, type Runtime } from '@repirl/kernels';
import { DecoderLM, GpuBackend, assign, generate } from '@repirl/autograd';
import { DataFormatError, jsonlKind, loadProblems, loadTrajectories, readJsonl } from '../src/data/index.js';
import { TaskCodec, packSequences, responseLayout } from '../src/rollout/index.js';
import { arithChain } from '../src/tasks/index.js';
import {
  BatchTooLargeError, NonFiniteTrainingError, RlTrainer, SftTrainer, loadPolicy, savePolicy, sftExamplesFromProblems, type MetricsRecord,
  type SftTrainerOptions, type TrainerEvent,
} from '../src/trainers/index.js';
import { failure, tempFiles } from './helpers.js';

const tmp = tempFiles('repirl-faults-');

const file = tmp.write;

const problem = JSON.stringify({ id: 'a', prompt: '1 +1\n', answer: '2' });
const trajectory = JSON.stringify({ id: 'a', prompt: '1 +1\n', response: '=2\n#### 2', correct: true });
const bytes = (...parts: (string | number[])[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...new TextEncoder().encode(p)] : p)));

describe('data files that are not UTF-8', () => {
  // Line 3 holds "café" in Latin-1: the é is the single byte 0xE9.
  const badLine = bytes(`${problem}\n\n`, '{"id": "b", "prompt": "caf', [0xe9], '", "answer": "1"}\n', `${problem.replace('"a"', '"c"')}\n`);

  it('are refused with the file, the line and the byte, for problems and trajectories', async () => {
    const path = await file('latin1.jsonl', badLine);
    const err = await failure(loadProblems(path));
    expect(err).toBeInstanceOf(DataFormatError);
    expect(err.message).toBe(`${path}:3: invalid UTF-8 (byte 0xe9 at byte 27 of the line); ` +
      'data files must be UTF-8 text: convert the file (e.g. iconv -f latin1 -t utf-8) or fix that line');
    expect((err as DataFormatError).line).toBe(3);

    const trajectories = await file('latin1-trajectories.jsonl', bytes(`${trajectory}\n`, '{"id": "b", "prompt": "x", "response": "', [0xc3], '"}\n'));
    expect((await failure(loadTrajectories(trajectories))).message).toMatch(new RegExp(`^${trajectories}:2: invalid UTF-8 \\(byte 0xc3 at byte 41 of the line\\)`));
  });

  it('finds overlong forms, surrogates and truncated sequences too, and accepts every valid one', async () => {
    for (const [bad, at] of [[[0xc0, 0xaf], 1], [[0xed, 0xa0, 0x80], 1], [[0xf4, 0x90, 0x80, 0x80], 1], [[0xe2, 0x82], 1], [[0xff], 1]] as const) {
      const path = await file('bad.jsonl', bytes('"', [...bad], '"'));
      expect((await failure(readJsonl(path))).message).toContain(`${path}:1: invalid UTF-8 (byte 0x${bad[0].toString(16)} at byte ${at + 1} of the line)`);
    }
    // Two-, three- and four-byte characters (é, €, 😀) and a literal U+FFFD are valid.
    const fine = { id: 'é€😀\uFFFD', prompt: 'x', answer: '1' };
    const path = await file('fine.jsonl', `${JSON.stringify(fine)}\n`);
    expect(await loadProblems(path)).toEqual([fine]);
  });
});

describe('data files with a UTF-8 byte-order mark', () => {
  it('load as without it', async () => {
    const path = await file('bom-trajectories.jsonl', `\uFEFF${trajectory}\n`);
    expect((await loadTrajectories(path))[0]!.id).toBe('a');
  });

  it('are sniffed by their first record: jsonlKind', async () => {
    expect(await jsonlKind(await file('bom-trajectories.jsonl', `\uFEFF${trajectory}\n${trajectory}\n`))).toBe('trajectories');
    expect(await jsonlKind(await file('blank-first.jsonl', `\uFEFF\n  \n${trajectory}\n`))).toBe('trajectories');
    expect(await jsonlKind(await file('bom-problems.jsonl', `\uFEFF${problem}\n`))).toBe('problems');
    expect(await jsonlKind(await file('empty.jsonl', '\uFEFF\n'))).toBe(null);
    const bad = await file('bad-first.jsonl', '\n{"id": 1,\n');
    expect((await failure(jsonlKind(bad))).message).toMatch(new RegExp(`^${bad}:2: invalid JSON`));
  });
});

describe('batches larger than a spread can hold', () => {
  it('pack 300,000 sequences (Math.max(...lengths) overflowed the stack past ~120,000)', () => {
    const B = 300_000;
    const parts = Array.from({ length: B }, (_, b) => ({ promptIds: [1, 2 + (b % 3)], responseIds: b === B - 1 ? [5, 6, 7] : [5] }));
    const packed = packSequences(parts, 0);
    expect([packed.B, packed.L, packed.T]).toEqual([B, 5, 3]);
    expect(Array.from(packed.ids.subarray((B - 1) * 5, B * 5))).toEqual([1, 2 + ((B - 1) % 3), 5, 6, 7]);
    expect(responseLayout(parts.map((p) => p.responseIds.length)).T).toBe(3);
  });
});

describe('training that cannot learn', () => {
  let rt: Runtime;
  let gpu: GpuBackend;
  const decoder = { vocabSize: 259, dModel: 16, nLayers: 1, nHeads: 1, dFF: 32, maxSeqLen: 48 };
  const difficulty = { steps: 1, range: 10 };
  const examples = sftExamplesFromProblems(arithChain.generate(1, 64, difficulty));
  const policies: DecoderLM[] = [];
  beforeAll(async () => {
    rt = await getRuntime();
    gpu = new GpuBackend(rt);
  });
  afterAll(() => {
    for (const p of policies) p.dispose();
  });

  /** A fresh tiny policy whose weights pass through `edit` (name, values) first. */
  async function policyWith(edit: (name: string, values: Float32Array) => void = () => {}): Promise<DecoderLM> {
    const policy = new DecoderLM(gpu, decoder, { seed: 3 });
    policies.push(policy);
    for (const [name, t] of policy.parameters()) {
      const values = Float32Array.from(await t.data());
      edit(name, values);
      assign(t, values);
    }
    return policy;
  }
  const scaled = (factor: number) => (_: string, values: Float32Array) => values.forEach((v, i) => (values[i] = v * factor));

  function sft(policy: DecoderLM, options: Partial<SftTrainerOptions> & { records?: MetricsRecord[]; maxSkippedSteps?: number } = {}): SftTrainer {
    const { records, maxSkippedSteps = 10, ...rest } = options;
    return new SftTrainer({
      policy,
      examples,
      config: { steps: 20, batchSize: 8, maxSkippedSteps, optim: { lr: 1e-3, warmupSteps: 0 }, validation: { every: 0, beforeTraining: false } },
      ...(records ? { onEvent: (e: TrainerEvent) => void (e.type === 'metrics' && records.push(e.record)) } : {}),
      ...rest,
    });
  }

  it('a NaN in the weights of a fresh model is refused before the first step, naming the tensor', async () => {
    const policy = await policyWith((name, values) => {
      if (name === 'blocks.0.mlp.up.weight') values[7] = Number.NaN;
    });
    const records: MetricsRecord[] = [];
    await expect(sft(policy, { records }).run()).rejects.toThrow(
      /^the policy's weights before training: tensor 'blocks\.0\.mlp\.up\.weight' \(F32 \[16, 32\]\) holds 1 non-finite value, the first NaN at element 7: every step would be skipped/,
    );
    expect(records).toEqual([]);
  });

  it('a saved policy with a NaN is refused by loadPolicy, naming the file and the tensor', async () => {
    const policy = await policyWith((name, values) => {
      if (name === 'normF.weight') values[2] = Number.POSITIVE_INFINITY;
    });
    await savePolicy(tmp.dir(), policy, { name: 'nan-policy' });
    await expect(loadPolicy(gpu, tmp.dir(), { name: 'nan-policy' })).rejects.toThrow(
      `${join(tmp.dir(), 'nan-policy.safetensors')}: tensor 'normF.weight' (F32 [16]) holds 1 non-finite value, the first Infinity at element 2`,
    );
  });

  it('weights ×1e30: SFT stops after maxSkippedSteps skipped steps instead of "finishing" with nothing learned', async () => {
    const records: MetricsRecord[] = [];
    const err = await failure(sft(await policyWith(scaled(1e30)), { records, maxSkippedSteps: 3 }).run());
    expect(err).toBeInstanceOf(NonFiniteTrainingError);
    expect(err.message).toMatch(/^SFT training stopped at step 3: the last 3 steps in a row were skipped because the loss or the gradient norm was not finite \(step 3: train\/loss \S+, train\/grad_norm NaN\)\. .* \(maxSkippedSteps is 3\)$/);
    expect(records.map((r) => [r.step, r['train/skipped']])).toEqual([[1, 1], [2, 1], [3, 1]]);
    // A run shorter than the limit whose every step was skipped fails too (the default limit is 10).
    await expect(sft(await policyWith(scaled(1e30)), { config: { steps: 2, batchSize: 8, validation: { every: 0, beforeTraining: false } } }).run())
      .rejects.toThrow(/^SFT training stopped at step 2: all 2 steps were skipped/);
  });

  it('the run summary counts the skipped steps', async () => {
    const stopped = await sft(await policyWith(scaled(1e30)), { maxSkippedSteps: 5 }).run({ stopAtStep: 2 });
    expect([stopped.step, stopped.stopped, stopped.skippedSteps]).toEqual([2, true, 2]);
    const healthy = await sft(await policyWith(), { config: { steps: 2, batchSize: 8, validation: { every: 0, beforeTraining: false } } }).run();
    expect([healthy.step, healthy.skippedSteps]).toEqual([2, 0]);
  });

  it('RL counts a step as skipped when the reward model learning inside it skipped every update, and stops', async () => {
    // A reward model whose optimizer never takes a step (e.g. a PRM with overflowing weights): it
    // reports prm/skipped_steps = 1 (the mean over its updates), as the PRM learners do.
    const records: MetricsRecord[] = [];
    const trainer = await RlTrainer.create({
      policy: await policyWith(),
      train: arithChain.generate(4, 16, difficulty),
      config: { steps: 10, maxSkippedSteps: 2, rollout: { promptsPerStep: 2, k: 2, maxNewTokens: 8 }, validation: { every: 0, beforeTraining: false } },
      rewardModel: {
        score: async (batch) => ({ rewards: batch.samples.map((s) => s.responseIds.map(() => 0)), metrics: { 'prm/loss': Number.NaN, 'prm/skipped_steps': 1 } }),
        checkpointContent: () => ({ models: {}, optimizers: {}, state: {} }),
        restoreState: () => {},
      },
      onEvent: (e) => void (e.type === 'metrics' && records.push(e.record)),
    });
    try {
      await expect(trainer.run()).rejects.toThrow(/^RL training stopped at step 2: the last 2 steps in a row were skipped .*prm\/loss NaN.*prm\/skipped_steps 1/);
      expect(records.map((r) => [r['train/skipped'], r['actor/skipped_steps']])).toEqual([[1, 0], [1, 0]]);
    } finally {
      trainer.dispose();
    }
  });

  it('NaN logits at sampling time say so, instead of "target id -1 outside the vocabulary" from the log-prob kernel', async () => {
    const policy = await policyWith((name, values) => {
      if (name === 'normF.weight') values.fill(Number.NaN);
    });
    const prompts = arithChain.generate(4, 2, difficulty).map((p) => new TaskCodec().encodePrompt(p.prompt));
    await expect(generate(policy, prompts, { maxNewTokens: 4, temperature: 1, seed: 1 })).rejects.toThrow(
      /^generate: a sequence had no finite logit to sample \(NaN or −∞ logits: weights that are NaN or so large that the forward pass overflows float32\)/,
    );
  });

  it('a sampling temperature of 1e-300 is refused where sampling options are checked, not turned into NaN log-probs', async () => {
    const policy = await policyWith();
    await expect(RlTrainer.create({ policy, train: arithChain.generate(4, 4, difficulty), config: { rollout: { temperature: 1e-300, maxNewTokens: 8 } } })).rejects.toThrow(
      'rollout.temperature: temperature 1e-300 is below 0.000001, where logits / temperature overflow float32 and the log-probs become NaN; ' +
        'use a temperature ≥ 0.000001',
    );
    await expect(generate(policy, [[1, 2]], { maxNewTokens: 2, temperature: 1e-300 })).rejects.toThrow(
      /^generate: temperature 1e-300 is below 0\.000001, .*; use temperature 0 \(greedy\) or a temperature ≥ 0\.000001$/,
    );
  });

  describe('a batch over the device limits', () => {
    /** Runs `fn` with the runtime's limits lowered as given, then restores them. */
    async function withLimits<T>(lower: Partial<Record<'maxBufferSize' | 'maxStorageBufferBindingSize', number>>, fn: () => Promise<T>): Promise<T> {
      const limits = rt.limits as Record<string, number>;
      const saved = { ...limits };
      Object.assign(limits, lower);
      try {
        return await fn();
      } finally {
        Object.assign(limits, saved);
      }
    }

    it('fails in one line naming the tensor and the limit, and the micro-batch size it suggests fits', async () => {
      const config = { steps: 1, batchSize: 64, validation: { every: 0, beforeTraining: false } };
      for (const limit of ['maxStorageBufferBindingSize', 'maxBufferSize'] as const) {
        const err = await withLimits({ [limit]: 96 * 1024 }, async () => failure(sft(await policyWith(), { config }).run()));
        expect(err).toBeInstanceOf(BatchTooLargeError);
        expect(err.message).not.toContain('\n');
        expect(err.message).toMatch(new RegExp(`argument "\\w+": \\[[\\d, ]+\\] f32 is \\d+ bytes, over this device's ${limit} \\(98304\\): ` +
          'a micro-batch of 64 sequences × \\d+ tokens is too large for this device; set microBatchSize to \\d+ or less \\(now 0: the whole batch of 64\\)$'));
        const suggested = Number(/set microBatchSize to (\d+)/.exec(err.message)![1]);
        expect(suggested).toBeLessThan(64);
        const summary = await withLimits({ [limit]: 96 * 1024 }, () => sft(new DecoderLM(gpu, decoder, { seed: 3 }), { config: { ...config, microBatchSize: suggested } }).run());
        expect(summary.step).toBe(1);
      }
    });
  });
});
